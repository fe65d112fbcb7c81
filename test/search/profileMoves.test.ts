// The model-free architect reads a survivor's decode profile (bench's decode_host_share): a host-bound
// default leads straight to the parameters that amortize host work, the largest predicted gain first;
// a device-bound one, or a time-to-first-token objective, does not. The forward's device time per
// component (decode_device_share_<component>) leads to the other implementations of a component
// that takes much of it, for every objective.
import { describe, expect, it } from 'vitest';
import { planRound } from '../../lib/architect/index.js';
import { emptyMemory, summarizeOutcome } from '../../lib/architect/memory.js';
import { profileMoves } from '../../lib/architect/profileMoves.js';
import { defaultDesign, loadDesignSpace, makeDesign, validateDesign } from '../../lib/designSpace.js';
import { spaceContextFor } from '../../lib/architect/context.js';
import type { CandidateOutcome, Design, HardwareTarget, PlanInput, ScenarioLike } from '../../lib/architect/types.js';

const scenario: ScenarioLike = {
  name: 'moe-like',
  model: { arch: 'mixtral', preset: 'tiny-mixtral', weights: 'random', dtype: 'bfloat16' },
  workload: { prompt_len: 256, output_len: 64, slo: { ttft_ms: 2000, tpot_ms: 100 } },
  objective: 'output_throughput',
  hardware: { kind: 'h100', gpus: 1 },
};
const h100: HardwareTarget = { kind: 'h100', device: 'cuda', gpuCount: 1, computeCapability: 9.0 };

function input(over: Partial<PlanInput>): PlanInput {
  return {
    scenario,
    round: 1,
    hardware: h100,
    history: [],
    memory: emptyMemory(),
    hints: [],
    constraints: {},
    count: 3,
    budget: { candidatesLeft: 6, roundsLeft: 3 },
    seed: 7,
    architect: 'model-free',
    ...over,
  };
}

const measured = (d: Design, hostShare: number, extra: Record<string, number> = {}): CandidateOutcome => ({
  designId: d.id,
  design: d,
  status: 'accepted',
  objective: 4000,
  metrics: { output_throughput: 4000, median_ttft_ms: 20, median_tpot_ms: 3, decode_host_share: hostShare, ...extra },
});

async function afterDefault(hostShare: number, over: Partial<PlanInput> = {}, extra: Record<string, number> = {}) {
  const first = await planRound(input({ round: 1, ...over }));
  const second = await planRound(
    input({
      round: 2,
      memory: first.memory,
      history: [measured(first.designs[0]!, hostShare, extra)],
      budget: { candidatesLeft: 5, roundsLeft: 2 },
      ...over,
    }),
  );
  return { first, second };
}

