// Search memory: what the architect knows about explored designs, folded from outcomes every round.
// It is carried state of the search workflow (so it survives continue-as-new), which is why it is
// bounded: a few hundred outcome summaries, a capped id list and notes within a character budget.
import type {
  CandidateOutcome,
  Choices,
  Design,
  LlmUsage,
  OutcomeSummary,
  ScenarioLike,
  SearchMemory,
} from './types.js';
import { loadDesignSpace, regionKeys } from '../designSpace.js';
import { emptyMemory, emptyUsage } from '../workflowSafe/searchMemory.js';

export { emptyMemory, emptyUsage };

export const MEMORY_LIMITS = {
  explored: 2000,
  accepted: 200,
  rejected: 100,
  notesChars: 4000,
};

/** Reasons that say nothing about the design's choices (the builder or the machine failed). */
const NON_DESIGN_REASONS = new Set([
  'integrity_violation',
  'llm_budget_exhausted',
  'llm_unavailable',
  'llm_turn_limit',
  'infrastructure',
  'infrastructure_error',
  'infrastructure_timeout',
  'cancelled',
  'lost',
]);

export function addUsage(a: LlmUsage, b: Partial<LlmUsage> | undefined): LlmUsage {
  if (!b) return a;
  return {
    promptTokens: a.promptTokens + (b.promptTokens ?? 0),
    completionTokens: a.completionTokens + (b.completionTokens ?? 0),
    costUsd: Math.round((a.costUsd + (b.costUsd ?? 0)) * 1e6) / 1e6,
    calls: a.calls + (b.calls ?? 0),
  };
}

/** Accepts memory from older carried state (fields may be missing) and returns a complete one. */
export function normalizeMemory(m: Partial<SearchMemory> | undefined | null): SearchMemory {
  const e = emptyMemory();
  return {
    explored: m?.explored ?? e.explored,
    outcomes: m?.outcomes ?? e.outcomes,
    failedRegions: m?.failedRegions ?? e.failedRegions,
    regionStats: m?.regionStats ?? e.regionStats,
    notes: m?.notes ?? e.notes,
    llmUsage: { ...e.llmUsage, ...(m?.llmUsage ?? {}) },
  };
}

/** The key of a whole choice combination (searched dimensions only, sorted). */
export function comboKey(choices: Choices): string {
  const space = loadDesignSpace();
  return Object.keys(choices)
    .filter((d) => space.dimensions[d]?.searchable)
    .sort()
    .map((d) => `${d}=${choices[d]}`)
    .join(',');
}

/** Higher is better: the objective as measured, negated for latency objectives (`*_ms`). */
export function orientedScore(objective: string, value: number): number {
  return objective.endsWith('_ms') ? -value : value;
}

/** Worst latency ÷ SLO over the scenario's SLOs (p99 where measured, else median, else mean). */
export function sloRatio(scenario: ScenarioLike, metrics: Record<string, number> | undefined): number | undefined {
  const slo = scenario.workload.slo;
  if (!slo || !metrics) return undefined;
  let worst: number | undefined;
  for (const [name, limit] of Object.entries(slo)) {
    if (typeof limit !== 'number' || limit <= 0) continue;
    const base = name.replace(/_ms$/, '');
    const v = metrics[`p99_${base}_ms`] ?? metrics[`median_${base}_ms`] ?? metrics[`mean_${base}_ms`];
    if (typeof v !== 'number') continue;
    worst = Math.max(worst ?? 0, v / limit);
  }
  return worst === undefined ? undefined : Math.round(worst * 1000) / 1000;
}

