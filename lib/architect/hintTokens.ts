// The part of a free-text steering hint that the model-free architect can act on: `dimension=choice`
// and `param=value` assignments naming the design space (e.g. "try execution=torch_compile,
// decode_steps=4"). Everything else in a hint is free text only the LLM architect reads.
import type { DesignSpace } from '../designSpace.js';
import type { Design } from './types.js';

export interface HintAssignments {
  choices: Array<[dimension: string, choice: string]>;
  params: Array<[name: string, value: Design['params'][string]]>;
}

export function hintAssignments(space: DesignSpace, hint: string): HintAssignments {
  const out: HintAssignments = { choices: [], params: [] };
  for (const [, key, value] of hint.matchAll(/([a-z_]+)\s*=\s*([A-Za-z0-9_.[\],]+)/g)) {
    if (key! in space.dimensions && value! in space.dimensions[key!]!.choices) {
      out.choices.push([key!, value!]);
    } else if (key! in space.params) {
      const parsed = parseParam(value!);
      if (parsed !== undefined) out.params.push([key!, parsed]);
    }
  }
  return out;
}

function parseParam(raw: string): Design['params'][string] | undefined {
  try {
    return JSON.parse(raw.startsWith('[') ? raw : raw.toLowerCase()) as Design['params'][string];
  } catch {
    return undefined;
  }
}