describe('profile-guided proposals', () => {
  it('measures the default alone first when the budget holds two rounds of candidates over three rounds', async () => {
    const { first } = await afterDefault(0.5);
    expect(first.designs.map((d) => d.origin)).toEqual(['default']);
    expect(first.notes).toMatch(/the default alone first/);
    // with room for a spread (or no more rounds to use a profile), round 0 spreads as before
    expect((await planRound(input({ budget: { candidatesLeft: 20, roundsLeft: 5 } }))).designs).toHaveLength(3);
    expect((await planRound(input({ budget: { candidatesLeft: 6, roundsLeft: 2 } }))).designs).toHaveLength(3);
  });

  it('follows a host-bound default to the decode steps that amortize it, largest predicted gain first', async () => {
    const { second } = await afterDefault(0.55);
    const [a, b] = second.designs;
    expect([a!.params.decode_steps, b!.params.decode_steps]).toEqual([8, 4]);
    expect(a!.origin).toMatch(/^model-free:profile-of-/);
    expect(a!.hypothesis).toMatch(/55% of their time on the host; decode_steps=8 .*\(predicted 1\.93×\)/);
    expect(second.notes).toMatch(/decode_steps=8/);
    // only decode_steps moved: the rest of the design is the default's
    const { decode_steps: _, ...rest } = a!.params;
    const { decode_steps: __, ...base } = second.memory.outcomes[0]!.p;
    expect(rest).toEqual(base);
    expect(a!.choices).toEqual(second.memory.outcomes[0]!.c);
  });

  it('does not chase a device-bound profile or a time-to-first-token objective', async () => {
    const deviceBound = await afterDefault(0.02);
    expect(deviceBound.second.designs.filter((d) => d.origin?.includes('profile-of'))).toEqual([]);
    const ttft = await afterDefault(0.55, { scenario: { ...scenario, objective: 'p99_ttft_ms' } });
    expect(ttft.second.designs.filter((d) => d.origin?.includes('profile-of'))).toEqual([]);
  });

  it('predicts the speedup of a fixed host cost per step paid once per k tokens', () => {
    const space = loadDesignSpace();
    const ctx = spaceContextFor({ scenario, hardware: h100, constraints: {} });
    const moves = profileMoves(space, defaultDesign(space, ctx), { host: 0.5 }, 'output_throughput', ctx);
    expect(moves.map((m) => [m.design.params.decode_steps, Number(m.speedup.toFixed(3))])).toEqual([
      [8, 1.778],
      [4, 1.6],
      [2, 1.333],
    ]);
    expect(profileMoves(space, defaultDesign(space, ctx), {}, 'output_throughput', ctx)).toEqual([]);
  });
});

/**
 * A GPU design with SDPA attention, plain continuous batching and a 16-sequence batch: the proposals
 * under test start from there (the generic stack itself already runs the paged kernel at vLLM's limits).
 */
function sdpaDesign(space: ReturnType<typeof loadDesignSpace>, ctx: Parameters<typeof defaultDesign>[1]): Design {
  const generic = defaultDesign(space, ctx);
  return makeDesign(
    space,
    { ...generic.choices, attention: 'sdpa', scheduler: 'continuous' },
    { ...generic.params, max_batch_size: 16, max_num_batched_tokens: 2048, graph_batch_sizes: [1, 2, 4, 8, 16, 32] },
  );
}

