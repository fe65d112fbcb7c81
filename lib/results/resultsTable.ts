// The README's results tables, generated from the JSON files under bench/results/: the served
// comparisons (bench/scenarios/compare_served.py: every engine over HTTP, peers beside), one row per
// offline scenario run (bench/scenarios/compare_stacks.py) and a short list of the other files.
// Pure functions over parsed files, so the table is testable without touching the README.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fmt } from '../report/svg.js';

export const START_MARKER = '<!-- results:start -->';
export const END_MARKER = '<!-- results:end -->';

export interface MetricSummary {
  median: number;
  min: number;
  max: number;
  n?: number;
}

export interface StackResult {
  mode?: string;
  engine?: string | null;
  version?: string;
  error?: string;
  components?: Record<string, string>;
  params?: Record<string, unknown>;
  metrics?: Record<string, MetricSummary>;
  runs?: Array<Record<string, unknown>>;
}

export interface SweepPoint {
  stack: string;
  max_concurrency: number;
  output_throughput: number;
  [k: string]: unknown;
}

/** What compare_stacks.py writes (the fields the table and plots read). */
export interface ScenarioResult {
  scenario: string;
  device: string;
  command: string;
  objective: string;
  objective_direction?: 'higher' | 'lower';
  workload?: Record<string, unknown>;
  search?: {
    candidates_evaluated?: number;
    accepted?: number;
    rejected?: Array<{ candidate?: string; reason?: string }>;
    wall_time_s?: number | null;
    best_design?: { choices?: Record<string, string>; params?: Record<string, unknown>; origin?: string } | null;
  } | null;
  stacks: Record<string, StackResult>;
  ratio_vs_generic: number | null;
  ratio_vs_hf_generate?: number | null;
  target?: { ratio_vs_generic: number; met?: boolean | null };
  concurrency_sweep?: SweepPoint[];
  errors?: Array<{ stack?: string; error: string }>;
  complete?: boolean;
}

/** One workload of a served comparison (compare_served.py). */
export interface ServedWorkload {
  workload: {
    num_prompts: number;
    input_len: number;
    output_len: number;
    max_concurrency: number | null;
    request_rate: number | null;
  };
  objective: string;
  stacks: Record<string, StackResult>;
  skipped?: Record<string, string>;
  best_peer?: string | null;
  ratio_vs_generic?: number | null;
  ratio_vs_peer?: number | null;
  generic_vs_peer?: number | null;
  ratio_of?: string;
}

/** What compare_served.py writes: the scenario's workload is the headline, `saturating` beside it. */
export interface ServedResult extends ScenarioResult {
  mode: 'online';
  workloads: Record<string, ServedWorkload>;
  peers: Record<string, StackResult>;
  searched_source?: string;
  /** the code measured, where it was not a commit of its own */
  tree?: string;
  ratio_vs_peer?: number | null;
  generic_vs_peer?: number | null;
}

export interface OtherResult {
  file: string;
  device: string | null;
  figures: Array<[string, string]>;
}

export interface ResultsSet {
  /** served comparisons (mode "online") */
  served?: Array<{ file: string; result: ServedResult }>;
  /** offline scenario runs */
  scenarios: Array<{ file: string; result: ScenarioResult }>;
  others: OtherResult[];
}

export const STACK_ORDER = ['hf-generate', 'generic', 'searched'];
/** The engines of a served comparison, in table order. */
export const SERVED_ORDER = ['generic', 'searched', 'vllm', 'transformers-cb', 'llama.cpp'];

function isServedResult(d: ScenarioResult): d is ServedResult {
  return (d as ServedResult).mode === 'online' && typeof (d as ServedResult).workloads === 'object';
}

export function isScenarioResult(d: unknown): d is ScenarioResult {
  return (
    !!d && typeof d === 'object' && 'scenario' in d && 'stacks' in d && typeof (d as ScenarioResult).stacks === 'object'
  );
}

/** Reads every *.json under dir (summary.json is the run's index, not a result). */
export function loadResults(dir: string): ResultsSet {
  const out: ResultsSet = { served: [], scenarios: [], others: [] };
  let files: string[] = [];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.json') && f !== 'summary.json')
      .sort();
  } catch {
    return out;
  }
  for (const file of files) {
    let d: unknown;
    try {
      d = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    } catch (err) {
      out.others.push({ file, device: null, figures: [['error', `not valid JSON: ${(err as Error).message}`]] });
      continue;
    }
    if (isScenarioResult(d) && isServedResult(d)) out.served!.push({ file, result: d });
    else if (isScenarioResult(d)) out.scenarios.push({ file, result: d });
    else out.others.push(summarizeOther(file, d));
  }
  return out;
}

