// vibeserve export <searchId> [--candidate <id>] [--out <dir>] [--base-image <image>] [--tag <image>] [--artifacts <dir>]
import { parseArgs } from 'node:util';
import { exportStack } from '../../lib/export/exportStack.js';
import type { Command } from '../command.js';

const USAGE = 'vibeserve export <searchId> [--candidate <id>] [--out <dir>] [--base-image <image>] [--tag <image>]';
const summary =
  'write the best (or a chosen) stack as a deployable directory: code, Dockerfile, Kubernetes YAML, evidence';

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      candidate: { type: 'string' },
      out: { type: 'string' },
      'base-image': { type: 'string' },
      tag: { type: 'string' },
      artifacts: { type: 'string' },
    },
  });
  if (positionals.length !== 1) {
    console.error(`usage: ${USAGE}`);
    return 2;
  }
  try {
    const r = exportStack(positionals[0], {
      candidateId: values.candidate,
      outDir: values.out,
      artifactsRoot: values.artifacts,
      baseImage: values['base-image'],
      imageTag: values.tag,
    });
    console.log(`exported ${r.searchId}/${r.candidateId} (${r.device}) to ${r.outDir}`);
    console.log(`  ${r.files.length} files; base image ${r.baseImage}`);
    console.log(`  next: vibeserve build-image ${r.outDir} --tag ${r.imageTag}   or   vibeserve serve ${r.outDir}`);
    return 0;
  } catch (err) {
    console.error(`vibeserve export: ${(err as Error).message}`);
    return 1;
  }
}

export const exportCommand: Command = {
  name: 'export',
  summary,
  usage: USAGE,
  run,
};