export function summarizeOutcome(o: CandidateOutcome, scenario: ScenarioLike): OutcomeSummary {
  const ok = o.status === 'accepted';
  const s: OutcomeSummary = { id: o.designId, c: o.design.choices, p: o.design.params, ok };
  if (ok && typeof o.objective === 'number' && Number.isFinite(o.objective)) s.obj = o.objective;
  const slo = sloRatio(scenario, o.metrics);
  if (slo !== undefined) s.slo = slo;
  if (!ok) s.why = (o.reason ?? 'rejected').slice(0, 80);
  if (o.round !== undefined) s.round = o.round;
  const host = o.metrics?.decode_host_share;
  if (ok && typeof host === 'number' && Number.isFinite(host)) s.host = host;
  const dev = ok ? deviceShares(o.metrics) : undefined;
  if (dev) s.dev = dev;
  const q = o.metrics?.ttft_queue_share;
  const full = o.metrics?.queue_wait_batch_full_share;
  const peak = o.metrics?.queue_peak_waiting_full;
  if (ok && typeof q === 'number' && Number.isFinite(q) && typeof full === 'number' && Number.isFinite(full)) {
    s.queue = { share: q, full, ...(typeof peak === 'number' && peak > 0 ? { peak } : {}) };
  }
  const spec = ok ? profiledChoices(o.metrics) : undefined;
  if (spec) s.spec = spec;
  if (o.design.llmTask) s.c = { ...s.c, [o.design.llmTask.dimension]: o.design.llmTask.componentName };
  return s;
}

/** Per choice of a dimension marked `profiledBy: P` (speculation), the bench's P_<choice> figure, or undefined if none. */
function profiledChoices(metrics: Record<string, number> | undefined): Record<string, number> | undefined {
  const out: Record<string, number> = {};
  for (const def of Object.values(loadDesignSpace().dimensions)) {
    if (!def.profiledBy) continue;
    for (const choice of Object.keys(def.choices)) {
      const v = metrics?.[`${def.profiledBy}_${choice}`];
      if (typeof v === 'number' && Number.isFinite(v)) out[choice] = Math.round(v * 1e3) / 1e3;
    }
  }
  return Object.keys(out).length ? out : undefined;
}

const DEVICE_SHARE = /^decode_device_share_([A-Za-z0-9_]+)$/;

/** The bench's decode_device_share_<component> metrics as component → share (4 decimals), or undefined if none. */
function deviceShares(metrics: Record<string, number> | undefined): Record<string, number> | undefined {
  const out: Record<string, number> = {};
  let any = false;
  for (const [key, value] of Object.entries(metrics ?? {})) {
    const m = DEVICE_SHARE.exec(key);
    if (!m || typeof value !== 'number' || !Number.isFinite(value)) continue;
    out[m[1]!] = Math.round(value * 1e4) / 1e4;
    any = true;
  }
  return any ? out : undefined;
}

/** Marks proposals as explored so that no later round proposes them again. */
export function recordProposals(memory: SearchMemory, designs: Design[]): SearchMemory {
  const seen = new Set(memory.explored);
  const explored = [...memory.explored];
  for (const d of designs) {
    if (!seen.has(d.id)) {
      seen.add(d.id);
      explored.push(d.id);
    }
  }
  return { ...memory, explored: explored.slice(-MEMORY_LIMITS.explored) };
}

/** Folds measured outcomes into memory (idempotent per design id) and updates failed regions. */
export function recordOutcomes(
  memory: SearchMemory,
  outcomes: CandidateOutcome[],
  scenario: ScenarioLike,
): SearchMemory {
  const space = loadDesignSpace();
  const known = new Set(memory.outcomes.map((o) => o.id));
  // A report that lost its design (e.g. a candidate that never reported) teaches nothing.
  const fresh = outcomes
    .map((o) => ({ ...o, designId: o.designId ?? o.design?.id }))
    .filter((o) => o.designId && o.design && Object.keys(o.design.choices ?? {}).length > 0 && !known.has(o.designId));
  if (fresh.length === 0)
    return recordProposals(
      memory,
      outcomes.filter((o) => o.design?.id).map((o) => o.design),
    );
  const regionStats: Record<string, [number, number]> = { ...memory.regionStats };
  const failedRegions = new Set(memory.failedRegions);
  for (const o of fresh) {
    const designFault = o.status === 'rejected' && !NON_DESIGN_REASONS.has(o.reason ?? '') && !o.design.llmTask;
    if (o.status === 'accepted' || designFault) {
      for (const key of regionKeys(space, o.design.choices)) {
        const [f, s] = regionStats[key] ?? [0, 0];
        regionStats[key] = o.status === 'accepted' ? [f, s + 1] : [f + 1, s];
      }
    }
    // Out of memory and timeouts depend on the parameters, so only that exact design is ruled out
    // (via `explored`); any other failure rules out the whole choice combination.
    if (designFault && !/out_of_memory|timeout/.test(o.reason ?? '')) failedRegions.add(comboKey(o.design.choices));
  }
  const all = [...memory.outcomes, ...fresh.map((o) => summarizeOutcome(o, scenario))];
  const higher = (x: OutcomeSummary) => orientedScore(scenario.objective, x.obj ?? Number.NEGATIVE_INFINITY);
  const accepted = all
    .filter((o) => o.ok)
    .sort((a, b) => higher(b) - higher(a))
    .slice(0, MEMORY_LIMITS.accepted);
  const rejected = all.filter((o) => !o.ok).slice(-MEMORY_LIMITS.rejected);
  const withIds = recordProposals(
    memory,
    fresh.map((o) => o.design),
  );
  const llmUsage = fresh.reduce((u, o) => addUsage(u, o.llmUsage), memory.llmUsage);
  return { ...withIds, outcomes: [...accepted, ...rejected], regionStats, failedRegions: [...failedRegions], llmUsage };
}

