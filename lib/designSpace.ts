// The design space as data (python-runtime/vibeserve_runtime/design_space.json, shared with the
// Python runtime): which choices exist, which the hardware can run, which combinations are valid,
// and how designs are enumerated, sampled, repaired and identified.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Choices, Design, HardwareTarget, ParamValue } from './architect/types.js';
import { pick, type Rng } from './architect/rng.js';

export const DESIGN_SPACE_PATH = fileURLToPath(
  new URL('../python-runtime/vibeserve_runtime/design_space.json', import.meta.url),
);

export interface ChoiceRequirements {
  device?: 'cpu' | 'cuda';
  min_compute_capability?: number;
  min_devices?: number;
}

/** Bounds on one shape fact of the model (python-runtime/vibeserve_runtime/model_shape.py names them). */
export interface ShapeBound {
  min?: number;
  max?: number;
  multiple_of?: number;
}

/** The models a choice is known to work for: architectures, and bounds on shape facts. */
export interface ServesDef {
  arch?: string[];
  shape?: Record<string, ShapeBound>;
}

export interface ChoiceDef {
  description: string;
  requires: ChoiceRequirements;
  serves?: ServesDef;
  /** The workload (a scenario's workload.dataset) the choice's gain comes from, e.g. shared_prefix. */
  gainsFrom?: string;
  /** Bytes read per weight; a choice of the same dimension without it reads the model dtype's. */
  weightBytes?: number;
}

export interface DimensionDef {
  description: string;
  searchable: boolean;
  appliesTo?: string[];
  /** The component whose share of the decode forward's device time the benchmark reports (decode_device_share_<name>). */
  profiledAs?: string;
  /** The bench figures <profiledBy>_<choice> predicting each choice on the measured workload (speculation_tokens_per_step). */
  profiledBy?: string;
  choices: Record<string, ChoiceDef>;
  default: string;
}

export interface ParamDef {
  type: 'int' | 'bool' | 'int[]';
  values: ParamValue[];
  default: ParamValue;
  /** dimension → the choice (or list of choices) under which the parameter matters */
  appliesWhen?: Record<string, string | string[]>;
  /** A measured cost that larger values pay less often (the architect's profile moves use it). */
  amortizes?: 'decode_host_share';
  /** A measured wait that larger values shorten: requests waiting for a batch slot (admission moves). */
  relieves?: 'ttft_queue_share';
}

export interface ConstraintDef {
  id: string;
  if: Record<string, string>;
  then: Record<string, string[]>;
  /** the values a parameter may take when the constraint's `if` holds (materialize refuses others) */
  thenParams?: Record<string, ParamValue[]>;
  requiresParam?: string;
  /** the constraint holds only for these model architectures (e.g. MoE-specific rules) */
  onlyForArch?: string[];
  why: string;
}

/** What the generic stack changes from the dimension and param defaults on one kind of device. */
export interface GenericOverlay {
  choices: Record<string, string>;
  params: Record<string, ParamValue>;
}

export interface DesignSpace {
  version: number;
  dimensions: Record<string, DimensionDef>;
  params: Record<string, ParamDef>;
  /** The generic stack per device: vLLM's defaults in this library's terms (docs/generic-stack.md). */
  generic: Record<'cpu' | 'cuda', GenericOverlay>;
  constraints: ConstraintDef[];
}

/** What decides which designs are valid for one search. */
export interface SpaceContext {
  hardware: HardwareTarget;
  /** Model architecture ("llama" | "gpt2" | "mixtral"); gates dimensions such as moe. */
  arch: string;
  /** Shape facts of the model that the scenario states (modelShapeOf), read by choices' `serves`
   * rules; a fact left out is not held against a choice (materialize checks the resolved model). */
  model?: Record<string, number>;
  /** The tokenizer is fixed by the model/scenario, never searched. */
  tokenizer: string;
  /** Bytes per weight of the model's dtype (bf16: 2), what a weight-format choice is compared with. */
  dtypeBytes?: number;
  /** dimension → allowed choices, from the scenario and from steering. */
  constraints?: Record<string, string[]>;
}

const cache = new Map<string, DesignSpace>();

