// Mistakes that would start a doomed search are caught before anything starts: the runtime
// dry-runs the scenario's generic design, and `vibeserve search` refuses with one line naming the
// file and the field (exit 2) — no Temporal is reached (TEMPORAL_ADDRESS points nowhere here).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../lib/paths.js';
import { parseScenario, ScenarioError } from '../../lib/scenario.js';
import { preflightScenario, scenarioFieldOf } from '../../lib/scenarioPreflight.js';
import { buildSearchInput } from '../../lib/searchStart.js';
import { vibeserve } from '../workflow/cli.js';

const demoText = readFileSync(path.join(projectRoot, 'scenarios', 'cpu-demo.yaml'), 'utf8');
const dir = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-preflight-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function variant(name: string, text: string): string {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, text);
  return file;
}

const unknownPreset = demoText.replace('preset: tiny-llama', 'preset: tiny-lama');
const missingTokenizer = demoText.replace('  kind: byte', '  kind: hf_json\n  path: /nonexistent/tokenizer.json');

async function refusal(text: string, file: string): Promise<ScenarioError> {
  const { input } = buildSearchInput({ scenario: parseScenario(text, file), scenarioFile: file, name: 'x' });
  return preflightScenario(input, file).then(
    () => {
      throw new Error('the dry run accepted the scenario');
    },
    (err) => err as ScenarioError,
  );
}

describe('the scenario dry run before a search starts', () => {
  it('accepts the demo scenario', async () => {
    const { input } = buildSearchInput({ scenario: parseScenario(demoText, 'cpu-demo.yaml'), name: 'x' });
    await expect(preflightScenario(input, 'cpu-demo.yaml')).resolves.toBeUndefined();
  });

  it('names the file and the field of an unknown model preset', async () => {
    const err = await refusal(unknownPreset, 'typo.yaml');
    expect(err).toBeInstanceOf(ScenarioError);
    expect(err.field).toBe('model.preset');
    expect(err.message).toMatch(
      /^typo\.yaml: field 'model\.preset' is refused by the runtime: unknown preset 'tiny-lama'/,
    );
  });

  it('names the tokenizer path of a missing tokenizer file', async () => {
    const err = await refusal(missingTokenizer, 'tok.yaml');
    expect(err.field).toBe('tokenizer.path');
    expect(err.message).toContain('/nonexistent/tokenizer.json does not exist');
  });

  it('maps stack-spec fields back to scenario fields', () => {
    expect(scenarioFieldOf('params.tokenizer_path')).toBe('tokenizer.path');
    expect(scenarioFieldOf('model.path')).toBe('model.path');
    expect(scenarioFieldOf('components.attention')).toBe('stack components.attention');
  });

  it('makes `vibeserve search` refuse in one line with exit 2, starting nothing', async () => {
    const env = { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' };
    const bad = variant('typo', unknownPreset);
    const r = await vibeserve(['search', bad], env);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringContaining(`${bad}: field 'model.preset' is refused by the runtime`),
    ]);

    const fractional = await vibeserve(['search', variant('ok', demoText), '--budget', 'rounds=1.5'], env);
    expect(fractional.code).toBe(2);
    expect(fractional.stderr).toContain("--budget 'rounds=1.5': rounds must be a whole number");
  });
});
