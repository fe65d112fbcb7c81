// Activities by the queue that runs them. The control worker registers `controlActivities`
// (CPU-only work: planning, building, bookkeeping); a runtime worker registers the activities
// made by `createRuntimeActivities` for its devices.
import { build } from './build.js';
import { createBenchmark } from './benchmark.js';
import { finalizeSearch } from './finalize.js';
import type { DeviceSlots } from './gpuSlots.js';
import { plan } from './plan.js';
import { createRemeasure } from './remeasure.js';
import { createVerify } from './verify.js';
import { createLlmRuntimeActivities, llmControlActivities } from './llm.js';

export const controlActivities = {
  plan,
  build,
  finalizeSearch,
  ...llmControlActivities,
};

export function createRuntimeActivities(slots: DeviceSlots) {
  return {
    verify: createVerify(slots),
    benchmark: createBenchmark(slots),
    remeasure: createRemeasure(slots),
    ...createLlmRuntimeActivities(slots),
  };
}

export type ControlActivities = typeof controlActivities;
export type RuntimeActivities = ReturnType<typeof createRuntimeActivities>;
