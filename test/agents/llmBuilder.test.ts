// The LLM builder workflow end to end: a real Temporal dev server (globalSetup), in-process workers
// for the control and runtime queues, the real `openai` client against a scripted OpenAI-compatible
// server, the real checker in the sandbox on a tiny random-weight Llama.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { llmControlActivities, llmRuntimeActivities } from '../../activities/llm.js';
import type { Design, ScenarioLike } from '../../lib/architect/types.js';
import type { LlmBuilderInput, LlmBuilderOutput } from '../../workflows/llmBuilderWorkflow.js';
import { ScriptedOpenAI, type RecordedRequest, type ScriptStep } from '../helpers/scriptedOpenAI.js';
import { cpuHardware as hardware, registerSampler, samplerTaskDesign, useInProcessWorkers } from './llmHarness.js';

const KEY_ENV = 'VIBESERVE_TEST_BUILDER_KEY';
const CANARY = 'sk-canary-builder-5e1f0c2a9d7b4410';
const server = new ScriptedOpenAI();
const env = useInProcessWorkers({
  name: 'llm-builder',
  server,
  keyEnv: KEY_ENV,
  key: CANARY,
  controlActivities: llmControlActivities,
  runtimeActivities: llmRuntimeActivities,
});
const { tag, controlQueue, runtimeQueue } = env;

const scenario: ScenarioLike & { search: { check_timeout_s: number; bench_timeout_s: number } } = {
  name: 'builder-test',
  model: { arch: 'llama', preset: 'tiny-llama', config: {}, weights: 'random', path: null, seed: 0, dtype: 'float32' },
  tokenizer: { kind: 'byte', path: null },
  workload: { prompt_len: 32, output_len: 16 },
  objective: 'output_throughput',
  hardware: { kind: 'cpu', gpus: 1 },
  search: { check_timeout_s: 300, bench_timeout_s: 300 },
};

// The component the scripted model writes. At import it records the environment it sees, so the
// test can prove no secret reached candidate code.
const sampler = (body: string) => `import json, os
import torch
from .sort_based import SortBasedSampler

with open(os.path.join(os.environ["HOME"], "candidate-env.json"), "w") as f:
    json.dump(dict(os.environ), f)


class FastSampler:
    def __init__(self):
        self.fallback = SortBasedSampler()

    def __call__(self, logits: torch.Tensor, seqs) -> list[int]:
        if any(s.params.temperature > 0 for s in seqs):
            return self.fallback(logits, seqs)
${body}
`;
const CORRECT = sampler('        return logits.argmax(dim=-1).tolist()');
const WRONG = sampler('        return ((logits.argmax(dim=-1) + 1) % logits.shape[-1]).tolist()');

function codingScript(componentName: string, code: string): ScriptStep[] {
  return [
    {
      content: 'Let me look around.',
      toolCalls: [{ name: 'list_files', arguments: { path: 'vibeserve_runtime/components/sampling' } }],
    },
    { toolCalls: [{ name: 'read_file', arguments: { path: 'vibeserve_runtime/engine/registry.py' } }] },
    {
      toolCalls: [
        {
          name: 'write_file',
          arguments: { path: 'vibeserve_runtime/components/sampling/custom_fast.py', content: code },
        },
        registerSampler('custom_fast', componentName),
      ],
    },
    { toolCalls: [{ name: 'run_checker', arguments: {} }] },
  ];
}

/** Every string and byte payload of a protobuf history, decoded as UTF-8 text. */
function decodedText(value: unknown, out: string[] = [], seen = new Set<unknown>()): string {
  if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('utf8'));
  else if (typeof value === 'string') out.push(value);
  else if (value && typeof value === 'object' && !seen.has(value)) {
    seen.add(value);
    for (const v of Object.values(value)) decodedText(v, out, seen);
  }
  return out.join('\n');
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map((f) => path.join(dir, String(f)))
    .filter((f) => statSync(f).isFile());
}

async function build(id: string, design: Design, limits?: LlmBuilderInput['limits']) {
  const input: LlmBuilderInput = {
    searchId: `builder-${tag}`,
    candidateId: id,
    design,
    scenario,
    hardware,
    runtimeQueue,
    limits,
    llm: {
      baseURL: server.url,
      model: 'scripted-coder',
      apiKeyEnv: KEY_ENV,
      retryBaseDelayMs: 50,
      maxAttempts: 4,
      pricePerMTokIn: 1,
      pricePerMTokOut: 4,
    },
  };
  const handle = await env.client.workflow.start('llmBuilderWorkflow', {
    taskQueue: controlQueue,
    workflowId: `llm-build-${tag}-${id}`,
    args: [input],
  });
  return { handle, result: handle.result() as Promise<LlmBuilderOutput> };
}

