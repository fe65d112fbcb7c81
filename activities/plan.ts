// Plan: ask the architect for the next round's designs. Runs on the control queue; the architect
// is model-free by default, or an LLM behind an OpenAI-compatible endpoint (lib/architect).
import { Context } from '@temporalio/activity';
import { planRound } from '../lib/architect/index.js';
import type { PlanInput, PlanOutput } from '../lib/architect/types.js';

export async function plan(input: PlanInput): Promise<PlanOutput> {
  Context.current().heartbeat({ stage: 'plan', round: input.round });
  return planRound(input);
}
