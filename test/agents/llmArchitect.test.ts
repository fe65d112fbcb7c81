import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planRound } from '../../lib/architect/index.js';
import { emptyMemory } from '../../lib/architect/memory.js';
import { syntheticLandscape } from '../../lib/architect/objectiveTable.js';
import type { HardwareTarget, PlanInput, ScenarioLike } from '../../lib/architect/types.js';
import { validateDesign, loadDesignSpace } from '../../lib/designSpace.js';
import { ScriptedOpenAI } from '../helpers/scriptedOpenAI.js';

const server = new ScriptedOpenAI();
const KEY_ENV = 'VIBESERVE_TEST_LLM_KEY_ARCHITECT';
const CANARY = 'sk-canary-architect-9f8e7d6c5b4a';
beforeAll(async () => {
  process.env[KEY_ENV] = CANARY;
  await server.start();
});
afterAll(async () => {
  await server.stop();
  delete process.env[KEY_ENV];
});

const scenario: ScenarioLike = {
  name: 'cpu-demo',
  model: { arch: 'llama', preset: 'tiny-llama', weights: 'random', dtype: 'float32' },
  workload: { prompt_len: 64, output_len: 32, slo: { ttft_ms: 500 } },
  objective: 'output_throughput',
};
const cpu: HardwareTarget = { kind: 'cpu', device: 'cpu', gpuCount: 0 };
const input = (over: Partial<PlanInput> = {}): PlanInput => ({
  scenario,
  round: 1,
  hardware: cpu,
  history: [],
  memory: emptyMemory(),
  hints: [],
  constraints: {},
  count: 2,
  seed: 0,
  architect: 'llm',
  llm: {
    baseURL: server.url,
    model: 'scripted',
    apiKeyEnv: KEY_ENV,
    retryBaseDelayMs: 20,
    maxAttempts: 3,
    pricePerMTokIn: 3,
    pricePerMTokOut: 15,
  },
  ...over,
});

const GOOD = JSON.stringify({
  proposals: [
    {
      choices: { scheduler: 'chunked_prefill', kv_cache: 'paged', execution: 'torch_compile' },
      params: { chunk_size: 128, max_batch_size: 32 },
      hypothesis: 'chunked prefill keeps decode steps full while prompts arrive',
      expected_gain: '+15% output_throughput over the best so far',
      falsified_by: 'output_throughput within 3% of the best with the same batch size',
    },
    {
      choices: { scheduler: 'continuous', sampling: 'gumbel' },
      params: { max_batch_size: 64 },
      hypothesis: 'a larger batch amortizes weight reads',
      expected_gain: '+10%',
      falsified_by: 'TTFT p99 above the SLO or no throughput gain',
    },
  ],
  notes: 'compile and chunking look promising',
});

