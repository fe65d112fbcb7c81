// Objective tables: something that answers "what would this design measure?" without running it,
// so that search policies can be compared at equal budget many times over. Two kinds: a
// deterministic synthetic landscape (with interactions, failing regions and an SLO trade-off), and
// a table of real measurements read from a finished search's artifacts.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { CandidateOutcome, Design, ScenarioLike } from './types.js';

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
      if (c.execution === 'torch_compile' && c.scheduler === 'static') return { ...base, status: 'rejected', reason: 'build_failed' };
      if (c.linear === 'int8_weight_only' && c.kv_cache === 'contiguous') return { ...base, status: 'rejected', reason: 'wrong_output' };
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
      const blockFit = c.kv_cache === 'paged' ? ({ 8: 0.96, 16: 1.0, 32: 0.98 } as Record<number, number>)[Number(p.block_size ?? 16)] ?? 1 : 1;
      const prefix = p.prefix_caching === true ? 1.02 : 1;
      const chunk = c.scheduler === 'chunked_prefill' ? Math.exp(-((Math.log2(Number(p.chunk_size ?? 256)) - 7) ** 2) / 6) : 1;
      const noise = 0.98 + 0.04 * unitHash(design.id);
      const throughput = 400 * gain * (0.4 + 0.6 * batchFit) * (0.7 + 0.3 * tokenFit) * blockFit * prefix * (0.85 + 0.15 * chunk) * noise;
      const ttft = 40 + 6 * mbs / (c.scheduler === 'chunked_prefill' ? 2 : 1);
      const tpot = 8 + 0.9 * mbs / gain;
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

interface MeasuredRow {
  design: Design;
  status: 'accepted' | 'rejected';
  reason?: string;
  metrics?: Record<string, number>;
  objective?: number;
}

/**
 * Real measurements from a search's artifact directory (search.json, else candidates/<id>/
 * design.json + bench.json). A design that was measured answers with its measurement; any other
 * design answers with its nearest measured design (fewest differing choices and params), i.e. a
 * 1-nearest-neighbour reading of the measured landscape.
 */
export function measuredTable(artifactDir: string): ObjectiveTable & { rows: number } {
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
      const metrics = existsSync(benchPath) ? (JSON.parse(readFileSync(benchPath, 'utf8')) as Record<string, number>) : undefined;
      rows.push({ design, status: metrics ? 'accepted' : 'rejected', reason: metrics ? undefined : 'rejected', metrics });
    }
  }
  if (!scenario) throw new Error(`${artifactDir} has no search.json with the scenario; point at a search's artifact directory (.vibeserve/artifacts/<searchId>)`);
  if (rows.length === 0) throw new Error(`${artifactDir} holds no measured candidates`);
  const objectiveName = scenario.objective;
  const byId = new Map(rows.map((r) => [r.design.id, r]));
  const distance = (a: Design, b: Design) => {
    let d = 0;
    for (const k of new Set([...Object.keys(a.choices), ...Object.keys(b.choices)])) if (a.choices[k] !== b.choices[k]) d += 1;
    for (const k of new Set([...Object.keys(a.params), ...Object.keys(b.params)])) {
      if (JSON.stringify(a.params[k]) !== JSON.stringify(b.params[k])) d += 0.25;
    }
    return d;
  };
  return {
    name: `measured:${path.basename(artifactDir)}`,
    scenario,
    rows: rows.length,
    evaluate(design: Design): CandidateOutcome {
      const row = byId.get(design.id) ?? [...rows].sort((a, b) => distance(design, a.design) - distance(design, b.design) || (a.design.id < b.design.id ? -1 : 1))[0]!;
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