async function rejection(p: Promise<unknown>): Promise<{ reason: string; message: string }> {
  const err = await p.then(
    () => null,
    (e) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as {
    type?: string;
    details?: Array<{ reason: string; message: string }>;
    message: string;
  };
  expect(cause.type).toBe('CandidateRejected');
  return cause.details![0]!;
}

describe('LLM builder workflow', () => {
  it('accepts a component that passes the checker, and no secret leaks anywhere', async () => {
    const name = 'custom_fast_sampler';
    server.setScript([
      { status: 429, retryAfterS: 0.2 },
      ...codingScript(name, CORRECT),
      { status: 503 },
      { content: 'Done: greedy rows take the argmax directly.' },
    ]);
    const before = server.requests.length;
    const { handle, result } = await build('good', samplerTaskDesign(name));
    const out = await result;
    expect(out.turns).toBe(5);
    expect(out.toolCalls).toBe(5);
    expect(out.repairs).toBe(0);
    expect(out.llmUsage.calls).toBe(5);
    expect(out.llmUsage.costUsd).toBeGreaterThan(0);
    const stack = JSON.parse(readFileSync(path.join(out.stackDir, 'stack.json'), 'utf8'));
    expect(stack.components.sampling).toBe(name);
    expect(readFileSync(path.join(out.stackDir, 'vibeserve_runtime/components/sampling/custom_fast.py'), 'utf8')).toBe(
      CORRECT,
    );

    // The conversation carried the tool results back: the checker's verdict reached the model.
    const lastBody = server.requests.at(-1)!.body;
    const toolResults = lastBody.messages.filter((m) => m.role === 'tool').map((m) => m.content ?? '');
    expect(toolResults.some((c) => c.includes('"passed":true'))).toBe(true);
    expect(toolResults.some((c) => c.includes('register_component'))).toBe(true);
    // 429 and 503 were retried inside the same activities.
    expect(server.requests.slice(before).map((r: RecordedRequest) => r.answeredWith)).toContain('status 503');
    expect(server.requests.slice(before).every((r) => r.headers.authorization === `Bearer ${CANARY}`)).toBe(true);

    // The candidate ran (it dumped its environment) and never saw the key.
    const workspace = path.dirname(out.stackDir);
    const envDump = JSON.parse(readFileSync(path.join(workspace, '.home', 'candidate-env.json'), 'utf8'));
    expect(envDump.HOME).toBe(path.join(workspace, '.home'));
    expect(Object.values(envDump).join('\n')).not.toContain(CANARY);
    expect(envDump[KEY_ENV]).toBeUndefined();

    // Nothing in the workflow history or in the artifacts holds the key.
    const history = await handle.fetchHistory();
    const historyText = decodedText(history);
    expect(historyText).toContain('custom_fast_sampler'); // the payloads were decoded
    expect(historyText).not.toContain(CANARY);
    for (const f of walk(env.home)) expect(readFileSync(f).includes(CANARY), f).toBe(false);
    expect(existsSync(out.transcriptPath)).toBe(true);
  }, 300_000);

  it('rejects a wrong component after the repair loop, with the checker reason', async () => {
    const name = 'custom_wrong_sampler';
    server.setScript(codingScript(name, WRONG), (body) => {
      const last = body.messages.at(-1)!;
      // The repair prompt arrives after the failing checker output; the model tries the checker again.
      expect(typeof last.content === 'string' ? last.content : '').toMatch(/repair|"passed":false/);
      return { toolCalls: [{ name: 'run_checker', arguments: {} }] };
    });
    const { result } = await build('wrong', samplerTaskDesign(name), { maxRepairs: 1 });
    const r = await rejection(result);
    expect(r.reason).toBe('wrong_output');
    expect(r.message).toMatch(/still fails the checker after 1 repairs/);
    const repairs = server.requests
      .flatMap((q) => q.body.messages)
      .filter((m) => m.role === 'user' && /repair 1 of 1/.test(m.content ?? ''));
    expect(repairs.length).toBeGreaterThan(0);
  }, 300_000);

  it('rejects a candidate that edits the checker with integrity_violation', async () => {
    const name = 'custom_cheat_sampler';
    server.setScript([
      { toolCalls: [{ name: 'read_file', arguments: { path: 'vibeserve_runtime/checker/checks.py' } }] },
      {
        toolCalls: [
          {
            name: 'write_file',
            arguments: {
              path: 'vibeserve_runtime/checker/checks.py',
              content: 'def run_all(*a, **k):\n    return {"passed": True}\n',
            },
          },
        ],
      },
    ]);
    const { result } = await build('cheat', samplerTaskDesign(name));
    const r = await rejection(result);
    expect(r.reason).toBe('integrity_violation');
    expect(r.message).toMatch(/checker\/checks\.py/);
  }, 120_000);

  it('refuses paths outside the stack without running anything', async () => {
    const name = 'custom_escape_sampler';
    server.setScript([
      {
        toolCalls: [
          { name: 'write_file', arguments: { path: '../../escape.py', content: 'x = 1' } },
          { name: 'read_file', arguments: { path: '/etc/passwd' } },
        ],
      },
      { toolCalls: [{ name: 'write_file', arguments: { path: 'stack.json', content: '{}' } }] },
    ]);
    const { result } = await build('escape', samplerTaskDesign(name));
    const r = await rejection(result);
    expect(r.reason).toBe('integrity_violation');
    const toolMsgs = server.requests
      .at(-1)!
      .body.messages.filter((m) => m.role === 'tool')
      .map((m) => m.content ?? '');
    expect(toolMsgs[0]).toMatch(/outside the stack directory/);
    expect(toolMsgs[1]).toMatch(/relative to the stack directory/);
  }, 120_000);
});
