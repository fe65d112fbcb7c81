// Reads a finished (or running) search from the artifact store (docs/boundary.md) into one view.
// search.json gives the structure (which candidates, rounds, statuses); every figure is read from
// the candidate's own bench.json / check.json, so the report can never drift from the evidence.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { artifactsRoot } from '../paths.js';
import type { TieNote } from '../searchTypes.js';
import { spreadOfValues, spreadsOf, type MetricSpread } from '../workflowSafe/spread.js';

export type Metrics = Record<string, number | string | null | undefined>;

export interface CheckEntry {
  name: string;
  value: unknown;
  threshold: unknown;
  passed: boolean;
  detail?: string;
}

export interface CheckReport {
  passed: boolean;
  checks: CheckEntry[];
  reference?: string;
}

export interface CandidateView {
  candidateId: string;
  round: number;
  status: 'accepted' | 'rejected';
  /** Rejection tag and its one-line explanation, e.g. "wrong_output: logits_max_abs_diff 0.08 > 1e-4". */
  reason: string | null;
  /** Which stage rejected it (build | verify | benchmark), when recorded. */
  stage: string | null;
  design: Record<string, unknown>;
  /** Absolute path of the candidate's stack directory, or null when none was materialized. */
  stackDir: string | null;
  check: CheckReport | null;
  checkPath: string | null;
  bench: Metrics | null;
  benchPath: string | null;
  /** Each metric's median, range and count over the benchmark's repetitions (bench.json's `spread`). */
  spread: Record<string, MetricSpread>;
  /** The scenario's objective metric, read from bench.json. */
  objective: number | null;
  isBaseline: boolean;
  /** When its pipeline ended (search.json's `finishedAt`, the candidate workflow's clock), in seconds
   * since the search started; null in search.json files written before candidates recorded it. */
  finishedS: number | null;
}

/** The final round: the leading candidates re-measured side by side (search.json's `finalRound`),
 * with each candidate's figures read from its pass files. */
export interface FinalRoundView {
  passes: number;
  /** Candidate ids, best first, after the tie rule. */
  order: string[];
  ties: TieNote[];
  candidates: Array<{ candidateId: string; spread: MetricSpread | null; errors: string[]; changes: number | null }>;
  /** Where the pass files are; null when the round did not run. */
  evidenceDir: string | null;
  error: string | null;
}

export interface RoundBest {
  round: number;
  /** Best objective among accepted candidates up to and including this round. */
  best: number | null;
  bestCandidateId: string | null;
  /** Best objective among this round's own candidates. */
  roundBest: number | null;
}

export interface SearchResults {
  searchId: string;
  searchDir: string;
  status: string;
  scenario: Record<string, any>;
  objectiveMetric: string;
  higherIsBetter: boolean;
  latencyMetric: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The search's wall time in seconds: startedAt → finishedAt, or, while it runs, → the last
   * candidate's end; null when neither is recorded. */
  wallS: number | null;
  /** Accepted candidates, best first. */
  leaderboard: CandidateView[];
  rejected: CandidateView[];
  baseline: CandidateView | null;
  rounds: RoundBest[];
  llmUsage: Record<string, unknown>;
  finalRound: FinalRoundView | null;
}

export class SearchNotFoundError extends Error {}

export function listSearchIds(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((name) => existsSync(path.join(root, name, 'search.json')))
    .sort();
}

/** Resolves a search id (or a path to a search directory) to its directory, with a helpful error. */
export function resolveSearchDir(searchIdOrDir: string, root: string = artifactsRoot()): string {
  if (existsSync(path.join(searchIdOrDir, 'search.json'))) return path.resolve(searchIdOrDir);
  const dir = path.join(root, searchIdOrDir);
  if (existsSync(path.join(dir, 'search.json'))) return dir;
  const known = listSearchIds(root);
  const hint = known.length
    ? `searches in ${root}: ${known.join(', ')}`
    : `no searches in ${root} yet (run \`vibeserve search <scenario>\` first, or pass --artifacts <dir>)`;
  throw new SearchNotFoundError(`search "${searchIdOrDir}" not found: ${hint}`);
}

function readJson(file: string): any {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
}

/** The first existing file among the conventional location and the path recorded in search.json. */
function locate(searchDir: string, conventional: string, recorded: unknown): string | null {
  const candidates = [path.join(searchDir, conventional)];
  if (typeof recorded === 'string' && recorded) {
    candidates.push(path.isAbsolute(recorded) ? recorded : path.join(searchDir, recorded));
  }
  return candidates.find((p) => existsSync(p)) ?? null;
}

/** bench.json is the bench verb's result payload: flat vLLM metric names, or wrapped in {metrics}. */
function readBench(file: string): Metrics {
  const raw = readJson(file);
  const flat =
    raw && typeof raw === 'object' && raw.metrics && typeof raw.metrics === 'object' ? { ...raw, ...raw.metrics } : raw;
  delete flat.metrics;
  return flat as Metrics;
}

