// The default architect: a model-free search policy over the design space that needs no LLM.
//
// Round 0 measures the generic default plus a maximally diverse spread of designs (or, when the
// budget holds no more than two rounds' worth of candidates but three rounds or more, the default
// alone, so that every later proposal builds on its measurement). Every later
// round does successive halving over the measured population: only the top 1/ETA (plus the Pareto
// front of objective vs latency-SLO ratio) survive, and the round's budget goes to their neighbors
// (one dimension or one parameter step away), most of it to the best. Neighbors are ranked by a
// cheap additive surrogate (how much each choice helped where it was measured, plus an optimism
// bonus for choices seen rarely) and by the survivor's profile: where its benchmark found decode
// steps spending much of their time on the host, the parameters that amortize that work
// (profileMoves.ts) are tried first, with the jump the measured share predicts pays most, and where
// one component (attention, linear layers, experts) takes much of the forward's device time, the
// other implementations of that component are. A share of every round stays exploration, shrinking
// over time.
// Failed choice combinations and regions that keep failing are never proposed again.
import {
  defaultDesign,
  loadDesignSpace,
  makeDesign,
  neighbors,
  regionKeys,
  repairChoices,
  sampleDesign,
  validateDesign,
  type DesignSpace,
  type SpaceContext,
} from '../designSpace.js';
import { spaceContextFor } from './context.js';
import { hintAssignments } from './hintTokens.js';
import { comboKey, inFailedRegion, orientedScore } from './memory.js';
import { profileMoves, PROFILE_WEIGHT } from './profileMoves.js';
import { sharedContextShare } from './sharedPrefix.js';
import { mixSeed, seededRng, shuffle, type Rng } from './rng.js';
import type { Choices, Design, OutcomeSummary, PlanInput, SearchMemory } from './types.js';

const ETA = 2; // successive-halving rate: half of the measured population survives each round
const UCB_BONUS = 0.35; // optimism for rarely measured choices, in standard deviations

export interface ModelFreeProposal {
  designs: Design[];
  notes: string;
}

export function proposeModelFree(input: PlanInput): ModelFreeProposal {
  const space = loadDesignSpace();
  const ctx = spaceContextFor(input);
  const blind = (parent?: Choices) => blindContext(space, ctx, input.scenario, parent);
  const rng = seededRng(mixSeed(input.seed, input.round, 0xf4ee));
  const memory = input.memory;
  const taken = new Set(memory.explored);
  const out: Design[] = [];
  const notes: string[] = [];
  const accept = (d: Design, origin: string, userAsked = false): boolean => {
    if (out.length >= input.count || taken.has(d.id)) return false;
    // A user's hint overrides the inferred failing regions, but not a combination that itself failed.
    const pruned = userAsked ? memory.failedRegions.includes(comboKey(d.choices)) : inFailedRegion(memory, d.choices);
    if (pruned || validateDesign(space, d.choices, d.params, ctx).length) return false;
    taken.add(d.id);
    out.push({ ...d, origin });
    return true;
  };

  // Steering hints of the form "dim=choice" or "param=value" are applied to the best design first.
  const measured = memory.outcomes.filter((o) => o.ok && typeof o.obj === 'number');
  const ranked = rankBySloThenScore(measured, input.scenario.objective);
  const base = ranked[0] ? { choices: ranked[0].c, params: ranked[0].p } : defaultDesign(space, ctx);
  for (const hinted of designsFromHints(space, ctx, base.choices, base.params, input.hints)) {
    if (accept(hinted, 'model-free:hint', true)) notes.push(`hint applied: ${hinted.id}`);
  }

  if (ranked.length === 0) {
    accept(defaultDesign(space, ctx), 'default');
    const b = input.budget;
    if (b && b.candidatesLeft <= 2 * input.count && b.roundsLeft >= 3) {
      return {
        designs: out,
        notes: [
          ...notes,
          `round ${input.round}: no measurements yet and ${b.candidatesLeft} candidates left: the default alone first, so later rounds start from its profile`,
        ].join('; '),
      };
    }
    for (const d of diverseSamples(space, blind(), rng, memory, input.count * 40, input.count * 2))
      accept(d, 'model-free:explore');
    return {
      designs: out,
      notes: [...notes, `round ${input.round}: no measurements yet, spreading ${out.length} designs`].join('; '),
    };
  }

  const surrogate = fitSurrogate(space, measured, input.scenario.objective);
  const survivors = successiveHalvingSurvivors(ranked, input.scenario.objective);
  const explore = Math.min(
    input.count - 1,
    Math.max(input.count >= 3 ? 1 : 0, Math.round(input.count * Math.max(0.15, 0.5 / (1 + input.round)))),
  );
  const exploit = input.count - explore;
  // Slots per survivor: halving down the list, and the best takes whatever the others leave (at
  // least half), so a lone survivor gets every exploitation slot.
  const quota = survivors.map((_, i) => Math.max(1, Math.floor(exploit / 2 ** (i + 1))));
  quota[0] = Math.max(quota[0]!, exploit - quota.slice(1).reduce((a, b) => a + b, 0));
  for (let i = 0; i < survivors.length && out.length < exploit; i++) {
    const s = survivors[i]!;
    const parent = makeDesign(space, s.c, s.p);
    const moves = profileMoves(
      space,
      parent,
      { host: s.host, dev: s.dev, queue: s.queue, spec: s.spec, sharedContext: sharedContextShare(input.scenario) },
      input.scenario.objective,
      ctx,
    );
    if (moves.length && i === 0) notes.push(moves[0]!.why);
    const predicted = new Map(moves.map((m) => [m.design.id, m.speedup]));
    const candidates = new Map(
      [...neighbors(space, parent, blind(parent.choices)), ...moves.map((m) => m.design)].map((d) => [d.id, d]),
    );
    const pool = [...candidates.values()]
      .filter((d) => !taken.has(d.id) && !inFailedRegion(memory, d.choices))
      .map((d) => ({ d, est: surrogate(d) + PROFILE_WEIGHT * Math.log(predicted.get(d.id) ?? 1) + rng() * 1e-6 }))
      .sort((a, b) => b.est - a.est);
    let given = 0;
    for (const { d } of pool) {
      if (given >= quota[i]! || out.length >= exploit) break;
      if (accept(d, `model-free:${predicted.has(d.id) ? 'profile' : 'neighbor'}-of-${s.id}`)) given++;
    }
  }
  // Whatever the survivors could not use (exhausted neighborhoods) goes to exploration.
  for (const d of diverseSamples(space, blind(), rng, memory, input.count * 40, input.count * 2))
    accept(d, 'model-free:explore');
  notes.push(
    `round ${input.round}: ${measured.length} measured, ${survivors.length} survivors (best ${ranked[0]!.id} ` +
      `${input.scenario.objective}=${ranked[0]!.obj}), ${out.length} proposed`,
  );
  return { designs: out, notes: notes.join('; ') };
}

