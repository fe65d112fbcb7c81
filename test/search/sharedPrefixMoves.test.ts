// Cascade attention (a choice marked `gainsFrom: shared_prefix`) gains only where prompts share a
// system prompt: the model-free architect proposes it from the attention share measured on such a
// workload, predicted from the shared part of each decoding sequence's context, and neither as a
// generic device move nor blindly elsewhere.
import { describe, expect, it } from 'vitest';
import { planRound } from '../../lib/architect/index.js';
import { spaceContextFor } from '../../lib/architect/context.js';
import { emptyMemory } from '../../lib/architect/memory.js';
import { profileMoves } from '../../lib/architect/profileMoves.js';
import { sharedContextShare } from '../../lib/architect/sharedPrefix.js';
import type { CandidateOutcome, HardwareTarget, PlanInput, ScenarioLike } from '../../lib/architect/types.js';
import { defaultDesign, loadDesignSpace } from '../../lib/designSpace.js';

const space = loadDesignSpace();
const h100: HardwareTarget = { kind: 'h100', device: 'cuda', gpuCount: 1, computeCapability: 9.0 };
const chat: ScenarioLike = {
  name: 'shared-prefix-chat',
  model: { arch: 'llama', preset: 'llama-3.2-1b', weights: 'random', dtype: 'bfloat16' },
  workload: { dataset: 'shared_prefix', prompt_len: 2176, shared_prefix_len: 2048, output_len: 128 },
  objective: 'output_throughput',
  hardware: { kind: 'h100', gpus: 1 },
};
const random: ScenarioLike = { ...chat, name: 'random-chat', workload: { prompt_len: 2176, output_len: 128 } };
const ctx = spaceContextFor({ scenario: chat, hardware: h100, constraints: {} });
describe('shared-prefix moves', () => {
  it('reads the shared share of a decoding context from the workload', () => {
    expect(sharedContextShare(chat)).toBeCloseTo(2048 / (2176 + 64), 9);
    expect(sharedContextShare(random)).toBeUndefined();
    expect(sharedContextShare({ workload: { dataset: 'shared_prefix', prompt_len: 100 } })).toBeUndefined();
  });

  it('proposes cascade attention from the measured attention share, only where prompts share a prefix', () => {
    const parent = defaultDesign(space, ctx); // the generic stack: triton_paged with prefix caching
    const c = sharedContextShare(chat)!;
    const moves = profileMoves(
      space,
      parent,
      { host: 0.2, dev: { attention: 0.5 }, sharedContext: c },
      'output_throughput',
      ctx,
    );
    const cascade = moves.find((m) => m.change === 'attention=triton_cascade');
    expect(cascade).toBeDefined();
    expect(cascade!.speedup).toBeCloseTo(1 / (1 - 0.8 * 0.5 * c), 9);
    expect(cascade!.why).toMatch(
      /shared prefix is 91% of a decoding sequence's context; attention=triton_cascade reads it once per group/,
    );
    // without a shared prefix it is no generic "other attention kernel"
    const elsewhere = profileMoves(space, parent, { host: 0.2, dev: { attention: 0.5 } }, 'output_throughput', ctx);
    expect(elsewhere.some((m) => m.design.choices.attention === 'triton_cascade')).toBe(false);
    // and a measured share too small to matter proposes nothing
    expect(
      profileMoves(space, parent, { dev: { attention: 0.04 }, sharedContext: c }, 'output_throughput', ctx),
    ).toEqual([]);
  });

  async function secondRound(scenario: ScenarioLike, count = 4) {
    const input = (over: Partial<PlanInput>): PlanInput => ({
      scenario,
      round: 1,
      hardware: h100,
      history: [],
      memory: emptyMemory(),
      hints: [],
      constraints: {},
      count,
      budget: { candidatesLeft: 3 * count, roundsLeft: 3 },
      seed: 3,
      architect: 'model-free',
      ...over,
    });
    const first = await planRound(input({}));
    const d = first.designs[0]!;
    const outcome: CandidateOutcome = {
      designId: d.id,
      design: d,
      status: 'accepted',
      objective: 4000,
      metrics: {
        output_throughput: 4000,
        decode_host_share: 0.1,
        decode_device_share_attention: 0.6,
        decode_device_share_other: 0.4,
      },
    };
    return planRound(
      input({
        round: 2,
        memory: first.memory,
        history: [outcome],
        budget: { candidatesLeft: 2 * count, roundsLeft: 2 },
      }),
    );
  }

  it('leads a measured shared-prefix default to cascade attention first, and never proposes it blindly elsewhere', async () => {
    const shared = await secondRound(chat);
    expect(shared.designs[0]!.choices.attention).toBe('triton_cascade');
    expect(shared.designs[0]!.origin).toMatch(/^model-free:profile-of-/);
    expect(shared.designs[0]!.hypothesis).toMatch(/attention=triton_cascade/);
    const plain = await secondRound(random, 24); // more than the default's neighbours
    expect(plain.designs.length).toBeGreaterThan(20);
    expect(plain.designs.some((d) => d.choices.attention === 'triton_cascade')).toBe(false);
  });
});