export function loadDesignSpace(path: string = DESIGN_SPACE_PATH): DesignSpace {
  const hit = cache.get(path);
  if (hit) return hit;
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the design space at ${path}: ${(err as Error).message}`);
  }
  const space = JSON.parse(raw) as DesignSpace;
  if (!space.dimensions || !space.params || !space.generic || !Array.isArray(space.constraints)) {
    throw new Error(`${path} is not a design space: it needs "dimensions", "params", "generic" and "constraints"`);
  }
  cache.set(path, space);
  return space;
}

/** Why a choice cannot run on this hardware, or null when it can. */
export function hardwareBlocker(
  space: DesignSpace,
  dimension: string,
  choice: string,
  hw: HardwareTarget,
): string | null {
  const def = space.dimensions[dimension]?.choices[choice];
  if (!def) return `unknown choice ${dimension}=${choice}`;
  const req = def.requires ?? {};
  if (req.device === 'cuda' && hw.device !== 'cuda') return `${dimension}=${choice} needs a CUDA GPU`;
  if (req.min_compute_capability !== undefined) {
    if (hw.device !== 'cuda' || hw.computeCapability === undefined) {
      return `${dimension}=${choice} needs compute capability >= ${req.min_compute_capability}`;
    }
    if (hw.computeCapability < req.min_compute_capability) {
      return `${dimension}=${choice} needs compute capability >= ${req.min_compute_capability}, the GPU has ${hw.computeCapability}`;
    }
  }
  const devices = hw.devices ?? hw.gpuCount;
  if (req.min_devices !== undefined && devices < req.min_devices) {
    return `${dimension}=${choice} needs ${req.min_devices} ${hw.device === 'cuda' ? 'GPUs' : 'devices'}, the worker has ${devices}`;
  }
  return null;
}

/** Why a choice is not known to work for the model (its `serves` rule), or null when it is. */
export function modelBlocker(space: DesignSpace, dimension: string, choice: string, ctx: SpaceContext): string | null {
  const serves = space.dimensions[dimension]?.choices[choice]?.serves;
  if (!serves) return null;
  if (serves.arch && !serves.arch.includes(ctx.arch)) {
    return `${dimension}=${choice} serves ${serves.arch.join(', ')} models, not ${ctx.arch}`;
  }
  for (const [fact, bound] of Object.entries(serves.shape ?? {})) {
    const v = ctx.model?.[fact];
    if (v === undefined) continue;
    if ((bound.min !== undefined && v < bound.min) || (bound.max !== undefined && v > bound.max)) {
      return `${dimension}=${choice} serves ${fact} ${bound.min ?? ''}..${bound.max ?? ''}, the model has ${fact}=${v}`;
    }
    if (bound.multiple_of !== undefined && v % bound.multiple_of !== 0) {
      return `${dimension}=${choice} needs ${fact} a multiple of ${bound.multiple_of}, the model has ${fact}=${v}`;
    }
  }
  return null;
}

function dimensionApplies(def: DimensionDef, arch: string): boolean {
  return !def.appliesTo || def.appliesTo.includes(arch);
}

/** Dimensions the architect may vary for this context (searchable and relevant to the model). */
export function searchedDimensions(space: DesignSpace, ctx: SpaceContext): string[] {
  return Object.entries(space.dimensions)
    .filter(([, def]) => def.searchable && dimensionApplies(def, ctx.arch))
    .map(([name]) => name);
}

/** The choices of one dimension that this context offers, in design-space order. */
export function offeredChoices(space: DesignSpace, dimension: string, ctx: SpaceContext): string[] {
  const def = space.dimensions[dimension];
  if (!def) throw new Error(`unknown design dimension "${dimension}"`);
  if (dimension === 'tokenizer') return [ctx.tokenizer];
  if (!def.searchable || !dimensionApplies(def, ctx.arch)) return [def.default];
  const allowed = ctx.constraints?.[dimension];
  return Object.keys(def.choices).filter(
    (c) =>
      hardwareBlocker(space, dimension, c, ctx.hardware) === null &&
      modelBlocker(space, dimension, c, ctx) === null &&
      (!allowed || allowed.includes(c)),
  );
}

/** Parameters that matter for these choices (others are dropped so they do not split design ids). */
export function applicableParams(space: DesignSpace, choices: Choices): string[] {
  return Object.entries(space.params)
    .filter(
      ([, def]) =>
        !def.appliesWhen || Object.entries(def.appliesWhen).every(([d, c]) => [c].flat().includes(choices[d] ?? '')),
    )
    .map(([name]) => name);
}

/** Every reason these choices and params are invalid for the context; empty when valid. */
export function validateDesign(
  space: DesignSpace,
  choices: Choices,
  params: Record<string, ParamValue>,
  ctx: SpaceContext,
): string[] {
  const problems: string[] = [];
  for (const [dim, def] of Object.entries(space.dimensions)) {
    const choice = choices[dim];
    if (choice === undefined) {
      problems.push(`missing dimension "${dim}"`);
      continue;
    }
    if (!(choice in def.choices)) {
      problems.push(`unknown choice ${dim}=${choice} (known: ${Object.keys(def.choices).join(', ')})`);
      continue;
    }
    const blocker = hardwareBlocker(space, dim, choice, ctx.hardware);
    if (blocker) problems.push(blocker);
    const unserved = dimensionApplies(def, ctx.arch) ? modelBlocker(space, dim, choice, ctx) : null;
    if (unserved) problems.push(unserved);
    const allowed = ctx.constraints?.[dim];
    if (allowed && def.searchable && dimensionApplies(def, ctx.arch) && !allowed.includes(choice)) {
      problems.push(`${dim}=${choice} is excluded by the search constraints (allowed: ${allowed.join(', ')})`);
    }
  }
  for (const dim of Object.keys(choices)) {
    if (!(dim in space.dimensions)) problems.push(`unknown dimension "${dim}"`);
  }
  for (const c of space.constraints) {
    if (!constraintApplies(c, ctx.arch)) continue;
    if (!Object.entries(c.if).every(([d, v]) => choices[d] === v)) continue;
    for (const [d, allowed] of Object.entries(c.then)) {
      if (!allowed.includes(choices[d] ?? '')) {
        problems.push(`constraint ${c.id}: ${d} must be one of ${allowed.join(', ')} (${c.why})`);
      }
    }
    if (c.requiresParam && params[c.requiresParam] === undefined) {
      problems.push(`constraint ${c.id}: parameter ${c.requiresParam} is required (${c.why})`);
    }
    for (const [k, allowed] of Object.entries(c.thenParams ?? {})) {
      if (params[k] !== undefined && !allowed.some((v) => sameValue(v, params[k]))) {
        problems.push(`constraint ${c.id}: parameter ${k} must be one of ${JSON.stringify(allowed)} (${c.why})`);
      }
    }
  }
  for (const [name, value] of Object.entries(params)) {
    const def = space.params[name];
    if (!def) {
      problems.push(`unknown parameter "${name}"`);
      continue;
    }
    if (!def.values.some((v) => sameValue(v, value))) {
      problems.push(`parameter ${name}=${JSON.stringify(value)} is not one of ${JSON.stringify(def.values)}`);
    }
  }
  return problems;
}

function constraintApplies(c: ConstraintDef, arch: string | undefined): boolean {
  return !c.onlyForArch || (arch !== undefined && c.onlyForArch.includes(arch));
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Moves dimensions that break a constraint to their first allowed choice (only where the context
 * offers one), so that mutating one dimension still yields a valid design. Null if unrepairable.
 */
export function repairChoices(space: DesignSpace, choices: Choices, ctx: SpaceContext): Choices | null {
  const out = { ...choices };
  for (let pass = 0; pass < 4; pass++) {
    let changed = false;
    for (const c of space.constraints) {
      if (!constraintApplies(c, ctx.arch)) continue;
      if (!Object.entries(c.if).every(([d, v]) => out[d] === v)) continue;
      for (const [d, allowed] of Object.entries(c.then)) {
        if (allowed.includes(out[d] ?? '')) continue;
        const fix = offeredChoices(space, d, ctx).find((x) => allowed.includes(x));
        if (!fix) return null;
        out[d] = fix;
        changed = true;
      }
    }
    if (!changed) break;
  }
  return out;
}

/** Canonical JSON (sorted keys) so that equal designs hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function designId(choices: Choices, params: Record<string, ParamValue>, llmComponent?: string): string {
  const h = createHash('sha256').update(canonicalJson({ choices, params, llm: llmComponent }));
  return h.digest('hex').slice(0, 12);
}

/** Builds a Design: keeps only applicable params (filling defaults) and assigns the stable id. */
export function makeDesign(
  space: DesignSpace,
  choices: Choices,
  params: Record<string, ParamValue>,
  extra: Partial<Omit<Design, 'id' | 'choices' | 'params'>> = {},
): Design {
  const kept: Record<string, ParamValue> = {};
  for (const name of applicableParams(space, choices)) {
    kept[name] = params[name] !== undefined ? params[name]! : space.params[name]!.default;
  }
  const ordered: Choices = {};
  for (const dim of Object.keys(space.dimensions)) if (choices[dim] !== undefined) ordered[dim] = choices[dim]!;
  return {
    id: designId(ordered, kept, extra.llmTask?.componentName),
    choices: ordered,
    params: kept,
    builder: extra.builder ?? 'template',
    ...extra,
  };
}

/** Every valid choice combination for the context (params at their defaults). */
export function enumerateChoiceCombos(space: DesignSpace, ctx: SpaceContext): Choices[] {
  const dims = Object.keys(space.dimensions);
  let combos: Choices[] = [{}];
  for (const dim of dims) {
    const offered = offeredChoices(space, dim, ctx);
    const next: Choices[] = [];
    for (const partial of combos) for (const c of offered) next.push({ ...partial, [dim]: c });
    combos = next;
  }
  return combos.filter((c) => {
    const params = Object.fromEntries(applicableParams(space, c).map((p) => [p, space.params[p]!.default]));
    return validateDesign(space, c, params, ctx).length === 0;
  });
}

/** A uniformly random valid design (choices, then applicable params). */
export function sampleDesign(space: DesignSpace, ctx: SpaceContext, rng: Rng, origin = 'random'): Design {
  for (let attempt = 0; attempt < 50; attempt++) {
    const choices: Choices = {};
    for (const dim of Object.keys(space.dimensions)) {
      const offered = offeredChoices(space, dim, ctx);
      if (offered.length === 0) throw new Error(noChoiceMessage(dim, ctx));
      choices[dim] = pick(rng, offered);
    }
    const params: Record<string, ParamValue> = {};
    for (const p of applicableParams(space, choices)) params[p] = pick(rng, space.params[p]!.values);
    if (validateDesign(space, choices, params, ctx).length === 0) return makeDesign(space, choices, params, { origin });
  }
  const combos = enumerateChoiceCombos(space, ctx);
  if (combos.length === 0) throw new Error(`no valid design exists for ${describeContext(ctx)}`);
  const choices = pick(rng, combos);
  const params: Record<string, ParamValue> = {};
  for (const p of applicableParams(space, choices)) params[p] = pick(rng, space.params[p]!.values);
  return makeDesign(space, choices, params, { origin });
}

function noChoiceMessage(dim: string, ctx: SpaceContext): string {
  return `no choice of "${dim}" is available for ${describeContext(ctx)}; relax the constraint on ${dim}`;
}

function describeContext(ctx: SpaceContext): string {
  const hw = ctx.hardware;
  return (
    `${ctx.arch} on ${hw.kind} (${hw.device}, ${hw.gpuCount} GPU${hw.gpuCount === 1 ? '' : 's'}` +
    `${hw.computeCapability !== undefined ? `, cc ${hw.computeCapability}` : ''})`
  );
}

/**
 * The generic stack the search has to beat: what vLLM runs by default on this device (the design
 * space's `generic` overlay). A choice the context excludes gives way to the dimension's default,
 * else its first offered choice; constraints then repair the rest. bench/gpu/design_rules.py
 * default_design is the same rule for the Python benchmarks (test/search/designRulesParity.test.ts).
 */
export function defaultDesign(space: DesignSpace, ctx: SpaceContext): Design {
  const overlay = space.generic[ctx.hardware.device];
  const choices: Choices = {};
  for (const [dim, def] of Object.entries(space.dimensions)) {
    const offered = offeredChoices(space, dim, ctx);
    if (offered.length === 0) throw new Error(noChoiceMessage(dim, ctx));
    const wanted = [overlay.choices[dim], def.default].find((c) => c !== undefined && offered.includes(c));
    choices[dim] = wanted ?? offered[0]!;
  }
  const repaired = repairChoices(space, choices, ctx) ?? choices;
  const params = Object.fromEntries(
    Object.entries(space.params).map(([k, d]) => [k, overlay.params[k] !== undefined ? overlay.params[k]! : d.default]),
  );
  return makeDesign(space, repaired, params, { origin: 'default' });
}

/** Designs one step away: one dimension changed (then repaired) or one parameter moved to an adjacent value. */
export function neighbors(space: DesignSpace, design: Design, ctx: SpaceContext): Design[] {
  const out = new Map<string, Design>();
  const add = (choices: Choices | null, params: Record<string, ParamValue>) => {
    if (!choices) return;
    const d = makeDesign(space, choices, params, { origin: 'model-free:neighbor' });
    if (d.id !== design.id && validateDesign(space, d.choices, d.params, ctx).length === 0) out.set(d.id, d);
  };
  for (const dim of searchedDimensions(space, ctx)) {
    for (const c of offeredChoices(space, dim, ctx)) {
      if (c === design.choices[dim]) continue;
      add(repairChoices(space, { ...design.choices, [dim]: c }, ctx), design.params);
    }
  }
  for (const [name, value] of Object.entries(design.params)) {
    const values = space.params[name]!.values;
    const i = values.findIndex((v) => sameValue(v, value));
    for (const j of [i - 1, i + 1]) {
      if (j >= 0 && j < values.length) add(design.choices, { ...design.params, [name]: values[j]! });
    }
  }
  return [...out.values()];
}

/**
 * Region keys of a design: every pair of non-default choices. A failure marks the region of the
 * failing design's choices; a later design is pruned if it contains a region that failed twice or
 * a single-choice region that failed.
 */
export function regionKeys(space: DesignSpace, choices: Choices): string[] {
  const dims = Object.keys(choices)
    .filter((d) => space.dimensions[d]?.searchable)
    .sort();
  const keys: string[] = [];
  for (let i = 0; i < dims.length; i++) {
    keys.push(`${dims[i]}=${choices[dims[i]!]}`);
    for (let j = i + 1; j < dims.length; j++) {
      keys.push(`${dims[i]}=${choices[dims[i]!]},${dims[j]}=${choices[dims[j]!]}`);
    }
  }
  return keys;
}

/**
 * The shape facts a scenario's model config states (head_dim, head counts, MLP width), as
 * model_shape.py derives them from a full config; a preset's or a checkpoint's own shape is not known
 * here, and materialize checks those facts on the resolved model.
 */
export function modelShapeOf(model: { arch: string; config?: Record<string, unknown> | null }): Record<string, number> {
  const c = model.config ?? {};
  const num = (k: string): number | undefined =>
    typeof c[k] === 'number' && (c[k] as number) > 0 ? (c[k] as number) : undefined;
  const gpt2 = model.arch === 'gpt2';
  const hidden = gpt2 ? num('n_embd') : num('hidden_size');
  const heads = gpt2 ? num('n_head') : num('num_attention_heads');
  const facts: Record<string, number | undefined> = {
    num_attention_heads: heads,
    num_key_value_heads: gpt2 ? heads : num('num_key_value_heads'),
    intermediate_size: gpt2 ? (num('n_inner') ?? (hidden ? 4 * hidden : undefined)) : num('intermediate_size'),
    head_dim: num('head_dim') ?? (hidden && heads ? Math.floor(hidden / heads) : undefined),
  };
  return Object.fromEntries(Object.entries(facts).filter(([, v]) => v !== undefined)) as Record<string, number>;
}

/** The tokenizer a scenario implies: its own kind, else the model's (HF json) or byte-level for random weights. */
export function tokenizerFor(scenario: { tokenizer?: { kind?: string } | null; model: { weights?: string } }): string {
  if (scenario.tokenizer?.kind) return scenario.tokenizer.kind;
  return !scenario.model.weights || scenario.model.weights === 'random' ? 'byte' : 'hf_json';
}
