// A tensor-parallel candidate end to end on CPU: the search offers tp=2 only because the scenario
// gives it two devices of one host; the candidate's verify and benchmark go to the runtime queue's
// -x2 variant, which only a worker with two device slots polls, and run there as two gloo ranks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { readJsonIfExists, candidateDir } from '../../lib/artifactStore.js';
import type { SearchSummary } from '../../lib/searchTypes.js';
import {
  connect,
  readSearchJson,
  startTestSearch,
  startWorker,
  suite,
  tinyScenario,
  waitFor,
  type WorkerProcess,
} from './harness.js';

const s = suite('tp');
const workers: WorkerProcess[] = [];
let client: Client;

beforeAll(async () => {
  client = await connect(s.address);
  workers.push(
    await startWorker(s, 'controlWorker'),
    await startWorker(s, 'runtimeWorker', { VIBESERVE_CPU_SLOTS: '2' }),
  );
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
  await client?.connection.close();
});

describe('tensor-parallel candidates', () => {
  it('are scheduled on the -x2 queue and verified and benchmarked as two ranks', async () => {
    const runtime = workers[1];
    const x2 = `"queue":"${s.runtimeQueue}-x2","slots":2,"devicesPerActivity":2`;
    await waitFor(
      'the runtime worker to serve its -x2 queue',
      async () => runtime.output.join('\n').includes(x2),
      10_000,
    );

    const base = tinyScenario({ name: 'wf-tp', rounds: 1, perRound: 1, concurrency: 1 });
    const scenario = {
      ...base,
      hardware: { kind: 'cpu' as const, gpus: 2 },
      constraints: { tp: ['2'], execution: ['eager'] },
    };
    const { workflowId } = await startTestSearch(client, s, scenario, 'a');
    const summary = (await client.workflow.getHandle(workflowId).result()) as SearchSummary;
    const results = readSearchJson(s, workflowId);
    expect(summary.accepted, `rejections: ${JSON.stringify(results.rejected.map((r) => [r.reason, r.message]))}`).toBe(
      1,
    );
    const best = results.leaderboard[0];
    expect(best.design.choices.tp).toBe('2');
    expect(best.objective).toBeGreaterThan(0);

    // where the candidate's runtime activities were scheduled
    const history = await client.workflow.getHandle(`${workflowId}.${best.candidateId}`).fetchHistory();
    const scheduled = (history.events ?? [])
      .map((e) => e.activityTaskScheduledEventAttributes)
      .filter((a) => a != null)
      .map((a) => [a.activityType?.name, a.taskQueue?.name]);
    expect(scheduled).toContainEqual(['verify', `${s.runtimeQueue}-x2`]);
    expect(scheduled).toContainEqual(['benchmark', `${s.runtimeQueue}-x2`]);

    // the benchmark ran the stack as two ranks, each holding half of the KV heads
    process.env.VIBESERVE_HOME = s.home;
    const bench = readJsonIfExists<{ engine_stats?: { tensor_parallel?: unknown } }>(
      `${candidateDir(workflowId, best.candidateId)}/bench.json`,
    );
    expect(bench?.engine_stats?.tensor_parallel).toEqual({ ranks: ['cpu', 'cpu'], kv_heads_per_rank: [1, 1] });
  });
});