/**
 * The context of blind moves (exploration, plain neighbors): a dimension marked `profiledBy`
 * (speculation) keeps its default, or the parent's choice, there. The benchmark replays what each
 * of its choices would do on every measured design's own outputs, and profile moves propose a choice
 * where that pays (profileMoves.ts); tried blind it would spend the budget on workloads with nothing
 * to draft. A scenario that constrains the dimension keeps its own list. Likewise a choice that
 * gains from another workload than the scenario's (`gainsFrom`: cascade attention without a shared
 * prefix) is left out, unless the parent has it.
 */
function blindContext(
  space: DesignSpace,
  ctx: SpaceContext,
  scenario: PlanInput['scenario'],
  parent?: Choices,
): SpaceContext {
  const constraints = { ...ctx.constraints };
  for (const [dim, def] of Object.entries(space.dimensions)) {
    if (!def.profiledBy || (constraints[dim] && !constraints[dim]!.includes(def.default))) continue;
    constraints[dim] = [...new Set([def.default, ...(parent?.[dim] ? [parent[dim]!] : [])])];
  }
  for (const [dim, def] of Object.entries(space.dimensions)) {
    const elsewhere = Object.keys(def.choices).filter(
      (c) => def.choices[c]!.gainsFrom !== undefined && def.choices[c]!.gainsFrom !== scenario.workload.dataset,
    );
    if (!elsewhere.length || ctx.constraints?.[dim]) continue;
    constraints[dim] = (constraints[dim] ?? Object.keys(def.choices)).filter(
      (c) => !elsewhere.includes(c) || c === parent?.[dim],
    );
  }
  return { ...ctx, constraints };
}

/** Designs meeting every SLO first (by objective), then the rest by how close they come to the SLO. */
export function rankBySloThenScore(measured: OutcomeSummary[], objective: string): OutcomeSummary[] {
  const meets = (o: OutcomeSummary) => o.slo === undefined || o.slo <= 1;
  const score = (o: OutcomeSummary) => orientedScore(objective, o.obj!);
  return [...measured].sort((a, b) => {
    if (meets(a) !== meets(b)) return meets(a) ? -1 : 1;
    if (!meets(a)) return a.slo! - b.slo!;
    return score(b) - score(a);
  });
}

/** Designs not dominated in (objective up, SLO ratio down). */
export function paretoFront(measured: OutcomeSummary[], objective: string): OutcomeSummary[] {
  const score = (o: OutcomeSummary) => orientedScore(objective, o.obj!);
  const lat = (o: OutcomeSummary) => o.slo ?? 0;
  return measured.filter(
    (a) =>
      !measured.some(
        (b) => b !== a && score(b) >= score(a) && lat(b) <= lat(a) && (score(b) > score(a) || lat(b) < lat(a)),
      ),
  );
}

