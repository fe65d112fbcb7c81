// `vibeserve steer` tells what the search's architect makes of a free-text hint: the model-free
// architect acts only on dimension=choice / param=value, the random one on nothing, the LLM reads it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hintNote } from '../../lib/architect/hintNote.js';
import { loadDesignSpace } from '../../lib/designSpace.js';
import { projectRoot } from '../../lib/paths.js';
import { parseScenario } from '../../lib/scenario.js';

const demo = parseScenario(readFileSync(path.join(projectRoot, 'scenarios', 'cpu-demo.yaml'), 'utf8'), 'cpu-demo.yaml');
const space = loadDesignSpace();
const withArchitect = (architect: 'model-free' | 'random' | 'llm', llm = false) => ({
  scenario: { ...demo, search: { ...demo.search, architect } },
  llm: llm ? { model: 'm', baseURL: 'http://127.0.0.1:9/v1', apiKeyEnv: 'OPENAI_API_KEY' } : undefined,
});

describe('what steering hints do', () => {
  it('says the model-free architect ignores free text', () => {
    expect(hintNote(space, 'prefer eager execution', withArchitect('model-free'))).toContain('ignores free text');
    // an llm scenario started without an endpoint plans model-free
    expect(hintNote(space, 'prefer eager execution', withArchitect('llm'))).toContain('model-free architect');
  });

  it('names the assignments the model-free architect acts on', () => {
    expect(hintNote(space, 'try execution=torch_compile and decode_steps=4 please', withArchitect('model-free'))).toBe(
      'this search uses the model-free architect: it acts on execution=torch_compile, decode_steps=4 in this hint and ignores the rest of the text',
    );
  });

  it('says nothing for the LLM architect, and that the random one ignores hints', () => {
    expect(hintNote(space, 'prefer eager execution', withArchitect('llm', true))).toBeNull();
    expect(hintNote(space, 'execution=eager', withArchitect('random'))).toContain('ignores hints');
  });
});
