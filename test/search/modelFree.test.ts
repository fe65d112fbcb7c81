import { describe, expect, it } from 'vitest';
import { planRound } from '../../lib/architect/index.js';
import { comboKey, emptyMemory, memoryDigest, recordOutcomes } from '../../lib/architect/memory.js';
import { syntheticLandscape } from '../../lib/architect/objectiveTable.js';
import { defaultOutcome, simulateSearch } from '../../lib/architect/simulate.js';
import type { CandidateOutcome, HardwareTarget, PlanInput, ScenarioLike } from '../../lib/architect/types.js';
import { paretoFront } from '../../lib/architect/modelFree.js';

const scenario: ScenarioLike = {
  name: 'cpu-demo',
  model: { arch: 'llama', preset: 'tiny-llama', weights: 'random', dtype: 'float32' },
  workload: { prompt_len: 64, output_len: 32, slo: { ttft_ms: 500, tpot_ms: 100 } },
  objective: 'output_throughput',
  hardware: { kind: 'cpu', gpus: 0 },
};
const cpu: HardwareTarget = { kind: 'cpu', device: 'cpu', gpuCount: 0 };
const h100: HardwareTarget = { kind: 'h100', device: 'cuda', gpuCount: 1, computeCapability: 9.0 };
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function input(over: Partial<PlanInput>): PlanInput {
  return {
    scenario,
    round: 0,
    hardware: cpu,
    history: [],
    memory: emptyMemory(),
    hints: [],
    constraints: {},
    count: 4,
    seed: 1,
    architect: 'model-free',
    ...over,
  };
}

describe('model-free search vs random search at equal budget (synthetic landscape)', () => {
  for (const hardware of [cpu, h100]) {
    it(`finds better stacks with fewer failures on ${hardware.kind}`, async () => {
      const table = syntheticLandscape(scenario);
      const seeds = Array.from({ length: 24 }, (_, i) => i);
      const runs = async (architect: 'model-free' | 'random') =>
        Promise.all(seeds.map((seed) => simulateSearch(table, { architect, rounds: 5, perRound: 4, seed, hardware })));
      const mf = await runs('model-free');
      const rnd = await runs('random');
      const base = defaultOutcome(table, hardware).objective!;
      const mfBest = mean(mf.map((r) => r.best ?? 0));
      const rndBest = mean(rnd.map((r) => r.best ?? 0));
      expect(mf.every((r) => r.evaluated === 20) && rnd.every((r) => r.evaluated === 20)).toBe(true);
      expect(mfBest).toBeGreaterThan(rndBest * 1.03);
      expect(mfBest).toBeGreaterThan(base * 1.2);
      // Model-free wins in most individual searches, not just on average.
      const wins = seeds.filter((_, i) => (mf[i]!.best ?? 0) > (rnd[i]!.best ?? 0)).length;
      expect(wins).toBeGreaterThan(seeds.length / 2);
      expect(mean(mf.map((r) => r.rejected))).toBeLessThan(mean(rnd.map((r) => r.rejected)));
    }, 120_000);
  }
});