describe('device-profile proposals', () => {
  const space = loadDesignSpace();
  const llama: ScenarioLike = {
    ...scenario,
    name: 'llama-like',
    model: { arch: 'llama', preset: 'tiny-llama', weights: 'random', dtype: 'bfloat16' },
  };
  const llamaCtx = spaceContextFor({ scenario: llama, hardware: h100, constraints: {} });
  const mixtralCtx = spaceContextFor({ scenario, hardware: h100, constraints: {} });
  const moved = (parent: Design, d: Design) =>
    [
      ...Object.keys(d.choices)
        .filter((k) => d.choices[k] !== parent.choices[k])
        .map((k) => `${k}=${d.choices[k]}`),
      ...Object.keys(d.params)
        .filter((k) => JSON.stringify(d.params[k]) !== JSON.stringify(parent.params[k]))
        .map((k) => `${k}=${JSON.stringify(d.params[k])}`),
    ].join(',');

  it('proposes the other kernels of a component that takes much of the forward, as if they halved its time', () => {
    const parent = sdpaDesign(space, llamaCtx);
    expect([parent.choices.attention, parent.choices.linear, parent.params.decode_steps]).toEqual([
      'sdpa',
      'native',
      1,
    ]);
    const moves = profileMoves(
      space,
      parent,
      { host: 0.1, dev: { attention: 0.62, linear: 0.3, other: 0.08 } },
      'output_throughput',
      llamaCtx,
    );
    const byMove = new Map(moves.map((m) => [moved(parent, m.design), m]));
    const attention = byMove.get('attention=triton_paged')!;
    expect(attention).toBeDefined();
    expect(attention.speedup).toBeCloseTo(1 / (1 - 0.558 + 0.279), 9);
    expect(attention.speedup).toBeCloseTo(1.387, 3);
    expect(attention.why).toMatch(
      /attention takes 62% of .*decode forward on the device \(56% of the step\); attention=triton_paged predicted 1\.39× if it halves that time \(assumed\)/,
    );
    expect(attention.design.hypothesis).toBe(attention.why);
    expect(attention.design.falsifiedBy).toBe(`objective not better than ${parent.id}`);
    const singles = moves.filter((m) => !m.target.includes('+'));
    expect(singles[0]).toBe(attention);
    // the linear layers take 27% of the step: a smaller prediction, ranked below
    for (const choice of ['int8_weight_only', 'fp8']) {
      const m = byMove.get(`linear=${choice}`)!;
      expect(m.speedup).toBeCloseTo(1 / (1 - 0.27 + 0.135), 9);
      expect(moves.indexOf(m)).toBeGreaterThan(moves.indexOf(attention));
    }
    // the host moves are still there, at their own predictions
    expect(byMove.get('decode_steps=8')!.speedup).toBeCloseTo(1 / (0.9 + 0.1 / 8), 9);
    expect(moves.map((m) => m.speedup)).toEqual([...moves.map((m) => m.speedup)].sort((a, b) => b - a));
    // every single move changes one thing, is valid, and nothing comes from the "other" share
    expect(singles.map((m) => moved(parent, m.design)).sort()).toEqual([
      'attention=triton_paged',
      'decode_steps=2',
      'decode_steps=4',
      'decode_steps=8',
      'linear=fp8',
      'linear=int8_weight_only',
    ]);
    for (const m of moves) expect(validateDesign(space, m.design.choices, m.design.params, llamaCtx)).toEqual([]);
    // the best move of each part of the step combines with the best of the others, in pairs and all
    // three together, predicted from the time they save together
    const combos = moves.filter((m) => m.target.includes('+'));
    expect(combos.map((m) => moved(parent, m.design)).sort()).toEqual([
      'attention=triton_paged,decode_steps=8',
      'attention=triton_paged,linear=int8_weight_only',
      'attention=triton_paged,linear=int8_weight_only,decode_steps=8',
      'linear=int8_weight_only,decode_steps=8',
    ]);
    const both = combos.find((m) => moved(parent, m.design) === 'attention=triton_paged,decode_steps=8')!;
    expect(moves[0]).toBe(
      combos.find((m) => moved(parent, m.design) === 'attention=triton_paged,linear=int8_weight_only,decode_steps=8'),
    );
    expect(moves[0]!.speedup).toBeCloseTo(1 / (1 - 0.279 - 0.135 - (0.1 * 7) / 8), 9);
    expect(moves[0]!.why).toMatch(
      /attention=triton_paged, linear=int8_weight_only and decode_steps=8 act on different parts of .* \(28%, 14% and 9% of it predicted saved\)/,
    );
    expect(moves[1]).toBe(
      combos.find((m) => moved(parent, m.design) === 'attention=triton_paged,linear=int8_weight_only'),
    );
    expect(moves[1]!.speedup).toBeCloseTo(1 / (1 - 0.279 - 0.135), 9);
    expect(both.speedup).toBeCloseTo(1 / (1 - 0.279 - (0.1 * 7) / 8), 9);
    expect(both.why).toMatch(
      /attention=triton_paged and decode_steps=8 act on different parts of .* together predicted 1\.58×/,
    );
  });

  it('predicts a weight format from the bytes it reads per weight: nothing from int8 to fp8, half from bf16 or fp32', () => {
    const int8 = makeDesign(
      space,
      { ...sdpaDesign(space, llamaCtx).choices, linear: 'int8_weight_only' },
      sdpaDesign(space, llamaCtx).params,
    );
    const profile = { host: 0, dev: { attention: 0.1, linear: 0.8, other: 0.1 } };
    const fromInt8 = profileMoves(space, int8, profile, 'output_throughput', llamaCtx).map((m) =>
      moved(int8, m.design),
    );
    // the same bytes per weight (fp8) and twice as many (native bf16) predict no gain: no linear move
    expect(fromInt8.filter((m) => m.includes('linear='))).toEqual([]);
    const bf16 = sdpaDesign(space, llamaCtx);
    const fromBf16 = profileMoves(space, bf16, profile, 'output_throughput', llamaCtx);
    const fp8 = fromBf16.find((m) => moved(bf16, m.design) === 'linear=fp8')!;
    expect(fp8.speedup).toBeCloseTo(1 / (1 - 0.8 + 0.8 / 2), 9);
    expect(fp8.why).toMatch(/linear=fp8 predicted 1\.67× from the bytes it reads per weight \(2 → 1\)/);
    // an fp32 model's weights are 4 bytes: an 8-bit format reads a quarter of them
    const fp32Ctx = spaceContextFor({
      scenario: { ...llama, model: { ...llama.model, dtype: 'float32' } },
      hardware: h100,
      constraints: {},
    });
    const fromFp32 = profileMoves(space, bf16, profile, 'output_throughput', fp32Ctx);
    const int8Move = fromFp32.find((m) => moved(bf16, m.design) === 'linear=int8_weight_only')!;
    expect(int8Move.speedup).toBeCloseTo(1 / (1 - 0.8 + 0.8 / 4), 9);
  });

  it('proposes only the expert kernels that CUDA graphs can capture', () => {
    const parent = defaultDesign(space, mixtralCtx);
    expect([parent.choices.moe, parent.choices.execution]).toEqual(['fused_triton', 'cuda_graphs']);
    const moves = profileMoves(
      space,
      parent,
      { dev: { moe: 0.5, attention: 0.1, linear: 0.3, other: 0.1 } },
      'output_throughput',
      mixtralCtx,
    );
    const names = moves.map((m) => moved(parent, m.design));
    expect(names).toContain('moe=dense_decode');
    expect(names).toContain('moe=fused_tuned');
    expect(names.some((n) => n.includes('moe=loop'))).toBe(false);
    expect(moves.find((m) => m.target === 'moe' && m.design.choices.moe === 'dense_decode')!.speedup).toBeCloseTo(
      1 / 0.75,
      9,
    );
    // an eager parent may try the per-expert loop as well
    const eager = makeDesign(space, { ...parent.choices, execution: 'eager' }, parent.params);
    const fromEager = profileMoves(space, eager, { dev: { moe: 0.5 } }, 'output_throughput', mixtralCtx).map((m) =>
      moved(eager, m.design),
    );
    expect(fromEager.sort()).toEqual(['moe=dense_decode', 'moe=fused_tuned', 'moe=loop']); // one target: nothing to pair
  });

  it('leaves small shares to the surrogate, and moves a contiguous cache along with the paged kernel', () => {
    const parent = sdpaDesign(space, llamaCtx);
    expect(profileMoves(space, parent, { host: 0, dev: { attention: 0.05 } }, 'output_throughput', llamaCtx)).toEqual(
      [],
    );
    // a host-bound step leaves the forward too little of the step to matter
    expect(profileMoves(space, parent, { host: 0.95, dev: { attention: 0.9 } }, 'p99_ttft_ms', llamaCtx)).toEqual([]);
    const contiguous = makeDesign(space, { ...parent.choices, kv_cache: 'contiguous' }, parent.params);
    const [m] = profileMoves(space, contiguous, { dev: { attention: 0.6 } }, 'output_throughput', llamaCtx);
    expect(moved(contiguous, m!.design).split(',').sort()).toEqual([
      'attention=triton_paged',
      'block_size=16',
      'kv_cache=paged',
      'prefix_caching=true',
    ]);
    expect(m!.why).toMatch(/attention=triton_paged \(with kv_cache=paged\) predicted/);
  });

  it('applies to a time-to-first-token objective, which still gets no host moves', () => {
    const parent = sdpaDesign(space, llamaCtx);
    const moves = profileMoves(space, parent, { host: 0.5, dev: { attention: 0.62 } }, 'p99_ttft_ms', llamaCtx);
    expect(moves.map((m) => moved(parent, m.design))).toEqual(['attention=triton_paged']);
    expect(moves[0]!.speedup).toBeCloseTo(1 / (1 - 0.155), 9);
  });

  it('summarizes decode_device_share_<component> metrics of accepted outcomes', () => {
    const d = defaultDesign(space, llamaCtx);
    const metrics = {
      output_throughput: 10,
      decode_host_share: 0.2,
      decode_device_share_attention: 0.612345678,
      decode_device_share_linear: 0.3,
      decode_device_share_other: 0.087654,
      decode_device_share_moe: 'n/a',
      decode_device_share_bad: Number.NaN,
      decode_device_share_: 0.5,
    } as unknown as Record<string, number>;
    const ok = summarizeOutcome({ designId: d.id, design: d, status: 'accepted', objective: 10, metrics }, llama);
    expect(ok.host).toBe(0.2);
    expect(ok.dev).toEqual({ attention: 0.6123, linear: 0.3, other: 0.0877 });
    expect(
      summarizeOutcome({ designId: d.id, design: d, status: 'rejected', reason: 'wrong_output', metrics }, llama).dev,
    ).toBeUndefined();
    expect(
      summarizeOutcome(
        { designId: d.id, design: d, status: 'accepted', objective: 10, metrics: { output_throughput: 10 } },
        llama,
      ).dev,
    ).toBeUndefined();
  });

  it('follows a measured default to the other attention kernel and the decode steps together, then the kernel alone', async () => {
    // the real scenarios' round: three designs, one of them exploration
    const { second } = await afterDefault(
      0.17,
      {},
      { decode_device_share_attention: 0.6, decode_device_share_other: 0.4 },
    );
    expect(second.memory.outcomes[0]!.dev).toEqual({ attention: 0.6, other: 0.4 });
    const profiled = second.designs.filter((d) => d.origin?.startsWith('model-free:profile-of-'));
    expect(profiled.map((d) => `attention=${d.choices.attention},decode_steps=${d.params.decode_steps}`)).toEqual([
      'attention=sdpa,decode_steps=8',
      'attention=sdpa,decode_steps=1',
    ]);
    expect(second.designs).toHaveLength(3);
    expect(profiled[0]!.hypothesis).toMatch(/together predicted 1\.66×/);
    expect(second.notes).toMatch(/together predicted 1\.66×/);
  });
});

