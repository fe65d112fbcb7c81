// What the coding agent is told. Pure text functions, so the builder workflow can build its
// conversation deterministically.
import type { Design, HardwareTarget, LlmBuildTask, ScenarioLike } from '../architect/types.js';

export function builderSystemPrompt(): string {
  return [
    'You are a performance engineer adding one component to an LLM serving engine (Python, PyTorch, Triton).',
    'You work in a candidate stack directory through tools: list_files, read_file, write_file, edit_file, run_checker, run_short_benchmark.',
    'Components are registered in vibeserve_runtime/engine/builtin_components.py with register_component(dimension, name, factory);',
    'vibeserve_runtime/engine/registry.py documents what a factory of each dimension receives and returns.',
    'The reference, the checker, the benchmark, the CLI and stack.json are protected: changing them, or working around them, rejects the candidate.',
    'Your component must pass run_checker (logits and greedy tokens equal to the fp32 reference within tolerance, batch invariance, streaming).',
    'Work in small steps: read the interface, write the component, register it, run the checker, fix what fails.',
    'When the checker passes and you are done, answer with a short summary and no tool call.',
  ].join('\n');
}

export function builderTaskPrompt(
  design: Design,
  task: LlmBuildTask,
  scenario: ScenarioLike,
  hardware: HardwareTarget,
): string {
  const choices = Object.entries(design.choices)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return [
    `Task: ${task.instructions}`,
    `Register the new ${task.dimension} component under the name "${task.componentName}"; stack.json already selects components.${task.dimension} = "${task.componentName}".`,
    `The rest of the stack: ${choices}.`,
    `Model: ${scenario.model.arch}${scenario.model.preset ? ` (${scenario.model.preset})` : ''}, dtype ${scenario.model.dtype ?? 'float32'}. ` +
      `Hardware: ${hardware.kind} (${hardware.device}${hardware.computeCapability ? `, compute capability ${hardware.computeCapability}` : ''}).`,
    `Workload: prompt ${scenario.workload.prompt_len ?? '?'} tokens, output ${scenario.workload.output_len ?? '?'} tokens; objective ${scenario.objective}.`,
    design.hypothesis ? `Hypothesis behind this design: ${design.hypothesis}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

export function repairPrompt(reason: string, attempt: number, maxRepairs: number): string {
  return (
    `The checker fails (${reason}). Read the failing checks above, find the cause in your component and fix it ` +
    `(repair ${attempt} of ${maxRepairs}). Then run the checker again.`
  );
}

export function uncheckedPrompt(): string {
  return 'You changed files since the last passing checker run. Run run_checker before finishing.';
}
