// What the search's architect will make of a free-text steering hint, for `vibeserve steer` to tell
// the person who sent it: only the LLM architect reads free text; the model-free architect acts on
// the `dimension=choice` / `param=value` assignments in it (hintTokens.ts); the random one on none.
import type { DesignSpace } from '../designSpace.js';
import type { SearchInput } from '../searchTypes.js';
import { hintAssignments } from './hintTokens.js';

/** The architect that plans a search's rounds (an `llm` scenario started without an endpoint plans model-free). */
export function effectiveArchitect(input: Pick<SearchInput, 'scenario' | 'llm'>): 'llm' | 'model-free' | 'random' {
  const wanted = input.scenario.search.architect;
  if (wanted === 'llm') return input.llm ? 'llm' : 'model-free';
  return wanted === 'random' ? 'random' : 'model-free';
}

/** A note on how the hint will be used, or null when the architect reads it whole. */
export function hintNote(
  space: DesignSpace,
  hint: string,
  input: Pick<SearchInput, 'scenario' | 'llm'>,
): string | null {
  const architect = effectiveArchitect(input);
  if (architect === 'llm') return null;
  if (architect === 'random')
    return 'this search uses the random architect, which ignores hints (constraints still apply)';
  const found = hintAssignments(space, hint);
  const acted = [
    ...found.choices.map(([d, c]) => `${d}=${c}`),
    ...found.params.map(([n, v]) => `${n}=${JSON.stringify(v)}`),
  ];
  if (acted.length === 0) {
    return 'this search uses the model-free architect, which ignores free text: it acts only on dimension=choice or param=value in a hint (e.g. "execution=torch_compile"); the hint is recorded but changes no plan';
  }
  return `this search uses the model-free architect: it acts on ${acted.join(', ')} in this hint and ignores the rest of the text`;
}
