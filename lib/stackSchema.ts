// Validation of stack specs (stack.json) against the JSON Schema shared with the Python runtime.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import AjvModule from 'ajv';

export const STACK_SCHEMA_PATH = fileURLToPath(
  new URL('../python-runtime/vibeserve_runtime/stack_schema.json', import.meta.url),
);

/** The model part of a stack spec, as stack_schema.json defines it. */
export interface ModelSpec {
  arch: string;
  preset?: string | null;
  config?: Record<string, unknown>;
  weights?: string;
  path?: string | null;
  seed?: number;
  dtype?: string;
}

export interface StackSpec {
  name: string;
  model: ModelSpec;
  components: Record<string, string>;
  params: Record<string, unknown>;
  device: 'cpu' | 'cuda';
  custom_components?: Record<string, { dimension: string; module: string }>;
}

// ajv ships CommonJS; under NodeNext the class sits on .default.
const Ajv = ((AjvModule as unknown as { default?: unknown }).default ?? AjvModule) as typeof AjvModule.default;

let validator: ReturnType<InstanceType<typeof Ajv>['compile']> | undefined;

function compiled() {
  if (!validator) {
    const schema = JSON.parse(readFileSync(STACK_SCHEMA_PATH, 'utf8'));
    validator = new Ajv({ allErrors: true, strict: false }).compile(schema);
  }
  return validator;
}

/** Every schema violation as "path: message"; empty when the spec is valid. */
export function stackSpecProblems(spec: unknown): string[] {
  const validate = compiled();
  if (validate(spec)) return [];
  return (validate.errors ?? []).map(
    (e) =>
      `${e.instancePath || '/'}: ${e.message ?? 'invalid'}${
        e.params && 'allowedValues' in e.params
          ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')})`
          : ''
      }`,
  );
}

export function assertValidStackSpec(spec: unknown, where = 'stack spec'): asserts spec is StackSpec {
  const problems = stackSpecProblems(spec);
  if (problems.length) throw new Error(`${where} does not match ${STACK_SCHEMA_PATH}: ${problems.join('; ')}`);
}
