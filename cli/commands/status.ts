// `vibeserve status <id>`: where a search stands and its leaderboard so far.
import type { SearchProgress } from '../../lib/searchTypes.js';
import { uiLink } from '../../lib/temporalConnection.js';
import { leaderboardQuery, progressQuery } from '../../workflows/messages.js';
import { bestMetricAttribute, roundAttribute, statusAttribute } from '../../workflows/searchAttributes.js';
import { parse, searchIdArg } from '../args.js';
import { leaderboardLines } from '../leaderboardText.js';
import { getClient } from '../client.js';
import type { Command } from '../command.js';
import { renderProgress } from '../progressBar.js';
import {
  isFinished,
  readSavedSearch,
  savedSearchLines,
  type SavedSearch,
  type SearchAttributesView,
} from '../savedSearch.js';

/** How long the control worker gets to answer the progress queries before the saved state is shown. */
const QUERY_WAIT_MS = 5_000;

const usage = 'vibeserve status <search-id> [--json]';

export const status: Command = {
  name: 'status',
  summary: "print a search's progress and leaderboard",
  usage,
  async run(argv) {
    const { values, positionals } = parse(argv, { json: { type: 'boolean' } }, usage);
    const id = searchIdArg(positionals, usage);
    const saved = readSavedSearch(id);
    // a finished search's search.json is final: no server, worker or query is needed
    if (saved && isFinished(saved)) return printSaved(id, saved, null, values.json);
    const client = await getClient();
    const handle = client.workflow.getHandle(id);
    const d = await handle.describe();
    const attrs: SearchAttributesView = {
      workflowStatus: d.status.name,
      status: d.typedSearchAttributes.get(statusAttribute),
      round: d.typedSearchAttributes.get(roundAttribute),
      bestMetric: d.typedSearchAttributes.get(bestMetricAttribute),
    };
    // queries run on the control worker: a closed search is never queried (a worker would replay
    // it), and a running one whose worker does not answer shows what was saved
    if (d.status.name !== 'RUNNING') return printSaved(id, saved, attrs, values.json);
    const live = await answeredWithin(
      Promise.all([handle.query(progressQuery), handle.query(leaderboardQuery)]),
      QUERY_WAIT_MS,
    );
    if (!live)
      return printSaved(
        id,
        saved,
        attrs,
        values.json,
        `the control worker did not answer within ${QUERY_WAIT_MS / 1000} s (is it up? \`vibeserve up\`): showing the last saved state`,
      );
    const progress = live[0] as SearchProgress;
    const board = live[1];
    if (values.json) {
      console.log(JSON.stringify({ workflowStatus: d.status.name, progress, ...board }, null, 2));
      return 0;
    }
    console.log(`${id} (${d.status.name.toLowerCase()}, run ${progress.runIndex + 1}) — ${uiLink(id)}`);
    console.log(renderProgress(progress, d.closeTime ? d.closeTime.getTime() : Date.now()));
    if (progress.hints.length) console.log(`hints: ${progress.hints.join(' | ')}`);
    if (Object.keys(progress.constraints).length) console.log(`constraints: ${JSON.stringify(progress.constraints)}`);
    if (progress.failure) console.log(`failure: ${progress.failure}`);
    for (const line of leaderboardLines(board, progress.objective)) console.log(line);
    if (board.rejected.length) console.log(`rejected:`);
    for (const c of board.rejected.slice(-10))
      console.log(`  ${c.candidateId}  ${c.reason}: ${c.message ?? ''}`.slice(0, 160));
    return 0;
  },
};

function printSaved(
  id: string,
  saved: SavedSearch | null,
  attrs: SearchAttributesView | null,
  json: boolean | undefined,
  note?: string,
): number {
  if (json)
    console.log(
      JSON.stringify(
        { source: saved ? 'search.json' : 'search attributes', note, attributes: attrs, ...saved },
        null,
        2,
      ),
    );
  else for (const line of savedSearchLines(id, saved, attrs, note)) console.log(line);
  return 0;
}

async function answeredWithin<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  return Promise.race([promise.catch(() => null), late]).finally(() => clearTimeout(timer));
}
