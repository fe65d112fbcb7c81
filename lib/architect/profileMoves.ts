// Profile-guided moves: what a survivor's own benchmark says to try next.
//
// The benchmark reports decode_host_share, the share of a decode step spent on the host outside the
// model's forward (scheduling, batch building, waiting for and handling sampled tokens). Parameters
// marked `amortizes: decode_host_share` in design_space.json pay that work once per v decode steps,
// so with a fixed host cost per step the time per token goes from 1 to (1 − h) + h·v0/v of the
// parent's. Each larger value is a move with that predicted speedup, the jumps included: a share
// of 50% predicts more from 8 steps than from 2, and the search should not spend a round to learn it.
//
// It also reports decode_device_share_<component>, the share of the decode forward's device (GPU
// kernel) time spent in each component. A dimension marked `profiledAs: <component>` chooses that
// component's implementation, so with device share s the component takes f = (1 − h)·s of the step,
// and every other valid choice of the dimension is a move predicted at 1 / ((1 − f) + f·r). For a
// weight format (choices that state weightBytes) r is the ratio of bytes read per weight, since a decode
// step streams every weight once: int8 or fp8 from bf16 is r = 1/2, fp8 from int8 r = 1 (no move). For
// any other dimension r = 1/2: that it halves the component's time is an assumption, not a
// measurement. The remaining components ("other": norms, rope, embeddings, lm head) have no dimension
// and lead to no move.
//
// For time-to-first-token objectives it reports ttft_queue_share, the share of that time requests
// spent waiting to be admitted to the batch, and queue_wait_batch_full_share, the part of the wait
// during which the batch was at its size limit. A parameter marked `relieves: ttft_queue_share`
// (max_batch_size) adds v − v0 slots. With at most p requests seen waiting behind the full batch
// (queue_peak_waiting_full), they relieve a share r = min(1, (v − v0)/p) of that wait (without p,
// r = 1 − v0/v), a speedup of 1 / (1 − q·φ·r) for wait share q and full share φ. Values beyond the
// first that covers p relieve nothing more and only make steps longer, so they are not proposed;
// CUDA-graph buckets are widened with the batch so the larger decode batches still replay.
//
// It also reports speculation_tokens_per_step_<choice>: the output tokens per decode step each
// speculation choice would have given on this very run's greedy outputs, replayed exactly (greedy
// outputs do not depend on speculation; python-runtime bench/speculation.py). A dimension marked
// `profiledBy` reads those figures: a choice at t tokens per step is a move predicted at t / c, c
// the assumed cost of a verify step in decode steps (the drafts ride along in the same forward).
//
// A choice marked `gainsFrom: shared_prefix` (cascade attention) gains only where the prompts open with
// one shared system prompt, so it is no generic device move. There the workload gives c, the share of a
// decoding sequence's context that is the shared prefix; such a choice reads that part once per group of
// sequences instead of once per sequence, so with its component at f of the step it is a move predicted
// at 1 / (1 − f·c): that the shared reads vanish is an assumption, not a measurement.
//
// Moves on different parts of the step combine: the best move of each parameter or dimension is
// also combined with the best of every other, in pairs, triples and so on, predicted from the time
// they save together, 1 / (1 − saved₁ − saved₂ − …). Host work and the device components do not
// overlap, so the combination is worth measuring before its parts alone (it is what the following
// rounds would build one move at a time, at a round each).
import {
  applicableParams,
  makeDesign,
  offeredChoices,
  repairChoices,
  searchedDimensions,
  validateDesign,
  type DesignSpace,
  type SpaceContext,
} from '../designSpace.js';
import { dtypeBytes } from './context.js';
import type { Design } from './types.js';

/** A predicted speedup s adds PROFILE_WEIGHT·ln(s) to a design's surrogate estimate (in standard
 * deviations of the measured scores): a predicted 1.5× outranks a choice that measured ~0.8 sd better. */
export const PROFILE_WEIGHT = 2;
/** Moves predicted to gain less than this are left to the surrogate. */
const MIN_SPEEDUP = 1.05;
/** What a device move assumes the alternative does to its component's time. */
const ASSUMED_DEVICE_FACTOR = 0.5;
/** What a speculation move assumes a verify step costs, in decode steps. */
const ASSUMED_VERIFY_COST = 1.25;

