// The design-space context of a plan round: hardware, model, fixed tokenizer and constraints.
import { modelShapeOf, tokenizerFor, type SpaceContext } from '../designSpace.js';
import type { PlanInput } from './types.js';

export function spaceContextFor(input: Pick<PlanInput, 'scenario' | 'hardware' | 'constraints'>): SpaceContext {
  return {
    hardware: input.hardware,
    arch: input.scenario.model.arch,
    model: modelShapeOf(input.scenario.model),
    tokenizer: tokenizerFor(input.scenario),
    constraints: input.constraints,
  };
}
