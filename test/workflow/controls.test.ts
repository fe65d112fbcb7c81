// Pause, steer, resume and stop-and-finish through the real CLI against a running search.
import { describe, expect, it } from 'vitest';
import type { SearchSummary } from '../../lib/searchTypes.js';
import { progressQuery } from '../../workflows/messages.js';
import { vibeserve } from './cli.js';
import {
  readSearchJson,
  recordHistories,
  startTestSearch,
  suite,
  useWorkers,
  tinyScenario,
  waitFor,
} from './harness.js';

const s = suite('controls');
const stack = useWorkers(s);

describe('steering a running search', () => {
  it('pauses, takes a hint and a constraint, resumes, and stops after finishing running candidates', async () => {
    const scenario = tinyScenario({ name: 'wf-controls', rounds: 4, perRound: 1, concurrency: 1 });
    const { workflowId } = await startTestSearch(stack.client, s, scenario, 'a');
    const handle = stack.client.workflow.getHandle(workflowId);

    const paused = await vibeserve(['pause', workflowId], s.env);
    expect(paused.stderr).toBe('');
    expect(paused.stdout).toContain('paused: running candidates finish');
    // Pausing lets a running candidate finish; after that nothing new starts while paused.
    await waitFor('round 1 planned', async () => (await handle.query(progressQuery)).round === 1);
    const startedAtPause = (await handle.query(progressQuery)).candidates.started;
    await waitFor(
      'running candidates to finish',
      async () => (await handle.query(progressQuery)).candidates.running === 0,
      240_000,
      500,
    );
    await new Promise((r) => setTimeout(r, 3_000));
    let p = await handle.query(progressQuery);
    expect(p).toMatchObject({ status: 'paused', candidates: { started: startedAtPause, running: 0 } });
    const roundAtSteer = p.round;

    const steered = await vibeserve(
      ['steer', workflowId, 'prefer', 'eager', 'execution', '--constraint', 'execution=eager'],
      s.env,
    );
    expect(steered.code).toBe(0);
    expect(steered.stdout).toContain('steering applies from the next plan');
    // the demo plans model-free, which acts on dimension=choice only: steer says so
    expect(steered.stdout).toContain('ignores free text');
    const badSteer = await vibeserve(['steer', workflowId, '--constraint', 'execution=warp'], s.env);
    expect(badSteer.code).toBe(2);
    expect(badSteer.stderr).toContain("execution has no choice 'warp'");
    p = await handle.query(progressQuery);
    expect(p.hints).toEqual(['prefer eager execution']);
    expect(p.constraints).toEqual({ execution: ['eager'] });

    expect((await vibeserve(['resume', workflowId], s.env)).stdout).toContain('resumed');
    // A round planned after the steer starts a candidate; then stop-and-finish.
    await waitFor(
      'a round planned after the steer',
      async () => {
        const q = await handle.query(progressQuery);
        return q.round > roundAtSteer && q.candidates.running > 0;
      },
      240_000,
      300,
    );
    const stopped = await vibeserve(['stop', workflowId], s.env);
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain('stopping: waiting for');
    const startedAtStop = (await handle.query(progressQuery)).candidates.started;
    const summary = (await handle.result()) as SearchSummary;
    expect(summary.status).toBe('stopped');
    expect(summary.candidates).toBe(startedAtStop); // the running candidate finished, nothing new began
    expect(summary.rounds).toBeLessThan(4);

    const results = readSearchJson(s, workflowId);
    expect(results.status).toBe('stopped');
    const all = [...results.leaderboard, ...results.rejected];
    expect(new Set(all.map((c) => c.candidateId)).size).toBe(startedAtStop);
    const afterSteer = all.filter((c) => c.round > roundAtSteer);
    expect(afterSteer.length).toBeGreaterThan(0);
    for (const c of afterSteer) expect(c.design.choices.execution).toBe('eager');

    const late = await vibeserve(['pause', workflowId], s.env);
    expect(late.code).toBe(1);
    expect(late.stderr.trim()).toBe(`vibeserve pause: search ${workflowId} is completed, not running`);
    // a replay fixture with a pause, a steer, a resume and a stop in it (replay.test.ts)
    await recordHistories(stack.client, workflowId);
  });
});

describe('watching a search that did not finish', () => {
  it('exits non-zero with a one-line reason', async () => {
    const scenario = tinyScenario({ name: 'wf-terminated' });
    const { workflowId } = await startTestSearch(stack.client, s, scenario, 'a');
    await stack.client.workflow.getHandle(workflowId).terminate('operator pulled the plug');
    const watched = await vibeserve(['watch', workflowId], s.env);
    expect(watched.code).toBe(1);
    expect(watched.stderr.trim()).toBe(`search ${workflowId} ended terminated: operator pulled the plug`);
    const missing = await vibeserve(['watch', 'vibeserve-no-such-search'], s.env);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe(
      'vibeserve watch: no search with id vibeserve-no-such-search (see `vibeserve list`)',
    );
  });
});
