// Model-free vs random search at equal budget, on an objective table: the synthetic landscape,
// the real measurements of a finished search (--artifacts .vibeserve/artifacts/<searchId>), or a
// design sweep (--table FILE, written by bench/gpu/design_sweep.py).
//
//   npx tsx scripts/compare-search-policies.ts [--table FILE | --artifacts DIR] [--hardware cpu|h100|h100x2]
//        [--rounds 5] [--per-round 4] [--seeds 30] [--within 5] [--json OUT]
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  measuredTable,
  syntheticLandscape,
  tableFromFile,
  type MeasuredTable,
  type ObjectiveTable,
} from '../lib/architect/objectiveTable.js';
import { defaultOutcome, feasible, simulateSearch, type SimulationResult } from '../lib/architect/simulate.js';
import type { HardwareTarget, ScenarioLike } from '../lib/architect/types.js';
import { objectiveIsMinimized } from '../lib/scenario.js';

const HARDWARE: Record<string, HardwareTarget> = {
  cpu: { kind: 'cpu', device: 'cpu', gpuCount: 0 },
  h100: { kind: 'h100', device: 'cuda', gpuCount: 1, computeCapability: 9.0 },
  h100x2: { kind: 'h100', device: 'cuda', gpuCount: 2, computeCapability: 9.0 },
};
const POLICIES = ['model-free', 'random'] as const;

const { values } = parseArgs({
  options: {
    table: { type: 'string' },
    artifacts: { type: 'string' },
    hardware: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    'per-round': { type: 'string', default: '4' },
    seeds: { type: 'string', default: '30' },
    within: { type: 'string', default: '5' },
    json: { type: 'string' },
  },
});

const demo: ScenarioLike = {
  name: 'synthetic',
  model: { arch: 'llama', preset: 'tiny-llama', weights: 'random', dtype: 'float32' },
  workload: { prompt_len: 64, output_len: 32, slo: { ttft_ms: 500, tpot_ms: 100 } },
  objective: 'output_throughput',
};

const measured: MeasuredTable | undefined = values.table
  ? tableFromFile(values.table)
  : values.artifacts
    ? measuredTable(values.artifacts)
    : undefined;
const table: ObjectiveTable = measured ?? syntheticLandscape(demo);
const hwName =
  values.hardware ??
  (measured?.hardware
    ? undefined
    : table.scenario.hardware?.kind === 'cpu' || !table.scenario.hardware?.kind
      ? 'cpu'
      : 'h100');
const hardware = hwName ? HARDWARE[hwName] : measured!.hardware;
if (!hardware) throw new Error(`--hardware must be one of ${Object.keys(HARDWARE).join(', ')}`);
const constraints = measured?.constraints ?? {};
const rounds = Number(values.rounds);
const perRound = Number(values['per-round']);
const within = Number(values.within) / 100;
const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => i);
const objective = table.scenario.objective;
const minimize = objectiveIsMinimized(objective);

/** Higher is better after orienting; a search that found nothing feasible scores worst. */
const score = (v: number | undefined) => (v === undefined ? -Infinity : minimize ? -v : v);
const better = (a: number | undefined, b: number | undefined) => score(a) > score(b);
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const fmt = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(2));
const pct = (k: number, n: number) => `${k}/${n} (${Math.round((100 * k) / n)}%)`;

const base = defaultOutcome(table, hardware, constraints);
const baseValue = feasible(table, base) ? base.objective : undefined;
const results: Record<string, SimulationResult[]> = {};
for (const architect of POLICIES) {
  results[architect] = await Promise.all(
    seeds.map((seed) => simulateSearch(table, { architect, rounds, perRound, seed, hardware, constraints })),
  );
}

// What "near the best" is measured against: the table's best feasible design when it is known.
const tableBest = measured?.measured
  .map((r) => table.evaluate(r.design))
  .filter((o) => feasible(table, o))
  .reduce<number | undefined>((b, o) => (better(o.objective, b) ? o.objective : b), undefined);
const foundBest = Object.values(results)
  .flat()
  .reduce<number | undefined>((b, r) => (better(r.best, b) ? r.best : b), undefined);
const reference = tableBest ?? foundBest;
const nearBest = (v: number | undefined) =>
  v !== undefined &&
  reference !== undefined &&
  (minimize ? v <= reference * (1 + within) : v >= reference * (1 - within));

const measuredIds = measured ? new Set(measured.measured.map((r) => r.design.id)) : undefined;