/** Numeric leaves of another benchmark file (three levels deep), so the README shows what is there. */
const HEADLINE = /(per_s$|throughput$|fraction|_ms$|efficiency$|speedup|(^|_)ratio($|_)|roofline)/;

export function summarizeOther(file: string, d: unknown, limit = 16): OtherResult {
  const figures: Array<[string, string]> = [];
  const obj = (d && typeof d === 'object' ? d : {}) as Record<string, unknown>;
  const device = typeof obj.device === 'string' ? obj.device : null;
  if (obj.kind === 'vibeserve-design-sweep') return { file, device, figures: sweepFigures(obj).slice(0, limit) };
  const visit = (prefix: string, v: unknown, depth: number) => {
    if (figures.length >= 200) return;
    if (typeof v === 'number' && Number.isFinite(v)) figures.push([prefix, fmt(v)]);
    else if (v && typeof v === 'object' && !Array.isArray(v) && depth < 3) {
      for (const [k, x] of Object.entries(v as Record<string, unknown>))
        visit(prefix && prefix !== 'figures' ? `${prefix}.${k}` : k, x, depth + 1);
    }
  };
  visit('', obj, 0);
  // Rates, latencies and fractions are the figures; sizes, counts and wall times are bookkeeping.
  const headline = figures.filter(([k]) => HEADLINE.test(k.split('.').pop()!));
  return { file, device, figures: (headline.length ? headline : figures).slice(0, limit) };
}

/**
 * A design sweep's rows in measurement order: the objective of each design, named by what
 * `--vary` changed (or by its id), failures by their reason.
 */
function sweepFigures(sweep: Record<string, unknown>): Array<[string, string]> {
  const objective = (sweep.scenario as { objective?: string } | undefined)?.objective ?? 'objective';
  const varied = ((sweep.settings as { vary?: string } | undefined)?.vary ?? '').split('=')[0];
  const rows = (sweep.rows ?? []) as Array<{
    design: { id: string; choices: Record<string, unknown>; params: Record<string, unknown> };
    status: string;
    reason?: string;
    objective?: number;
  }>;
  return rows.map((r) => {
    const value = varied ? (r.design.choices[varied] ?? r.design.params[varied]) : undefined;
    const label = varied ? `${varied}=${JSON.stringify(value)}` : r.design.id;
    return [
      label,
      r.status === 'accepted' && typeof r.objective === 'number'
        ? `${fmt(r.objective)} ${objective}`
        : `rejected (${r.reason ?? 'unknown'})`,
    ];
  });
}

function median(r: ScenarioResult, stack: string, metric: string): MetricSummary | null {
  return r.stacks[stack]?.metrics?.[metric] ?? null;
}

/** "median (min–max)" */
export function cell(m: MetricSummary | null): string {
  if (!m) return '–';
  return m.min === m.max ? fmt(m.median) : `${fmt(m.median)} (${fmt(m.min)}–${fmt(m.max)})`;
}

function ratioCell(r: ScenarioResult): string {
  if (r.ratio_vs_generic === null || r.ratio_vs_generic === undefined) return 'n/a';
  const t = r.target?.ratio_vs_generic;
  const verdict = t === undefined ? '' : r.ratio_vs_generic >= t ? ' ✅' : ' ❌';
  return `**${r.ratio_vs_generic.toFixed(2)}×**${verdict}`;
}

function designCell(r: ScenarioResult): string {
  const c = r.search?.best_design?.choices;
  if (!c) return '–';
  return (
    ['attention', 'kv_cache', 'scheduler', 'execution', 'linear', 'moe']
      .filter((k) => c[k] !== undefined)
      .map((k) => c[k])
      .join(', ') + (searchedIsGeneric(r) ? ' (the generic default itself)' : '')
  );
}

/** The searched stack has the generic stack's components and parameters: any ratio is run-to-run
 * spread between two copies of one design, not a gain of the search. */
function searchedIsGeneric(r: ScenarioResult): boolean {
  const best = r.search?.best_design;
  const generic = r.stacks?.generic;
  if (!best?.choices || !generic?.components) return false;
  const same = (a: Record<string, unknown>, b: Record<string, unknown>) =>
    Object.keys({ ...a, ...b }).every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));
  const params = Object.fromEntries(Object.entries(generic.params ?? {}).filter(([k]) => k in (best.params ?? {})));
  return same(best.choices, generic.components) && same(best.params ?? {}, params);
}

function searchCell(r: ScenarioResult): string {
  const s = r.search;
  if (!s) return 'not run';
  const wall = typeof s.wall_time_s === 'number' ? `, ${Math.round(s.wall_time_s)} s` : '';
  return `${s.candidates_evaluated ?? '?'} (${s.accepted ?? '?'} ok, ${s.rejected?.length ?? 0} rejected${wall})`;
}

