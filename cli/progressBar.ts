// One line that says where a search stands: round, candidates, best so far, elapsed and ETA.
import type { SearchProgress } from '../lib/searchTypes.js';

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

/** Candidates the budget allows, as far as the progress tells. */
export function plannedCandidates(p: SearchProgress): number {
  return Math.max(p.candidates.started + p.candidates.queued, p.budget.maxCandidates);
}

/** Estimated time left: remaining candidates × mean candidate time ÷ parallelism, capped by the
 * wall-time budget. Null until one candidate has finished. */
export function estimateRemainingMs(p: SearchProgress, nowMs: number): number | null {
  if (p.meanCandidateMs === null) return null;
  const remaining = Math.max(0, plannedCandidates(p) - p.candidates.done);
  const parallel = Math.max(1, p.concurrency);
  const eta = (remaining * p.meanCandidateMs) / parallel;
  const wallLeft = p.startedAt + p.budget.wallTimeMs - nowMs;
  return Math.max(0, Math.min(eta, wallLeft));
}

export function renderProgress(p: SearchProgress, nowMs: number, width = 20): string {
  const total = plannedCandidates(p);
  const frac = total > 0 ? Math.min(1, p.candidates.done / total) : 0;
  const filled = Math.round(frac * width);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
  const best = p.best ? `best ${p.objective} ${formatNumber(p.best.objective)} (${p.best.candidateId})` : 'best —';
  const eta = estimateRemainingMs(p, nowMs);
  return [
    `${bar} ${p.status}`,
    `round ${p.round}/${p.budget.rounds}`,
    `${p.candidates.done}/${total} done, ${p.candidates.running} running, ${p.candidates.rejected} rejected`,
    best,
    `elapsed ${formatDuration(nowMs - p.startedAt)}`,
    `ETA ${eta === null ? '?' : formatDuration(eta)}`,
  ].join(' · ');
}

function formatNumber(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
}
