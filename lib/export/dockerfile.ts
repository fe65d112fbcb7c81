// The exported stack's Dockerfile: docker/Dockerfile.stack with the base image pinned to the torch
// the stack was verified with. The template is itself a valid Dockerfile, so it can be linted and
// built as is.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../paths.js';

export const DOCKERFILE_TEMPLATE = path.join(projectRoot, 'docker', 'Dockerfile.stack');

/** CUDA release of the default base image; PyTorch publishes runtime images per torch × CUDA. */
export const DEFAULT_CUDA = '12.8';
export const DEFAULT_CUDNN = '9';

/** `pytorch/pytorch:<torch>-cuda<cuda>-cudnn<cudnn>-runtime`, the local-version suffix dropped. */
export function pytorchBaseImage(torchVersion: string, cuda = DEFAULT_CUDA, cudnn = DEFAULT_CUDNN): string {
  const release = torchVersion.split('+')[0];
  return `pytorch/pytorch:${release}-cuda${cuda}-cudnn${cudnn}-runtime`;
}

export function renderDockerfile(baseImage: string): string {
  const template = readFileSync(DOCKERFILE_TEMPLATE, 'utf8');
  const line = /^ARG BASE_IMAGE=.*$/m;
  if (!line.test(template)) throw new Error(`${DOCKERFILE_TEMPLATE} lost its "ARG BASE_IMAGE=" line`);
  return template.replace(line, `ARG BASE_IMAGE=${baseImage}`);
}

export const DOCKERIGNORE = ['**/__pycache__', '**/*.pyc', 'k8s/', 'README.md', ''].join('\n');
