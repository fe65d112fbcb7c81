// Random search: the baseline the model-free policy has to beat. Uniform over valid designs,
// never repeating an explored one, ignoring every measurement.
import { loadDesignSpace, sampleDesign } from '../designSpace.js';
import { spaceContextFor } from './context.js';
import { mixSeed, seededRng } from './rng.js';
import type { Design, PlanInput } from './types.js';

export function proposeRandom(input: PlanInput): Design[] {
  const space = loadDesignSpace();
  const ctx = spaceContextFor(input);
  const rng = seededRng(mixSeed(input.seed, input.round, 0x5eed));
  const seen = new Set(input.memory.explored);
  const out: Design[] = [];
  for (let attempt = 0; out.length < input.count && attempt < input.count * 50; attempt++) {
    const d = sampleDesign(space, ctx, rng, 'random');
    if (seen.has(d.id)) continue;
    seen.add(d.id);
    out.push({ ...d, builder: input.builder === 'llm' ? 'template' : d.builder });
  }
  return out;
}