function ratioText(x: number | null | undefined): string {
  return typeof x === 'number' ? `**${x.toFixed(2)}×**` : 'n/a';
}

function workloadText(w: ServedWorkload['workload']): string {
  const load = w.max_concurrency
    ? `${w.max_concurrency} in flight`
    : w.request_rate
      ? `${fmt(w.request_rate)} req/s`
      : 'all at once';
  return `${w.num_prompts} × ${w.input_len}/${w.output_len}, ${load}`;
}

/** The served comparisons: one row per workload, every engine's median on that workload's objective. */
export function renderServedMarkdown(served: Array<{ file: string; result: ServedResult }>): string[] {
  if (served.length === 0) return [];
  const lines: string[] = [];
  const devices = [...new Set(served.map((s) => s.result.device))];
  lines.push(
    `### Served over HTTP, beside peer engines`,
    '',
    `Device: ${devices.join('; ')}. Every engine runs behind its own OpenAI-compatible server on the one device (GPU or CPU, as the row's file says) and serves the same ` +
      "weights (one safetensors checkpoint; llama.cpp the scenario's own GGUF file, quantized as it is); the project's load generator sends every engine the same token-id requests over HTTP/SSE (vLLM `bench serve` metrics), " +
      'in rotating order, after a warm-up with the same shapes. Medians of the repetitions with (min–max). ' +
      "**generic** is vLLM's defaults in this library's components ([docs/generic-stack.md](docs/generic-stack.md)); **searched** is the search's best design " +
      "(or a recorded design, as the file's `searched_source` says); **vLLM** is `vllm serve` at its defaults; **transformers-cb** is transformers' own continuous batching; **llama.cpp** is `llama-server` with a slot per client. " +
      'Ratios are on the row\'s objective, above 1 when the first-named is better; "vs best peer" compares the searched stack (the generic one where none was measured) with the better peer.',
    '',
  );
  lines.push(
    '| scenario | workload | objective | generic | searched | vLLM | transformers-cb | llama.cpp | searched vs generic | ours vs best peer | generic vs best peer | output tok/s generic / searched / vLLM / tf-cb / llama.cpp |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const { file, result: r } of served) {
    for (const [name, w] of Object.entries(r.workloads)) {
      const m = (stack: string, metric: string) => w.stacks[stack]?.metrics?.[metric] ?? null;
      const engines = SERVED_ORDER.map((e) => (w.skipped?.[e] ? 'skipped' : cell(m(e, w.objective))));
      const tp = SERVED_ORDER.map((e) => fmt(m(e, 'output_throughput')?.median)).join(' / ');
      const label =
        name === 'scenario' ? `scenario's: ${workloadText(w.workload)}` : `${name}: ${workloadText(w.workload)}`;
      lines.push(
        `| [${r.scenario}](bench/results/${file}) | ${label} | ${w.objective.replace(/_/g, ' ')} | ${engines.join(' | ')} | ` +
          `${ratioText(w.ratio_vs_generic)} | ${ratioText(w.ratio_vs_peer)}${w.best_peer ? ` (${w.best_peer})` : ''} | ${ratioText(w.generic_vs_peer)} | ${tp} |`,
      );
    }
  }
  const notes = served.flatMap(({ result: r }) => [
    ...(r.searched_source ? [`- ${r.scenario}: searched = ${r.searched_source}`] : []),
    ...(r.tree ? [`- ${r.scenario}: code measured: ${r.tree}`] : []),
    ...(r.errors ?? []).map(
      (e) => `- ${r.scenario}${e.stack ? ` (${e.stack})` : ''}: ${e.error.replace(/\s+/g, ' ').slice(0, 240)}`,
    ),
  ]);
  if (notes.length) lines.push('', ...notes);
  return lines;
}