function summarize(rs: SimulationResult[]) {
  const found = rs.filter((r) => r.best !== undefined).map((r) => r.best!);
  const reach = rs.map((r) => r.curve.findIndex((v) => nearBest(v)) + 1).filter((k) => k > 0);
  const to95 = rs.map(
    (r) =>
      r.curve.findIndex(
        (v) => v !== undefined && r.best !== undefined && score(v) >= score(r.best) - Math.abs(r.best) * 0.05,
      ) + 1,
  );
  const byRound = Array.from({ length: rounds }, (_, i) => {
    const at = rs.map((r) => r.curve[Math.min(r.curve.length, (i + 1) * perRound) - 1]);
    const hit = at.filter((v): v is number => v !== undefined);
    return { evaluations: (i + 1) * perRound, meanBest: mean(hit), found: hit.length };
  });
  return {
    searches: rs.length,
    found: found.length,
    meanBest: mean(found),
    medianBest: found.length ? quantile(found, 0.5) : undefined,
    worstDecileBest: found.length ? quantile(found, minimize ? 0.9 : 0.1) : undefined,
    bestOfAll: found.reduce<number | undefined>((b, v) => (better(v, b) ? v : b), undefined),
    ratioToDefault:
      baseValue && found.length ? (minimize ? baseValue / mean(found) : mean(found) / baseValue) : undefined,
    beatsDefault: rs.filter((r) => better(r.best, baseValue)).length,
    reachesNearBest: reach.length,
    meanEvalsToNearBest: reach.length ? mean(reach) : undefined,
    medianEvalsToNearBest: reach.length ? quantile(reach, 0.5) : undefined,
    rejectedPerSearch: mean(rs.map((r) => r.rejected)),
    evalsTo95OfFinal: mean(to95.filter((k) => k > 0)),
    // How much of the verdict rests on real measurements rather than nearest-neighbour answers.
    exactlyMeasuredShare: measuredIds
      ? mean(rs.map((r) => r.memory.explored.filter((id) => measuredIds.has(id)).length / r.evaluated))
      : undefined,
    byRound,
  };
}

const summaries = Object.fromEntries(POLICIES.map((p) => [p, summarize(results[p]!)]));
const mf = results['model-free']!;
const rnd = results['random']!;
const paired = {
  wins: seeds.filter((i) => better(mf[i]!.best, rnd[i]!.best)).length,
  ties: seeds.filter((i) => score(mf[i]!.best) === score(rnd[i]!.best)).length,
  losses: seeds.filter((i) => better(rnd[i]!.best, mf[i]!.best)).length,
};

const n = seeds.length;
console.log(
  `table: ${table.name}${measured ? ` (${measured.rows} measured designs, nearest-neighbour for the rest)` : ''}`,
);
console.log(
  `objective: ${objective} (${minimize ? 'lower' : 'higher'} is better); hardware: ${hardware.kind}${hardware.device === 'cuda' ? ` x${hardware.gpuCount}` : ''}; ` +
    `budget: ${rounds} rounds x ${perRound} = ${rounds * perRound} evaluations; ${n} searches per policy`,
);
console.log(
  `generic default: ${base.status === 'accepted' ? `${fmt(base.objective)}${baseValue === undefined ? ' (misses an SLO)' : ''}` : `rejected (${base.reason})`}`,
);
console.log(
  `best ${tableBest !== undefined ? 'in the table' : 'found by any search'}: ${fmt(reference)}; "near best" = within ${values.within}% of it`,
);
console.log('');
console.log(
  [
    'policy',
    'found feasible',
    'mean best',
    'median',
    'worst decile',
    'x default',
    'beats default',
    `within ${values.within}% of best`,
    'evals to it (mean/median)',
    'rejected/search',
    'evals to 95% of final',
  ].join(' | '),
);
for (const [name, s] of Object.entries(summaries)) {
  console.log(
    [
      name,
      pct(s.found, n),
      fmt(s.meanBest),
      fmt(s.medianBest),
      fmt(s.worstDecileBest),
      s.ratioToDefault ? `${fmt(s.ratioToDefault)}x` : 'n/a',
      pct(s.beatsDefault, n),
      pct(s.reachesNearBest, n),
      `${fmt(s.meanEvalsToNearBest)}/${fmt(s.medianEvalsToNearBest)}`,
      fmt(s.rejectedPerSearch),
      fmt(s.evalsTo95OfFinal),
    ].join(' | '),
  );
}
console.log('');
console.log(
  `mean best so far (over searches that found a feasible design) after ${summaries['model-free']!.byRound.map((r) => r.evaluations).join(', ')} evaluations:`,
);
for (const [name, s] of Object.entries(summaries))
  console.log(
    `  ${name}: ${s.byRound.map((r) => `${fmt(r.meanBest)}${r.found < n ? ` [${r.found}/${n} found one]` : ''}`).join(', ')}`,
  );
console.log('');
if (measuredIds) {
  console.log(
    `evaluations that hit a measured design exactly: ${POLICIES.map((p) => `${p} ${Math.round(100 * summaries[p]!.exactlyMeasuredShare!)}%`).join(', ')} (the rest answered by the nearest one)`,
  );
}
console.log(
  `model-free beats random in ${paired.wins}/${n} paired searches (${paired.ties} ties, ${paired.losses} losses)`,
);

if (values.json) {
  mkdirSync(path.dirname(path.resolve(values.json)), { recursive: true });
  writeFileSync(
    values.json,
    JSON.stringify(
      {
        // The command line that made this file, relative to the repository root.
        command: ['npx tsx scripts/compare-search-policies.ts', ...process.argv.slice(2)].join(' '),
        table: table.name,
        measuredDesigns: measured?.rows,
        objective,
        direction: minimize ? 'lower' : 'higher',
        hardware,
        constraints,
        budget: { rounds, perRound, evaluations: rounds * perRound },
        searchesPerPolicy: n,
        withinPercent: Number(values.within),
        default: {
          status: base.status,
          reason: base.reason,
          objective: base.objective,
          meetsSlo: baseValue !== undefined,
        },
        reference: { value: reference, source: tableBest !== undefined ? 'table' : 'searches' },
        policies: summaries,
        paired,
      },
      null,
      2,
    ) + '\n',
  );
}