function successiveHalvingSurvivors(ranked: OutcomeSummary[], objective: string): OutcomeSummary[] {
  const keep = Math.max(1, Math.ceil(ranked.length / ETA));
  const survivors = ranked.slice(0, keep);
  for (const f of paretoFront(ranked, objective)) if (!survivors.includes(f)) survivors.push(f);
  return survivors;
}

/**
 * An additive surrogate over choice and parameter values: each value's mean standardized score
 * where it was measured, plus an optimism bonus shrinking with how often it was measured.
 */
function fitSurrogate(space: DesignSpace, measured: OutcomeSummary[], objective: string): (d: Design) => number {
  const scores = measured.map((o) => orientedScore(objective, o.obj!));
  const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
  const sd = Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / scores.length) || 1;
  const sums = new Map<string, [number, number]>();
  measured.forEach((o, i) => {
    const z = (scores[i]! - mean) / sd;
    for (const key of featureKeys(space, o.c, o.p)) {
      const [s, n] = sums.get(key) ?? [0, 0];
      sums.set(key, [s + z, n + 1]);
    }
  });
  return (d: Design) => {
    let est = 0;
    for (const key of featureKeys(space, d.choices, d.params)) {
      const [s, n] = sums.get(key) ?? [0, 0];
      est += (n ? s / n : 0) + UCB_BONUS / Math.sqrt(1 + n);
    }
    return est;
  };
}

function featureKeys(space: DesignSpace, choices: Choices, params: Record<string, unknown>): string[] {
  return [
    ...regionKeys(space, choices).filter((k) => !k.includes(',')),
    ...Object.entries(params).map(([k, v]) => `${k}:${JSON.stringify(v)}`),
  ];
}

/**
 * Farthest-point sampling: random valid designs, each picked as far (Hamming) as possible from the
 * measured ones and those picked before it, so exploration covers the space instead of clustering.
 */
function diverseSamples(
  space: DesignSpace,
  ctx: SpaceContext,
  rng: Rng,
  memory: SearchMemory,
  pool: number,
  limit: number,
): Design[] {
  const explored = new Set(memory.explored);
  const candidates = new Map<string, Design>();
  for (let i = 0; i < pool; i++) {
    const d = sampleDesign(space, ctx, rng, 'model-free:explore');
    if (!explored.has(d.id) && !inFailedRegion(memory, d.choices)) candidates.set(d.id, d);
  }
  const rest = shuffle(rng, [...candidates.values()]);
  const minDist = rest.map((d) =>
    Math.min(Infinity, ...memory.outcomes.map((o) => hamming({ choices: o.c, params: o.p }, d))),
  );
  const ordered: Design[] = [];
  while (rest.length && ordered.length < limit) {
    let bestIdx = 0;
    for (let i = 1; i < rest.length; i++) if (minDist[i]! > minDist[bestIdx]!) bestIdx = i;
    const [next] = rest.splice(bestIdx, 1);
    minDist.splice(bestIdx, 1);
    ordered.push(next!);
    rest.forEach((d, i) => (minDist[i] = Math.min(minDist[i]!, hamming(next!, d))));
  }
  return ordered;
}

function hamming(
  a: { choices: Choices; params: Record<string, unknown> },
  b: { choices: Choices; params: Record<string, unknown> },
): number {
  let d = 0;
  for (const k of new Set([...Object.keys(a.choices), ...Object.keys(b.choices)]))
    if (a.choices[k] !== b.choices[k]) d += 1;
  for (const k of new Set([...Object.keys(a.params), ...Object.keys(b.params)])) {
    if (JSON.stringify(a.params[k]) !== JSON.stringify(b.params[k])) d += 0.5;
  }
  return d;
}

/** Designs that apply `dim=choice` / `param=value` tokens found in steering hints to a base design. */
export function designsFromHints(
  space: DesignSpace,
  ctx: SpaceContext,
  baseChoices: Choices,
  baseParams: Record<string, unknown>,
  hints: string[],
): Design[] {
  const out: Design[] = [];
  for (const hint of hints) {
    const found = hintAssignments(space, hint);
    const choices: Choices = { ...baseChoices, ...Object.fromEntries(found.choices) };
    const params: Record<string, unknown> = { ...baseParams, ...Object.fromEntries(found.params) };
    const touched = found.choices.length + found.params.length > 0;
    const repaired = touched ? repairChoices(space, choices, ctx) : null;
    if (repaired)
      out.push(
        makeDesign(space, repaired, params as Design['params'], {
          origin: 'model-free:hint',
          hypothesis: `steering hint: ${hint}`,
        }),
      );
  }
  return out;
}
