// Profile-guided moves: what a survivor's own benchmark says to try next.
//
// The benchmark reports decode_host_share, the share of a decode step spent on the host outside the
// model's forward (scheduling, batch building, waiting for and handling sampled tokens). Parameters
// marked `amortizes: decode_host_share` in design_space.json pay that work once per v decode steps,
// so with a fixed host cost per step the time per token goes from 1 to (1 − h) + h·v0/v of the
// parent's. Each larger value is a move with that predicted speedup, the jumps included: a share
// of 50% predicts more from 8 steps than from 2, and the search should not spend a round to learn it.
import { makeDesign, validateDesign, type DesignSpace, type SpaceContext } from '../designSpace.js';
import type { Design } from './types.js';

/** A predicted speedup s adds PROFILE_WEIGHT·ln(s) to a design's surrogate estimate (in standard
 * deviations of the measured scores): a predicted 1.5× outranks a choice that measured ~0.8 sd better. */
export const PROFILE_WEIGHT = 2;
/** Moves predicted to gain less than this are left to the surrogate. */
const MIN_SPEEDUP = 1.05;

export interface ProfileMove {
  design: Design;
  speedup: number;
  why: string;
}

/** Objectives a shorter decode step improves; time to first token is not one (a waiting prompt may wait k steps). */
function decodeBoundObjective(objective: string): boolean {
  return !/ttft/.test(objective);
}

export function profileMoves(space: DesignSpace, parent: Design, hostShare: number | undefined, objective: string, ctx: SpaceContext): ProfileMove[] {
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
      const design = makeDesign(space, parent.choices, { ...parent.params, [name]: v }, {
        origin: 'model-free:profile',
        hypothesis: why,
        falsifiedBy: `objective not better than ${parent.id}`,
      });
      if (validateDesign(space, design.choices, design.params, ctx).length === 0) out.push({ design, speedup, why });
    }
  }
  return out.sort((a, b) => b.speedup - a.speedup);
}
