// The final round's measurement: the leading candidates benchmarked again on one worker, their
// repetitions interleaved, so drift of the machine (a busy neighbour, clocks, temperature) lands on
// every candidate alike instead of deciding between them. Stacks the project built run in one
// `bench --stack A --with B ...` (cli/offline_bench.py: every engine loaded once, repetition r runs
// each of them in an order rotated by r). LLM-built stacks run only in the sandbox, one stack per
// call, so with one of them among the leaders each pass is a bench run per candidate instead, in a
// rotated order. Results are kept under <search>/final-round/ (a retried attempt reuses them).
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { readJsonIfExists, searchDir, writeJsonAtomic } from '../lib/artifactStore.js';
import { FAILURE_CANDIDATE } from '../lib/workflowSafe/failures.js';
import { runtimeEnv, runVerbInActivity } from '../lib/pythonBridge.js';
import type { RemeasureInput, RemeasureOutput } from '../lib/searchTypes.js';
import { spreadOfValues } from '../lib/workflowSafe/spread.js';
import { runUntrustedVerbInActivity, sandboxEnv } from '../lib/untrustedVerb.js';
import { withActivitySlots, type DeviceSlots } from './gpuSlots.js';

export const FINAL_ROUND_DIR = 'final-round';

/** A pass's file: the candidate's bench result (the evidence), or why it failed. */
type PassFile = Record<string, unknown> & { error?: string };

export function createRemeasure(slots: DeviceSlots) {
  return async function remeasure(input: RemeasureInput): Promise<RemeasureOutput> {
    const dir = path.join(searchDir(input.searchId), FINAL_ROUND_DIR);
    return withActivitySlots(slots, input.devices, 'final-round', async (env) => {
      const values = new Map(input.candidates.map((c) => [c.candidateId, [] as number[]]));
      const errors = new Map(input.candidates.map((c) => [c.candidateId, [] as string[]]));
      if (input.candidates.some((c) => c.untrusted)) await oneByOne(input, env, dir, values, errors);
      else await sideBySide(input, env, dir, values, errors);
      return summarize(input, dir, values, errors);
    });
  };
}

type Figures = Map<string, number[]>;
type Errors = Map<string, string[]>;

/** One bench run of every candidate side by side; each repetition becomes a pass file. */
async function sideBySide(
  input: RemeasureInput,
  env: NodeJS.ProcessEnv,
  dir: string,
  values: Figures,
  errors: Errors,
): Promise<void> {
  const file = path.join(dir, 'side-by-side.json');
  const [first, ...rest] = input.candidates;
  const workload = { ...input.workload, repetitions: input.passes, seed: input.workload.seed + 1 };
  const args = [
    '--stack',
    first!.stackDir,
    ...rest.flatMap((c) => ['--with', c.stackDir]),
    '--device',
    input.device,
    '--workload',
    JSON.stringify(workload),
    '--no-profile',
  ];
  const result =
    readJsonIfExists<{ stacks: PassFile[] }>(file) ??
    (await runVerbInActivity<{ stacks: PassFile[] }>('bench', args, {
      stage: 'final-round',
      timeoutMs: input.timeoutS * input.candidates.length * 1000,
      env: runtimeEnv(env),
      heartbeatBase: { candidates: input.candidates.map((c) => c.candidateId) },
    }));
  writeJsonAtomic(file, result);
  input.candidates.forEach((c, i) => {
    const measured = result.stacks[i] ?? { error: 'no result' };
    if (typeof measured.error === 'string') errors.get(c.candidateId)!.push(measured.error);
    const reps = Array.isArray(measured.repetitions) ? (measured.repetitions as PassFile[]) : [];
    reps.forEach((rep, p) => {
      writeJsonAtomic(path.join(dir, `${c.candidateId}.pass-${p + 1}.json`), rep);
      const v = rep[input.objective];
      if (typeof v === 'number' && Number.isFinite(v)) values.get(c.candidateId)!.push(v);
    });
  });
}

function summarize(input: RemeasureInput, dir: string, values: Figures, errors: Errors): RemeasureOutput {
  const candidates = input.candidates.map((c) => ({
    candidateId: c.candidateId,
    spread: spreadOfValues(values.get(c.candidateId)!),
    errors: errors.get(c.candidateId)!,
  }));
  writeJsonAtomic(path.join(dir, 'summary.json'), { objective: input.objective, passes: input.passes, candidates });
  return { candidates, evidenceDir: FINAL_ROUND_DIR };
}

/** Pass p runs every candidate once, each in a bench run of its own, in an order rotated by p. */
async function oneByOne(
  input: RemeasureInput,
  env: NodeJS.ProcessEnv,
  dir: string,
  values: Figures,
  errors: Errors,
): Promise<void> {
  for (let p = 0; p < input.passes; p++) {
    const order = input.candidates.map((_, i) => input.candidates[(i + p) % input.candidates.length]!);
    // every candidate of a pass runs the same fresh requests
    const workload = { ...input.workload, repetitions: 1, seed: input.workload.seed + 1 + p };
    for (const c of order) {
      const file = path.join(dir, `${c.candidateId}.pass-${p + 1}.json`);
      const outcome = readJsonIfExists<PassFile>(file) ?? (await runPass(c, workload, input, env, file, p));
      const v = outcome[input.objective];
      if (typeof outcome.error === 'string') errors.get(c.candidateId)!.push(`pass ${p + 1}: ${outcome.error}`);
      else if (typeof v === 'number' && Number.isFinite(v)) values.get(c.candidateId)!.push(v);
    }
  }
}

/** One candidate's bench run of pass p; a failure of the candidate's own is recorded, not thrown
 * (the others still get their passes), an infrastructure failure is thrown for Temporal to retry. */
async function runPass(
  c: RemeasureInput['candidates'][number],
  workload: RemeasureInput['workload'],
  input: RemeasureInput,
  env: NodeJS.ProcessEnv,
  file: string,
  p: number,
): Promise<PassFile> {
  const opts = {
    stage: 'final-round',
    timeoutMs: input.timeoutS * 1000,
    heartbeatBase: { candidateId: c.candidateId, pass: p + 1 },
  };
  const args = [
    '--stack',
    c.stackDir,
    '--device',
    input.device,
    '--workload',
    JSON.stringify(workload),
    '--no-profile',
  ];
  let outcome: PassFile;
  try {
    outcome = c.untrusted
      ? (
          await runUntrustedVerbInActivity<PassFile>(
            'bench',
            args,
            { ...c.untrusted, stackDir: c.stackDir },
            { ...opts, env: sandboxEnv(env) },
          )
        ).result
      : await runVerbInActivity<PassFile>('bench', args, { ...opts, env: runtimeEnv(env) });
  } catch (err) {
    if (!(err instanceof ApplicationFailure) || err.type !== FAILURE_CANDIDATE) throw err;
    outcome = { error: err.message };
  }
  writeJsonAtomic(file, outcome);
  return outcome;
}
