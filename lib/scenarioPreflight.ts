// Before a search starts, the runtime that will build every candidate materializes the scenario's
// generic design once, as a dry run into a temporary directory. A scenario the runtime refuses (an
// unknown model preset, a tokenizer or model file that is not there) then starts nothing and is
// reported as a scenario error naming the file and the field, instead of starting a search whose
// every candidate is rejected as bad_spec.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spaceContextFor } from './architect/context.js';
import { stackSpecFor } from './builder/templateBuilder.js';
import { defaultDesign, loadDesignSpace } from './designSpace.js';
import { classifyOutcome, runVerb } from './pythonBridge.js';
import { ScenarioError } from './scenario.js';
import type { SearchInput } from './searchTypes.js';

/** Stack-spec fields that come from a differently named scenario field. */
const SCENARIO_FIELD: Record<string, string> = {
  'params.tokenizer_path': 'tokenizer.path',
  'components.tokenizer': 'tokenizer.kind',
  'params.max_model_len': 'workload',
};

/** The scenario field a stack-spec field comes from (`model.*` keeps its name). */
export function scenarioFieldOf(stackField: string | undefined): string {
  if (!stackField) return 'model';
  return SCENARIO_FIELD[stackField] ?? (stackField.startsWith('model.') ? stackField : `stack ${stackField}`);
}

/** What happened when the runtime could not be asked (no Python, a crash): the caller decides. */
export class PreflightUnavailable extends Error {}

export async function preflightScenario(input: SearchInput, scenarioFile: string, timeoutMs = 120_000): Promise<void> {
  const space = loadDesignSpace();
  const ctx = spaceContextFor({
    scenario: input.scenario,
    hardware: input.hardware,
    constraints: input.scenario.constraints,
  });
  const spec = stackSpecFor(defaultDesign(space, ctx), input.scenario, input.hardware);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-preflight-'));
  try {
    const specPath = path.join(dir, 'stack.spec.json');
    writeFileSync(specPath, JSON.stringify(spec));
    const outcome = await runVerb('materialize', ['--spec', specPath, '--out', path.join(dir, 'stack')], { timeoutMs });
    const c = classifyOutcome('materialize', outcome, timeoutMs);
    if (c.kind === 'ok') return;
    if (c.kind === 'usage' || c.kind === 'candidate') {
      const field = (outcome.error as { field?: string } | null)?.field;
      const problem = (outcome.error?.message ?? c.message).replace(/^stack spec field '[^']*': /, '');
      throw new ScenarioError(scenarioFile, scenarioFieldOf(field), `is refused by the runtime: ${problem}`);
    }
    throw new PreflightUnavailable(c.kind === 'infrastructure' ? c.message : 'the dry run was cancelled');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
