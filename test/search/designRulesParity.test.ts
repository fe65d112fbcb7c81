// The design sweep (bench/gpu/design_sweep.py) enumerates designs with a Python copy of the design
// space's rules (bench/gpu/design_rules.py). A table it measures is only usable if its designs are
// the ones a search proposes: same ids, same validity, same generic default, same neighbours.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../lib/architect/rng.js';
import type { Design, HardwareTarget, ParamValue } from '../../lib/architect/types.js';
import {
  defaultDesign,
  enumerateChoiceCombos,
  loadDesignSpace,
  makeDesign,
  neighbors,
  repairChoices,
  sampleDesign,
  validateDesign,
  type SpaceContext,
} from '../../lib/designSpace.js';
import { projectRoot, pythonExecutable } from '../../lib/paths.js';

const space = loadDesignSpace();
const cpu: HardwareTarget = { kind: 'cpu', device: 'cpu', gpuCount: 0 };
const h100: HardwareTarget = { kind: 'h100', device: 'cuda', gpuCount: 1, computeCapability: 9.0 };
const a100x2: HardwareTarget = { kind: 'a100', device: 'cuda', gpuCount: 2, computeCapability: 8.0 };
const l4: HardwareTarget = { kind: 'l4', device: 'cuda', gpuCount: 1, computeCapability: 8.9 };
const contexts: SpaceContext[] = [
  { hardware: cpu, arch: 'llama', tokenizer: 'byte', constraints: {} },
  { hardware: h100, arch: 'gpt2', tokenizer: 'byte', constraints: {} },
  { hardware: l4, arch: 'llama', tokenizer: 'byte', constraints: {} },
  { hardware: h100, arch: 'mixtral', tokenizer: 'byte', constraints: { moe: ['loop', 'fused_triton'] } },
  { hardware: h100, arch: 'llama', tokenizer: 'hf_json', constraints: { linear: ['int8_weight_only', 'fp8'] } },
  { hardware: a100x2, arch: 'llama', tokenizer: 'byte', constraints: { execution: ['eager', 'torch_compile'] } },
  // shape facts a scenario states: head_dim beyond the paged kernel's, no tensor parallelism for MoE or MQA
  {
    hardware: h100,
    arch: 'llama',
    tokenizer: 'byte',
    constraints: {},
    model: { head_dim: 320, num_attention_heads: 16 },
  },
  { hardware: a100x2, arch: 'mixtral', tokenizer: 'byte', constraints: {}, model: { head_dim: 128 } },
  {
    hardware: a100x2,
    arch: 'llama',
    tokenizer: 'byte',
    constraints: {},
    model: { num_attention_heads: 32, num_key_value_heads: 1 },
  },
];

const PYTHON = `
import json, sys
import design_rules as r
space = r.load_space()
out = []
for case in json.load(sys.stdin):
    ctx = case["ctx"]
    base = r.default_design(space, ctx)
    out.append({
        "default": base,
        "combos": sorted(r.make_design(space, c, {})["id"] for c in r.enumerate_choice_combos(space, ctx)),
        "neighbours": sorted(d["id"] for d in r.neighbours(space, base, ctx)),
        "remade": [r.make_design(space, d["choices"], d["params"])["id"] for d in case["designs"]],
        "problems": [r.validate_design(space, d["choices"], d["params"], ctx) for d in case["designs"]],
        "invalid_problems": [r.validate_design(space, d["choices"], d["params"], ctx) for d in case["invalid"]],
        "repaired": [r.repair_choices(space, d["choices"], ctx) for d in case["invalid"]],
    })
print(json.dumps(out))
`;

/**
 * Designs the rules must turn down: the default with each dimension set in turn to every choice the space
 * knows (the hardware's, the model's and the search's limits decide), an unknown choice, dimension and
 * parameter, one missing dimension, and every parameter at a value outside its list.
 */
function invalidDesigns(ctx: SpaceContext): { choices: Record<string, string>; params: Record<string, ParamValue> }[] {
  const base = defaultDesign(space, ctx);
  const out: { choices: Record<string, string>; params: Record<string, ParamValue> }[] = [];
  for (const [dim, def] of Object.entries(space.dimensions)) {
    for (const choice of Object.keys(def.choices)) {
      if (choice !== base.choices[dim]) out.push({ choices: { ...base.choices, [dim]: choice }, params: base.params });
    }
  }
  const [firstDim] = Object.keys(space.dimensions);
  const { [firstDim!]: _dropped, ...missingOne } = base.choices;
  out.push({ choices: { ...base.choices, [firstDim!]: 'no_such_choice' }, params: base.params });
  out.push({ choices: { ...base.choices, no_such_dimension: 'x' }, params: base.params });
  out.push({ choices: missingOne, params: base.params });
  out.push({ choices: base.choices, params: { ...base.params, no_such_param: 1 } });
  for (const name of Object.keys(space.params)) {
    out.push({ choices: base.choices, params: { ...base.params, [name]: 12345 } });
  }
  return out;
}

describe('Python design rules match lib/designSpace.ts', () => {
  it('gives the same ids, defaults, valid combinations and neighbours', () => {
    const rng = seededRng(7);
    const cases = contexts.map((ctx) => ({
      ctx,
      designs: Array.from({ length: 25 }, () => sampleDesign(space, ctx, rng)),
      invalid: invalidDesigns(ctx),
    }));
    const answer = JSON.parse(
      execFileSync(pythonExecutable(), ['-c', PYTHON], {
        cwd: path.join(projectRoot, 'bench', 'gpu'),
        input: JSON.stringify(cases),
        encoding: 'utf8',
      }),
    ) as {
      default: Design;
      combos: string[];
      neighbours: string[];
      remade: string[];
      problems: string[][];
      invalid_problems: string[][];
      repaired: (Record<string, string> | null)[];
    }[];
    cases.forEach(({ ctx, designs }, i) => {
      const py = answer[i]!;
      const base = defaultDesign(space, ctx);
      expect(py.default.id).toBe(base.id);
      expect(py.default.choices).toEqual(base.choices);
      expect(Object.keys(py.default.choices)).toEqual(Object.keys(base.choices));
      expect(py.default.params).toEqual(base.params);
      expect(py.combos).toEqual(
        enumerateChoiceCombos(space, ctx)
          .map((c) => makeDesign(space, c, {}).id)
          .sort(),
      );
      expect(py.neighbours).toEqual(
        neighbors(space, base, ctx)
          .map((d) => d.id)
          .sort(),
      );
      expect(py.remade).toEqual(designs.map((d) => d.id));
      expect(py.problems.every((p) => p.length === 0)).toBe(true);
      // the rules reject (and repair) alike, word for word, and most of these designs are rejected
      const invalid = cases[i]!.invalid;
      expect(py.invalid_problems).toEqual(invalid.map((d) => validateDesign(space, d.choices, d.params, ctx)));
      expect(py.repaired).toEqual(invalid.map((d) => repairChoices(space, d.choices, ctx)));
      expect(py.invalid_problems.filter((p) => p.length > 0).length).toBeGreaterThan(invalid.length / 2);
    });
  });
});
