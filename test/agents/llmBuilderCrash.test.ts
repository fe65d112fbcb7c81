// A crash in the middle of the coding agent's conversation: the control worker process is
// SIGKILLed while an LLM call is in flight; a new one picks the workflow up and the conversation
// continues from that call, without repeating the calls that had finished.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defaultDesign, loadDesignSpace, makeDesign } from '../../lib/designSpace.js';
import type { HardwareTarget } from '../../lib/architect/types.js';
import type { LlmBuilderInput, LlmBuilderOutput } from '../../workflows/llmBuilderWorkflow.js';
import { connect, startWorker, suite, waitFor, type WorkerProcess } from '../workflow/harness.js';
import { ScriptedOpenAI, type ScriptStep } from '../helpers/scriptedOpenAI.js';

const KEY_ENV = 'VIBESERVE_TEST_CRASH_KEY';
process.env[KEY_ENV] = 'sk-canary-crash-31415926';
const s = suite('llm-crash');
const server = new ScriptedOpenAI();
let control: WorkerProcess | undefined;
let runtime: WorkerProcess | undefined;

const hardware: HardwareTarget = { kind: 'cpu', device: 'cpu', gpuCount: 0 };
const TURNS: ScriptStep[] = [
  { toolCalls: [{ name: 'list_files', arguments: { path: 'vibeserve_runtime/components/sampling' } }] },
  {
    delayMs: 6000,
    then: {
      toolCalls: [{ name: 'read_file', arguments: { path: 'vibeserve_runtime/components/sampling/gumbel.py' } }],
    },
  },
  {
    toolCalls: [
      {
        name: 'write_file',
        arguments: {
          path: 'vibeserve_runtime/components/sampling/custom_race.py',
          content:
            'from .gumbel import GumbelSampler\n\n\nclass RaceSampler(GumbelSampler):\n    name = "custom_race_sampler"\n',
        },
      },
      {
        name: 'edit_file',
        arguments: {
          path: 'vibeserve_runtime/engine/builtin_components.py',
          old_text: 'for dim, name, factory in [',
          new_text:
            'from ..components.sampling.custom_race import RaceSampler\nregister_component("sampling", "custom_race_sampler", RaceSampler)\n\nfor dim, name, factory in [',
        },
      },
    ],
  },
  { toolCalls: [{ name: 'run_checker', arguments: {} }] },
  { content: 'Done.' },
];

beforeAll(async () => {
  await server.start();
  // The turn is read from the conversation itself, so a retried call gets the same answer.
  server.setScript(
    [],
    (body) => TURNS[Math.min(body.messages.filter((m) => m.role === 'assistant').length, TURNS.length - 1)]!,
  );
  [control, runtime] = await Promise.all([startWorker(s, 'controlWorker'), startWorker(s, 'runtimeWorker')]);
});

afterAll(async () => {
  await control?.kill('SIGKILL');
  await runtime?.kill('SIGKILL');
  await server.stop();
});

it('resumes the conversation after the control worker is killed mid-call', async () => {
  const space = loadDesignSpace();
  const base = defaultDesign(space, { hardware, arch: 'llama', tokenizer: 'byte' });
  const design = makeDesign(
    space,
    base.choices,
    { ...base.params, max_batch_size: 4 },
    {
      builder: 'llm',
      llmTask: {
        dimension: 'sampling',
        componentName: 'custom_race_sampler',
        instructions: 'Write an exponential-race sampler.',
      },
    },
  );
  const input: LlmBuilderInput = {
    searchId: 'llm-crash',
    candidateId: 'c0',
    design,
    scenario: {
      name: 'crash',
      model: {
        arch: 'llama',
        preset: 'tiny-llama',
        config: {},
        weights: 'random',
        path: null,
        seed: 0,
        dtype: 'float32',
      },
      workload: { prompt_len: 32, output_len: 16 },
      objective: 'output_throughput',
      search: { check_timeout_s: 300, bench_timeout_s: 300 },
    },
    hardware,
    runtimeQueue: s.runtimeQueue,
    heartbeatTimeoutMs: 5000,
    llm: { baseURL: server.url, model: 'scripted-coder', apiKeyEnv: KEY_ENV, retryBaseDelayMs: 50 },
  };
  const client = await connect(s.address);
  const handle = await client.workflow.start('llmBuilderWorkflow', {
    taskQueue: s.controlQueue,
    workflowId: `llm-crash-${Date.now()}`,
    args: [input],
  });

  // The second LLM call is slow; kill the worker that is waiting for it.
  await waitFor('the second LLM call', async () => server.received >= 2, 120_000, 50);
  await control!.kill('SIGKILL');
  control = await startWorker(s, 'controlWorker');

  const out = (await handle.result()) as LlmBuilderOutput;
  expect(out.turns).toBe(5);
  expect(out.toolCalls).toBe(5);
  // Turn 2 was asked twice (the killed attempt and its retry); every other turn exactly once.
  const perTurn = server.requests.map((r) => r.body.messages.filter((m) => m.role === 'assistant').length);
  const asked = (turn: number) => perTurn.filter((t) => t === turn).length;
  expect(server.received).toBe(6);
  expect([asked(0), asked(2), asked(3), asked(4)]).toEqual([1, 1, 1, 1]);
  const history = await handle.fetchHistory();
  const retried = history.events!.filter(
    (e) => e.activityTaskStartedEventAttributes && (e.activityTaskStartedEventAttributes.attempt ?? 1) > 1,
  );
  expect(retried.length).toBeGreaterThanOrEqual(1);
}, 400_000);