describe('pruning and memory', () => {
  it('never proposes a failed choice combination again and explores neighbors of the best', async () => {
    const table = syntheticLandscape(scenario);
    let memory = emptyMemory();
    let history: CandidateOutcome[] = [];
    const failed = new Set<string>();
    const proposedIds = new Set<string>();
    for (let round = 0; round < 6; round++) {
      const plan = await planRound(input({ round, memory, history, count: 5, seed: 3 }));
      for (const d of plan.designs) {
        expect(proposedIds.has(d.id), `design ${d.id} proposed twice`).toBe(false);
        proposedIds.add(d.id);
        if (round > 0)
          expect(failed.has(comboKey(d.choices)), `failed combination ${comboKey(d.choices)} proposed again`).toBe(
            false,
          );
      }
      if (round > 0) expect(plan.designs.some((d) => d.origin?.startsWith('model-free:neighbor-of-'))).toBe(true);
      history = plan.designs.map((d) => ({ ...table.evaluate(d), round }));
      for (const o of history) {
        if (o.status === 'rejected' && !/out_of_memory/.test(o.reason ?? '')) failed.add(comboKey(o.design.choices));
      }
      memory = plan.memory;
    }
    expect(memory.failedRegions.length).toBeGreaterThan(0);
  });

  it('starts from the generic default and spreads the first round', async () => {
    const plan = await planRound(input({ count: 6 }));
    expect(plan.designs[0]!.origin).toBe('default');
    expect(new Set(plan.designs.map((d) => d.choices.scheduler)).size).toBeGreaterThan(1);
    expect(plan.memory.explored).toEqual(plan.designs.map((d) => d.id));
  });

  it('keeps what it learned through a JSON round trip (continue-as-new carries it as a payload)', async () => {
    const table = syntheticLandscape(scenario);
    const r0 = await planRound(input({ round: 0, count: 4 }));
    const outcomes = r0.designs.map((d) => table.evaluate(d));
    const carried = JSON.parse(JSON.stringify(recordOutcomes(r0.memory, outcomes, scenario)));
    const direct = await planRound(input({ round: 1, memory: r0.memory, history: outcomes }));
    const resumed = await planRound(input({ round: 1, memory: carried, history: [] }));
    expect(resumed.designs.map((d) => d.id)).toEqual(direct.designs.map((d) => d.id));
    expect(JSON.stringify(resumed.memory).length).toBeLessThan(20_000);
  });

  it('applies a steering hint to the next plan', async () => {
    const table = syntheticLandscape(scenario);
    const r0 = await planRound(input({ round: 0 }));
    const history = r0.designs.map((d) => table.evaluate(d));
    const r1 = await planRound(
      input({ round: 1, memory: r0.memory, history, hints: ['try sampling=gumbel with max_batch_size=64'] }),
    );
    const hinted = r1.designs.find((d) => d.origin === 'model-free:hint');
    expect(hinted?.choices.sampling).toBe('gumbel');
    expect(hinted?.params.max_batch_size).toBe(64);
    expect(r1.memory.notes.join('\n')).toMatch(/hint \(round 1\): try sampling=gumbel/);
    expect(memoryDigest(r1.memory, scenario)).toMatch(/try sampling=gumbel/);
  });

  it('keeps the Pareto front of objective vs SLO ratio', () => {
    const o = (id: string, obj: number, slo: number) => ({ id, c: {}, p: {}, ok: true, obj, slo });
    const front = paretoFront(
      [o('a', 100, 0.5), o('b', 200, 0.9), o('c', 150, 0.95), o('d', 300, 2)],
      'output_throughput',
    );
    expect(front.map((f) => f.id).sort()).toEqual(['a', 'b', 'd']);
  });

  it('bounds the memory digest for a language model', async () => {
    const table = syntheticLandscape(scenario);
    const sim = await simulateSearch(table, { architect: 'random', rounds: 10, perRound: 8, seed: 5, hardware: h100 });
    const digest = memoryDigest(sim.memory, scenario, 1500);
    expect(digest.length).toBeLessThanOrEqual(1520);
    expect(digest).toMatch(/Best accepted designs/);
  });
});

describe('LLM usage accounting', () => {
  it('adds the builder usage reported with outcomes to the search total, once', async () => {
    const table = syntheticLandscape(scenario);
    const r0 = await planRound(input({ count: 2 }));
    const outcomes = r0.designs.map((d) => ({
      ...table.evaluate(d),
      llmUsage: { promptTokens: 1000, completionTokens: 200, costUsd: 0.01, calls: 4 },
    }));
    const once = recordOutcomes(r0.memory, outcomes, scenario);
    const twice = recordOutcomes(once, outcomes, scenario);
    expect(twice.llmUsage).toEqual({ promptTokens: 2000, completionTokens: 400, costUsd: 0.02, calls: 8 });
  });
});