export interface ProfileMove {
  design: Design;
  speedup: number;
  why: string;
  /** Share of the parent's decode step the move is predicted to save. */
  saved: number;
  /** The parameter or dimension it changes, and the change ("decode_steps=8"). */
  target: string;
  change: string;
}

/** A measured decode profile: the host share of a step and the components' shares of the forward's device time. */
export interface DecodeProfile {
  host?: number;
  dev?: Record<string, number>;
  /** Share of time to first token spent waiting for a batch slot; part of it with the batch full. */
  queue?: { share: number; full: number; peak?: number };
  /** Speculation choice → tokens per decode step it would have given on the measured outputs. */
  spec?: Record<string, number>;
  /** From the workload, not the bench: the share of a decoding sequence's context its prompt shares
   * with the others' (sharedPrefix.ts); absent where prompts share nothing. */
  sharedContext?: number;
}

/** Objectives a shorter decode step improves; time to first token is not one (a waiting prompt may wait k steps). */
function decodeBoundObjective(objective: string): boolean {
  return !/ttft/.test(objective);
}

const clampShare = (x: number) => Math.min(1, Math.max(0, x));
const pct = (x: number) => `${Math.round(x * 100)}%`;

export function profileMoves(
  space: DesignSpace,
  parent: Design,
  profile: DecodeProfile,
  objective: string,
  ctx: SpaceContext,
): ProfileMove[] {
  const moves = new Map<string, ProfileMove>();
  const add = (m: ProfileMove) => {
    if ((moves.get(m.design.id)?.speedup ?? 0) < m.speedup) moves.set(m.design.id, m);
  };
  const single = [
    ...hostMoves(space, parent, profile.host, objective, ctx),
    ...deviceMoves(space, parent, profile, ctx),
    ...sharedPrefixMoves(space, parent, profile, ctx),
    ...admissionMoves(space, parent, profile.queue, objective, ctx),
    ...speculationMoves(space, parent, profile.spec, objective, ctx),
  ];
  for (const m of single) add(m);
  for (const m of combinedMoves(space, parent, single, ctx)) add(m);
  return [...moves.values()].sort((a, b) => b.speedup - a.speedup);
}

/** Most targets whose best moves are combined (2^n − n − 1 combinations). */
const MAX_COMBINED_TARGETS = 5;

/** The best move of each target combined with the best of every other target: every pair, triple, … of them. */
function combinedMoves(space: DesignSpace, parent: Design, single: ProfileMove[], ctx: SpaceContext): ProfileMove[] {
  const best = new Map<string, ProfileMove>();
  for (const m of single) if ((best.get(m.target)?.saved ?? -1) < m.saved) best.set(m.target, m);
  const tops = [...best.values()].sort((a, b) => b.saved - a.saved).slice(0, MAX_COMBINED_TARGETS);
  const out: ProfileMove[] = [];
  for (let mask = 1; mask < 1 << tops.length; mask++) {
    const group = tops.filter((_, i) => mask & (1 << i));
    if (group.length < 2) continue;
    const move = combine(space, parent, group, ctx);
    if (move) out.push(move);
  }
  return out;
}

/** One design with every move of the group applied, if they are compatible; predicted from the time they save together. */
function combine(space: DesignSpace, parent: Design, group: ProfileMove[], ctx: SpaceContext): ProfileMove | undefined {
  const changedChoices: Design['choices'] = {};
  const params: Design['params'] = { ...parent.params };
  for (const m of group) {
    for (const [d, c] of Object.entries(m.design.choices)) if (parent.choices[d] !== c) changedChoices[d] = c;
    for (const [k, v] of Object.entries(m.design.params))
      if (JSON.stringify(parent.params[k]) !== JSON.stringify(v)) params[k] = v;
  }
  const choices = repairChoices(space, { ...parent.choices, ...changedChoices }, ctx);
  if (!choices || Object.entries(changedChoices).some(([d, c]) => choices[d] !== c)) return undefined;
  // a changed parameter the combined choices make inapplicable (decode_steps under speculation) is lost
  const kept = applicableParams(space, choices);
  if (
    Object.keys(params).some((k) => JSON.stringify(params[k]) !== JSON.stringify(parent.params[k]) && !kept.includes(k))
  )
    return undefined;
  const saved = group.reduce((sum, m) => sum + m.saved, 0);
  if (!(saved < 1)) return undefined;
  const speedup = 1 / (1 - saved);
  const changes = group.map((m) => m.change);
  const list = (xs: string[]) => `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
  const why =
    `${list(changes)} act on different parts of ${parent.id}'s decode step ` +
    `(${list(group.map((m) => pct(m.saved)))} of it predicted saved): together predicted ${speedup.toFixed(2)}×`;
  return validMove(
    space,
    ctx,
    parent,
    choices,
    params,
    { speedup, why, saved, target: group.map((m) => m.target).join('+'), change: changes.join(', ') },
    `objective not better than ${parent.id}, ${changes.join(' alone, ')} alone`,
  );
}

