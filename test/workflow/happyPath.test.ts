// A whole search on CPU through the real Python verbs: plan → build → verify → benchmark →
// leaderboard → search.json, watched through the CLI, then replayed for determinism.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../lib/paths.js';
import { startSearch } from '../../lib/searchStart.js';
import type { SearchSummary } from '../../lib/searchTypes.js';
import { leaderboardQuery, progressQuery } from '../../workflows/messages.js';
import {
  bestMetricAttribute,
  roundAttribute,
  scenarioAttribute,
  statusAttribute,
} from '../../workflows/searchAttributes.js';
import { vibeserve } from './cli.js';
import { readSearchJson, startTestSearch, suite, useWorkers, tinyScenario, workflowBundlePath } from './harness.js';

const s = suite('happy');
const stack = useWorkers(s);

describe('happy path', () => {
  it('runs a search end to end, attaches a second start, and reports through the CLI', async () => {
    const scenario = tinyScenario({ name: 'wf-happy', rounds: 1, perRound: 2, concurrency: 2 });
    const { workflowId, input } = await startTestSearch(stack.client, s, scenario, 'a');
    expect(workflowId).toBe('vibeserve-wf-happy-a');

    // Same scenario + name again: attaches to the running search instead of starting another.
    const again = await startSearch(stack.client, workflowId, input);
    expect(again.kind).toBe('attached');
    const first = await stack.client.workflow.getHandle(workflowId).describe();
    expect(again.kind === 'attached' && again.handle.firstExecutionRunId).toBe(first.runId);

    const watched = await vibeserve(['watch', workflowId], s.env, 400_000);
    expect(watched.stderr).toBe('');
    expect(watched.code).toBe(0);
    expect(watched.stdout).toContain(`/namespaces/default/workflows/${workflowId}`);
    expect(watched.stdout).toMatch(/search vibeserve-wf-happy-a done: 1 round\(s\), 2 candidates/);

    const handle = stack.client.workflow.getHandle(workflowId);
    const summary = (await handle.result()) as SearchSummary;
    expect(summary).toMatchObject({ status: 'done', rounds: 1, candidates: 2 });
    const results = readSearchJson(s, workflowId);
    expect(
      summary.accepted,
      `rejections: ${JSON.stringify(results.rejected.map((r) => [r.candidateId, r.reason, r.message]))}`,
    ).toBeGreaterThanOrEqual(1);

    expect(results.status).toBe('done');
    const ids = [...results.leaderboard, ...results.rejected].map((c) => c.candidateId).sort();
    expect(ids).toEqual(['r1-c0', 'r1-c1']);
    for (const c of results.leaderboard) {
      // every stage's wall time, as search-throughput summaries read it
      expect(Object.keys(c.stageMs ?? {})).toEqual(['build', 'verify', 'benchmark']);
      expect(Object.values(c.stageMs!).every((ms) => ms >= 0)).toBe(true);
      expect(Object.values(c.stageMs!).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(c.durationMs!);
      expect(c.objective).toBeGreaterThan(0);
      // the median of three repetitions, with their range
      expect(c.spread?.output_throughput).toMatchObject({ median: c.objective, n: 3 });
    }
    if (results.leaderboard.length >= 2) {
      // The final round re-measured the leaders side by side; its order (ties to the simpler) is the leaderboard's.
      const f = results.finalRound!;
      expect(f.error).toBeUndefined();
      expect(f.order).toEqual(results.leaderboard.map((c) => c.candidateId));
      for (const c of results.leaderboard) expect(c.remeasured?.n).toBe(3);
    } else {
      expect(results.finalRound ?? null).toBeNull();
    }

    const board = await handle.query(leaderboardQuery);
    expect(board.leaderboard.map((c) => c.candidateId)).toEqual(results.leaderboard.map((c) => c.candidateId));
    const progress = await handle.query(progressQuery);
    expect(progress).toMatchObject({ status: 'done', round: 1, candidates: { done: 2, running: 0 } });

    const d = await handle.describe();
    expect(d.typedSearchAttributes.get(scenarioAttribute)).toBe('wf-happy');
    expect(d.typedSearchAttributes.get(statusAttribute)).toBe('done');
    expect(d.typedSearchAttributes.get(roundAttribute)).toBe(1);
    expect(d.typedSearchAttributes.get(bestMetricAttribute)).toBeCloseTo(summary.best!.objective!, 6);

    const listed = await vibeserve(['list', '--scenario', 'wf-happy'], s.env);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/vibeserve-wf-happy-a\s+done\s+round 1/);

    // Starting the finished search again does not start a second one.
    const finished = await startSearch(stack.client, workflowId, input);
    expect(finished.kind).toBe('finished');

    // The live histories replay against the current workflow code (determinism guard).
    const children = [`${workflowId}.r1-c0`, `${workflowId}.r1-c1`];
    const histories = await Promise.all(
      [workflowId, ...children].map(async (id) => ({
        workflowId: id,
        history: await stack.client.workflow.getHandle(id).fetchHistory(),
      })),
    );
    const bundle = await workflowBundlePath();
    for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: bundle } }, histories)) {
      expect(r.error, `replay of ${r.workflowId}`).toBeUndefined();
    }
    // VIBESERVE_RECORD_HISTORIES=1 refreshes the fixtures replay.test.ts guards (protobuf JSON).
    if (process.env.VIBESERVE_RECORD_HISTORIES) {
      for (const h of histories.slice(0, 2)) {
        writeFileSync(
          path.join(projectRoot, 'test', 'fixtures', 'histories', `${h.workflowId}.json`),
          JSON.stringify(h.history, null, 1),
        );
      }
    }
  });

  it('rejects a bad scenario before starting anything, naming file and field', async () => {
    const bad = path.join(s.home, 'bad.yaml');
    writeFileSync(
      bad,
      'name: x\nmodel: {arch: llama, preset: tiny-llama}\nworkload: {prompt_len: 8, output_len: 4, num_requests: -1}\n',
    );
    const r = await vibeserve(['search', bad, '--name', 'bad'], s.env);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`vibeserve search: ${bad}: field 'workload.num_requests' must be ≥ 1, got -1`);
    await expect(stack.client.workflow.getHandle('vibeserve-x-bad').describe()).rejects.toThrow(/not found/i);
  });
});
