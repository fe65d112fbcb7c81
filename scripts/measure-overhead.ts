// Measures what the orchestration costs on this machine, with a real dev server, real workers and
// the real Python verbs: time from `vibeserve search` to the first candidate result, Temporal's
// overhead per candidate (child workflow wall time minus the time its activities executed), and the
// workers' resident memory. Usage: npx tsx scripts/measure-overhead.ts [--candidates 3]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { bundleWorkflowCode } from '@temporalio/worker';
import YAML from 'yaml';
import { freePort, startDevServer } from '../lib/devServer.js';
import { projectRoot } from '../lib/paths.js';
import type { SearchSummary } from '../lib/searchTypes.js';

type Event = temporal.api.history.v1.IHistoryEvent;

const { values } = parseArgs({ options: { candidates: { type: 'string', default: '3' }, keep: { type: 'boolean' } } });
const candidates = Number(values.candidates);

function ms(e: Event): number {
  const t = e.eventTime!;
  return Number(t.seconds) * 1000 + (t.nanos ?? 0) / 1e6;
}

function rssMiB(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
}

function startWorker(name: string, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const p = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'workers', `${name}.ts`)], {
    cwd: projectRoot,
    env,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return new Promise((resolve, reject) => {
    p.stdout!.on('data', (d: Buffer) => d.toString().includes('"event":"ready"') && resolve(p));
    p.once('exit', (c) => reject(new Error(`${name} exited ${c}`)));
  });
}

interface ActivityTiming {
  type: string;
  scheduleToStartMs: number;
  executionMs: number;
  attempt: number;
}

/** Activity timings and workflow-task time from one history. */
function analyse(events: Event[]) {
  const scheduled = new Map<string, { type: string; at: number }>();
  const started = new Map<string, { at: number; attempt: number }>();
  const activities: ActivityTiming[] = [];
  let wfTaskMs = 0;
  let wfTaskScheduled = 0;
  for (const e of events) {
    const id = String(e.eventId);
    if (e.activityTaskScheduledEventAttributes)
      scheduled.set(id, { type: e.activityTaskScheduledEventAttributes.activityType?.name ?? '?', at: ms(e) });
    if (e.activityTaskStartedEventAttributes)
      started.set(String(e.activityTaskStartedEventAttributes.scheduledEventId), {
        at: ms(e),
        attempt: e.activityTaskStartedEventAttributes.attempt ?? 1,
      });
    const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
    if (done) {
      const sid = String(done.scheduledEventId);
      const s = scheduled.get(sid)!;
      const st = started.get(sid)!;
      activities.push({
        type: s.type,
        scheduleToStartMs: st.at - s.at,
        executionMs: ms(e) - st.at,
        attempt: st.attempt,
      });
    }
    if (e.workflowTaskScheduledEventAttributes) wfTaskScheduled = ms(e);
    if (e.workflowTaskCompletedEventAttributes) wfTaskMs += ms(e) - wfTaskScheduled;
  }
  return { activities, wfTaskMs, wallMs: ms(events.at(-1)!) - ms(events[0]) };
}

