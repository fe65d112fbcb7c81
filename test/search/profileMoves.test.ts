// The model-free architect reads a survivor's decode profile (bench's decode_host_share): a host-bound
// default leads straight to the parameters that amortize host work, the largest predicted gain first;
// a device-bound one, or a time-to-first-token objective, does not.
import { describe, expect, it } from 'vitest';
import { planRound } from '../../lib/architect/index.js';
import { emptyMemory } from '../../lib/architect/memory.js';
import { profileMoves } from '../../lib/architect/profileMoves.js';
import { defaultDesign, loadDesignSpace } from '../../lib/designSpace.js';
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
  return { scenario, round: 1, hardware: h100, history: [], memory: emptyMemory(), hints: [], constraints: {}, count: 3,
    budget: { candidatesLeft: 6, roundsLeft: 3 }, seed: 7, architect: 'model-free', ...over };
}

const measured = (d: Design, hostShare: number): CandidateOutcome => ({
  designId: d.id, design: d, status: 'accepted', objective: 4000,
  metrics: { output_throughput: 4000, median_ttft_ms: 20, median_tpot_ms: 3, decode_host_share: hostShare },
});

async function afterDefault(hostShare: number, over: Partial<PlanInput> = {}) {
  const first = await planRound(input({ round: 1, ...over }));
  const second = await planRound(input({ round: 2, memory: first.memory, history: [measured(first.designs[0]!, hostShare)],
    budget: { candidatesLeft: 5, roundsLeft: 2 }, ...over }));
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
    const moves = profileMoves(space, defaultDesign(space, ctx), 0.5, 'output_throughput', ctx);
    expect(moves.map((m) => [m.design.params.decode_steps, Number(m.speedup.toFixed(3))])).toEqual([[8, 1.778], [4, 1.6], [2, 1.333]]);
    expect(profileMoves(space, defaultDesign(space, ctx), undefined, 'output_throughput', ctx)).toEqual([]);
  });
});