/** The markdown that goes between the README markers. */
export function renderResultsMarkdown(set: ResultsSet, imagesDir = 'docs/images'): string {
  const lines: string[] = [];
  lines.push('_Generated by `npx tsx scripts/results-table.ts` from `bench/results/*.json`; do not edit by hand._', '');
  const served = renderServedMarkdown(set.served ?? []);
  if (served.length) lines.push(...served, '', '### Offline scenario runs', '');
  else if (set.scenarios.length) {
    lines.push(
      "No served comparison is recorded yet (every engine over HTTP beside vLLM and transformers' continuous batching, " +
        '[docs/gpu-runs.md](docs/gpu-runs.md)); the offline runs below rank the searched stacks against the generic stack of their time, ' +
        "which for these runs was not yet vLLM's defaults.",
      '',
    );
  }
  if (set.scenarios.length === 0) {
    lines.push('No scenario results yet: run `scripts/gpu/run-scenarios.sh` on a GPU host (see docs/gpu-runs.md).');
  } else {
    const devices = [...new Set(set.scenarios.map((s) => s.result.device))];
    // with several devices, each row names its own (and the header lists them all)
    const onDevice = (d: string) => (devices.length > 1 ? ` (${d})` : '');
    lines.push(
      `Device: ${devices.join('; ')}. Medians of the repetitions with (min–max); each stack runs the scenario's workload, interleaved. ` +
        "Each engine runs in-process (no HTTP). hf-generate is transformers `generate`, one request at a time, back to back (it ignores a request rate); generic is the generic stack as it stood when the run was made (its components and parameters are in the file: runs made before the vLLM-default generic stack of docs/generic-stack.md ran at most 16 sequences with SDPA attention); searched is the search's best stack. " +
        'Ratio: searched over generic on the objective (for a latency objective, generic over searched), so above 1 means the searched stack is better.',
      '',
    );
    lines.push(
      '| scenario | objective | hf-generate | generic | searched | ratio vs generic (target) | output tok/s hf / generic / searched | median TTFT ms (generic / searched) | median TPOT ms (generic / searched) | search: candidates | best design |',
    );
    lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const { file, result: r } of set.scenarios) {
      const obj = r.objective;
      const tp = STACK_ORDER.map((s) => fmt(median(r, s, 'output_throughput')?.median)).join(' / ');
      const ttft = ['generic', 'searched'].map((s) => fmt(median(r, s, 'median_ttft_ms')?.median)).join(' / ');
      const tpot = ['generic', 'searched'].map((s) => fmt(median(r, s, 'median_tpot_ms')?.median)).join(' / ');
      const target = r.target?.ratio_vs_generic !== undefined ? ` (≥ ${fmt(r.target.ratio_vs_generic)}×)` : '';
      lines.push(
        `| [${r.scenario}](bench/results/${file})${onDevice(r.device)} | ${obj.replace(/_/g, ' ')} | ${cell(median(r, 'hf-generate', obj))} | ${cell(median(r, 'generic', obj))} | ` +
          `${cell(median(r, 'searched', obj))} | ${ratioCell(r)}${target} | ${tp} | ${ttft} | ${tpot} | ${searchCell(r)} | ${designCell(r)} |`,
      );
    }
    const notes = set.scenarios.flatMap(({ result: r }) => [
      ...(searchedIsGeneric(r) && typeof r.ratio_vs_generic === 'number'
        ? [
            `- ${r.scenario}: the searched stack is the generic default design, so its ${r.ratio_vs_generic.toFixed(2)}× is the spread between two runs of one design, not a gain of the search`,
          ]
        : []),
      ...(r.errors ?? []).map(
        (e) => `- ${r.scenario}${e.stack ? ` (${e.stack})` : ''}: ${e.error.replace(/\s+/g, ' ').slice(0, 200)}`,
      ),
    ]);
    if (notes.length) lines.push('', 'Recorded problems:', '', ...notes);
    lines.push('', `![Latency percentiles per stack](${imagesDir}/results-latency.png)`);
    if (set.scenarios.some(({ result: r }) => sweepStacks(r).length > 0))
      lines.push('', `![Throughput vs concurrency](${imagesDir}/results-throughput-concurrency.png)`);
  }
  if (set.others.length) {
    lines.push('', 'Other benchmark files:', '');
    for (const o of set.others) {
      const figs = o.figures.map(([k, v]) => `${k} ${v}`).join('; ');
      lines.push(
        `- [${o.file}](bench/results/${o.file})${o.device ? ` (${o.device})` : ''}: ${figs || 'no numeric figures'}`,
      );
    }
  }
  return lines.join('\n');
}

/** Stacks with at least two sweep points (a line needs two). */
export function sweepStacks(r: ScenarioResult): string[] {
  const counts = new Map<string, number>();
  for (const p of r.concurrency_sweep ?? []) counts.set(p.stack, (counts.get(p.stack) ?? 0) + 1);
  return [...counts].filter(([, n]) => n >= 2).map(([s]) => s);
}

/** Replaces what lies between the markers, or appends a "Results" section with them. */
export function spliceReadme(readme: string, body: string): string {
  const block = `${START_MARKER}\n${body}\n${END_MARKER}`;
  const a = readme.indexOf(START_MARKER);
  const b = readme.indexOf(END_MARKER);
  if (a !== -1 && b > a) return readme.slice(0, a) + block + readme.slice(b + END_MARKER.length);
  return `${readme.replace(/\s*$/, '')}\n\n## Results\n\n${block}\n`;
}