async function main() {
  const home = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-measure-'));
  const port = await freePort();
  const server = await startDevServer({
    port,
    headless: true,
    dbFile: path.join(home, 'temporal.db'),
    logFile: path.join(home, 'temporal.log'),
  });
  const bundlePath = path.join(home, 'workflows.js');
  writeFileSync(
    bundlePath,
    (
      await bundleWorkflowCode({
        workflowsPath: path.join(projectRoot, 'workflows', 'index.ts'),
        logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error },
      })
    ).code,
  );
  const env = {
    ...process.env,
    TEMPORAL_ADDRESS: server.address,
    VIBESERVE_HOME: home,
    VIBESERVE_WORKFLOW_BUNDLE: bundlePath,
    VIBESERVE_FORCE_CPU: '1',
  };
  const control = await startWorker('controlWorker', env);
  const runtime = await startWorker('runtimeWorker', env);
  const idle = { control: rssMiB(control.pid!), runtime: rssMiB(runtime.pid!) };
  const peak = { ...idle };
  const sampler = setInterval(() => {
    peak.control = Math.max(peak.control, rssMiB(control.pid!));
    peak.runtime = Math.max(peak.runtime, rssMiB(runtime.pid!));
  }, 250);

  try {
    const scenario = YAML.parse(readFileSync(path.join(projectRoot, 'scenarios', 'cpu-demo.yaml'), 'utf8'));
    scenario.search = {
      ...scenario.search,
      rounds: 1,
      candidates_per_round: candidates,
      max_candidates: candidates,
      concurrency: 1,
    };
    const scenarioFile = path.join(home, 'measure.yaml');
    writeFileSync(scenarioFile, YAML.stringify(scenario));

    const t0 = Date.now();
    const cli = spawn(
      process.execPath,
      [path.join(projectRoot, 'cli', 'bin', 'vibeserve.mjs'), 'search', scenarioFile, '--name', 'measure'],
      { cwd: projectRoot, env, stdio: 'ignore' },
    );
    await new Promise((r) => cli.once('exit', r));
    const cliMs = Date.now() - t0;
    const client = new Client({ connection: await Connection.connect({ address: server.address }) });
    const workflowId = 'vibeserve-cpu-demo-measure';
    const summary = (await client.workflow.getHandle(workflowId).result()) as SearchSummary;
    clearInterval(sampler);

    const parent = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const firstReport = parent.find((e) => e.workflowExecutionSignaledEventAttributes);
    const parentStart = ms(parent[0]);
    const plan = analyse(parent).activities.find((a) => a.type === 'plan');

    console.log(
      `machine: ${os.cpus().length} × ${os.cpus()[0].model}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; dev server ${server.address}`,
    );
    console.log(
      `search: ${summary.candidates} candidates (${summary.accepted} accepted), tiny-llama on CPU, concurrency 1`,
    );
    console.log(`\`vibeserve search\` command (node + tsx start, validate, start workflow): ${cliMs} ms`);
    console.log(
      `time from \`vibeserve search\` to the first candidate result: ${((ms(firstReport!) - t0) / 1000).toFixed(1)} s`,
    );
    console.log(
      `  of which workflow start → plan done: ${plan ? (plan.scheduleToStartMs + plan.executionMs).toFixed(0) : '?'} ms, start lag after the CLI: ${(parentStart - t0).toFixed(0)} ms`,
    );

    const rows: Array<{ id: string; wall: number; acts: number; overhead: number; s2s: number; wft: number }> = [];
    for (let i = 0; i < summary.candidates; i++) {
      const id = `${workflowId}.r1-c${i}`;
      const events = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
      const a = analyse(events);
      const acts = a.activities.reduce((x, y) => x + y.executionMs, 0);
      rows.push({
        id,
        wall: a.wallMs,
        acts,
        overhead: a.wallMs - acts,
        s2s: a.activities.reduce((x, y) => x + y.scheduleToStartMs, 0),
        wft: a.wfTaskMs,
      });
    }
    console.log('per candidate (child workflow wall − activity execution = Temporal scheduling overhead):');
    for (const r of rows) {
      console.log(
        `  ${r.id.split('.').pop()}: wall ${(r.wall / 1000).toFixed(2)} s, activities ${(r.acts / 1000).toFixed(2)} s, overhead ${r.overhead.toFixed(0)} ms (activity schedule-to-start ${r.s2s.toFixed(0)} ms, workflow tasks ${r.wft.toFixed(0)} ms)`,
      );
    }
    const mean = rows.reduce((x, r) => x + r.overhead, 0) / rows.length;
    console.log(
      `mean Temporal overhead per candidate: ${mean.toFixed(0)} ms (3 activities + 1 child workflow + 1 report signal)`,
    );
    console.log(
      `worker resident memory (RSS, without the Python processes they start): control ${idle.control.toFixed(0)} MiB idle / ${peak.control.toFixed(0)} MiB peak; runtime ${idle.runtime.toFixed(0)} MiB idle / ${peak.runtime.toFixed(0)} MiB peak`,
    );
    await client.connection.close();
  } finally {
    clearInterval(sampler);
    control.kill('SIGTERM');
    runtime.kill('SIGTERM');
    await server.stop('SIGKILL');
    if (!values.keep) rmSync(home, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`measure-overhead: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
