// Model-free vs random search at equal budget, on an objective table: the synthetic landscape, or
// the real measurements of a finished search (--artifacts .vibeserve/artifacts/<searchId>).
//
//   npx tsx scripts/compare-search-policies.ts [--artifacts DIR] [--hardware cpu|h100|h100x2]
//        [--rounds 5] [--per-round 4] [--seeds 30]
import { parseArgs } from 'node:util';
import { measuredTable, syntheticLandscape, type ObjectiveTable } from '../lib/architect/objectiveTable.js';
import { defaultOutcome, simulateSearch, type SimulationResult } from '../lib/architect/simulate.js';
import type { HardwareTarget, ScenarioLike } from '../lib/architect/types.js';

const HARDWARE: Record<string, HardwareTarget> = {
  cpu: { kind: 'cpu', device: 'cpu', gpuCount: 0 },
  h100: { kind: 'h100', device: 'cuda', gpuCount: 1, computeCapability: 9.0 },
  h100x2: { kind: 'h100', device: 'cuda', gpuCount: 2, computeCapability: 9.0 },
};

const { values } = parseArgs({
  options: {
    artifacts: { type: 'string' },
    hardware: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    'per-round': { type: 'string', default: '4' },
    seeds: { type: 'string', default: '30' },
  },
});

const demo: ScenarioLike = {
  name: 'synthetic',
  model: { arch: 'llama', preset: 'tiny-llama', weights: 'random', dtype: 'float32' },
  workload: { prompt_len: 64, output_len: 32, slo: { ttft_ms: 500, tpot_ms: 100 } },
  objective: 'output_throughput',
};

const table: ObjectiveTable = values.artifacts ? measuredTable(values.artifacts) : syntheticLandscape(demo);
const hwName = values.hardware ?? (table.scenario.hardware?.kind === 'cpu' || !table.scenario.hardware?.kind ? 'cpu' : 'h100');
const hardware = HARDWARE[hwName];
if (!hardware) throw new Error(`--hardware must be one of ${Object.keys(HARDWARE).join(', ')}`);
const rounds = Number(values.rounds);
const perRound = Number(values['per-round']);
const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => i);

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const fmt = (x: number) => x.toFixed(2);

const base = defaultOutcome(table, hardware);
const results: Record<string, SimulationResult[]> = {};
for (const architect of ['model-free', 'random'] as const) {
  results[architect] = await Promise.all(seeds.map((seed) => simulateSearch(table, { architect, rounds, perRound, seed, hardware })));
}
const objective = table.scenario.objective;
console.log(`table: ${table.name}${'rows' in table ? ` (${(table as { rows: number }).rows} measured candidates, nearest-neighbour for the rest)` : ''}`);
console.log(`objective: ${objective}; hardware: ${hwName}; budget: ${rounds} rounds x ${perRound} = ${rounds * perRound} candidates; ${seeds.length} searches per policy`);
console.log(`generic default: ${base.status === 'accepted' ? fmt(base.objective!) : `rejected (${base.reason})`}`);
console.log('');
console.log(['policy', 'mean best', 'median', 'p10', 'max', 'x default', 'rejected/search', 'evals to 95% of final'].join(' | '));
for (const [name, rs] of Object.entries(results)) {
  const bests = rs.map((r) => r.best ?? 0);
  const mean = bests.reduce((a, b) => a + b, 0) / bests.length;
  const rejected = rs.reduce((a, r) => a + r.rejected, 0) / rs.length;
  const to95 = rs.map((r) => r.curve.findIndex((v) => v !== undefined && r.best !== undefined && v >= 0.95 * r.best) + 1);
  console.log(
    [name, fmt(mean), fmt(quantile(bests, 0.5)), fmt(quantile(bests, 0.1)), fmt(Math.max(...bests)),
      base.objective ? `${fmt(mean / base.objective)}x` : 'n/a', fmt(rejected), fmt(to95.reduce((a, b) => a + b, 0) / to95.length)].join(' | '),
  );
}
const mf = results['model-free']!;
const rnd = results['random']!;
const wins = seeds.filter((i) => (mf[i]!.best ?? 0) > (rnd[i]!.best ?? 0)).length;
const ties = seeds.filter((i) => (mf[i]!.best ?? 0) === (rnd[i]!.best ?? 0)).length;
console.log('');
console.log(`model-free beats random in ${wins}/${seeds.length} paired searches (${ties} ties)`);