function hostMoves(
  space: DesignSpace,
  parent: Design,
  hostShare: number | undefined,
  objective: string,
  ctx: SpaceContext,
): ProfileMove[] {
  if (hostShare === undefined || !(hostShare > 0) || !decodeBoundObjective(objective)) return [];
  const h = Math.min(1, hostShare);
  const out: ProfileMove[] = [];
  for (const [name, def] of Object.entries(space.params)) {
    const v0 = parent.params[name];
    if (def.amortizes !== 'decode_host_share' || typeof v0 !== 'number' || v0 <= 0) continue;
    for (const v of def.values) {
      if (typeof v !== 'number' || v <= v0) continue;
      const speedup = 1 / (1 - h + (h * v0) / v);
      if (speedup < MIN_SPEEDUP) continue;
      const why = `decode steps of ${parent.id} spend ${Math.round(h * 100)}% of their time on the host; ${name}=${v} pays it once per ${v} tokens instead of ${v0} (predicted ${speedup.toFixed(2)}×)`;
      const move = validMove(
        space,
        ctx,
        parent,
        parent.choices,
        { ...parent.params, [name]: v },
        { speedup, why, saved: h * (1 - v0 / v), target: name, change: `${name}=${v}` },
      );
      if (move) out.push(move);
    }
  }
  return out;
}

/** Larger batch limits where requests measurably waited for a slot of a full batch (TTFT and end-to-end latency objectives). */
function admissionMoves(
  space: DesignSpace,
  parent: Design,
  queue: DecodeProfile['queue'],
  objective: string,
  ctx: SpaceContext,
): ProfileMove[] {
  if (!queue || !/ttft|e2el/.test(objective)) return [];
  const q = clampShare(queue.share);
  const full = clampShare(queue.full);
  const peak = queue.peak !== undefined && queue.peak > 0 ? queue.peak : undefined;
  const out: ProfileMove[] = [];
  for (const [name, def] of Object.entries(space.params)) {
    const v0 = parent.params[name];
    if (def.relieves !== 'ttft_queue_share' || typeof v0 !== 'number' || v0 <= 0) continue;
    const larger = def.values.filter((v): v is number => typeof v === 'number' && v > v0).sort((a, b) => a - b);
    for (const v of larger) {
      const relieved = peak ? Math.min(1, (v - v0) / peak) : 1 - v0 / v;
      const saved = q * full * relieved;
      const speedup = 1 / (1 - saved);
      if (speedup < MIN_SPEEDUP) continue;
      const seen = peak ? ` (up to ${peak} waiting)` : '';
      const why =
        `requests of ${parent.id} spent ${pct(q)} of their time to first token waiting for a batch slot, ` +
        `${pct(full)} of it with all ${v0} slots taken${seen}; ${name}=${v} admits ${v - v0} more (predicted ${speedup.toFixed(2)}×)`;
      const move = validMove(
        space,
        ctx,
        parent,
        parent.choices,
        withGraphBucketsFor(space, { ...parent.params, [name]: v }, v),
        { speedup, why, saved, target: name, change: `${name}=${v}` },
      );
      if (move) out.push(move);
      if (relieved >= 1) break; // every waiting request admitted: larger batches only cost step time
    }
  }
  return out;
}

/** Params whose CUDA-graph buckets reach a batch of `batch` (the smallest listed set that does), if they stop short of it. */
function withGraphBucketsFor(space: DesignSpace, params: Design['params'], batch: number): Design['params'] {
  const buckets = params.graph_batch_sizes;
  if (!Array.isArray(buckets) || Math.max(...buckets) >= batch) return params;
  const wider = (space.params.graph_batch_sizes?.values ?? [])
    .filter((v): v is number[] => Array.isArray(v) && Math.max(...v) >= batch)
    .sort((a, b) => Math.max(...a) - Math.max(...b))[0];
  return wider ? { ...params, graph_batch_sizes: wider } : params;
}

