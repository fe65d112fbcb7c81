// The scenario's workload in the bench verb's terms (python-runtime bench/workload.py). Pure, so
// the candidate workflow may call it.
import type { Dataset, Scenario } from '../scenario.js';

export interface BenchWorkload {
  dataset: Dataset;
  num_prompts: number;
  input_len: number;
  /** shared_prefix only: tokens every prompt of a request set shares. */
  shared_prefix_len?: number;
  output_len: number;
  /** vLLM's random dataset defaults to exact lengths (range ratio 0); stacks size their context to them. */
  range_ratio: number;
  request_rate: number | null;
  arrival: 'poisson' | 'fixed';
  max_concurrency: number | null;
  seed: number;
  /** Timed repetitions; absent: the runtime's default (bench/workload.py), several with their spread. */
  repetitions?: number;
}

export function benchWorkloadFor(scenario: Pick<Scenario, 'workload' | 'model'>): BenchWorkload {
  const w = scenario.workload;
  const a = w.arrival;
  return {
    dataset: w.dataset,
    num_prompts: w.num_requests,
    input_len: w.prompt_len,
    ...(w.shared_prefix_len !== undefined ? { shared_prefix_len: w.shared_prefix_len } : {}),
    output_len: w.output_len,
    range_ratio: 0,
    request_rate: a.kind === 'max_concurrency' ? null : a.rate,
    arrival: a.kind === 'fixed_rate' ? 'fixed' : 'poisson',
    max_concurrency: a.kind === 'max_concurrency' ? a.concurrency : null,
    seed: scenario.model.seed,
  };
}
