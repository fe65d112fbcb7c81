import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultDesign, loadDesignSpace, makeDesign } from '../../lib/designSpace.js';
import { BuildError, buildFromTemplate, stackSpecFor } from '../../lib/builder/templateBuilder.js';
import { stackSpecProblems } from '../../lib/stackSchema.js';
import type { ScenarioLike } from '../../lib/architect/types.js';

const space = loadDesignSpace();
const scenario: ScenarioLike = {
  name: 'cpu-demo',
  model: { arch: 'llama', preset: 'tiny-llama', config: {}, weights: 'random', path: null, seed: 0, dtype: 'float32' },
  tokenizer: { kind: 'byte', path: null },
  workload: { prompt_len: 64, output_len: 32 },
  objective: 'output_throughput',
  hardware: { kind: 'cpu', gpus: 1 },
};
const ctx = { hardware: { kind: 'cpu', device: 'cpu' as const, gpuCount: 0 }, arch: 'llama', tokenizer: 'byte' };
const work = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-template-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('stackSpecFor', () => {
  it('turns a design into a schema-valid stack spec for the scenario', () => {
    const d = makeDesign(
      space,
      { ...defaultDesign(space, ctx).choices, scheduler: 'chunked_prefill' },
      { chunk_size: 64, max_batch_size: 8 },
    );
    const spec = stackSpecFor(d, scenario);
    expect(stackSpecProblems(spec)).toEqual([]);
    expect(spec.name).toBe(`cpu-demo-${d.id}`);
    expect(spec.components.scheduler).toBe('chunked_prefill');
    expect(spec.params).toMatchObject({ chunk_size: 64, max_batch_size: 8, max_model_len: 96 });
    expect(spec.device).toBe('cpu');
    expect(spec.model).toEqual(scenario.model);
  });

  it('registers the component an LLM builder writes', () => {
    const d = makeDesign(
      space,
      defaultDesign(space, ctx).choices,
      {},
      {
        builder: 'llm',
        llmTask: { dimension: 'sampling', componentName: 'custom_fast_sampler', instructions: 'x' },
      },
    );
    const spec = stackSpecFor(d, scenario);
    expect(spec.components.sampling).toBe('custom_fast_sampler');
    expect(spec.custom_components).toBeUndefined();
    expect(stackSpecProblems(spec)).toEqual([]);
  });
});

describe('buildFromTemplate (runs the real materialize verb)', () => {
  it('materializes a self-contained stack directory', async () => {
    const d = defaultDesign(space, ctx);
    const out = await buildFromTemplate({ design: d, scenario, outDir: path.join(work, 'c1', 'stack') });
    expect(out.stackDir).toBe(path.join(work, 'c1', 'stack'));
    expect(out.specHash).toMatch(/^[0-9a-f]{16,}$/);
    const written = JSON.parse(readFileSync(path.join(out.stackDir, 'stack.json'), 'utf8'));
    expect(written.components).toMatchObject(d.choices);
    expect(existsSync(path.join(out.stackDir, 'vibeserve_runtime', '__main__.py'))).toBe(true);
    // Same design, same spec hash.
    const again = await buildFromTemplate({ design: d, scenario, outDir: path.join(work, 'c2', 'stack') });
    expect(again.specHash).toBe(out.specHash);
  }, 120_000);

  it('reports a missing model as a usage error that names the field', async () => {
    const d = defaultDesign(space, ctx);
    const missing = {
      ...scenario,
      model: { ...scenario.model, weights: 'path', path: path.join(work, 'no-such-model') },
    };
    const err = await buildFromTemplate({ design: d, scenario: missing, outDir: path.join(work, 'c3', 'stack') }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(BuildError);
    expect(err.kind).toBe('usage');
    expect(err.reason).toBe('missing_model');
    expect(err.message).toMatch(/model\.path/);
  }, 120_000);

  it('refuses a spec the shared schema rejects before starting Python', async () => {
    const d = { ...defaultDesign(space, ctx), choices: { ...defaultDesign(space, ctx).choices, sampling: 'rm -rf' } };
    const err = await buildFromTemplate({ design: d, scenario, outDir: path.join(work, 'c4', 'stack') }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(BuildError);
    expect(err.reason).toBe('bad_spec');
    expect(err.message).toMatch(/components\/sampling/);
  });
});
