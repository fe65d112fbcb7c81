import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DESIGN_SPACE_PATH,
  defaultDesign,
  enumerateChoiceCombos,
  hardwareBlocker,
  loadDesignSpace,
  makeDesign,
  modelBlocker,
  modelShapeOf,
  neighbors,
  offeredChoices,
  repairChoices,
  sampleDesign,
  validateDesign,
  type SpaceContext,
} from '../../lib/designSpace.js';
import { seededRng } from '../../lib/architect/rng.js';
import { STACK_SCHEMA_PATH, stackSpecProblems } from '../../lib/stackSchema.js';
import type { HardwareTarget } from '../../lib/architect/types.js';

const space = loadDesignSpace();
const cpu: HardwareTarget = { kind: 'cpu', device: 'cpu', gpuCount: 0 };
const a100: HardwareTarget = { kind: 'a100', device: 'cuda', gpuCount: 1, computeCapability: 8.0 };
const h100: HardwareTarget = { kind: 'h100', device: 'cuda', gpuCount: 1, computeCapability: 9.0 };
const h100x2: HardwareTarget = { ...h100, gpuCount: 2 };
const ctx = (hardware: HardwareTarget, arch = 'llama', constraints?: Record<string, string[]>): SpaceContext => ({
  hardware,
  arch,
  tokenizer: 'byte',
  constraints,
});

describe('hardware filtering', () => {
  it('offers no GPU-only choice to a CPU worker', () => {
    expect(offeredChoices(space, 'attention', ctx(cpu))).toEqual(['sdpa']);
    expect(offeredChoices(space, 'execution', ctx(cpu))).toEqual(['eager', 'torch_compile']);
    expect(offeredChoices(space, 'linear', ctx(cpu))).toEqual(['native', 'int8_weight_only']);
    expect(offeredChoices(space, 'tp', ctx(cpu))).toEqual(['1']);
    for (const combo of enumerateChoiceCombos(space, ctx(cpu))) {
      for (const [dim, choice] of Object.entries(combo)) expect(hardwareBlocker(space, dim, choice, cpu)).toBeNull();
    }
  });

  it('offers fp8 only from compute capability 8.9', () => {
    expect(offeredChoices(space, 'linear', ctx(a100))).not.toContain('fp8');
    expect(offeredChoices(space, 'linear', ctx(h100))).toContain('fp8');
    expect(hardwareBlocker(space, 'linear', 'fp8', a100)).toMatch(/compute capability >= 8.9, the GPU has 8/);
  });

  it('offers tensor parallelism only with enough GPUs', () => {
    expect(offeredChoices(space, 'tp', ctx(h100))).toEqual(['1']);
    expect(offeredChoices(space, 'tp', ctx(h100x2))).toEqual(['1', '2']);
  });

  it('searches the MoE dimension only for MoE models', () => {
    expect(offeredChoices(space, 'moe', ctx(h100, 'llama'))).toEqual(['loop']);
    expect(offeredChoices(space, 'moe', ctx(h100, 'mixtral'))).toEqual([
      'loop',
      'fused_triton',
      'dense_decode',
      'fused_tuned',
    ]);
  });

  it('applies the search constraints', () => {
    expect(offeredChoices(space, 'execution', ctx(h100, 'llama', { execution: ['eager'] }))).toEqual(['eager']);
  });
});

