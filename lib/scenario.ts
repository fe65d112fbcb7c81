// Scenario files (docs/scenario.md): parsed from YAML, validated field by field, defaults filled in.
// An error names the file and the field, so a user can fix it without reading code.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { designSpacePath, projectRoot } from './paths.js';

export type Arch = 'llama' | 'gpt2' | 'mixtral';
export type HardwareKind = 'cpu' | 'h100' | 'h200' | 'any';

export interface ScenarioModel {
  arch: Arch;
  preset: string | null;
  config: Record<string, unknown>;
  weights: 'random' | 'path' | 'gguf';
  path: string | null;
  seed: number;
  dtype: 'float32' | 'bfloat16' | 'float16';
}

export type Arrival =
  | { kind: 'max_concurrency'; concurrency: number }
  | { kind: 'poisson'; rate: number }
  | { kind: 'fixed_rate'; rate: number };

export const DATASETS = ['random', 'fixed', 'code_edit', 'shared_prefix', 'json_schema'] as const;
export type Dataset = (typeof DATASETS)[number];

// A type alias (not an interface) so it fits the architect's index-signature ScenarioLike.
export type ScenarioWorkload = {
  /** code_edit: real text, a standard-library function to edit with the function as the request's prediction (python-runtime bench/code_edit.py).
   * shared_prefix: fixed lengths, every prompt opening with one long system prompt (python-runtime bench/workload.py).
   * json_schema: real text, a record to extract as JSON under a per-request JSON schema with its sentinel id (python-runtime bench/json_extraction.py). */
  dataset: Dataset;
  prompt_len: number;
  /** shared_prefix only: the shared system prompt's tokens, 0 < shared_prefix_len < prompt_len. */
  shared_prefix_len?: number;
  output_len: number;
  num_requests: number;
  arrival: Arrival;
  streaming: boolean;
  slo: { ttft_ms?: number; tpot_ms?: number; itl_ms?: number; e2el_ms?: number };
};

/** The most checks one device may hold at once (search.checks_per_device, VIBESERVE_CHECKS_PER_DEVICE). */
export const MAX_CHECKS_PER_DEVICE = 8;

export interface ScenarioSearch {
  rounds: number;
  candidates_per_round: number;
  max_candidates: number;
  concurrency: number;
  wall_time_minutes: number;
  architect: 'model-free' | 'random' | 'llm';
  builder: 'template' | 'llm';
  check_timeout_s: number;
  bench_timeout_s: number;
  /** Checks that may share one device at once (benchmarks always run alone). */
  checks_per_device: number;
}

export interface Scenario {
  name: string;
  description: string;
  model: ScenarioModel;
  tokenizer: { kind: 'hf_json' | 'tiktoken_bpe' | 'custom_file' | 'byte'; path: string | null } | null;
  workload: ScenarioWorkload;
  objective: string;
  hardware: { kind: HardwareKind; gpus: number };
  search: ScenarioSearch;
  constraints: Record<string, string[]>;
}

