// Benchmark: measure a verified candidate on the scenario's workload with vLLM's metric names.
// Runs on the runtime queue, one GPU per activity; an LLM-built stack only inside the sandbox.
import { existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import { Context, log } from '@temporalio/activity';
import { candidateDir, readJsonIfExists, writeJsonAtomic } from '../lib/artifactStore.js';
import { runtimeEnv, runVerbInActivity } from '../lib/pythonBridge.js';
import type { BenchmarkInput, BenchmarkOutput, Metrics, UntrustedStack } from '../lib/searchTypes.js';
import { KEY_METRICS, spreadsOf } from '../lib/workflowSafe/spread.js';
import { runUntrustedVerbInActivity, sandboxEnv, type SandboxNote } from '../lib/untrustedVerb.js';
import { withActivitySlots, type DeviceSlots } from './gpuSlots.js';

/** bench.json may hold the metrics flat or under `metrics` (the report reads both). */
function flatMetrics(raw: Record<string, unknown>): Metrics {
  const nested = raw.metrics && typeof raw.metrics === 'object' ? (raw.metrics as Record<string, unknown>) : {};
  const out: Metrics = {};
  for (const [k, v] of Object.entries({ ...raw, ...nested })) {
    if (typeof v === 'number' || typeof v === 'string' || v === null) out[k] = v;
  }
  return out;
}

function objectiveOf(metrics: Metrics, objective: string): number | null {
  const v = metrics[objective];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** What the workflow learns from bench.json: the flat metrics, the objective and their spreads. */
function outputOf(
  raw: Record<string, unknown>,
  objective: string,
): Pick<BenchmarkOutput, 'metrics' | 'objective' | 'spread'> {
  const metrics = flatMetrics(raw);
  return {
    metrics,
    objective: objectiveOf(metrics, objective),
    spread: spreadsOf(raw, [objective, ...KEY_METRICS.filter((m) => m !== objective)]),
  };
}

export function createBenchmark(slots: DeviceSlots) {
  return async function benchmark(input: BenchmarkInput): Promise<BenchmarkOutput> {
    const ctx = Context.current();
    const dir = candidateDir(input.searchId, input.candidateId);
    const benchPath = path.join(dir, 'bench.json');
    const previous = readJsonIfExists<Record<string, unknown> & { sandbox?: SandboxNote }>(benchPath);
    if (previous) {
      log.info('benchmark resumed from an earlier attempt', {
        candidateId: input.candidateId,
        after: ctx.info.heartbeatDetails,
      });
      return {
        ...outputOf(previous, input.objective),
        benchPath,
        resumed: true,
        ...(previous.sandbox ? { sandbox: previous.sandbox.protections } : {}),
      };
    }
    const workloadPath = path.join(dir, 'workload.json');
    writeJsonAtomic(workloadPath, input.workload);
    return withActivitySlots(slots, input.devices, 'benchmark', async (env, slot) => {
      const heartbeatBase = { candidateId: input.candidateId, slot };
      if (input.untrusted) return benchInSandbox(input, input.untrusted, benchPath, env, heartbeatBase);
      const partial = path.join(dir, `bench.attempt-${ctx.info.attempt}.json`);
      const result = await runVerbInActivity<Record<string, unknown>>(
        'bench',
        ['--stack', input.stackDir, '--device', input.device, '--workload', workloadPath, '--out', partial],
        { stage: 'benchmark', timeoutMs: input.timeoutS * 1000, env: runtimeEnv(env), heartbeatBase },
      );
      if (existsSync(partial)) renameSync(partial, benchPath);
      else writeJsonAtomic(benchPath, result);
      return { ...outputOf(result, input.objective), benchPath, resumed: false };
    });
  };
}

/**
 * The benchmark in the sandbox on an LLM-built stack. The workload goes inline (the sandbox need not
 * see the artifact directory), and bench.json is written here from the verb's result event, not
 * from a file in the workspace the candidate could rewrite.
 */
async function benchInSandbox(
  input: BenchmarkInput,
  untrusted: UntrustedStack,
  benchPath: string,
  env: NodeJS.ProcessEnv,
  heartbeatBase: Record<string, unknown>,
): Promise<BenchmarkOutput> {
  const { result, note } = await runUntrustedVerbInActivity<Record<string, unknown>>(
    'bench',
    ['--stack', input.stackDir, '--device', input.device, '--workload', JSON.stringify(input.workload)],
    { ...untrusted, stackDir: input.stackDir },
    { stage: 'benchmark', timeoutMs: input.timeoutS * 1000, env: sandboxEnv(env), heartbeatBase },
  );
  writeJsonAtomic(benchPath, { ...result, sandbox: note });
  return { ...outputOf(result, input.objective), benchPath, resumed: false, sandbox: note.protections };
}
