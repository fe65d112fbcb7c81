// Objective tables: something that answers "what would this design measure?" without running it,
// so that search policies can be compared at equal budget many times over. Two kinds: a
// deterministic synthetic landscape (with interactions, failing regions and an SLO trade-off), and
// tables of real measurements: a finished search's artifacts, or a design sweep's file
// (bench/gpu/design_sweep.py).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { designId, loadDesignSpace, makeDesign } from '../designSpace.js';
import { parseScenario } from '../scenario.js';
import type { CandidateOutcome, Design, HardwareTarget, ScenarioLike } from './types.js';

export interface ObjectiveTable {
  name: string;
  scenario: ScenarioLike;
  evaluate(design: Design): CandidateOutcome;
}

function unitHash(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0) / 2 ** 32;
}

const CHOICE_GAIN: Record<string, Record<string, number>> = {
  scheduler: { static: 0.62, continuous: 1.0, chunked_prefill: 1.08 },
  kv_cache: { contiguous: 1.0, paged: 1.04 },
  execution: { eager: 1.0, torch_compile: 1.25, cuda_graphs: 1.45 },
  linear: { native: 1.0, int8_weight_only: 1.12, fp8: 1.22 },
  sampling: { sort_based: 1.0, gumbel: 1.03 },
  attention: { sdpa: 1.0, triton_paged: 1.15 },
  moe: { loop: 1.0, fused_triton: 1.3 },
  tp: { '1': 1.0, '2': 1.35 },
  // random-token prompts: nothing to draft from, and prompt lookup's rejected drafts widen the steps
  speculation: { none: 1.0, prompt_lookup: 0.95, predicted_outputs: 0.99 },
};

/**
 * A synthetic serving landscape: multiplicative choice gains, a batch-size optimum that depends on
 * the scheduler, failing combinations (compile + static batching fails to build; int8 with the
 * contiguous cache gives wrong output; huge batches on the contiguous cache run out of memory) and
 * latency that grows with batch size, so large batches break the SLO. Deterministic per design.
 */
export function syntheticLandscape(scenario: ScenarioLike): ObjectiveTable {
  return {
    name: 'synthetic',
    scenario,
    evaluate(design: Design): CandidateOutcome {
      const c = design.choices;
      const p = design.params as Record<string, number | boolean | number[]>;
      const base = { designId: design.id, design };
      if (c.execution === 'torch_compile' && c.scheduler === 'static')
        return { ...base, status: 'rejected', reason: 'build_failed' };
      if (c.linear === 'int8_weight_only' && c.kv_cache === 'contiguous')
        return { ...base, status: 'rejected', reason: 'wrong_output' };
      const mbs = Number(p.max_batch_size ?? 16);
      if (mbs >= 128 && c.kv_cache === 'contiguous') return { ...base, status: 'rejected', reason: 'out_of_memory' };
      let gain = 1;
      for (const [dim, table] of Object.entries(CHOICE_GAIN)) gain *= table[c[dim] ?? ''] ?? 1;
      // Interactions: compiled decode pays off most with continuous batching; gumbel only helps paged.
      if (c.execution === 'torch_compile' && c.scheduler !== 'static') gain *= 1.08;
      if (c.sampling === 'gumbel' && c.kv_cache !== 'paged') gain *= 0.95;
      const bestBatch = c.scheduler === 'static' ? 8 : 32;
      const batchFit = Math.exp(-((Math.log2(mbs) - Math.log2(bestBatch)) ** 2) / 4);
      const tokens = Number(p.max_num_batched_tokens ?? 2048);
      const tokenFit = Math.exp(-((Math.log2(tokens) - 11) ** 2) / 8);
      const blockFit =
        c.kv_cache === 'paged'
          ? (({ 8: 0.96, 16: 1.0, 32: 0.98 } as Record<number, number>)[Number(p.block_size ?? 16)] ?? 1)
          : 1;
      const prefix = p.prefix_caching === true ? 1.02 : 1;
      const chunk =
        c.scheduler === 'chunked_prefill' ? Math.exp(-((Math.log2(Number(p.chunk_size ?? 256)) - 7) ** 2) / 6) : 1;
      const noise = 0.98 + 0.04 * unitHash(design.id);
      const throughput =
        400 *
        gain *
        (0.4 + 0.6 * batchFit) *
        (0.7 + 0.3 * tokenFit) *
        blockFit *
        prefix *
        (0.85 + 0.15 * chunk) *
        noise;
      const ttft = 40 + (6 * mbs) / (c.scheduler === 'chunked_prefill' ? 2 : 1);
      const tpot = 8 + (0.9 * mbs) / gain;
      const metrics = {
        output_throughput: Math.round(throughput * 100) / 100,
        p99_ttft_ms: Math.round(ttft * 10) / 10,
        p99_tpot_ms: Math.round(tpot * 10) / 10,
        median_ttft_ms: Math.round(ttft * 7) / 10,
        median_tpot_ms: Math.round(tpot * 8) / 10,
      };
      const objective = (metrics as Record<string, number>)[scenario.objective] ?? metrics.output_throughput;
      return { ...base, status: 'accepted', metrics, objective };
    },
  };
}

/** One measured design: what an objective table built from measurements answers with. */
export interface MeasuredRow {
  design: Design;
  status: 'accepted' | 'rejected';
  reason?: string;
  metrics?: Record<string, number>;
  objective?: number;
}

/** A table of real measurements, answering unmeasured designs with their nearest measured one. */
export interface MeasuredTable extends ObjectiveTable {
  rows: number;
  measured: readonly MeasuredRow[];
  /** The hardware the measurements were taken for (design sweeps record it). */
  hardware?: HardwareTarget;
  /** The scenario's own constraints, which the search would have applied. */
  constraints?: Record<string, string[]>;
}