describe('model filtering (a choice offered only for the models it serves)', () => {
  const withShape = (hardware: HardwareTarget, arch: string, config: Record<string, unknown>): SpaceContext => ({
    ...ctx(hardware, arch),
    model: modelShapeOf({ arch, config }),
  });

  it('offers the paged kernel for every head_dim from 8 to 256, and sdpa beyond', () => {
    for (const headDim of [64, 80, 96, 112, 128, 256]) {
      expect(offeredChoices(space, 'attention', withShape(h100, 'llama', { head_dim: headDim }))).toContain(
        'triton_paged',
      );
    }
    const wide = withShape(h100, 'llama', { hidden_size: 5120, num_attention_heads: 16 }); // head_dim 320
    expect(offeredChoices(space, 'attention', wide)).toEqual(['sdpa']);
    expect(defaultDesign(space, wide).choices.attention).toBe('sdpa');
    const forced = { ...defaultDesign(space, wide).choices, attention: 'triton_paged' };
    expect(validateDesign(space, forced, defaultDesign(space, wide).params, wide).join()).toMatch(
      /head_dim 8\.\.256, the model has head_dim=320/,
    );
  });

  it('offers tensor parallelism only to the architectures and head counts it splits', () => {
    expect(offeredChoices(space, 'tp', ctx(h100x2, 'mixtral'))).toEqual(['1']);
    expect(modelBlocker(space, 'tp', '2', ctx(h100x2, 'mixtral'))).toMatch(/serves llama, gpt2 models, not mixtral/);
    expect(
      offeredChoices(space, 'tp', withShape(h100x2, 'llama', { num_attention_heads: 9, num_key_value_heads: 3 })),
    ).toEqual(['1']);
    expect(
      offeredChoices(space, 'tp', withShape(h100x2, 'llama', { num_attention_heads: 32, num_key_value_heads: 1 })),
    ).toEqual(['1']);
    expect(
      offeredChoices(space, 'tp', withShape(h100x2, 'llama', { num_attention_heads: 32, num_key_value_heads: 8 })),
    ).toEqual(['1', '2']);
    expect(offeredChoices(space, 'tp', withShape(h100x2, 'gpt2', { n_embd: 768, n_head: 12 }))).toEqual(['1', '2']);
  });

  it('holds only the facts a scenario states against a choice', () => {
    expect(modelShapeOf({ arch: 'llama', config: {} })).toEqual({});
    expect(modelShapeOf({ arch: 'llama', config: { hidden_size: 3072, num_attention_heads: 32 } })).toEqual({
      num_attention_heads: 32,
      head_dim: 96,
    });
    expect(modelShapeOf({ arch: 'gpt2', config: { n_embd: 768, n_head: 12 } })).toEqual({
      num_attention_heads: 12,
      num_key_value_heads: 12,
      intermediate_size: 3072,
      head_dim: 64,
    });
    expect(offeredChoices(space, 'attention', withShape(h100, 'llama', {}))).toContain('triton_paged');
  });
});

describe('constraints', () => {
  it('rejects the paged kernel without the paged cache and chunked prefill without paging', () => {
    const choices = { ...defaultDesign(space, ctx(h100)).choices, attention: 'triton_paged', kv_cache: 'contiguous' };
    expect(validateDesign(space, choices, {}, ctx(h100)).join()).toMatch(/paged-kernel-needs-paged-cache/);
    const chunked = { ...defaultDesign(space, ctx(cpu)).choices, scheduler: 'chunked_prefill', kv_cache: 'contiguous' };
    expect(validateDesign(space, chunked, {}, ctx(cpu)).join()).toMatch(/chunked-prefill-needs-paged/);
  });

  it('pairs CUDA graphs with the fused MoE kernel for MoE models only', () => {
    const graphs = { ...defaultDesign(space, ctx(h100, 'mixtral')).choices, execution: 'cuda_graphs', moe: 'loop' };
    const params = { graph_batch_sizes: [1, 2, 4, 8] };
    expect(validateDesign(space, graphs, params, ctx(h100, 'mixtral')).join()).toMatch(/graphs-need-fused-moe/);
    expect(repairChoices(space, graphs, ctx(h100, 'mixtral'))?.moe).toBe('fused_triton');
    expect(validateDesign(space, graphs, params, ctx(h100, 'llama')).join()).not.toMatch(/graphs-need-fused-moe/);
  });

  it('requires graph batch buckets with CUDA graphs', () => {
    const choices = { ...defaultDesign(space, ctx(h100)).choices, execution: 'cuda_graphs' };
    expect(validateDesign(space, choices, {}, ctx(h100)).join()).toMatch(/graph_batch_sizes is required/);
    const d = makeDesign(space, choices, {});
    expect(d.params.graph_batch_sizes).toEqual([1, 2, 4, 8, 16, 32]);
    expect(validateDesign(space, d.choices, d.params, ctx(h100))).toEqual([]);
  });

  it('names unknown choices and parameter values', () => {
    const problems = validateDesign(
      space,
      { ...defaultDesign(space, ctx(cpu)).choices, scheduler: 'fifo' },
      { block_size: 7 },
      ctx(cpu),
    );
    expect(problems.join('\n')).toMatch(/unknown choice scheduler=fifo/);
    expect(problems.join('\n')).toMatch(/block_size=7 is not one of/);
  });

  it('repairs a one-dimension change into a valid design', () => {
    const base = defaultDesign(space, ctx(cpu));
    const repaired = repairChoices(
      space,
      { ...base.choices, kv_cache: 'contiguous', scheduler: 'chunked_prefill' },
      ctx(cpu),
    );
    expect(repaired?.kv_cache).toBe('paged'); // chunked prefill pulls the paged cache along
    expect(validateDesign(space, repaired!, {}, ctx(cpu))).toEqual([]);
    // With the paged cache excluded by the user there is nothing to repair to.
    const stuck = repairChoices(
      space,
      { ...base.choices, scheduler: 'chunked_prefill', kv_cache: 'contiguous' },
      ctx(cpu, 'llama', { kv_cache: ['contiguous'] }),
    );
    expect(stuck).toBeNull();
  });
});

