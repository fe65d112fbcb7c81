// The design-space context of a plan round: hardware, model, fixed tokenizer and constraints.
import { modelShapeOf, tokenizerFor, type SpaceContext } from '../designSpace.js';
import type { PlanInput } from './types.js';

export function spaceContextFor(input: Pick<PlanInput, 'scenario' | 'hardware' | 'constraints'>): SpaceContext {
  return {
    hardware: input.hardware,
    arch: input.scenario.model.arch,
    model: modelShapeOf(input.scenario.model),
    tokenizer: tokenizerFor(input.scenario),
    dtypeBytes: dtypeBytes(input.scenario.model.dtype),
    constraints: input.constraints,
  };
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, bfloat16: 2, float16: 2 };

/** Bytes per weight of a scenario's model dtype (float32, the scenario's default, where it names none). */
export function dtypeBytes(dtype: string | undefined): number {
  return DTYPE_BYTES[dtype ?? 'float32'] ?? 4;
}