/**
 * Every other valid choice of a dimension whose component takes a measured share of the decode
 * forward's device time, predicted as if it halved that time. Applies to every objective: a shorter
 * forward also shortens the steps a waiting prompt sits behind.
 */
function deviceMoves(space: DesignSpace, parent: Design, profile: DecodeProfile, ctx: SpaceContext): ProfileMove[] {
  const out: ProfileMove[] = [];
  for (const { dim, component, share, f } of profiledComponents(space, profile, ctx)) {
    for (const choice of offeredChoices(space, dim, ctx)) {
      // a choice that gains from one workload only is proposed by its own move
      if (choice === parent.choices[dim] || space.dimensions[dim]!.choices[choice]!.gainsFrom) continue;
      const { factor, basis } = deviceFactor(space, dim, parent.choices[dim]!, choice, ctx);
      const speedup = 1 / (1 - f + f * factor);
      if (speedup < MIN_SPEEDUP) continue;
      const choices = movedTo(space, parent, dim, choice, ctx);
      if (!choices) continue;
      const why =
        `${component} takes ${pct(share)} of ${parent.id}'s decode forward on the device (${pct(f)} of the step); ` +
        `${dim}=${choice}${alsoMoved(parent, choices, dim)} predicted ${speedup.toFixed(2)}× ${basis}`;
      const move = validMove(space, ctx, parent, choices, parent.params, {
        speedup,
        why,
        saved: f * (1 - factor),
        target: dim,
        change: `${dim}=${choice}`,
      });
      if (move) out.push(move);
    }
  }
  return out;
}

/**
 * What moving a dimension from one choice to another is predicted to do to its component's time. A weight
 * format (a dimension whose choices state weightBytes) is predicted from the bytes each reads per weight:
 * a decode step streams every weight once, so int8 and fp8 halve bf16's time and gain nothing over each
 * other. Any other choice is assumed to halve it.
 */
function deviceFactor(
  space: DesignSpace,
  dim: string,
  from: string,
  to: string,
  ctx: SpaceContext,
): { factor: number; basis: string } {
  const choices = space.dimensions[dim]!.choices;
  if (!Object.values(choices).some((c) => c.weightBytes !== undefined)) {
    return { factor: ASSUMED_DEVICE_FACTOR, basis: 'if it halves that time (assumed)' };
  }
  const bytes = (c: string) => choices[c]?.weightBytes ?? ctx.dtypeBytes ?? dtypeBytes(undefined);
  return {
    factor: bytes(to) / bytes(from),
    basis: `from the bytes it reads per weight (${bytes(from)} → ${bytes(to)})`,
  };
}

/** Dimensions whose component takes a measured share of the decode forward's device time: that share,
 * and f, the part of the whole step it is (the host's share of the step excluded). */
function profiledComponents(
  space: DesignSpace,
  profile: DecodeProfile,
  ctx: SpaceContext,
): { dim: string; component: string; share: number; f: number }[] {
  if (!profile.dev) return [];
  const h = profile.host !== undefined && Number.isFinite(profile.host) ? clampShare(profile.host) : 0;
  const out: { dim: string; component: string; share: number; f: number }[] = [];
  for (const dim of searchedDimensions(space, ctx)) {
    const component = space.dimensions[dim]!.profiledAs;
    const s = component === undefined ? undefined : profile.dev[component];
    if (component === undefined || typeof s !== 'number' || !Number.isFinite(s) || !(s > 0)) continue;
    out.push({ dim, component, share: clampShare(s), f: (1 - h) * clampShare(s) });
  }
  return out;
}

/** The parent's choices with dim moved to choice and the constraints repaired, unless the repair moves dim itself. */
function movedTo(
  space: DesignSpace,
  parent: Design,
  dim: string,
  choice: string,
  ctx: SpaceContext,
): Design['choices'] | undefined {
  const choices = repairChoices(space, { ...parent.choices, [dim]: choice }, ctx);
  return choices && choices[dim] === choice ? choices : undefined;
}

/** " (with kv_cache=paged)": the other dimensions a repair moved. */
function alsoMoved(parent: Design, choices: Design['choices'], dim: string): string {
  const moved = Object.keys(choices).filter((d) => d !== dim && choices[d] !== parent.choices[d]);
  return moved.length ? ` (with ${moved.map((d) => `${d}=${choices[d]}`).join(', ')})` : '';
}

