// `vibeserve watch <id>`: a live progress line until the search ends; exit 0 when it finished.
import { WorkflowNotFoundError } from '@temporalio/client';
import type { SearchProgress, SearchSummary } from '../../lib/searchTypes.js';
import { formatSpread } from '../../lib/workflowSafe/spread.js';
import { uiLink } from '../../lib/temporalConnection.js';
import { progressQuery } from '../../workflows/messages.js';
import { parse, searchIdArg } from '../args.js';
import { getClient } from '../client.js';
import type { Command } from '../command.js';
import { renderProgress } from '../progressBar.js';

const usage = 'vibeserve watch <search-id> [--interval SECONDS]';

export const watch: Command = {
  name: 'watch',
  summary: 'show a live progress bar until the search ends',
  usage,
  async run(argv) {
    const { values, positionals } = parse(argv, { interval: { type: 'string', default: '1' } }, usage);
    return watchSearch(searchIdArg(positionals, usage), Number(values.interval) * 1000);
  },
};

export async function watchSearch(workflowId: string, intervalMs = 1000, printLink = true): Promise<number> {
  const client = await getClient();
  const handle = client.workflow.getHandle(workflowId);
  const tty = process.stdout.isTTY;
  let lastLine = '';
  if (printLink) console.log(`Temporal UI: ${uiLink(workflowId)}`);
  for (;;) {
    let state: string;
    try {
      state = (await handle.describe()).status.name;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        throw new Error(`no search with id ${workflowId} (see \`vibeserve list\`)`);
      throw err;
    }
    if (state === 'RUNNING' || state === 'CONTINUED_AS_NEW') {
      const p = await handle.query(progressQuery).catch(() => null as SearchProgress | null);
      if (p) {
        const line = renderProgress(p, Date.now());
        if (tty) process.stdout.write(`\r\x1b[2K${line}`);
        else if (stripTimes(line) !== stripTimes(lastLine)) console.log(line);
        lastLine = line;
      }
      await new Promise((r) => setTimeout(r, intervalMs));
      continue;
    }
    if (tty && lastLine) process.stdout.write('\n');
    if (state !== 'COMPLETED') {
      console.error(`search ${workflowId} ended ${state.toLowerCase()}: ${await failureReason(handle)}`);
      return 1;
    }
    const summary = (await handle.result()) as SearchSummary;
    const b = summary.best;
    const best = b
      ? `best ${b.candidateId} ${b.remeasured ? `${formatSpread(b.remeasured)} in the final round` : b.objective?.toFixed(3)}`
      : 'no accepted candidate';
    console.log(
      `search ${workflowId} ${summary.status}: ${summary.rounds} round(s), ${summary.candidates} candidates (${summary.accepted} accepted, ${summary.rejected} rejected), ${best}`,
    );
    console.log(`results: ${summary.searchJson}`);
    console.log(`Temporal UI: ${uiLink(workflowId)}`);
    if (summary.status === 'failed') {
      console.error(`search failed: ${summary.failure}`);
      return 1;
    }
    return 0;
  }
}

async function failureReason(handle: { result(): Promise<unknown> }): Promise<string> {
  try {
    await handle.result();
    return 'unknown';
  } catch (err) {
    let e: unknown = err;
    while (e && typeof e === 'object' && 'cause' in e && (e as { cause?: unknown }).cause)
      e = (e as { cause: unknown }).cause;
    return e instanceof Error ? e.message.split('\n')[0] : String(e);
  }
}

function stripTimes(line: string): string {
  return line.replace(/elapsed [^·]+· ETA .*/, '');
}
