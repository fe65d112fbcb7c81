// An LLM-built candidate stays untrusted after its build: the candidate workflow's official verify
// and benchmark run it in the sandbox too. A real Temporal dev server (globalSetup), in-process
// workers with the real activities, the scripted OpenAI-compatible server as the coding model, and
// a tiny random-weight Llama on CPU. The stacks below are "sleepers": correct during the builder's
// own checker run, up to something from their second run on, i.e. in the official verify.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DeviceSlots } from '../../activities/gpuSlots.js';
import { controlActivities, createRuntimeActivities } from '../../activities/index.js';
import type { Design, HardwareTarget } from '../../lib/architect/types.js';
import { defaultDesign, loadDesignSpace, makeDesign } from '../../lib/designSpace.js';
import type { CandidateInput, CandidateResult } from '../../lib/searchTypes.js';
import { ScriptedOpenAI, type ScriptStep } from '../helpers/scriptedOpenAI.js';
import { tinyScenario, waitFor, workflowBundlePath } from '../workflow/harness.js';

const KEY_ENV = 'VIBESERVE_TEST_UNTRUSTED_KEY';
const server = new ScriptedOpenAI();
const tag = Math.random().toString(16).slice(2, 8);
const controlQueue = `untrusted-control-${tag}`;
const runtimeQueue = `untrusted-runtime-${tag}`;
const hardware: HardwareTarget = { kind: 'cpu', device: 'cpu', gpuCount: 0 };
const scenario = tinyScenario({ name: 'untrusted-test', numRequests: 4 });
let home: string;
let connection: Connection;
let client: Client;
let workers: Worker[] = [];
let running: Promise<void>[] = [];

/** A greedy sampler that is right; `onLaterRuns` runs at import from the stack's second run on. */
const sleeper = (onLaterRuns: string) => `import json, os, shutil, socket, time
import torch
from .sort_based import SortBasedSampler

_armed = os.path.join(os.environ["HOME"], "armed")
if os.path.exists(_armed):
${onLaterRuns
  .trim()
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
else:
    open(_armed, "w").close()


class FastSampler:
    def __init__(self):
        self.fallback = SortBasedSampler()

    def __call__(self, logits: torch.Tensor, seqs) -> list[int]:
        if any(s.params.temperature > 0 for s in seqs):
            return self.fallback(logits, seqs)
        return logits.argmax(dim=-1).tolist()
`;

function design(componentName: string): Design {
  const space = loadDesignSpace();
  const base = defaultDesign(space, { hardware, arch: 'llama', tokenizer: 'byte' });
  return makeDesign(space, base.choices, { ...base.params, max_batch_size: 4 }, {
    builder: 'llm',
    llmTask: { dimension: 'sampling', componentName, instructions: 'Write a sampler that is faster for greedy decoding.' },
  });
}

/** The scripted coding model: write the component, register it, run the checker, say it is done. */
function codingScript(componentName: string, code: string): ScriptStep[] {
  const file = componentName;
  return [
    { toolCalls: [{ name: 'write_file', arguments: { path: `vibeserve_runtime/components/sampling/${file}.py`, content: code } }] },
    {
      toolCalls: [
        {
          name: 'edit_file',
          arguments: {
            path: 'vibeserve_runtime/engine/builtin_components.py',
            old_text: 'for dim, name, factory in [',
            new_text: `from ..components.sampling.${file} import FastSampler\nregister_component("sampling", "${componentName}", FastSampler)\n\nfor dim, name, factory in [`,
          },
        },
      ],
    },
    { toolCalls: [{ name: 'run_checker', arguments: {} }] },
    { content: 'Done.' },
  ];
}

function startCandidate(id: string, componentName: string, code: string, heartbeatTimeoutMs = 30_000) {
  server.setScript(codingScript(componentName, code));
  const input: CandidateInput = {
    searchId: `untrusted-${tag}`,
    parentWorkflowId: `no-such-search-${tag}`, // the report signal finds no search; the result is the workflow's
    candidateId: id,
    round: 1,
    design: design(componentName),
    scenario,
    hardware,
    runtimeQueue,
    heartbeatTimeoutMs,
    llm: { baseURL: server.url, model: 'scripted-coder', apiKeyEnv: KEY_ENV, retryBaseDelayMs: 50, maxAttempts: 2 },
  };
  return client.workflow.start('candidateWorkflow', { taskQueue: controlQueue, workflowId: `untrusted-${tag}-${id}`, args: [input] });
}

async function runCandidate(id: string, componentName: string, code: string): Promise<CandidateResult> {
  return (await startCandidate(id, componentName, code)).result() as Promise<CandidateResult>;
}

