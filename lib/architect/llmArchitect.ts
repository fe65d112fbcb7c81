// The LLM architect: asks a chat model for designs as structured JSON, each with a hypothesis, an
// expected gain and how it would be falsified. Replies are validated against the design space; a
// malformed or invalid reply is sent back with what was wrong and retried, and after the last try
// the failure is reported in the round's notes while the model-free policy fills the round, so a
// bad model never stops the search.
import {
  applicableParams,
  loadDesignSpace,
  makeDesign,
  offeredChoices,
  searchedDimensions,
  validateDesign,
  type DesignSpace,
  type SpaceContext,
} from '../designSpace.js';
import { LlmClient, LlmError, extractJsonObject, type ChatMessage } from '../llm/client.js';
import { spaceContextFor } from './context.js';
import { addUsage, emptyUsage, inFailedRegion, memoryDigest } from './memory.js';
import { proposeModelFree } from './modelFree.js';
import type { Choices, Design, LlmUsage, PlanInput } from './types.js';

export const MAX_REPLY_ATTEMPTS = 3;

export interface LlmProposal {
  designs: Design[];
  notes: string;
  usage: LlmUsage;
  /** Set when the model never produced a usable reply; the round was filled without it. */
  failure?: string;
}

export async function proposeWithLlm(input: PlanInput, client?: LlmClient): Promise<LlmProposal> {
  const space = loadDesignSpace();
  const ctx = spaceContextFor(input);
  let usage = emptyUsage();
  if (!input.llm)
    throw new Error('the llm architect needs LLM settings (--llm-base-url, --llm-model, --llm-api-key-env)');
  let failure: string | undefined;
  let designs: Design[] = [];
  let notes = '';
  try {
    const llm = client ?? new LlmClient(input.llm);
    const messages: ChatMessage[] = [
      { role: 'system', content: systemPrompt() },
      { role: 'user', content: roundPrompt(input, space, ctx) },
    ];
    for (let attempt = 1; attempt <= MAX_REPLY_ATTEMPTS; attempt++) {
      const reply = await llm.chat({ messages, maxTokens: input.llm.maxTokensPerCall ?? 2048 });
      usage = addUsage(usage, reply.usage);
      const parsed = parseProposals(reply.content, input, space, ctx);
      designs = parsed.designs;
      notes = parsed.notes;
      if (designs.length > 0) break;
      failure = `reply ${attempt}/${MAX_REPLY_ATTEMPTS} unusable: ${parsed.problems.slice(0, 6).join('; ')}`;
      messages.push({ role: 'assistant', content: reply.content.slice(0, 4000) });
      messages.push({
        role: 'user',
        content:
          `Your reply could not be used: ${parsed.problems.slice(0, 10).join('; ')}. ` +
          `Answer again with only the JSON object described before.`,
      });
    }
    if (designs.length > 0) failure = undefined;
  } catch (err) {
    // Endpoint failures after the client's own retries end here: report, never crash the round.
    failure =
      err instanceof LlmError ? `${err.kind}: ${err.message}` : `LLM architect error: ${(err as Error).message}`;
  }
  if (designs.length < input.count) {
    const fill = proposeModelFree({
      ...input,
      count: input.count - designs.length,
      memory: { ...input.memory, explored: [...input.memory.explored, ...designs.map((d) => d.id)] },
    });
    designs = [...designs, ...fill.designs];
    notes = [
      notes,
      failure
        ? `LLM architect failed (${failure}); the model-free policy filled the round`
        : `model-free filled ${fill.designs.length}`,
    ]
      .filter(Boolean)
      .join('; ');
  }
  return { designs, notes, usage, failure };
}

function systemPrompt(): string {
  return [
    'You are the architect of an LLM serving-stack search. You propose stack designs to build, verify and benchmark.',
    'Each design picks one choice per dimension and values for parameters, only from the allowed lists you are given.',
    'Use the measured results to form hypotheses; do not repeat explored designs or failed combinations.',
    'Reply with ONE JSON object and nothing else:',
    '{"proposals": [{"choices": {"<dimension>": "<choice>", ...}, "params": {"<param>": <value>, ...},',
    '  "hypothesis": "why this design should be better", "expected_gain": "e.g. +20% output_throughput vs the best",',
    '  "falsified_by": "the measurement that would prove the hypothesis wrong",',
    '  "builder": "template" or "llm", "llm_task": {"dimension": "...", "component_name": "custom_...", "instructions": "..."} (only with builder "llm")}],',
    ' "notes": "one or two sentences on what you learned"}',
    'Dimensions you omit take the default. Use builder "llm" only when a new component written from scratch is the point.',
  ].join('\n');
}