/** Appends a note (a steering hint, an architect observation), dropping the oldest beyond the budget. */
export function addNote(memory: SearchMemory, note: string): SearchMemory {
  const notes = [...memory.notes, note.slice(0, 500)];
  while (notes.join('\n').length > MEMORY_LIMITS.notesChars && notes.length > 1) notes.shift();
  return { ...memory, notes };
}

/** True when the design's choices sit in a region known to fail. */
export function inFailedRegion(memory: SearchMemory, choices: Choices): boolean {
  if (memory.failedRegions.includes(comboKey(choices))) return true;
  const space = loadDesignSpace();
  // A single choice must fail three times (it appears in many designs), a pair twice, never succeeding.
  return regionKeys(space, choices).some((key) => {
    const [f, s] = memory.regionStats[key] ?? [0, 0];
    return s === 0 && f >= (key.includes(',') ? 2 : 3);
  });
}

/**
 * A text digest of memory for an LLM's context: the best designs, the failures grouped by reason,
 * and notes, cut to `budgetChars`. The most useful facts come first so truncation drops the least.
 */
export function memoryDigest(memory: SearchMemory, scenario: ScenarioLike, budgetChars = 6000): string {
  const lines: string[] = [];
  const oriented = (o: OutcomeSummary) => orientedScore(scenario.objective, o.obj ?? Number.NEGATIVE_INFINITY);
  const best = memory.outcomes.filter((o) => o.ok).sort((a, b) => oriented(b) - oriented(a));
  lines.push(
    `Measured designs: ${memory.outcomes.length} (${best.length} accepted); explored ids: ${memory.explored.length}.`,
  );
  if (best.length) {
    lines.push(
      `Best accepted designs (${scenario.objective}${scenario.workload.slo ? ', slo = worst latency / SLO' : ''}):`,
    );
    for (const o of best.slice(0, 12)) {
      const spec = o.spec ? ` profiled_tokens_per_step=${JSON.stringify(o.spec)}` : '';
      lines.push(
        `- ${o.id} ${scenario.objective}=${o.obj}${o.slo !== undefined ? ` slo=${o.slo}` : ''} ${compactDesign(o)}${spec}`,
      );
    }
  }
  const byReason = new Map<string, OutcomeSummary[]>();
  for (const o of memory.outcomes.filter((x) => !x.ok)) {
    const k = o.why ?? 'rejected';
    byReason.set(k, [...(byReason.get(k) ?? []), o]);
  }
  if (byReason.size) {
    lines.push('Rejected designs by reason:');
    for (const [why, list] of byReason) {
      lines.push(`- ${why} (${list.length}): ${list.slice(-4).map(compactDesign).join(' | ')}`);
    }
  }
  if (memory.failedRegions.length)
    lines.push(`Choice combinations that failed (never propose again): ${memory.failedRegions.slice(-10).join(' ; ')}`);
  if (memory.notes.length) lines.push('Notes:', ...memory.notes.slice(-10).map((n) => `- ${n}`));
  let text = '';
  for (const line of lines) {
    if (text.length + line.length + 1 > budgetChars) {
      text += '…(truncated)\n';
      break;
    }
    text += `${line}\n`;
  }
  return text.trimEnd();
}

function compactDesign(o: OutcomeSummary): string {
  const c = Object.entries(o.c)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const p = Object.entries(o.p)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',');
  return p ? `${c};${p}` : c;
}