/**
 * Choices marked `gainsFrom: shared_prefix` where the workload's prompts share a prefix: the component's
 * part f of the step, of which the shared prefix's reads are the share c of each decoding sequence's
 * context, predicted at 1 / (1 − f·c) (the shared reads assumed to vanish).
 */
function sharedPrefixMoves(
  space: DesignSpace,
  parent: Design,
  profile: DecodeProfile,
  ctx: SpaceContext,
): ProfileMove[] {
  const c = profile.sharedContext;
  if (c === undefined || !Number.isFinite(c) || !(c > 0)) return [];
  const shared = clampShare(c);
  const out: ProfileMove[] = [];
  for (const { dim, component, share, f } of profiledComponents(space, profile, ctx)) {
    const saved = f * shared;
    const speedup = 1 / (1 - saved);
    if (!(saved < 1) || speedup < MIN_SPEEDUP) continue;
    for (const choice of offeredChoices(space, dim, ctx)) {
      if (choice === parent.choices[dim] || space.dimensions[dim]!.choices[choice]!.gainsFrom !== 'shared_prefix')
        continue;
      const choices = movedTo(space, parent, dim, choice, ctx);
      if (!choices) continue;
      const why =
        `${component} takes ${pct(share)} of ${parent.id}'s decode forward on the device (${pct(f)} of the step), and ` +
        `the prompts' shared prefix is ${pct(shared)} of a decoding sequence's context; ${dim}=${choice}` +
        `${alsoMoved(parent, choices, dim)} reads it once per group of sequences: predicted ${speedup.toFixed(2)}× ` +
        `if those reads vanish (assumed)`;
      const move = validMove(space, ctx, parent, choices, parent.params, {
        speedup,
        why,
        saved,
        target: dim,
        change: `${dim}=${choice}`,
      });
      if (move) out.push(move);
    }
  }
  return out;
}

/**
 * The other choices of a dimension marked `profiledBy` (speculation), where the parent's own outputs
 * say how many tokens per decode step the choice would have given: t / ASSUMED_VERIFY_COST. Only for
 * decode-bound objectives: speculation shortens decoding, not the wait for the first token.
 */
function speculationMoves(
  space: DesignSpace,
  parent: Design,
  spec: DecodeProfile['spec'],
  objective: string,
  ctx: SpaceContext,
): ProfileMove[] {
  if (!spec || !decodeBoundObjective(objective)) return [];
  const out: ProfileMove[] = [];
  for (const dim of searchedDimensions(space, ctx)) {
    const by = space.dimensions[dim]!.profiledBy;
    if (!by) continue;
    for (const choice of offeredChoices(space, dim, ctx)) {
      const t = spec[choice];
      if (choice === parent.choices[dim] || typeof t !== 'number' || !Number.isFinite(t)) continue;
      const speedup = t / ASSUMED_VERIFY_COST;
      if (speedup < MIN_SPEEDUP) continue;
      const choices = repairChoices(space, { ...parent.choices, [dim]: choice }, ctx);
      if (!choices || choices[dim] !== choice) continue;
      const why =
        `acceptance: ${dim}=${choice} would have given ${t.toFixed(2)} tokens per decode step on ${parent.id}'s own ` +
        `greedy outputs (${by}_${choice}, replayed exactly); predicted ${speedup.toFixed(2)}× if a verify step costs ` +
        `${ASSUMED_VERIFY_COST} decode steps (assumed)`;
      const move = validMove(space, ctx, parent, choices, parent.params, {
        speedup,
        why,
        saved: 1 - 1 / speedup,
        target: dim,
        change: `${dim}=${choice}`,
      });
      if (move) out.push(move);
    }
  }
  return out;
}

/** The move's design (its hypothesis the move's reason), if it differs from the parent and is valid here. */
function validMove(
  space: DesignSpace,
  ctx: SpaceContext,
  parent: Design,
  choices: Design['choices'],
  params: Design['params'],
  move: Omit<ProfileMove, 'design'>,
  falsifiedBy = `objective not better than ${parent.id}`,
): ProfileMove | undefined {
  const design = makeDesign(space, choices, params, {
    origin: 'model-free:profile',
    hypothesis: move.why,
    falsifiedBy,
  });
  if (design.id === parent.id || validateDesign(space, design.choices, design.params, ctx).length > 0) return undefined;
  return { design, ...move };
}
