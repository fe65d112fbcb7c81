// A metric over a benchmark's repetitions: median, range and count (bench.json's `spread`, written by
// the runtime's bench/metrics.py median_of_runs). Pure, so workflows, the CLI, the report and the
// export all read and print it the same way.
import { fmt } from './fmt.js';

export interface MetricSpread {
  median: number;
  min: number;
  max: number;
  /** How many repetitions the figures come from. */
  n: number;
}

/** The metrics whose spread travels with a candidate's result (besides the scenario's objective). */
export const KEY_METRICS = [
  'output_throughput',
  'request_throughput',
  'median_ttft_ms',
  'median_tpot_ms',
  'p99_e2el_ms',
];

export function isMetricSpread(v: unknown): v is MetricSpread {
  if (!v || typeof v !== 'object') return false;
  const s = v as Record<string, unknown>;
  return ['median', 'min', 'max', 'n'].every((k) => typeof s[k] === 'number' && Number.isFinite(s[k]));
}

/** The spreads of `metrics` in a bench result (those it has). */
export function spreadsOf(bench: unknown, metrics: string[]): Record<string, MetricSpread> {
  const all = bench && typeof bench === 'object' ? (bench as Record<string, unknown>).spread : undefined;
  const out: Record<string, MetricSpread> = {};
  if (!all || typeof all !== 'object') return out;
  for (const m of metrics) {
    const s = (all as Record<string, unknown>)[m];
    if (isMetricSpread(s)) out[m] = { median: s.median, min: s.min, max: s.max, n: s.n };
  }
  return out;
}

/** Two measurements whose ranges meet cannot be told apart by them. */
export function spreadsOverlap(a: MetricSpread, b: MetricSpread): boolean {
  return a.min <= b.max && b.min <= a.max;
}

/** The spread of a list of values (one per repetition). */
export function spreadOfValues(values: number[]): MetricSpread | null {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = Math.floor(xs.length / 2);
  const median = xs.length % 2 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
  return { median, min: xs[0]!, max: xs[xs.length - 1]!, n: xs.length };
}

/** "3590.5 (3402.1–3701.2, n=3)": the median, its range and count; the bare value when no spread was recorded. */
export function formatSpread(s: MetricSpread | null | undefined, value?: number | null): string {
  if (!s) return fmt(value);
  return `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)}, n=${s.n})`;
}
