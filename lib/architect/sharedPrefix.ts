// What a shared-prefix workload tells the architect before anything is measured: every prompt opens
// with one system prompt of shared_prefix_len tokens (python-runtime bench/workload.py), so that part of
// each decoding sequence's context is the same K/V for all of them.
import type { ScenarioLike } from './types.js';

/** The workload named by a choice's `gainsFrom` in design_space.json. */
export const SHARED_PREFIX = 'shared_prefix';

/**
 * The share of a decoding sequence's context that is the shared prefix, averaged over its decode
 * (context prompt_len + output_len / 2); undefined where the workload is not shared_prefix or lacks a
 * length.
 */
export function sharedContextShare(scenario: Pick<ScenarioLike, 'workload'>): number | undefined {
  const w = scenario.workload;
  if (w.dataset !== SHARED_PREFIX) return undefined;
  const shared = Number(w.shared_prefix_len);
  const prompt = Number(w.prompt_len);
  const output = Number(w.output_len ?? 0);
  if (!(shared > 0) || !(prompt >= shared) || !(output >= 0)) return undefined;
  return shared / (prompt + output / 2);
}
