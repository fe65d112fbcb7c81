// With a tiny history threshold the search continues as new several times, mid-round included;
// the leaderboard, counts and reports of candidates running across the boundary all survive.
import { describe, expect, it } from 'vitest';
import type { SearchSummary } from '../../lib/searchTypes.js';
import { leaderboardQuery, progressQuery } from '../../workflows/messages.js';
import { readSearchJson, recordHistories, startTestSearch, suite, useWorkers, tinyScenario } from './harness.js';

const s = suite('can');
const stack = useWorkers(s);

describe('continue-as-new', () => {
  it('keeps the leaderboard and every report across runs', async () => {
    const scenario = tinyScenario({ name: 'wf-can', rounds: 2, perRound: 1, concurrency: 1 });
    const { workflowId } = await startTestSearch(stack.client, s, scenario, 'a', { continueAsNewAfterEvents: 16 });
    const handle = stack.client.workflow.getHandle(workflowId);
    const summary = (await handle.result()) as SearchSummary;
    expect(summary).toMatchObject({ status: 'done', rounds: 2, candidates: 2 });

    const runs: string[] = [];
    for await (const w of stack.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) runs.push(w.runId);
    expect(runs.length).toBeGreaterThanOrEqual(2);
    const progress = await handle.query(progressQuery);
    expect(progress.runIndex).toBe(runs.length - 1);

    // Round 1's result was found in an earlier run and is still on the final leaderboard.
    const board = await handle.query(leaderboardQuery);
    const ids = [...board.leaderboard, ...board.rejected].map((c) => c.candidateId).sort();
    expect(ids).toEqual(['r1-c0', 'r2-c0']);
    const results = readSearchJson(s, workflowId);
    expect([...results.leaderboard, ...results.rejected].map((c) => c.candidateId).sort()).toEqual(['r1-c0', 'r2-c0']);
    expect(results.rounds.map((r) => r.round)).toEqual([1, 2]);
    // replay fixtures of every run, the first ending in continue-as-new (replay.test.ts)
    await recordHistories(stack.client, workflowId);
  });
});
