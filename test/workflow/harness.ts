// Shared set-up for the workflow suites: real worker processes (the same entry points `vibeserve up`
// runs) against the real dev server from globalSetup, each suite on its own task queues.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { inspect } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, inject } from 'vitest';
import { projectRoot } from '../../lib/paths.js';
import { parseScenario, type Scenario } from '../../lib/scenario.js';
import { buildSearchInput, startSearch, type BudgetOverrides } from '../../lib/searchStart.js';
import type { CandidateResult, FinalRound, SearchInput, SearchOptions } from '../../lib/searchTypes.js';
import { FAILURE_CANDIDATE } from '../../lib/workflowSafe/failures.js';

// Replay and in-process workers in this process log only what matters: warnings, less a
// candidate's rejection, which allRejected.test.ts scripts on purpose.
try {
  Runtime.install({
    logger: new DefaultLogger('WARN', ({ level, message, meta }) => {
      if ((meta?.error as { type?: string } | undefined)?.type === FAILURE_CANDIDATE) return;
      process.stderr.write(`[${level}] ${message}${meta ? ` ${inspect(meta)}` : ''}\n`);
    }),
  });
} catch {
  // already installed by another suite in this process
}

/** The workflow bundle, built once per content of workflows/ and lib/ (webpack is slow on 2 cores). */
export async function workflowBundlePath(): Promise<string> {
  const hash = createHash('sha256');
  for (const dir of ['workflows', 'lib']) {
    for (const f of readdirSync(path.join(projectRoot, dir), { recursive: true }) as string[]) {
      if (f.endsWith('.ts')) hash.update(f).update(readFileSync(path.join(projectRoot, dir, f)));
    }
  }
  const file = path.join(os.tmpdir(), 'vibeserve-bundles', `${hash.digest('hex').slice(0, 16)}.js`);
  if (!existsSync(file)) {
    const { code } = await bundleWorkflowCode({
      workflowsPath: path.join(projectRoot, 'workflows', 'index.ts'),
      logger: quietLogger,
    });
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, code);
  }
  return file;
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
};

export interface Suite {
  address: string;
  home: string;
  controlQueue: string;
  runtimeQueue: string;
  env: NodeJS.ProcessEnv;
}

export function suite(name: string, address = inject('temporalAddress')): Suite {
  const tag = `${name}-${randomBytes(3).toString('hex')}`;
  const home = path.join(inject('testHome'), tag);
  mkdirSync(home, { recursive: true });
  const controlQueue = `vibeserve-control-${tag}`;
  const runtimeQueue = `vibeserve-runtime-cpu-${tag}`;
  return {
    address,
    home,
    controlQueue,
    runtimeQueue,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: address,
      VIBESERVE_HOME: home,
      VIBESERVE_CONTROL_QUEUE: controlQueue,
      VIBESERVE_RUNTIME_QUEUE: runtimeQueue,
      VIBESERVE_FORCE_CPU: '1',
      VIBESERVE_SHUTDOWN_GRACE: '2s',
    },
  };
}

export interface WorkerProcess {
  proc: ChildProcess;
  pid: number;
  output: string[];
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `workers/<name>.ts` as its own process and waits for its `ready` line. */
export async function startWorker(
  s: Suite,
  name: 'controlWorker' | 'runtimeWorker',
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<WorkerProcess> {
  const env = { ...s.env, VIBESERVE_WORKFLOW_BUNDLE: await workflowBundlePath(), ...extraEnv };
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'workers', `${name}.ts`)], {
    cwd: projectRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      output.push(l);
      if (l.includes('"event":"ready"')) resolve();
    });
    createInterface({ input: proc.stderr! }).on('line', (l) => output.push(l));
    proc.once('exit', (code) => reject(new Error(`${name} exited with ${code}: ${output.slice(-5).join('\n')}`)));
  });
  await ready;
  return {
    proc,
    pid: proc.pid!,
    output,
    kill: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      await exited;
    },
  };
}

export async function connect(address: string): Promise<Client> {
  return new Client({ connection: await Connection.connect({ address }) });
}

/** cpu-demo shrunk to test size: tiny-llama, a short benchmark. */
export function tinyScenario(
  over: { name?: string; rounds?: number; perRound?: number; concurrency?: number; numRequests?: number } = {},
): Scenario {
  const base = parseScenario(
    readFileSync(path.join(projectRoot, 'scenarios', 'cpu-demo.yaml'), 'utf8'),
    'cpu-demo.yaml',
  );
  const rounds = over.rounds ?? 1;
  const perRound = over.perRound ?? 2;
  return {
    ...base,
    name: over.name ?? 'wf-test',
    workload: { ...base.workload, num_requests: over.numRequests ?? 4, prompt_len: 16, output_len: 8 },
    search: {
      ...base.search,
      rounds,
      candidates_per_round: perRound,
      max_candidates: rounds * perRound,
      concurrency: over.concurrency ?? 2,
      check_timeout_s: 240,
      bench_timeout_s: 240,
    },
  };
}

export async function startTestSearch(
  client: Client,
  s: Suite,
  scenario: Scenario,
  name: string,
  options: Partial<SearchOptions> = {},
  budget?: BudgetOverrides,
): Promise<{ workflowId: string; input: SearchInput }> {
  const { workflowId, input } = buildSearchInput({
    scenario,
    name,
    budget,
    options: { controlQueue: s.controlQueue, runtimeQueue: s.runtimeQueue, heartbeatTimeoutMs: 4_000, ...options },
  });
  // Activities run in the worker processes, which read VIBESERVE_HOME; so does this test.
  process.env.VIBESERVE_HOME = s.home;
  await startSearch(client, workflowId, input);
  return { workflowId, input };
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 120_000,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function readSearchJson(
  s: Suite,
  searchId: string,
): {
  status: string;
  failure: string | null;
  leaderboard: CandidateResult[];
  rejected: CandidateResult[];
  rounds: Array<{ round: number }>;
  finalRound?: FinalRound | null;
} {
  return JSON.parse(readFileSync(path.join(s.home, 'artifacts', searchId, 'search.json'), 'utf8'));
}

/**
 * With VIBESERVE_RECORD_HISTORIES=1, writes a finished workflow's history as a replay fixture
 * (replay.test.ts, protobuf JSON): <workflowId>.json, or <workflowId>~run<N>.json for run N (from 0)
 * of a workflow that continued as new, since each run replays on its own history.
 */
export async function recordHistories(client: Client, workflowId: string): Promise<void> {
  if (!process.env.VIBESERVE_RECORD_HISTORIES) return;
  const runs: Array<{ runId: string; startTime: Date }> = [];
  for await (const w of client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) runs.push(w);
  runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  for (const [i, run] of runs.entries()) {
    const history = await client.workflow.getHandle(workflowId, run.runId).fetchHistory();
    const name = runs.length === 1 ? workflowId : `${workflowId}~run${i}`;
    writeFileSync(
      path.join(projectRoot, 'test', 'fixtures', 'histories', `${name}.json`),
      JSON.stringify(history, null, 1),
    );
  }
}

/** A control and a runtime worker plus a connected client for every test of a file, stopped after it. */
export function useWorkers(s: Suite): { readonly client: Client } {
  const workers: WorkerProcess[] = [];
  let client: Client | undefined;
  beforeAll(async () => {
    client = await connect(s.address);
    workers.push(await startWorker(s, 'controlWorker'), await startWorker(s, 'runtimeWorker'));
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill()));
    await client?.connection.close();
  });
  return {
    get client() {
      if (!client) throw new Error('useWorkers: the client is available only inside tests');
      return client;
    },
  };
}