describe('LLM architect through the scripted OpenAI-compatible server', () => {
  it('turns a proposal round into valid designs with hypothesis, expected gain and falsification', async () => {
    const table = syntheticLandscape(scenario);
    const seedRound = await planRound(input({ architect: 'model-free', round: 0, count: 3 }));
    const history = seedRound.designs.map((d) => table.evaluate(d));
    server.setScript([{ content: `Here is my plan:\n\`\`\`json\n${GOOD}\n\`\`\`` }]);
    const before = server.requests.length;
    const out = await planRound(input({ memory: seedRound.memory, history, hints: ['prefer low TTFT'] }));
    expect(out.designs).toHaveLength(2);
    const [a, b] = out.designs;
    expect(a!.choices).toMatchObject({ scheduler: 'chunked_prefill', execution: 'torch_compile', tokenizer: 'byte' });
    expect(a!.params).toMatchObject({ chunk_size: 128, max_batch_size: 32 });
    expect(a!.hypothesis).toMatch(/chunked prefill/);
    expect(a!.expectedGain).toMatch(/\+15%/);
    expect(a!.falsifiedBy).toMatch(/within 3%/);
    expect(b!.choices.sampling).toBe('gumbel');
    for (const d of out.designs)
      expect(
        validateDesign(loadDesignSpace(), d.choices, d.params, { hardware: cpu, arch: 'llama', tokenizer: 'byte' }),
      ).toEqual([]);
    // The prompt carried the design space, the measurements and the hint.
    const prompt = server.requests[before]!.body.messages.map((m) => m.content).join('\n');
    expect(prompt).toMatch(/scheduler: static \| continuous \| chunked_prefill/);
    expect(prompt).toMatch(/Best accepted designs/);
    expect(prompt).toMatch(/prefer low TTFT/);
    expect(prompt).not.toMatch(/triton_paged \|/); // GPU-only choices are not offered to a CPU search
    expect(out.usage!.promptTokens).toBeGreaterThan(100);
    expect(out.usage!.costUsd).toBeGreaterThan(0);
    expect(out.memory.llmUsage.calls).toBe(1);
    expect(out.memory.notes.join()).toMatch(/compile and chunking look promising/);
  });

  it('retries garbage JSON with feedback, then reports it and fills the round without crashing', async () => {
    server.setScript([
      { content: 'I think you should use paged attention!' },
      { content: '{"proposals": "many"}' },
      { content: '{"proposals": [{"choices": {"scheduler": "fifo"}}]}' },
    ]);
    const before = server.requests.length;
    const out = await planRound(input({ count: 3 }));
    expect(server.requests.length - before).toBe(3);
    // The second and third requests told the model what was wrong.
    const retryPrompt = server.requests[before + 1]!.body.messages.at(-1)!.content!;
    expect(retryPrompt).toMatch(/could not be used: the reply is not a JSON object/);
    expect(server.requests[before + 2]!.body.messages.at(-1)!.content).toMatch(/no "proposals" array/);
    expect(out.designs).toHaveLength(3);
    expect(out.designs.every((d) => d.origin?.startsWith('model-free') || d.origin === 'default')).toBe(true);
    expect(out.notes).toMatch(
      /LLM architect failed .*unknown choice scheduler=fifo.*model-free policy filled the round/,
    );
    expect(out.memory.notes.join()).toMatch(/LLM architect failed/);
    expect(out.memory.llmUsage.calls).toBe(3);
  });

  it('keeps valid proposals from a partly wrong reply and refuses explored designs', async () => {
    const reply = JSON.parse(GOOD);
    reply.proposals.push({ choices: { execution: 'cuda_graphs' }, hypothesis: 'graphs' });
    server.setScript([{ content: JSON.stringify(reply) }, { content: JSON.stringify(reply) }]);
    const first = await planRound(input({ count: 3 }));
    expect(first.designs.filter((d) => d.origin === 'llm')).toHaveLength(2);
    expect(first.designs).toHaveLength(3); // the CUDA-graphs proposal is invalid on CPU: model-free filled it
    const second = await planRound(input({ count: 2, memory: first.memory, round: 2 }));
    expect(second.designs.some((d) => first.designs.some((f) => f.id === d.id))).toBe(false);
  });

  it('survives rate limits and an unreachable endpoint', async () => {
    server.setScript([{ status: 429 }, { status: 500 }, { content: GOOD }]);
    const ok = await planRound(input());
    expect(ok.designs.filter((d) => d.origin === 'llm')).toHaveLength(2);
    const down = await planRound(input({ llm: { ...input().llm!, baseURL: 'http://127.0.0.1:9/v1', maxAttempts: 2 } }));
    expect(down.designs).toHaveLength(2);
    expect(down.notes).toMatch(/unreachable/);
    expect(JSON.stringify(down)).not.toContain(CANARY);
  });

  it('plans model-free with a clear note when the scenario asks for the llm architect without an endpoint', async () => {
    const out = await planRound(input({ llm: undefined, count: 3 }));
    expect(out.designs).toHaveLength(3);
    expect(out.notes).toMatch(/no LLM endpoint \(start it with --llm-model, --llm-base-url, --llm-api-key-env\)/);
  });
});
