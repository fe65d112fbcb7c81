// planRound: the architect behind the search's plan activity. It folds the latest outcomes and
// hints into the search memory, asks the configured policy for designs, and returns them with the
// updated memory (which the search carries across rounds and continue-as-new).
import { proposeModelFree } from './modelFree.js';
import { proposeRandom } from './random.js';
import { proposeWithLlm } from './llmArchitect.js';
import { addNote, addUsage, normalizeMemory, recordOutcomes, recordProposals } from './memory.js';
import type { Design, PlanInput, PlanOutput, SearchMemory } from './types.js';
import { loadDesignSpace, makeDesign } from '../designSpace.js';

export type * from './types.js';
export { emptyMemory, normalizeMemory, recordOutcomes, memoryDigest, emptyUsage, addUsage } from './memory.js';
export { defaultDesign, loadDesignSpace } from '../designSpace.js';

export async function planRound(input: PlanInput): Promise<PlanOutput> {
  let memory: SearchMemory = recordOutcomes(normalizeMemory(input.memory), input.history, input.scenario);
  for (const hint of input.hints) {
    const note = `hint (round ${input.round}): ${hint}`;
    if (!memory.notes.includes(note)) memory = addNote(memory, note);
  }
  const prepared: PlanInput = { ...input, memory, count: Math.max(0, input.count) };
  let designs: Design[];
  let notes: string | undefined;
  let usage: PlanOutput['usage'];
  switch (input.architect) {
    case 'random':
      designs = proposeRandom(prepared);
      notes = `random: ${designs.length} designs`;
      break;
    case 'llm': {
      if (!input.llm) {
        // A scenario may ask for the LLM architect while the search was started without an endpoint.
        const r = proposeModelFree(prepared);
        designs = r.designs;
        notes = `the scenario asks for the llm architect but the search has no LLM endpoint (start it with --llm-model, --llm-base-url, --llm-api-key-env); planned model-free. ${r.notes}`;
        break;
      }
      const r = await proposeWithLlm(prepared);
      designs = r.designs;
      notes = r.notes;
      usage = r.usage;
      memory = { ...memory, llmUsage: addUsage(memory.llmUsage, r.usage) };
      if (r.failure) memory = addNote(memory, `round ${input.round}: LLM architect failed: ${r.failure.slice(0, 300)}`);
      else if (r.notes) memory = addNote(memory, `round ${input.round} (llm): ${r.notes.slice(0, 300)}`);
      break;
    }
    case 'model-free':
    default: {
      const r = proposeModelFree(prepared);
      designs = r.designs;
      notes = r.notes;
    }
  }
  if (input.builder === 'llm') designs = withLlmBuildTask(designs, input);
  memory = recordProposals(memory, designs);
  return { designs, notes, usage, memory };
}

/** Components a coding agent may add: the dimensions whose interface is small enough to write from scratch. */
export const LLM_EXTENSIBLE_DIMENSIONS = ['sampling', 'attention'] as const;

/**
 * With the LLM builder, one design per round (when none asks for one already) becomes a coding
 * task: the same choices plus a new component for one dimension, written and checked in its workspace.
 */
function withLlmBuildTask(designs: Design[], input: PlanInput): Design[] {
  if (designs.length === 0 || designs.some((d) => d.llmTask)) return designs;
  const dimension = LLM_EXTENSIBLE_DIMENSIONS[input.round % LLM_EXTENSIBLE_DIMENSIONS.length]!;
  const componentName = `custom_${dimension}_r${input.round}`;
  const base = designs[0]!;
  const task = {
    dimension,
    componentName,
    instructions:
      `Write a new ${dimension} component for model ${input.scenario.model.arch} on ${input.hardware.device} that is faster than ` +
      `"${base.choices[dimension]}" for this workload (prompt ${input.scenario.workload.prompt_len}, output ${input.scenario.workload.output_len}) ` +
      `and passes the checker.`,
  };
  const space = loadDesignSpace();
  const llmDesign = makeDesign(space, base.choices, base.params, {
    builder: 'llm',
    llmTask: task,
    origin: `${base.origin ?? 'architect'}+llm-builder`,
    hypothesis: base.hypothesis ?? `a bespoke ${dimension} component beats the library's ${base.choices[dimension]}`,
    falsifiedBy: `${input.scenario.objective} not better than design ${base.id} with the library component`,
  });
  return [llmDesign, ...designs.slice(1)];
}