describe('admission proposals (time waiting for a batch slot)', () => {
  const space = loadDesignSpace();
  const llama: ScenarioLike = {
    ...scenario,
    name: 'stream-like',
    objective: 'p99_ttft_ms',
    model: { arch: 'llama', preset: 'tiny-llama', weights: 'random', dtype: 'bfloat16' },
  };
  const ctx = spaceContextFor({ scenario: llama, hardware: h100, constraints: {} });

  it('raises the batch limit where requests waited for a slot of a full batch, predicted from the wait', () => {
    const parent = sdpaDesign(space, ctx);
    expect(parent.params.max_batch_size).toBe(16);
    const moves = profileMoves(space, parent, { queue: { share: 0.8, full: 1 } }, 'p99_ttft_ms', ctx);
    const byValue = moves.map((m) => [m.design.params.max_batch_size, Number(m.speedup.toFixed(3))]);
    // 32 slots halve the full-batch wait, 64 leave a quarter of it, ...
    expect(byValue).toEqual(
      [
        [1024, 4.697],
        [512, 4.507],
        [256, 4],
        [128, 3.333],
        [64, 2.5],
        [32, 1.667],
      ].map(([v]) => [v, Number((1 / (1 - 0.8 * (1 - 16 / v!))).toFixed(3))]),
    );
    expect(byValue.at(-1)).toEqual([32, 1.667]);
    expect(moves[0]!.why).toMatch(
      /80% of their time to first token waiting for a batch slot, 100% of it with all 16 slots taken/,
    );
  });

  it('stops at the first limit that admits every request seen waiting, and widens the graph buckets to it', () => {
    const base = sdpaDesign(space, ctx);
    const parent = makeDesign(
      space,
      { ...base.choices, execution: 'cuda_graphs' },
      { ...base.params, graph_batch_sizes: [1, 2, 4, 8, 16, 32] },
    );
    expect(validateDesign(space, parent.choices, parent.params, ctx)).toEqual([]);
    const moves = profileMoves(space, parent, { queue: { share: 0.8, full: 1, peak: 20 } }, 'p99_ttft_ms', ctx);
    // 32 slots admit 16 of the 20 seen waiting (0.8 of the wait), 64 admit all of them; 128 and 256 add nothing
    expect(moves.map((m) => [m.design.params.max_batch_size, Number(m.speedup.toFixed(3))])).toEqual([
      [64, 5],
      [32, 2.778],
    ]);
    expect(moves[0]!.design.params.graph_batch_sizes).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256]);
    expect(moves[1]!.design.params.graph_batch_sizes).toEqual([1, 2, 4, 8, 16, 32]);
    expect(moves[0]!.why).toMatch(/\(up to 20 waiting\); max_batch_size=64 admits 48 more/);
  });

  it('leaves the limit alone when the wait is not for a full batch, or the objective is throughput', () => {
    const parent = sdpaDesign(space, ctx);
    expect(profileMoves(space, parent, { queue: { share: 0.8, full: 0 } }, 'p99_ttft_ms', ctx)).toEqual([]);
    expect(profileMoves(space, parent, { queue: { share: 0.01, full: 1 } }, 'p99_ttft_ms', ctx)).toEqual([]);
    expect(profileMoves(space, parent, { queue: { share: 0.8, full: 1 } }, 'output_throughput', ctx)).toEqual([]);
  });

  it('summarizes the bench figures and proposes the larger batch in the next round', async () => {
    // on a CPU the generic stack keeps a 16-sequence batch (on a GPU it starts at vLLM's 1024)
    const cpu: HardwareTarget = { kind: 'cpu', device: 'cpu', gpuCount: 0 };
    const first = await planRound(input({ scenario: { ...llama, hardware: { kind: 'cpu', gpus: 0 } }, hardware: cpu }));
    const d = first.designs[0]!;
    const outcome: CandidateOutcome = {
      designId: d.id,
      design: d,
      status: 'accepted',
      objective: 245,
      metrics: {
        p99_ttft_ms: 245,
        ttft_queue_share: 0.7,
        queue_wait_batch_full_share: 0.9,
        queue_peak_waiting_full: 12,
      },
    };
    expect(summarizeOutcome(outcome, llama).queue).toEqual({ share: 0.7, full: 0.9, peak: 12 });
    const second = await planRound(
      input({
        scenario: { ...llama, hardware: { kind: 'cpu', gpus: 0 } },
        hardware: cpu,
        round: 2,
        memory: first.memory,
        history: [outcome],
        budget: { candidatesLeft: 5, roundsLeft: 2 },
      }),
    );
    const profiled = second.designs.filter((x) => x.origin?.startsWith('model-free:profile-of-'));
    expect(profiled.length).toBeGreaterThan(0);
    expect(Number(profiled[0]!.params.max_batch_size)).toBeGreaterThan(16);
  });
});

