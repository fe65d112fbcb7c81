// vibeserve report <searchId> [--out <dir>] [--artifacts <dir>] [--no-png]
import { parseArgs } from 'node:util';
import { writeReport } from '../../lib/report/writeReport.js';
import type { Command } from '../command.js';

const USAGE = 'vibeserve report <searchId> [--out <dir>] [--artifacts <dir>] [--no-png]';
const summary = 'write a self-contained HTML report with plots (SVG + PNG) for a search';

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { out: { type: 'string' }, artifacts: { type: 'string' }, 'no-png': { type: 'boolean' } },
  });
  if (positionals.length !== 1) {
    console.error(`usage: ${USAGE}`);
    return 2;
  }
  try {
    const written = await writeReport(positionals[0], {
      outDir: values.out,
      artifactsRoot: values.artifacts,
      png: !values['no-png'],
    });
    console.log(`report: ${written.html}`);
    for (const f of [...written.svgs, ...written.pngs]) console.log(`plot:   ${f}`);
    return 0;
  } catch (err) {
    console.error(`vibeserve report: ${(err as Error).message}`);
    return 1;
  }
}

export const reportCommand: Command = {
  name: 'report',
  summary,
  usage: USAGE,
  run,
};
