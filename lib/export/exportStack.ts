// `vibeserve export`: the best (or a chosen) accepted candidate of a search → a deployable
// directory: stack code + stack.json, Dockerfile, pinned requirements, Kubernetes manifests,
// the correctness and benchmark evidence, provenance and a README.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../paths.js';
import { findCandidate, loadSearchResults } from '../report/loadSearchResults.js';
import { renderArtifactReadme } from './artifactReadme.js';
import { DOCKERIGNORE, pytorchBaseImage, renderDockerfile } from './dockerfile.js';
import { k8sName, renderKubernetes } from './kubernetes.js';
import { pinRequirements } from './pinnedRequirements.js';

export interface ExportOptions {
  candidateId?: string;
  outDir?: string;
  artifactsRoot?: string;
  /** Overrides the pinned CUDA PyTorch base image. */
  baseImage?: string;
  /** Image name written into the Kubernetes manifest and README. */
  imageTag?: string;
}

export interface ExportResult {
  outDir: string;
  searchId: string;
  candidateId: string;
  device: string;
  baseImage: string;
  imageTag: string;
  files: string[];
}

/** Marks a directory as ours, so a re-export may replace it but a foreign directory is never wiped. */
export const MANIFEST = 'artifact.json';
const RUNTIME_PACKAGE = path.join(projectRoot, 'python-runtime', 'vibeserve_runtime');

function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? listFiles(p, base) : [path.relative(base, p)];
  });
}

const skipCaches = (src: string) => !/(__pycache__|\.pyc$|\.pytest_cache)/.test(src);

export function exportStack(searchId: string, opts: ExportOptions = {}): ExportResult {
  const results = loadSearchResults(searchId, opts.artifactsRoot);
  const cand = findCandidate(results, opts.candidateId);
  const stackSrc = cand.stackDir!;
  const specFile = path.join(stackSrc, 'stack.json');
  if (!existsSync(specFile)) throw new Error(`${stackSrc} has no stack.json: the candidate's stack is incomplete`);
  const spec = JSON.parse(readFileSync(specFile, 'utf8'));

  const outDir = path.resolve(opts.outDir ?? path.join(results.searchDir, 'export', cand.candidateId));
  if (existsSync(outDir) && readdirSync(outDir).length > 0) {
    if (!existsSync(path.join(outDir, MANIFEST))) {
      throw new Error(`${outDir} exists and is not an earlier export (no ${MANIFEST}): choose another --out`);
    }
    rmSync(outDir, { recursive: true, force: true });
  }
  mkdirSync(outDir, { recursive: true });

  // The stack directory is self-contained when materialized with its runtime copy; a stack that
  // carries only stack.json gets the project's runtime package, so the image never depends on
  // code outside the artifact.
  cpSync(stackSrc, path.join(outDir, 'stack'), { recursive: true, filter: skipCaches });
  if (!existsSync(path.join(outDir, 'stack', 'vibeserve_runtime'))) {
    if (!existsSync(RUNTIME_PACKAGE))
      throw new Error(`the stack has no runtime code and ${RUNTIME_PACKAGE} is missing`);
    cpSync(RUNTIME_PACKAGE, path.join(outDir, 'stack', 'vibeserve_runtime'), {
      recursive: true,
      filter: (src) => skipCaches(src) && !src.includes(`${path.sep}tests${path.sep}`),
    });
  }

  const pinned = pinRequirements();
  const baseImage = opts.baseImage ?? pytorchBaseImage(pinned.torch ?? '2.11.0');
  const name = k8sName(`${results.scenario.name ?? results.searchId}-${cand.candidateId}`);
  const imageTag = opts.imageTag ?? `vibeserve/${name}:latest`;
  const device = String(spec.device ?? 'cpu');

  writeFileSync(path.join(outDir, 'requirements.txt'), pinned.text);
  writeFileSync(path.join(outDir, 'Dockerfile'), renderDockerfile(baseImage));
  writeFileSync(path.join(outDir, '.dockerignore'), DOCKERIGNORE);
  mkdirSync(path.join(outDir, 'k8s'));
  const gpus = Number(results.scenario.hardware?.gpus ?? spec.params?.tp ?? 1);
  writeFileSync(path.join(outDir, 'k8s', 'stack.yaml'), renderKubernetes({ name, image: imageTag, device, gpus }));

  mkdirSync(path.join(outDir, 'evidence'));
  if (cand.checkPath) cpSync(cand.checkPath, path.join(outDir, 'evidence', 'check.json'));
  if (cand.benchPath) cpSync(cand.benchPath, path.join(outDir, 'evidence', 'bench.json'));
  if (results.baseline?.benchPath)
    cpSync(results.baseline.benchPath, path.join(outDir, 'evidence', 'baseline-bench.json'));
  const remeasured =
    results.finalRound && !results.finalRound.error
      ? results.finalRound.candidates.find((c) => c.candidateId === cand.candidateId)
      : undefined;
  if (remeasured) {
    const { evidenceDir, ...round } = results.finalRound!;
    writeFileSync(path.join(outDir, 'evidence', 'final-round.json'), JSON.stringify(round, null, 2) + '\n');
  }
  writeFileSync(path.join(outDir, 'evidence', 'design.json'), JSON.stringify(cand.design, null, 2) + '\n');

  writeFileSync(
    path.join(outDir, 'README.md'),
    renderArtifactReadme({ results, candidate: cand, spec, baseImage, imageTag, k8sName: name }),
  );

  const files = listFiles(outDir).sort();
  const hashes = Object.fromEntries(
    files.map((f) => [
      f,
      createHash('sha256')
        .update(readFileSync(path.join(outDir, f)))
        .digest('hex'),
    ]),
  );
  const manifest = {
    searchId: results.searchId,
    candidateId: cand.candidateId,
    scenario: results.scenario.name ?? null,
    objective: {
      metric: results.objectiveMetric,
      value: cand.objective,
      spread: cand.spread[results.objectiveMetric] ?? null,
      finalRound: remeasured?.spread ?? null,
    },
    checkPassed: cand.check?.passed ?? null,
    device,
    stackName: spec.name ?? null,
    baseImage,
    torch: pinned.torch,
    imageTag,
    exportedAt: new Date().toISOString(),
    files: hashes,
  };
  writeFileSync(path.join(outDir, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
  return {
    outDir,
    searchId: results.searchId,
    candidateId: cand.candidateId,
    device,
    baseImage,
    imageTag,
    files: [...files, MANIFEST].sort(),
  };
}