describe('speculation proposals (what drafts would have accepted)', () => {
  const space = loadDesignSpace();
  const code: ScenarioLike = {
    ...scenario,
    name: 'code-edit-like',
    model: { arch: 'llama', weights: 'gguf', path: 'x.gguf', dtype: 'bfloat16' },
  };
  const ctx = spaceContextFor({ scenario: code, hardware: h100, constraints: {} });

  it('proposes the speculation choice whose replayed drafts give several tokens per step, predicted at an assumed verify cost', () => {
    const parent = defaultDesign(space, ctx);
    expect(parent.choices.speculation).toBe('none');
    expect(parent.params.async_scheduling).toBe(true);
    const moves = profileMoves(
      space,
      parent,
      { spec: { prompt_lookup: 1.1, predicted_outputs: 4.5 } },
      'output_throughput',
      ctx,
    );
    expect(moves.map((m) => [m.change, Number(m.speedup.toFixed(2))])).toEqual([
      ['speculation=predicted_outputs', 3.6],
    ]);
    const d = moves[0]!.design;
    // async scheduling and multi-step decode give way (constraint thenParams); the speculation params take their defaults
    expect(d.params.async_scheduling).toBeUndefined();
    expect(d.params.num_speculative_tokens).toBe(4);
    expect(validateDesign(space, d.choices, d.params, ctx)).toEqual([]);
    expect(moves[0]!.why).toMatch(
      /^acceptance: speculation=predicted_outputs would have given 4\.50 tokens per decode step/,
    );
    // a time-to-first-token objective is not helped by faster decoding
    expect(profileMoves(space, parent, { spec: { predicted_outputs: 4.5 } }, 'p99_ttft_ms', ctx)).toEqual([]);
  });

  it('summarizes the bench figures, and the next round measures the speculative design; blind moves never try it', async () => {
    const first = await planRound(input({ scenario: code }));
    const d = first.designs[0]!;
    const metrics = {
      output_throughput: 900,
      speculation_tokens_per_step_prompt_lookup: 1.4,
      speculation_tokens_per_step_predicted_outputs: 5.2,
    };
    const outcome: CandidateOutcome = { designId: d.id, design: d, status: 'accepted', objective: 900, metrics };
    expect(summarizeOutcome(outcome, code).spec).toEqual({ prompt_lookup: 1.4, predicted_outputs: 5.2 });
    const second = await planRound(
      input({
        scenario: code,
        round: 2,
        memory: first.memory,
        history: [outcome],
        budget: { candidatesLeft: 5, roundsLeft: 2 },
      }),
    );
    const speculative = second.designs.filter((x) => x.choices.speculation !== 'none');
    // both pay by the figures (5.2 and 1.4 tokens per step, over a verify step at 1.25): the larger first
    expect(speculative.map((x) => [x.choices.speculation, x.origin?.startsWith('model-free:profile-of-')])).toEqual([
      ['predicted_outputs', true],
      ['prompt_lookup', true],
    ]);
    // without the figures, neither neighbors nor exploration propose speculation
    const blind = await planRound(
      input({
        scenario: code,
        round: 2,
        memory: first.memory,
        history: [{ ...outcome, metrics: { output_throughput: 900 } }],
        budget: { candidatesLeft: 5, roundsLeft: 2 },
      }),
    );
    expect(blind.designs.every((x) => x.choices.speculation === 'none')).toBe(true);
  });

  it('proposes jump_forward where the grammar forced several tokens per step of JSON-schema requests', async () => {
    const parent = defaultDesign(space, ctx);
    expect(parent.choices.structured_output).toBe('token_mask');
    const moves = profileMoves(space, parent, { spec: { token_mask: 1, jump_forward: 2.5 } }, 'output_throughput', ctx);
    expect(moves.map((m) => [m.change, Number(m.speedup.toFixed(2))])).toEqual([['structured_output=jump_forward', 2]]);
    expect(validateDesign(space, moves[0]!.design.choices, moves[0]!.design.params, ctx)).toEqual([]);
    // the bench figures (python-runtime bench/structured_output.py) reach the summary with the speculation ones
    const first = await planRound(input({ scenario: code }));
    const d = first.designs[0]!;
    const metrics = {
      output_throughput: 900,
      structured_tokens_per_step_token_mask: 1,
      structured_tokens_per_step_jump_forward: 2.5,
    };
    const outcome: CandidateOutcome = { designId: d.id, design: d, status: 'accepted', objective: 900, metrics };
    expect(summarizeOutcome(outcome, code).spec).toEqual({ token_mask: 1, jump_forward: 2.5 });
    // blind moves keep the default: JSON-schema requests are the workload's, not every scenario's
    expect(first.designs.every((x) => x.choices.structured_output === 'token_mask')).toBe(true);
  });
});