/** Host processes whose command line names this path, with their real uid. */
function processesMentioning(p: string): Array<{ pid: number; uid: number; cmdline: string }> {
  const out: Array<{ pid: number; uid: number; cmdline: string }> = [];
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ');
      if (!cmdline.includes(p)) continue;
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${name}/status`, 'utf8'))![1]);
      out.push({ pid: Number(name), uid, cmdline });
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

const candidateDir = (id: string) => path.join(home, 'artifacts', `untrusted-${tag}`, 'candidates', id);
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));
const ALL_PROTECTIONS = ['process_group', 'time_limit', 'clean_environment', 'no_network', 'pid_namespace', 'unprivileged_user', 'read_only_outside_workspace'];

beforeAll(async () => {
  home = path.join(inject('testHome'), `untrusted-${tag}`);
  process.env.VIBESERVE_HOME = home;
  process.env[KEY_ENV] = 'sk-test-untrusted';
  await server.start();
  const address = inject('temporalAddress');
  connection = await Connection.connect({ address });
  client = new Client({ connection });
  const native = await NativeConnection.connect({ address });
  const codePath = await workflowBundlePath();
  workers = [
    await Worker.create({ connection: native, taskQueue: controlQueue, workflowBundle: { codePath }, activities: controlActivities }),
    await Worker.create({ connection: native, taskQueue: runtimeQueue, activities: createRuntimeActivities(new DeviceSlots(['cpu0'], false)), maxConcurrentActivityTaskExecutions: 2 }),
  ];
  running = workers.map((w) => w.run());
});

afterAll(async () => {
  for (const w of workers) w.shutdown();
  await Promise.allSettled(running);
  await connection?.close();
  await server.stop();
  delete process.env[KEY_ENV];
});

describe('an LLM-built candidate after its build', () => {
  it('is rejected when its verify tries the network and a write outside its workspace', async () => {
    const outside = path.join(home, 'escaped.txt');
    const [host, port] = inject('temporalAddress').split(':');
    const code = sleeper(`
try:
    socket.create_connection((${JSON.stringify(host)}, ${Number(port)}), timeout=3).close()
    network = "connected"
except OSError as e:
    network = f"{type(e).__name__}: {e}"
json.dump({"network": network}, open(os.path.join(os.environ["HOME"], "attempts.json"), "w"))
open(${JSON.stringify(outside)}, "w").write("escaped")
`);
    const result = await runCandidate('escape', 'custom_sleeper_escape', code);
    expect(result.status).toBe('rejected');
    expect(result.stage).toBe('verify');
    expect(result.reason).toBe('crashed'); // its own write failed: it could not get out
    expect(existsSync(outside)).toBe(false);
    const attempts = readJson(path.join(candidateDir('escape'), 'workspace', '.home', 'attempts.json'));
    expect(attempts.network).not.toBe('connected');
    expect(attempts.network).toMatch(/unreachable/i);
  }, 240_000);

  it('is rejected with integrity_violation when its verify swaps in its own checker', async () => {
    const code = sleeper(`
stack = os.getcwd()
runtime = os.path.join(stack, "vibeserve_runtime")
shutil.copytree(runtime, runtime + ".swap")
with open(os.path.join(runtime + ".swap", "checker", "tolerances.py"), "a") as f:
    f.write("\\nLOOSENED = True\\n")
os.rename(runtime, os.path.join(stack, ".runtime-before"))
os.rename(runtime + ".swap", runtime)
`);
    const result = await runCandidate('swap', 'custom_sleeper_swap', code);
    expect(result.status).toBe('rejected');
    expect(result.stage).toBe('verify');
    expect(result.reason).toBe('integrity_violation');
    expect(result.message).toMatch(/checker\/tolerances\.py/);
    // The checker itself saw a correct stack; the verdict recorded is the activity's.
    const check = readJson(path.join(candidateDir('swap'), 'check.json'));
    expect(check.passed).toBe(false);
    expect(check.sandbox.integrity).toContain('vibeserve_runtime/checker/tolerances.py');
    expect(check.sandbox.protections).toEqual(expect.arrayContaining(ALL_PROTECTIONS));
  }, 240_000);

  it('is accepted when it behaves, with the sandbox recorded in check.json and bench.json', async () => {
    const code = sleeper(`
json.dump({"runs": "more than one"}, open(os.path.join(os.environ["HOME"], "later-run.json"), "w"))
`);
    const result = await runCandidate('good', 'custom_sleeper_good', code);
    expect(result.status, result.message).toBe('accepted');
    expect(result.objective).toBeGreaterThan(0);
    // Its code did run in the official verify, as the sandbox user, with the workspace as HOME.
    expect(existsSync(path.join(candidateDir('good'), 'workspace', '.home', 'later-run.json'))).toBe(true);
    const check = readJson(result.checkPath!);
    expect(check.passed).toBe(true);
    expect(check.sandbox).toEqual({ protections: expect.arrayContaining(ALL_PROTECTIONS), integrity: [] });
    const bench = readJson(result.benchPath!);
    expect(bench.output_throughput).toBeGreaterThan(0);
    expect(bench.sandbox.protections).toEqual(expect.arrayContaining(ALL_PROTECTIONS));
    expect(bench.sandbox.integrity).toEqual([]);
  }, 240_000);

  it('is stopped, sandbox and all, when its workflow is cancelled during verify', async () => {
    const code = sleeper(`
open(os.path.join(os.environ["HOME"], "sleeping"), "w").close()
time.sleep(600)
`);
    const handle = await startCandidate('cancel', 'custom_sleeper_cancel', code, 5_000);
    const workspace = path.join(candidateDir('cancel'), 'workspace');
    await waitFor('the candidate asleep in verify', async () => existsSync(path.join(workspace, '.home', 'sleeping')), 180_000);
    const candidate = processesMentioning(workspace).filter((p) => p.cmdline.includes('_candidate'));
    expect(candidate.length).toBe(1);
    expect(candidate[0]!.uid).toBe(65534); // the official verify runs it as the sandbox user
    await handle.cancel();
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    // Cancellation reached the activity, which killed the sandbox with everything in it.
    await waitFor('the sandbox gone', async () => processesMentioning(workspace).length === 0, 30_000);
  }, 240_000);
});