/**
 * Real measurements from a search's artifact directory (search.json, else candidates/<id>/
 * design.json + bench.json).
 */
export function measuredTable(artifactDir: string): MeasuredTable {
  const rows: MeasuredRow[] = [];
  const searchJson = path.join(artifactDir, 'search.json');
  let scenario: ScenarioLike | undefined;
  if (existsSync(searchJson)) {
    const s = JSON.parse(readFileSync(searchJson, 'utf8')) as {
      scenario: ScenarioLike;
      leaderboard?: MeasuredRow[];
      rejected?: MeasuredRow[];
    };
    scenario = s.scenario;
    for (const r of [...(s.leaderboard ?? []), ...(s.rejected ?? [])]) if (r.design?.choices) rows.push(r);
  }
  const candDir = path.join(artifactDir, 'candidates');
  if (rows.length === 0 && existsSync(candDir)) {
    for (const id of readdirSync(candDir)) {
      const designPath = path.join(candDir, id, 'design.json');
      if (!existsSync(designPath)) continue;
      const design = JSON.parse(readFileSync(designPath, 'utf8')) as Design;
      const benchPath = path.join(candDir, id, 'bench.json');
      const metrics = existsSync(benchPath)
        ? (JSON.parse(readFileSync(benchPath, 'utf8')) as Record<string, number>)
        : undefined;
      rows.push({
        design,
        status: metrics ? 'accepted' : 'rejected',
        reason: metrics ? undefined : 'rejected',
        metrics,
      });
    }
  }
  if (!scenario)
    throw new Error(
      `${artifactDir} has no search.json with the scenario; point at a search's artifact directory (.vibeserve/artifacts/<searchId>)`,
    );
  if (rows.length === 0) throw new Error(`${artifactDir} holds no measured candidates`);
  return nearestNeighbourTable(`measured:${path.basename(artifactDir)}`, scenario, rows);
}

/** What bench/gpu/design_sweep.py writes. */
interface SweepFile {
  scenario?: unknown;
  hardware?: HardwareTarget;
  rows?: (MeasuredRow & { status: string })[];
}

/**
 * A design sweep's table (bench/gpu/design_sweep.py): many designs of one scenario measured on one
 * device. Design ids are recomputed, so a table whose ids no longer match this design space's
 * (a changed space, or Python and TypeScript disagreeing) is refused rather than misread.
 */
export function tableFromFile(file: string): MeasuredTable {
  let raw: SweepFile;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as SweepFile;
  } catch (err) {
    throw new Error(`cannot read the design-sweep table ${file}: ${(err as Error).message}`);
  }
  if (!raw.scenario || !Array.isArray(raw.rows)) {
    throw new Error(`${file} is not a design-sweep table (bench/gpu/design_sweep.py): it needs "scenario" and "rows"`);
  }
  // The scenario goes through the same validation as a scenario file (JSON is YAML).
  const scenario = parseScenario(JSON.stringify(raw.scenario), file);
  const rows = raw.rows.filter(
    (r): r is MeasuredRow => r.design?.choices !== undefined && (r.status === 'accepted' || r.status === 'rejected'),
  );
  for (const r of rows) {
    const id = designId(r.design.choices, r.design.params ?? {});
    if (id !== r.design.id)
      throw new Error(
        `${file}: design ${r.design.id} hashes to ${id} here; the table was measured for another design space`,
      );
  }
  if (rows.length === 0) throw new Error(`${file} holds no measured designs yet`);
  // A parameter added to the space since the sweep was measured at its default (the engine's
  // behaviour before it existed): the rows are re-keyed with it, so searches hit them exactly.
  const space = loadDesignSpace();
  const current = rows.map((r) => ({
    ...r,
    design: { ...r.design, ...pick(makeDesign(space, r.design.choices, r.design.params ?? {})) },
  }));
  return {
    ...nearestNeighbourTable(`sweep:${path.basename(file)}`, scenario, current),
    hardware: raw.hardware,
    constraints: scenario.constraints,
  };
}

function pick(d: Design): Pick<Design, 'id' | 'choices' | 'params'> {
  return { id: d.id, choices: d.choices, params: d.params };
}

/**
 * A measured design answers with its measurement; any other design with its nearest measured
 * design (fewest differing choices and params), i.e. a 1-nearest-neighbour reading of the
 * measured landscape.
 */
function nearestNeighbourTable(name: string, scenario: ScenarioLike, rows: MeasuredRow[]): MeasuredTable {
  const objectiveName = scenario.objective;
  const byId = new Map(rows.map((r) => [r.design.id, r]));
  const distance = (a: Design, b: Design) => {
    let d = 0;
    for (const k of new Set([...Object.keys(a.choices), ...Object.keys(b.choices)]))
      if (a.choices[k] !== b.choices[k]) d += 1;
    for (const k of new Set([...Object.keys(a.params), ...Object.keys(b.params)])) {
      if (JSON.stringify(a.params[k]) !== JSON.stringify(b.params[k])) d += 0.25;
    }
    return d;
  };
  return {
    name,
    scenario,
    rows: rows.length,
    measured: rows,
    evaluate(design: Design): CandidateOutcome {
      const row =
        byId.get(design.id) ??
        [...rows].sort(
          (a, b) => distance(design, a.design) - distance(design, b.design) || (a.design.id < b.design.id ? -1 : 1),
        )[0]!;
      const objective = row.objective ?? row.metrics?.[objectiveName];
      return {
        designId: design.id,
        design,
        status: row.status,
        reason: row.reason,
        metrics: row.metrics,
        objective: row.status === 'accepted' ? objective : undefined,
      };
    },
  };
}
