// The template builder: a design becomes a self-contained stack directory made from the component
// library, with no LLM. The TypeScript side only writes the stack spec; the Python runtime's
// `materialize` verb copies the code the stack needs (docs/boundary.md).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Design, HardwareTarget, ScenarioLike } from '../architect/types.js';
import { canonicalJson } from '../designSpace.js';
import { assertValidStackSpec, type StackSpec } from '../stackSchema.js';
import { classifyOutcome, runJsonLines, runtimeEnv, type RuntimeEvent } from '../pythonBridge.js';
import { pythonExecutable } from '../paths.js';
import type { MaterializeResult } from '../verbResults.js';
import { createHash } from 'node:crypto';

/** The device a scenario's stacks run on: the worker's when known, else what the scenario names. */
export function stackDevice(scenario: ScenarioLike, hardware?: HardwareTarget): 'cpu' | 'cuda' {
  if (hardware) return hardware.device;
  return !scenario.hardware?.kind || scenario.hardware.kind === 'cpu' ? 'cpu' : 'cuda';
}

/** The stack spec (stack.json) for a design on a scenario; pure, so it is unit-testable. */
export function stackSpecFor(design: Design, scenario: ScenarioLike, hardware?: HardwareTarget): StackSpec {
  const m = scenario.model;
  const params: Record<string, unknown> = { ...design.params };
  const promptLen = scenario.workload.prompt_len;
  const outputLen = scenario.workload.output_len;
  // The engine must hold the longest request of the workload; everything else is the design's.
  if (typeof promptLen === 'number' && typeof outputLen === 'number') params.max_model_len = promptLen + outputLen;
  if (scenario.tokenizer?.path) params.tokenizer_path = scenario.tokenizer.path;
  const spec: StackSpec = {
    name: `${scenario.name}-${design.id}`.slice(0, 128),
    model: {
      arch: m.arch,
      preset: m.preset ?? null,
      config: m.config ?? {},
      weights: m.weights ?? 'random',
      path: m.path ?? null,
      seed: m.seed ?? 0,
      dtype: m.dtype ?? 'float32',
    },
    components: { ...design.choices },
    params,
    device: stackDevice(scenario, hardware),
  };
  // A component the LLM builder writes is registered by code in the stack's own copy of the
  // runtime (engine/builtin_components.py); the spec only selects it by its custom_ name.
  if (design.llmTask) spec.components[design.llmTask.dimension] = design.llmTask.componentName;
  return spec;
}

export function specHashOf(spec: StackSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex').slice(0, 16);
}

export interface TemplateBuildInput {
  design: Design;
  scenario: ScenarioLike;
  /** The stack directory to create (e.g. <artifacts>/<search>/candidates/<id>/stack). */
  outDir: string;
  hardware?: HardwareTarget;
  /** Python interpreter; defaults to $VIBESERVE_PYTHON / the project venv. */
  python?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  onEvent?: (event: RuntimeEvent) => void;
}

export interface TemplateBuildOutput {
  stackDir: string;
  specHash: string;
  specPath: string;
  files?: number;
}

/** A build that failed for a reason the boundary names (bad_spec, build_failed, ...). */
export class BuildError extends Error {
  constructor(
    readonly kind: 'candidate' | 'usage' | 'infrastructure',
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'BuildError';
  }
}

export async function buildFromTemplate(input: TemplateBuildInput): Promise<TemplateBuildOutput> {
  const spec = stackSpecFor(input.design, input.scenario, input.hardware);
  try {
    assertValidStackSpec(spec, `the stack spec of design ${input.design.id}`);
  } catch (err) {
    throw new BuildError('usage', 'bad_spec', (err as Error).message);
  }
  const outDir = path.resolve(input.outDir);
  mkdirSync(path.dirname(outDir), { recursive: true });
  // The spec sits beside the stack directory: materialize owns everything inside it.
  const specPath = path.join(path.dirname(outDir), 'stack.spec.json');
  writeFileSync(specPath, JSON.stringify(spec, null, 2));
  const timeoutMs = input.timeoutMs ?? 120_000;
  const outcome = await runJsonLines<MaterializeResult>(
    input.python ?? pythonExecutable(),
    ['-m', 'vibeserve_runtime', 'materialize', '--spec', specPath, '--out', outDir],
    { timeoutMs, env: runtimeEnv(), signal: input.signal, onEvent: input.onEvent },
  );
  const c = classifyOutcome('materialize', outcome, timeoutMs);
  switch (c.kind) {
    case 'ok':
      return {
        // classifyOutcome checked the result's fields (lib/verbResults.ts)
        stackDir: outcome.result!.stack_dir,
        specHash: outcome.result!.spec_hash,
        specPath,
        files: outcome.result!.files,
      };
    case 'candidate':
      throw new BuildError('candidate', c.reason, `materialize rejected design ${input.design.id}: ${c.message}`);
    case 'usage':
      throw new BuildError('usage', c.reason, `materialize refused design ${input.design.id}: ${c.message}`);
    case 'infrastructure':
      throw new BuildError('infrastructure', 'infrastructure', c.message);
    case 'cancelled':
      throw new BuildError('infrastructure', 'cancelled', 'materialize was cancelled');
  }
}
