// A search whose every candidate was rejected for one reason ends `failed` with that reason (the
// scenario itself is wrong, not the designs); mixed reasons or one accepted candidate end `done`.
// The first test runs the real workers and Python runtime; the others script the activities in an
// in-process worker, so the candidates' outcomes are exactly the ones each case needs.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finalizeSearch } from '../../activities/finalize.js';
import type { PlanInput, PlanOutput } from '../../lib/architect/types.js';
import { projectRoot } from '../../lib/paths.js';
import type { BuildInput, BuildOutput, SearchOptions, SearchSummary } from '../../lib/searchTypes.js';
import { FAILURE_CANDIDATE, type RejectionDetails } from '../../lib/workflowSafe/failures.js';
import { progressQuery } from '../../workflows/messages.js';
import { statusAttribute } from '../../workflows/searchAttributes.js';
import { vibeserve } from './cli.js';
import {
  connect,
  readSearchJson,
  startTestSearch,
  suite,
  tinyScenario,
  useWorkers,
  workflowBundlePath,
} from './harness.js';

describe('every candidate rejected for one reason (real workers)', () => {
  const s = suite('rejected');
  const stack = useWorkers(s);

  it('ends failed with that reason, and `vibeserve watch` exits 1', async () => {
    const base = tinyScenario({ name: 'wf-rejected', rounds: 1, perRound: 2, concurrency: 2 });
    // Past the CLI's preflight (a test builds the input itself): the runtime refuses the preset.
    const scenario = { ...base, model: { ...base.model, preset: 'no-such-preset' } };
    // 'b': the fixture vibeserve-wf-rejected-a.json is this search recorded before the rule, and stays so.
    const { workflowId } = await startTestSearch(stack.client, s, scenario, 'b');

    const watched = await vibeserve(['watch', workflowId], s.env, 300_000);
    const handle = stack.client.workflow.getHandle(workflowId);
    const summary = (await handle.result()) as SearchSummary;
    // VIBESERVE_RECORD_HISTORIES=1 writes the search's history as a replay fixture (replay.test.ts).
    if (process.env.VIBESERVE_RECORD_HISTORIES) {
      const history = await handle.fetchHistory();
      writeFileSync(
        path.join(projectRoot, 'test', 'fixtures', 'histories', `${workflowId}.json`),
        JSON.stringify(history, null, 1),
      );
    }

    expect(watched.code).toBe(1);
    expect(watched.stderr).toMatch(/^search failed: every candidate \(2\) was rejected: bad_spec/);
    expect(summary).toMatchObject({ status: 'failed', candidates: 2, accepted: 0, rejected: 2 });
    expect(summary.failure).toContain('no-such-preset');
    expect(readSearchJson(s, workflowId)).toMatchObject({ status: 'failed', failure: summary.failure });
    expect((await handle.describe()).typedSearchAttributes.get(statusAttribute)).toBe('failed');
    const status = await vibeserve(['status', workflowId], s.env);
    expect(status.stdout).toContain(`${workflowId} (failed)`);
    expect(status.stdout).toContain(`failure: ${summary.failure}`);
  });
});

/** What a scripted candidate does: pass with this objective, or be rejected at build with this reason. */
type Outcome = number | string;

/** Scenario name → the outcomes of each round's candidates, in order. */
const scripts: Record<string, Outcome[][]> = {};

/** Activities that play the script: the design id, and after the build the stack dir, carry the outcome. */
const scripted = {
  async plan(input: PlanInput): Promise<PlanOutput> {
    const outcomes = scripts[input.scenario.name]?.[input.round - 1] ?? [];
    const designs = outcomes.map((o, i) => ({
      id: `r${input.round}-${i}-${o}`,
      choices: {},
      params: {},
      builder: 'template' as const,
    }));
    return { designs, memory: input.memory };
  },
  async build(input: BuildInput): Promise<BuildOutput> {
    const outcome = input.design.id.split('-')[2]!;
    if (Number.isNaN(Number(outcome))) {
      const details: RejectionDetails = { reason: outcome, message: `scripted ${outcome}`, stage: 'build' };
      throw ApplicationFailure.create({
        type: FAILURE_CANDIDATE,
        nonRetryable: true,
        message: details.message,
        details: [details],
      });
    }
    return { stackDir: `/nonexistent/${outcome}`, specHash: input.design.id };
  },
  async verify() {
    return { passed: true, checkPath: 'check.json', checks: 1, resumed: false };
  },
  async benchmark(input: { stackDir: string; objective: string }) {
    const objective = Number(path.basename(input.stackDir));
    return { metrics: { [input.objective]: objective }, objective, benchPath: 'bench.json', resumed: false };
  },
  finalizeSearch,
};

describe('the verdict over scripted candidates', () => {
  const s = suite('verdict');
  let client: Client;
  let connection: NativeConnection;
  let worker: Worker;
  let running: Promise<void>;

  beforeAll(async () => {
    client = await connect(s.address);
    connection = await NativeConnection.connect({ address: s.address });
    // One queue for the workflows and every activity: the candidates' runtime queue is the control queue.
    worker = await Worker.create({
      connection,
      taskQueue: s.controlQueue,
      workflowBundle: { codePath: await workflowBundlePath() },
      activities: scripted,
    });
    running = worker.run();
  });
  afterAll(async () => {
    worker?.shutdown();
    await running;
    await connection?.close();
    await client?.connection.close();
  });

  async function runScripted(name: string, rounds: Outcome[][], options: Partial<SearchOptions> = {}) {
    scripts[name] = rounds;
    const perRound = Math.max(...rounds.map((r) => r.length));
    const scenario = tinyScenario({ name, rounds: rounds.length, perRound, concurrency: perRound });
    const { workflowId } = await startTestSearch(client, s, scenario, 'a', {
      runtimeQueue: s.controlQueue,
      ...options,
    });
    const handle = client.workflow.getHandle(workflowId);
    return { handle, summary: (await handle.result()) as SearchSummary };
  }

  it('fails with the one reason, also when the rejections span rounds and runs', async () => {
    const { handle, summary } = await runScripted(
      'wf-verdict-same',
      [['out_of_memory', 'out_of_memory'], ['out_of_memory']],
      { continueAsNewAfterEvents: 16 },
    );
    expect(summary).toMatchObject({ status: 'failed', rounds: 2, candidates: 3, accepted: 0 });
    expect(summary.failure).toBe('every candidate (3) was rejected: out_of_memory — scripted out_of_memory');
    expect((await handle.query(progressQuery)).runIndex).toBeGreaterThan(0); // the tally crossed continue-as-new
  });

  it('ends done when the rejections have different reasons', async () => {
    const { summary } = await runScripted('wf-verdict-mixed', [['bad_spec', 'build_failed']]);
    expect(summary).toMatchObject({ status: 'done', candidates: 2, accepted: 0, failure: null });
  });

  it('ends done when one candidate was accepted', async () => {
    const { summary } = await runScripted('wf-verdict-one', [['bad_spec', 42, 'bad_spec']]);
    expect(summary).toMatchObject({ status: 'done', candidates: 3, accepted: 1, failure: null });
    expect(summary.best?.objective).toBe(42);
  });
});