export class ScenarioError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${file}: field '${field}' ${problem}`);
    this.name = 'ScenarioError';
  }
}

/** vLLM benchmark metric names an objective may use (docs/boundary.md). */
export const OBJECTIVE_METRICS = [
  'request_throughput',
  'output_throughput',
  'total_token_throughput',
  ...['ttft', 'tpot', 'itl', 'e2el'].flatMap((m) => [`mean_${m}_ms`, `median_${m}_ms`, `p99_${m}_ms`]),
];

/** Higher is better unless the metric is a latency (ends in `_ms`). */
export function objectiveIsMinimized(objective: string): boolean {
  return objective.endsWith('_ms');
}

type Obj = Record<string, unknown>;

/** Reads one typed field out of a plain object, raising a ScenarioError that names it. */
class FieldReader {
  constructor(private readonly file: string) {}

  fail(field: string, problem: string): never {
    throw new ScenarioError(this.file, field, problem);
  }

  object(parent: Obj, key: string, where: string, optional = false): Obj | undefined {
    const v = parent[key];
    if (v === undefined || v === null) {
      if (optional) return undefined;
      this.fail(where, 'is missing (an object is required)');
    }
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(where, `must be an object, got ${describe(v)}`);
    return v as Obj;
  }

  string(
    parent: Obj,
    key: string,
    where: string,
    opts: { default?: string | null; pattern?: RegExp; hint?: string } = {},
  ): string {
    const v = parent[key];
    if (v === undefined || v === null) {
      if (opts.default !== undefined) return opts.default as string;
      this.fail(where, 'is missing (a string is required)');
    }
    if (typeof v !== 'string') this.fail(where, `must be a string, got ${describe(v)}`);
    if (opts.pattern && !opts.pattern.test(v))
      this.fail(where, `is '${v}', which does not match ${opts.hint ?? opts.pattern}`);
    return v;
  }

  oneOf<T extends string>(parent: Obj, key: string, where: string, choices: readonly T[], dflt?: T): T {
    const v = parent[key];
    if ((v === undefined || v === null) && dflt !== undefined) return dflt;
    if (v === undefined || v === null) this.fail(where, `is missing (one of: ${choices.join(', ')})`);
    if (!choices.includes(v as T)) this.fail(where, `is ${JSON.stringify(v)}; allowed: ${choices.join(', ')}`);
    return v as T;
  }

  number(
    parent: Obj,
    key: string,
    where: string,
    opts: { default?: number; int?: boolean; min?: number; max?: number; exclusiveMin?: number } = {},
  ): number {
    const v = parent[key];
    if (v === undefined || v === null) {
      if (opts.default !== undefined) return opts.default;
      this.fail(where, 'is missing (a number is required)');
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(where, `must be a number, got ${describe(v)}`);
    if (opts.int && !Number.isInteger(v)) this.fail(where, `must be an integer, got ${v}`);
    if (opts.min !== undefined && v < opts.min) this.fail(where, `must be ≥ ${opts.min}, got ${v}`);
    if (opts.max !== undefined && v > opts.max) this.fail(where, `must be ≤ ${opts.max}, got ${v}`);
    if (opts.exclusiveMin !== undefined && v <= opts.exclusiveMin)
      this.fail(where, `must be > ${opts.exclusiveMin}, got ${v}`);
    return v;
  }

  boolean(parent: Obj, key: string, where: string, dflt: boolean): boolean {
    const v = parent[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') this.fail(where, `must be true or false, got ${describe(v)}`);
    return v;
  }

  noUnknownKeys(obj: Obj, allowed: string[], where: string): void {
    for (const k of Object.keys(obj)) {
      if (!allowed.includes(k)) {
        this.fail(where ? `${where}.${k}` : k, `is not a known field (known: ${allowed.join(', ')})`);
      }
    }
  }
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  return `${typeof v} ${JSON.stringify(v)}`;
}

interface DesignSpaceDimensions {
  dimensions: Record<string, { choices: Record<string, unknown> }>;
}

function loadDimensions(): DesignSpaceDimensions['dimensions'] {
  return (JSON.parse(readFileSync(designSpacePath(), 'utf8')) as DesignSpaceDimensions).dimensions;
}

export function parseScenario(text: string, file: string): Scenario {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw new ScenarioError(file, '(document)', `is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  const r = new FieldReader(file);
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    r.fail('(document)', 'must be a YAML mapping with name, model, workload, objective, hardware, search');
  const root = doc as Obj;
  r.noUnknownKeys(
    root,
    ['name', 'description', 'model', 'tokenizer', 'workload', 'objective', 'hardware', 'search', 'constraints'],
    '',
  );

  const name = r.string(root, 'name', 'name', {
    pattern: /^[a-z0-9][a-z0-9-]*$/,
    hint: '[a-z0-9-]+ (it becomes part of the workflow id)',
  });
  const description = r.string(root, 'description', 'description', { default: '' });

  const m = r.object(root, 'model', 'model')!;
  r.noUnknownKeys(m, ['arch', 'preset', 'config', 'weights', 'path', 'seed', 'dtype'], 'model');
  const weights = r.oneOf(m, 'weights', 'model.weights', ['random', 'path', 'gguf'] as const, 'random');
  const model: ScenarioModel = {
    arch: r.oneOf(m, 'arch', 'model.arch', ['llama', 'gpt2', 'mixtral'] as const),
    preset: r.string(m, 'preset', 'model.preset', { default: null }),
    config: r.object(m, 'config', 'model.config', true) ?? {},
    weights,
    path: r.string(m, 'path', 'model.path', { default: null }),
    seed: r.number(m, 'seed', 'model.seed', { default: 0, int: true, min: 0 }),
    dtype: r.oneOf(m, 'dtype', 'model.dtype', ['float32', 'bfloat16', 'float16'] as const, 'float32'),
  };
  if (weights !== 'random' && !model.path) r.fail('model.path', `is required when model.weights is '${weights}'`);
  if (weights === 'random' && !model.preset && Object.keys(model.config).length === 0) {
    r.fail('model.preset', 'is missing: random weights need a preset or a full model.config');
  }

  let tokenizer: Scenario['tokenizer'] = null;
  const t = r.object(root, 'tokenizer', 'tokenizer', true);
  if (t) {
    r.noUnknownKeys(t, ['kind', 'path'], 'tokenizer');
    tokenizer = {
      kind: r.oneOf(t, 'kind', 'tokenizer.kind', ['hf_json', 'tiktoken_bpe', 'custom_file', 'byte'] as const),
      path: r.string(t, 'path', 'tokenizer.path', { default: null }),
    };
    if (tokenizer.kind !== 'byte' && !tokenizer.path && model.weights === 'random') {
      r.fail('tokenizer.path', `is required for tokenizer.kind '${tokenizer.kind}' with random weights`);
    }
  }

  const w = r.object(root, 'workload', 'workload')!;
  r.noUnknownKeys(
    w,
    ['dataset', 'prompt_len', 'shared_prefix_len', 'output_len', 'num_requests', 'arrival', 'streaming', 'slo'],
    'workload',
  );
  const a = r.object(w, 'arrival', 'workload.arrival', true) ?? { kind: 'max_concurrency', concurrency: 8 };
  const arrivalKind = r.oneOf(a, 'kind', 'workload.arrival.kind', [
    'max_concurrency',
    'poisson',
    'fixed_rate',
  ] as const);
  const arrival: Arrival =
    arrivalKind === 'max_concurrency'
      ? {
          kind: arrivalKind,
          concurrency: r.number(a, 'concurrency', 'workload.arrival.concurrency', { int: true, min: 1 }),
        }
      : { kind: arrivalKind, rate: r.number(a, 'rate', 'workload.arrival.rate', { exclusiveMin: 0 }) };
  const sloObj = r.object(w, 'slo', 'workload.slo', true) ?? {};
  r.noUnknownKeys(sloObj, ['ttft_ms', 'tpot_ms', 'itl_ms', 'e2el_ms'], 'workload.slo');
  const slo: ScenarioWorkload['slo'] = {};
  for (const k of ['ttft_ms', 'tpot_ms', 'itl_ms', 'e2el_ms'] as const) {
    if (sloObj[k] !== undefined) slo[k] = r.number(sloObj, k, `workload.slo.${k}`, { exclusiveMin: 0 });
  }
  const dataset = r.oneOf(w, 'dataset', 'workload.dataset', DATASETS, 'random');
  const promptLen = r.number(w, 'prompt_len', 'workload.prompt_len', { int: true, min: 1 });
  const sharedPrefixLen = sharedPrefixLenOf(r, w, dataset, promptLen);
  const workload: ScenarioWorkload = {
    dataset,
    prompt_len: promptLen,
    ...(sharedPrefixLen !== undefined ? { shared_prefix_len: sharedPrefixLen } : {}),
    output_len: r.number(w, 'output_len', 'workload.output_len', { int: true, min: 1 }),
    num_requests: r.number(w, 'num_requests', 'workload.num_requests', { int: true, min: 1 }),
    arrival,
    streaming: r.boolean(w, 'streaming', 'workload.streaming', true),
    slo,
  };

  const objective = r.oneOf(root, 'objective', 'objective', OBJECTIVE_METRICS, 'output_throughput');

  const h = r.object(root, 'hardware', 'hardware', true) ?? { kind: 'cpu' };
  r.noUnknownKeys(h, ['kind', 'gpus'], 'hardware');
  const hardware = {
    kind: r.oneOf(h, 'kind', 'hardware.kind', ['cpu', 'h100', 'h200', 'any'] as const),
    gpus: r.number(h, 'gpus', 'hardware.gpus', { default: 1, int: true, min: 1 }),
  };

  const s = r.object(root, 'search', 'search', true) ?? {};
  r.noUnknownKeys(
    s,
    [
      'rounds',
      'candidates_per_round',
      'max_candidates',
      'concurrency',
      'wall_time_minutes',
      'architect',
      'builder',
      'check_timeout_s',
      'bench_timeout_s',
      'checks_per_device',
    ],
    'search',
  );
  const rounds = r.number(s, 'rounds', 'search.rounds', { default: 3, int: true, min: 1 });
  const perRound = r.number(s, 'candidates_per_round', 'search.candidates_per_round', {
    default: 4,
    int: true,
    min: 1,
  });
  const search: ScenarioSearch = {
    rounds,
    candidates_per_round: perRound,
    max_candidates: r.number(s, 'max_candidates', 'search.max_candidates', {
      default: rounds * perRound,
      int: true,
      min: 1,
    }),
    concurrency: r.number(s, 'concurrency', 'search.concurrency', { default: 2, int: true, min: 1 }),
    wall_time_minutes: r.number(s, 'wall_time_minutes', 'search.wall_time_minutes', { default: 60, exclusiveMin: 0 }),
    architect: r.oneOf(s, 'architect', 'search.architect', ['model-free', 'random', 'llm'] as const, 'model-free'),
    builder: r.oneOf(s, 'builder', 'search.builder', ['template', 'llm'] as const, 'template'),
    check_timeout_s: r.number(s, 'check_timeout_s', 'search.check_timeout_s', { default: 600, exclusiveMin: 0 }),
    bench_timeout_s: r.number(s, 'bench_timeout_s', 'search.bench_timeout_s', { default: 900, exclusiveMin: 0 }),
    checks_per_device: r.number(s, 'checks_per_device', 'search.checks_per_device', {
      default: 1,
      int: true,
      min: 1,
      max: MAX_CHECKS_PER_DEVICE,
    }),
  };

  const c = r.object(root, 'constraints', 'constraints', true) ?? {};
  const dims = loadDimensions();
  const constraints: Record<string, string[]> = {};
  for (const [dim, allowed] of Object.entries(c)) {
    const where = `constraints.${dim}`;
    if (!dims[dim]) r.fail(where, `names no design dimension (known: ${Object.keys(dims).join(', ')})`);
    const list = Array.isArray(allowed) ? allowed : [allowed];
    const choices = Object.keys(dims[dim].choices);
    if (list.length === 0) r.fail(where, 'must allow at least one choice');
    for (const choice of list) {
      if (typeof choice !== 'string' && typeof choice !== 'number')
        r.fail(where, `must list choices as strings, got ${describe(choice)}`);
      if (!choices.includes(String(choice)))
        r.fail(where, `allows '${choice}', which is not a choice of ${dim} (choices: ${choices.join(', ')})`);
    }
    constraints[dim] = list.map(String);
  }

  return { name, description, model, tokenizer, workload, objective, hardware, search, constraints };
}