function readCheck(file: string): CheckReport {
  const raw = readJson(file);
  return { passed: Boolean(raw.passed), checks: Array.isArray(raw.checks) ? raw.checks : [], reference: raw.reference };
}

export function metricValue(m: Metrics | null, name: string): number | null {
  const v = m?.[name];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** vLLM convention used by the scenario schema: latency metrics end in _ms and are lower-is-better. */
export function isHigherBetter(metric: string): boolean {
  return !metric.endsWith('_ms');
}

/** Seconds from the ISO time `from` to the ISO time `to`; null when either is missing or unreadable. */
function secondsBetween(from: unknown, to: unknown): number | null {
  if (typeof from !== 'string' || typeof to !== 'string') return null;
  const [a, b] = [Date.parse(from), Date.parse(to)];
  return Number.isFinite(a) && Number.isFinite(b) ? (b - a) / 1000 : null;
}

function toView(
  searchDir: string,
  raw: any,
  objectiveMetric: string,
  isBaseline: boolean,
  startedAt: string | null,
): CandidateView {
  const id = String(raw.candidateId);
  const base = path.join('candidates', id);
  const designFile = locate(searchDir, path.join(base, 'design.json'), undefined);
  const checkPath = locate(searchDir, path.join(base, 'check.json'), raw.checkPath);
  const benchPath = locate(searchDir, path.join(base, 'bench.json'), raw.benchPath);
  const stackDir = locate(searchDir, path.join(base, 'stack'), raw.stackDir);
  const bench = benchPath ? readBench(benchPath) : null;
  const spread =
    bench && typeof bench.spread === 'object' && bench.spread ? spreadsOf(bench, Object.keys(bench.spread)) : {};
  return {
    candidateId: id,
    round: Number(raw.round ?? 0),
    status: raw.status === 'rejected' ? 'rejected' : 'accepted',
    reason: raw.reason ? (raw.message ? `${raw.reason}: ${raw.message}` : String(raw.reason)) : null,
    stage: raw.stage ?? null,
    design: designFile ? readJson(designFile) : (raw.design ?? {}),
    stackDir: stackDir && statSync(stackDir).isDirectory() ? stackDir : null,
    check: checkPath ? readCheck(checkPath) : null,
    checkPath,
    bench,
    benchPath,
    spread,
    objective: metricValue(bench, objectiveMetric),
    isBaseline,
    finishedS: secondsBetween(startedAt, raw.finishedAt),
  };
}

/** The latency axis of the Pareto plot: the scenario's SLO metric when it has one. */
function pickLatencyMetric(scenario: Record<string, any>): string {
  const slo = scenario?.workload?.slo ?? {};
  if (slo.tpot_ms !== undefined) return 'median_tpot_ms';
  if (slo.ttft_ms !== undefined) return 'median_ttft_ms';
  return 'median_e2el_ms';
}

export function loadSearchResults(searchIdOrDir: string, root?: string): SearchResults {
  const searchDir = resolveSearchDir(searchIdOrDir, root);
  const search = readJson(path.join(searchDir, 'search.json'));
  const scenario = search.scenario ?? {};
  const objectiveMetric: string = scenario.objective ?? 'output_throughput';
  const higherIsBetter = isHigherBetter(objectiveMetric);
  const better = (a: number, b: number) => (higherIsBetter ? a > b : a < b);

  const startedAt: string | null = typeof search.startedAt === 'string' ? search.startedAt : null;
  const view = (raw: any, isBaseline: boolean) => toView(searchDir, raw, objectiveMetric, isBaseline, startedAt);
  const accepted: CandidateView[] = (search.leaderboard ?? []).map((r: any) => view(r, false));
  const rejected: CandidateView[] = (search.rejected ?? []).map((r: any) => view(r, false));
  const baseline = search.baseline ? view(search.baseline, true) : null;
  const finalRound = readFinalRound(searchDir, search.finalRound, objectiveMetric);
  // The final round's order comes first (its figures were measured side by side); the rest follow by their own figures.
  const finalPlace = new Map((finalRound?.error ? [] : (finalRound?.order ?? [])).map((id, i) => [id, i]));
  const leaderboard = [...accepted].sort((a, b) => {
    const [fa, fb] = [finalPlace.get(a.candidateId), finalPlace.get(b.candidateId)];
    if (fa !== undefined || fb !== undefined) return (fa ?? Infinity) - (fb ?? Infinity);
    if (a.objective === null) return 1;
    if (b.objective === null) return -1;
    return higherIsBetter ? b.objective - a.objective : a.objective - b.objective;
  });

  // Rounds come from the candidates themselves, so the curve agrees with the bench files.
  const roundNumbers = new Set<number>([...accepted, ...rejected].map((c) => c.round));
  for (const r of search.rounds ?? []) roundNumbers.add(Number(r.round));
  const rounds: RoundBest[] = [];
  let best: number | null = null;
  let bestId: string | null = null;
  for (const round of [...roundNumbers].sort((a, b) => a - b)) {
    let roundBest: number | null = null;
    for (const c of accepted) {
      if (c.round !== round || c.objective === null) continue;
      if (roundBest === null || better(c.objective, roundBest)) roundBest = c.objective;
      if (best === null || better(c.objective, best)) {
        best = c.objective;
        bestId = c.candidateId;
      }
    }
    rounds.push({ round, best, bestCandidateId: bestId, roundBest });
  }

  return {
    searchId: String(search.searchId ?? path.basename(searchDir)),
    searchDir,
    status: String(search.status ?? 'unknown'),
    scenario,
    objectiveMetric,
    higherIsBetter,
    latencyMetric: pickLatencyMetric(scenario),
    startedAt,
    finishedAt: search.finishedAt ?? null,
    wallS: wallSeconds(startedAt, search.finishedAt, [...accepted, ...rejected, ...(baseline ? [baseline] : [])]),
    leaderboard,
    rejected,
    baseline,
    rounds,
    llmUsage: search.llmUsage ?? {},
    finalRound,
  };
}

/** startedAt → finishedAt; for a search still running, up to the last candidate that ended. */
function wallSeconds(startedAt: string | null, finishedAt: unknown, candidates: CandidateView[]): number | null {
  const whole = secondsBetween(startedAt, finishedAt);
  if (whole !== null) return whole;
  const ends = candidates.map((c) => c.finishedS).filter((s): s is number => s !== null);
  return ends.length ? Math.max(...ends) : null;
}

/** search.json's finalRound, each candidate's spread recomputed from the objective in its pass files. */
function readFinalRound(searchDir: string, raw: any, objectiveMetric: string): FinalRoundView | null {
  if (!raw || typeof raw !== 'object') return null;
  const evidenceDir =
    typeof raw.evidenceDir === 'string' && raw.evidenceDir ? path.join(searchDir, raw.evidenceDir) : null;
  const passes = Number(raw.passes ?? 0);
  const candidates = (Array.isArray(raw.candidates) ? raw.candidates : []).map((c: any) => {
    const values: number[] = [];
    for (let p = 1; evidenceDir && p <= passes; p++) {
      const file = path.join(evidenceDir, `${c.candidateId}.pass-${p}.json`);
      const v = existsSync(file) ? metricValue(readBench(file), objectiveMetric) : null;
      if (v !== null) values.push(v);
    }
    return {
      candidateId: String(c.candidateId),
      spread: spreadOfValues(values) ?? c.spread ?? null,
      errors: c.errors ?? [],
      changes: c.changes ?? null,
    };
  });
  return { passes, order: raw.order ?? [], ties: raw.ties ?? [], candidates, evidenceDir, error: raw.error ?? null };
}

/** The leaderboard plus the baseline when it is a separate measurement (a search may use one of
 * its own candidates, the generic default stack, as the baseline). */
export function measuredCandidates(r: SearchResults): CandidateView[] {
  const separate = r.baseline && !r.leaderboard.some((c) => c.candidateId === r.baseline!.candidateId);
  return [...r.leaderboard, ...(separate ? [r.baseline!] : [])];
}

/** Every candidate search.json names: the leaderboard, the rejected ones, and the baseline when it
 * is not among them. */
export function listedCandidates(r: SearchResults): CandidateView[] {
  const listed = [...r.leaderboard, ...r.rejected];
  if (r.baseline && !listed.some((c) => c.candidateId === r.baseline!.candidateId)) listed.push(r.baseline);
  return listed;
}

/** The listed candidates that recorded when they ended, earliest first: the search's timeline. */
export function timelineCandidates(r: SearchResults): Array<CandidateView & { finishedS: number }> {
  return listedCandidates(r)
    .filter((c): c is CandidateView & { finishedS: number } => c.finishedS !== null)
    .sort((a, b) => a.finishedS - b.finishedS);
}

export function isBaselineCandidate(r: SearchResults, c: CandidateView): boolean {
  return c.isBaseline || (r.baseline !== null && c.candidateId === r.baseline.candidateId);
}

/** All candidates that can be exported: accepted ones with a stack directory. */
export function findCandidate(results: SearchResults, candidateId?: string): CandidateView {
  const all = [...results.leaderboard, ...results.rejected];
  if (!candidateId) {
    const best = results.leaderboard.find((c) => c.stackDir);
    if (!best) throw new Error(`search "${results.searchId}" has no accepted candidate with a stack to export`);
    return best;
  }
  const found = all.find((c) => c.candidateId === candidateId);
  if (!found) {
    const ids = all.map((c) => `${c.candidateId} (${c.status})`).join(', ') || 'none';
    throw new SearchNotFoundError(
      `candidate "${candidateId}" not found in search "${results.searchId}"; candidates: ${ids}`,
    );
  }
  if (found.status !== 'accepted') {
    throw new Error(
      `candidate "${candidateId}" was rejected (${found.reason ?? 'no reason recorded'}); export an accepted one`,
    );
  }
  if (!found.stackDir) throw new Error(`candidate "${candidateId}" has no stack directory under ${results.searchDir}`);
  return found;
}
