// `vibeserve status <id>`: where a search stands and its leaderboard so far.
import type { SearchProgress } from '../../lib/searchTypes.js';
import { uiLink } from '../../lib/temporalConnection.js';
import { leaderboardQuery, progressQuery } from '../../workflows/messages.js';
import { parse, searchIdArg } from '../args.js';
import { getClient } from '../client.js';
import type { Command } from '../command.js';
import { renderProgress } from '../progressBar.js';

const usage = 'vibeserve status <search-id> [--json]';

export const status: Command = {
  name: 'status',
  summary: "print a search's progress and leaderboard",
  usage,
  async run(argv) {
    const { values, positionals } = parse(argv, { json: { type: 'boolean' } }, usage);
    const id = searchIdArg(positionals, usage);
    const client = await getClient();
    const handle = client.workflow.getHandle(id);
    const d = await handle.describe();
    const progress = (await handle.query(progressQuery)) as SearchProgress;
    const board = await handle.query(leaderboardQuery);
    if (values.json) {
      console.log(JSON.stringify({ workflowStatus: d.status.name, progress, ...board }, null, 2));
      return 0;
    }
    console.log(`${id} (${d.status.name.toLowerCase()}, run ${progress.runIndex + 1}) — ${uiLink(id)}`);
    console.log(renderProgress(progress, d.closeTime ? d.closeTime.getTime() : Date.now()));
    if (progress.hints.length) console.log(`hints: ${progress.hints.join(' | ')}`);
    if (Object.keys(progress.constraints).length) console.log(`constraints: ${JSON.stringify(progress.constraints)}`);
    if (progress.failure) console.log(`failure: ${progress.failure}`);
    console.log(`leaderboard (${progress.objective}):`);
    for (const [i, c] of board.leaderboard.slice(0, 10).entries()) {
      const choices = Object.entries(c.design.choices).map(([k, v]) => `${k}=${v}`).join(' ');
      console.log(`  ${i + 1}. ${c.candidateId}  ${c.objective?.toFixed(3)}  ${choices}`);
    }
    if (board.rejected.length) console.log(`rejected:`);
    for (const c of board.rejected.slice(-10)) console.log(`  ${c.candidateId}  ${c.reason}: ${c.message ?? ''}`.slice(0, 160));
    return 0;
  },
};