/** The shared_prefix dataset's prefix length: required there, refused elsewhere, and shorter than
 * the prompt so every request keeps tokens of its own (the runtime's Workload checks the same). */
function sharedPrefixLenOf(r: FieldReader, w: Obj, dataset: Dataset, promptLen: number): number | undefined {
  const where = 'workload.shared_prefix_len';
  if (dataset !== 'shared_prefix') {
    if (w.shared_prefix_len !== undefined && w.shared_prefix_len !== null)
      r.fail(where, `applies to workload.dataset 'shared_prefix' only (dataset is '${dataset}'): drop it`);
    return undefined;
  }
  if (w.shared_prefix_len === undefined || w.shared_prefix_len === null)
    r.fail(where, "is required for workload.dataset 'shared_prefix': the shared system prompt's length in tokens");
  const n = r.number(w, 'shared_prefix_len', where, { int: true, min: 1 });
  if (n >= promptLen)
    r.fail(where, `must be < workload.prompt_len (${promptLen}), got ${n}: each prompt needs tokens of its own`);
  return n;
}

export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ScenarioError(
      file,
      '(file)',
      `cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return withRepositoryPaths(parseScenario(text, file));
}

/** A scenario's file paths (model.path, tokenizer.path) are relative to the repository, as the
 * shipped scenarios write them; made absolute here, since every stack spec is written elsewhere
 * (a search's artifacts, a preflight directory) and the runtime resolves paths against the spec. */
export function withRepositoryPaths(s: Scenario, root = projectRoot): Scenario {
  const abs = (p: string | null) => (p && !path.isAbsolute(p) ? path.resolve(root, p) : p);
  return {
    ...s,
    model: { ...s.model, path: abs(s.model.path) },
    tokenizer: s.tokenizer ? { ...s.tokenizer, path: abs(s.tokenizer.path) } : s.tokenizer,
  };
}

/** The runtime task queue that verifies and benchmarks this scenario's candidates. */
export function runtimeQueueFor(kind: Exclude<HardwareKind, 'any'>): string {
  return `vibeserve-runtime-${kind}`;
}
