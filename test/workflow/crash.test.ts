// Durability: SIGKILL the runtime worker in the middle of a benchmark, and SIGKILL the Temporal
// server in the middle of a search; in both cases the search completes, each candidate once.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startDevServer, type DevServer } from '../../lib/devServer.js';
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

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** The activity a candidate workflow is running right now, with its attempt. */
async function runningActivity(
  client: Client,
  workflowId: string,
): Promise<{ type: string; attempt: number; details: unknown } | undefined> {
  const d = await client.workflow.getHandle(workflowId).describe();
  const a = d.raw.pendingActivities?.find(
    (x) => x.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
  );
  return a ? { type: a.activityType?.name ?? '', attempt: a.attempt ?? 0, details: a.heartbeatDetails } : undefined;
}

function startedAttempts(events: temporal.api.history.v1.IHistoryEvent[], activityType: string): number[] {
  const scheduled = new Map<string, string>();
  const attempts: number[] = [];
  for (const e of events) {
    if (e.activityTaskScheduledEventAttributes)
      scheduled.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '');
    const st = e.activityTaskStartedEventAttributes;
    if (st && scheduled.get(String(st.scheduledEventId)) === activityType) attempts.push(st.attempt ?? 0);
  }
  return attempts;
}

describe('crash recovery', () => {
  it('survives SIGKILL of the runtime worker mid-benchmark; each candidate appears once', async () => {
    const s = suite('crash-worker');
    const client = await connect(s.address);
    cleanups.push(() => client.connection.close());
    const control = await startWorker(s, 'controlWorker');
    cleanups.push(() => control.kill());
    let runtime: WorkerProcess = await startWorker(s, 'runtimeWorker');
    cleanups.push(() => runtime.kill('SIGKILL'));

    // Enough requests that the benchmark runs for a few seconds after its first heartbeat.
    const scenario = tinyScenario({ name: 'wf-crash', rounds: 1, perRound: 2, concurrency: 1, numRequests: 24 });
    const { workflowId } = await startTestSearch(client, s, scenario, 'a', { heartbeatTimeoutMs: 3_000 });
    const victim = `${workflowId}.r1-c0`;
    const during = await waitFor(
      'the first benchmark to run',
      () => runningActivity(client, victim).then((a) => a?.type === 'benchmark' && a),
      300_000,
      100,
    );
    expect(during.attempt).toBe(1);

    await runtime.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1_000));
    runtime = await startWorker(s, 'runtimeWorker');

    const summary = (await client.workflow.getHandle(workflowId).result()) as SearchSummary;
    expect(summary).toMatchObject({ status: 'done', candidates: 2 });
    const results = readSearchJson(s, workflowId);
    const ids = [...results.leaderboard, ...results.rejected].map((c) => c.candidateId).sort();
    expect(ids).toEqual(['r1-c0', 'r1-c1']);
    // The killed benchmark was retried (attempt 2) instead of the candidate being lost or doubled.
    const history = await client.workflow.getHandle(victim).fetchHistory();
    expect(startedAttempts(history.events ?? [], 'benchmark').at(-1)).toBeGreaterThanOrEqual(2);
    expect(results.leaderboard.map((c) => c.candidateId)).toContain('r1-c0');
  });

  it('survives SIGKILL of the Temporal server, restarted on the same SQLite file', async () => {
    const base = suite('crash-server');
    const port = await freePort();
    const dbFile = path.join(base.home, 'server', 'temporal.db');
    mkdirSync(path.dirname(dbFile), { recursive: true });
    const serverOpts = { port, headless: true, dbFile, logFile: path.join(base.home, 'server', 'temporal.log') };
    let server: DevServer = await startDevServer(serverOpts);
    cleanups.push(() => server.stop('SIGKILL'));
    const s = suite('crash-server', server.address);
    const control = await startWorker(s, 'controlWorker');
    cleanups.push(() => control.kill());
    const runtime = await startWorker(s, 'runtimeWorker');
    cleanups.push(() => runtime.kill());

    let client = await connect(s.address);
    const scenario = tinyScenario({ name: 'wf-crash-server', rounds: 1, perRound: 1, concurrency: 1 });
    const { workflowId } = await startTestSearch(client, s, scenario, 'a');
    await waitFor(
      'the first candidate to be verified',
      () => runningActivity(client, `${workflowId}.r1-c0`).then((a) => a?.type === 'verify' && a),
      300_000,
      100,
    );
    await client.connection.close();

    await server.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 2_000));
    server = await startDevServer(serverOpts);

    client = await connect(s.address);
    cleanups.push(() => client.connection.close());
    const summary = (await client.workflow.getHandle(workflowId).result()) as SearchSummary;
    expect(summary).toMatchObject({ status: 'done', candidates: 1 });
    const results = readSearchJson(s, workflowId);
    expect([...results.leaderboard, ...results.rejected].map((c) => c.candidateId)).toEqual(['r1-c0']);
  });
});