function roundPrompt(input: PlanInput, space: DesignSpace, ctx: SpaceContext): string {
  const s = input.scenario;
  const dims = searchedDimensions(space, ctx).map(
    (d) => `- ${d}: ${offeredChoices(space, d, ctx).join(' | ')} (default ${space.dimensions[d]!.default})`,
  );
  const params = Object.entries(space.params).map(
    ([k, p]) =>
      `- ${k}: one of ${JSON.stringify(p.values)}${
        p.appliesWhen
          ? ` (only when ${Object.entries(p.appliesWhen)
              .map(([a, b]) => `${a}=${[b].flat().join('|')}`)
              .join(',')})`
          : ''
      }`,
  );
  const constraints = space.constraints.map(
    (c) =>
      `- ${c.id}: if ${JSON.stringify(c.if)} then ${JSON.stringify(c.thenParams ? { ...c.then, ...c.thenParams } : c.then)} (${c.why})`,
  );
  return [
    `Scenario "${s.name}": model ${s.model.arch}${s.model.preset ? ` (${s.model.preset})` : ''}, dtype ${s.model.dtype ?? 'float32'}.`,
    `Workload: ${JSON.stringify(s.workload)}. Objective: ${s.objective} (${s.objective.endsWith('_ms') ? 'lower' : 'higher'} is better).`,
    `Hardware: ${input.hardware.kind}, ${input.hardware.device}, ${input.hardware.gpuCount} GPU(s)${input.hardware.computeCapability ? `, compute capability ${input.hardware.computeCapability}` : ''}.`,
    `Round ${input.round}. Propose exactly ${input.count} new designs.`,
    'Dimensions and the choices allowed here:',
    ...dims,
    'Parameters:',
    ...params,
    'Constraints:',
    ...constraints,
    // the profile signal of the dimensions marked profiledBy (python-runtime bench/speculation.py, bench/structured_output.py)
    'profiled_tokens_per_step={choice: t} on a measured design: the output tokens per decode step each choice of speculation ' +
      "and of structured_output would have given on that design's own greedy outputs (replayed exactly, neither changes them; " +
      'structured_output only where requests carry a JSON schema, whose forced keys and punctuation jump_forward drafts). ' +
      't well above 1 points at that choice for decode-bound objectives; a verify step costs about one decode step.',
    'What the search knows so far:',
    memoryDigest(input.memory, s, 5000),
    ...(input.hints.length ? ['Hints from the user (follow them):', ...input.hints.map((h) => `- ${h}`)] : []),
  ].join('\n');
}

interface Parsed {
  designs: Design[];
  notes: string;
  problems: string[];
}

/** Turns a reply into valid, unexplored designs; collects every problem for the retry prompt. */
export function parseProposals(content: string, input: PlanInput, space: DesignSpace, ctx: SpaceContext): Parsed {
  const problems: string[] = [];
  let obj: Record<string, unknown>;
  try {
    obj = extractJsonObject(content);
  } catch (err) {
    return { designs: [], notes: '', problems: [(err as Error).message] };
  }
  const list = obj.proposals;
  if (!Array.isArray(list)) return { designs: [], notes: '', problems: ['the object has no "proposals" array'] };
  const seen = new Set(input.memory.explored);
  const designs: Design[] = [];
  list.forEach((raw, i) => {
    const p = (raw ?? {}) as Record<string, unknown>;
    const choices: Choices = {};
    for (const [dim, def] of Object.entries(space.dimensions)) {
      const given = (p.choices as Record<string, unknown> | undefined)?.[dim];
      choices[dim] =
        typeof given === 'string'
          ? given
          : offeredChoices(space, dim, ctx).includes(def.default)
            ? def.default
            : offeredChoices(space, dim, ctx)[0]!;
    }
    choices.tokenizer = ctx.tokenizer;
    const rawParams = (p.params ?? {}) as Record<string, unknown>;
    const params: Design['params'] = {};
    for (const name of applicableParams(space, choices)) {
      params[name] = (rawParams[name] ?? space.params[name]!.default) as Design['params'][string];
    }
    const wrong = validateDesign(space, choices, params, ctx);
    if (wrong.length) return problems.push(`proposal ${i + 1}: ${wrong.join(', ')}`);
    if (inFailedRegion(input.memory, choices))
      return problems.push(`proposal ${i + 1}: this choice combination already failed`);
    const text = (k: string) => (typeof p[k] === 'string' ? (p[k] as string).slice(0, 600) : undefined);
    const hypothesis = text('hypothesis');
    if (!hypothesis) return problems.push(`proposal ${i + 1}: "hypothesis" is missing`);
    const wantsLlm = p.builder === 'llm' && input.builder === 'llm';
    const task = p.llm_task as Record<string, unknown> | undefined;
    const llmTask =
      wantsLlm &&
      task &&
      typeof task.dimension === 'string' &&
      task.dimension in space.dimensions &&
      typeof task.component_name === 'string' &&
      /^custom_[a-z0-9_]{1,48}$/.test(task.component_name)
        ? {
            dimension: task.dimension,
            componentName: task.component_name,
            instructions: String(task.instructions ?? '').slice(0, 2000),
          }
        : undefined;
    const d = makeDesign(space, choices, params, {
      builder: llmTask ? 'llm' : 'template',
      hypothesis,
      expectedGain: text('expected_gain'),
      falsifiedBy: text('falsified_by'),
      llmTask,
      origin: 'llm',
    });
    if (seen.has(d.id)) return problems.push(`proposal ${i + 1}: design ${d.id} was already explored`);
    seen.add(d.id);
    if (designs.length < input.count) designs.push(d);
  });
  return { designs, notes: typeof obj.notes === 'string' ? obj.notes.slice(0, 500) : '', problems };
}