describe('enumeration and sampling', () => {
  it('enumerates only valid combinations, far more on an H100 pair than on a CPU', () => {
    const onCpu = enumerateChoiceCombos(space, ctx(cpu));
    const onH100x2 = enumerateChoiceCombos(space, ctx(h100x2));
    // CPU: kv 2 x scheduler 3 x execution 2 x linear 2 x sampling 2, minus chunked prefill on contiguous,
    // times speculation 3, times structured_output 2.
    expect(onCpu.length).toBe((2 * 3 * 2 * 2 * 2 - 1 * 2 * 2 * 2) * 3 * 2);
    expect(onH100x2.length).toBeGreaterThan(onCpu.length * 4);
    for (const c of onH100x2) {
      const d = makeDesign(space, c, {});
      expect(validateDesign(space, d.choices, d.params, ctx(h100x2))).toEqual([]);
    }
  });

  it('samples valid designs reproducibly and identifies them stably', () => {
    const a = Array.from(
      { length: 50 },
      (
        (rng) => () =>
          sampleDesign(space, ctx(h100), rng)
      )(seededRng(7)),
    );
    const b = Array.from(
      { length: 50 },
      (
        (rng) => () =>
          sampleDesign(space, ctx(h100), rng)
      )(seededRng(7)),
    );
    expect(a.map((d) => d.id)).toEqual(b.map((d) => d.id));
    for (const d of a) expect(validateDesign(space, d.choices, d.params, ctx(h100))).toEqual([]);
    const shuffled = makeDesign(space, Object.fromEntries(Object.entries(a[0]!.choices).reverse()), a[0]!.params);
    expect(shuffled.id).toBe(a[0]!.id);
  });

  it('drops parameters that do not apply, so they cannot split a design in two', () => {
    const base = defaultDesign(space, ctx(cpu));
    const withStray = makeDesign(
      space,
      { ...base.choices, scheduler: 'continuous' },
      { ...base.params, chunk_size: 32 },
    );
    expect(withStray.params.chunk_size).toBeUndefined();
    expect(withStray.id).toBe(makeDesign(space, { ...base.choices, scheduler: 'continuous' }, base.params).id);
  });

  it('uses CUDA graphs in the generic default on a GPU and eager on a CPU', () => {
    expect(defaultDesign(space, ctx(h100)).choices.execution).toBe('cuda_graphs');
    expect(defaultDesign(space, ctx(cpu)).choices.execution).toBe('eager');
  });

  it('gives valid, distinct neighbors one step away', () => {
    const base = defaultDesign(space, ctx(h100));
    const ns = neighbors(space, base, ctx(h100));
    expect(ns.length).toBeGreaterThan(10);
    expect(new Set(ns.map((n) => n.id)).size).toBe(ns.length);
    for (const n of ns) expect(validateDesign(space, n.choices, n.params, ctx(h100))).toEqual([]);
  });
});

describe('the stack schema shared with Python', () => {
  it('lists exactly the design space choices', () => {
    const schema = JSON.parse(readFileSync(STACK_SCHEMA_PATH, 'utf8'));
    const raw = JSON.parse(readFileSync(DESIGN_SPACE_PATH, 'utf8'));
    for (const [dim, def] of Object.entries<{ choices: Record<string, unknown> }>(raw.dimensions)) {
      const prop = schema.properties.components.properties[dim];
      const listed = prop.enum ?? prop.anyOf[0].enum;
      expect(listed, dim).toEqual(Object.keys(def.choices));
    }
  });

  it('accepts a library stack and a registered custom component, and names what is wrong otherwise', () => {
    const d = defaultDesign(space, ctx(cpu));
    const spec = {
      name: 'x',
      model: { arch: 'llama', preset: 'tiny-llama' },
      components: { ...d.choices },
      params: d.params,
      device: 'cpu',
    };
    expect(stackSpecProblems(spec)).toEqual([]);
    expect(stackSpecProblems({ ...spec, components: { ...d.choices, sampling: 'custom_fast_sampler' } })).toEqual([]);
    expect(stackSpecProblems({ ...spec, components: { ...d.choices, sampling: 'evil' } }).join()).toMatch(
      /components\/sampling/,
    );
    expect(stackSpecProblems({ ...spec, device: 'tpu' }).join()).toMatch(/\/device/);
  });
});
