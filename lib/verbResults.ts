// The `result` event of each runtime verb, as the TypeScript side reads it. The runtime is another
// program (another language, and a stack may carry its own copy of it), so its answer is checked
// before anything uses it: a missing or mistyped field fails naming the verb and the field instead
// of travelling on as `undefined`. Shapes list only the fields this side reads; others pass through.

export interface MaterializeResult {
  stack_dir: string;
  spec_hash: string;
  files: number;
}

export interface CheckResult {
  passed: boolean;
  checks: Array<{ name: string; passed: boolean; value?: unknown; threshold?: unknown; detail?: string }>;
  report_path?: string | null;
}

/** One stack's measurement; side by side (`--with`), `stacks` holds one per stack instead. */
export type BenchResult = Record<string, unknown> & {
  mode: string;
  repetitions?: Array<Record<string, unknown>>;
  stacks?: Array<
    Record<string, unknown> & { stack: string; error?: string; repetitions?: Array<Record<string, unknown>> }
  >;
};

export interface HardwareResult {
  device: string;
  gpus: Array<{ index: number; name: string; memory_mib: number }>;
  torch: string;
}

export interface ProtectedResult {
  entries: string[];
}

export interface VersionsResult {
  /** Distribution name → installed version, null when not installed. */
  versions: Record<string, string | null>;
}

export interface VerbResults {
  materialize: MaterializeResult;
  check: CheckResult;
  bench: BenchResult;
  hardware: HardwareResult;
  protected: ProtectedResult;
  versions: VersionsResult;
}

/**
 * A shape: a type name ('string', 'number', 'boolean', 'object'; a trailing '?' allows absent or
 * null), [shape] for an array of it, { field: shape } for an object with those fields,
 * { '*': shape } for an object whose every value has that shape, or optional(shape).
 */
type Shape = string | [Shape] | Optional | { [field: string]: Shape };

const OPTIONAL = Symbol('optional');
interface Optional {
  [OPTIONAL]: Shape;
}
/** The shape, or absent, or null. */
const optional = (shape: Shape): Optional => ({ [OPTIONAL]: shape });

// A stack that failed its integrity check side by side has an error instead of repetitions.
const SIDE_BY_SIDE: Shape = {
  mode: 'string',
  stacks: [{ stack: 'string', error: 'string?', repetitions: optional(['object']) }],
};
const ONE_STACK: Shape = { mode: 'string', repetitions: ['object'] };

const SHAPES: { [V in keyof VerbResults]: Shape | ((r: Record<string, unknown>) => Shape) } = {
  materialize: { stack_dir: 'string', spec_hash: 'string', files: 'number' },
  check: {
    passed: 'boolean',
    checks: [{ name: 'string', passed: 'boolean', detail: 'string?' }],
    report_path: 'string?',
  },
  bench: (r) => (r.mode === 'offline:side-by-side' ? SIDE_BY_SIDE : ONE_STACK),
  hardware: { device: 'string', gpus: [{ index: 'number', name: 'string', memory_mib: 'number' }], torch: 'string' },
  protected: { entries: ['string'] },
  versions: { versions: { '*': 'string?' } },
};

/** What is wrong with a verb's result, naming the verb and the field, or null when it has every
 * field this side reads. Verbs without a shape (a test fixture, a verb added later) pass unchecked. */
export function verbResultProblem(verb: string, result: unknown): string | null {
  if (!Object.hasOwn(SHAPES, verb)) return null;
  const entry = SHAPES[verb as keyof VerbResults];
  const m = isObject(result)
    ? mismatch(typeof entry === 'function' ? entry(result) : entry, result, '')
    : { field: '(the result itself)', expected: 'an object', got: result };
  return (
    m && `the ${verb} verb's result is malformed: field '${m.field}' should be ${m.expected}, got ${describe(m.got)}`
  );
}

interface Mismatch {
  field: string;
  expected: string;
  got: unknown;
}

function mismatch(shape: Shape, value: unknown, at: string): Mismatch | null {
  if (typeof shape === 'string') {
    const mayBeAbsent = shape.endsWith('?');
    const type = mayBeAbsent ? shape.slice(0, -1) : shape;
    if (mayBeAbsent && (value === undefined || value === null)) return null;
    const ok = type === 'object' ? isObject(value) : typeof value === type;
    return ok ? null : { field: at, expected: `${article(type)} ${type}${mayBeAbsent ? ' or null' : ''}`, got: value };
  }
  if (OPTIONAL in shape) return value === undefined || value === null ? null : mismatch(shape[OPTIONAL], value, at);
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) return { field: at, expected: 'an array', got: value };
    for (const [i, item] of value.entries()) {
      const m = mismatch(shape[0], item, `${at}[${i}]`);
      if (m) return m;
    }
    return null;
  }
  if (!isObject(value)) return { field: at, expected: 'an object', got: value };
  for (const [name, inner] of Object.entries(shape)) {
    if (name === '*') {
      for (const [key, v] of Object.entries(value)) {
        const m = mismatch(inner, v, at ? `${at}.${key}` : key);
        if (m) return m;
      }
    } else {
      const m = mismatch(inner, value[name], at ? `${at}.${name}` : name);
      if (m) return m;
    }
  }
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? 'an' : 'a';
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  const text = JSON.stringify(v);
  return `${typeof v} ${text.length > 40 ? `${text.slice(0, 40)}…` : text}`;
}
