// Verify: the candidate must match the reference before it is ever benchmarked. Runs on the
// runtime queue, one GPU per activity; `check` exits 2 when the candidate is wrong.
import { existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { candidateDir, readJsonIfExists, writeJsonAtomic } from '../lib/artifactStore.js';
import { FAILURE_CANDIDATE, runtimeEnv, runVerbInActivity, type RejectionDetails } from '../lib/pythonBridge.js';
import type { VerifyInput, VerifyOutput } from '../lib/searchTypes.js';
import type { DeviceSlots } from './gpuSlots.js';

interface CheckResult {
  passed: boolean;
  checks: Array<{ name: string; passed: boolean }>;
  report_path?: string | null;
}

export function createVerify(slots: DeviceSlots) {
  return async function verify(input: VerifyInput): Promise<VerifyOutput> {
    const ctx = Context.current();
    const dir = candidateDir(input.searchId, input.candidateId);
    const checkPath = path.join(dir, 'check.json');
    // A previous attempt may have finished the check and died before reporting: reuse it.
    const previous = readJsonIfExists<CheckResult>(checkPath);
    if (previous?.passed === true) {
      log.info('verify resumed from an earlier attempt', { candidateId: input.candidateId, after: ctx.info.heartbeatDetails });
      return { passed: true, checkPath, checks: previous.checks?.length ?? 0, resumed: true };
    }
    const partial = path.join(dir, `check.attempt-${ctx.info.attempt}.json`);
    const keepReport = (result: CheckResult | null) => {
      if (existsSync(partial)) renameSync(partial, checkPath);
      else if (result) writeJsonAtomic(checkPath, result);
    };
    return slots.with(async (env, slot) => {
      let result: CheckResult;
      try {
        result = await runVerbInActivity<CheckResult>('check', ['--stack', input.stackDir, '--device', input.device, '--report', partial], {
          stage: 'verify',
          timeoutMs: input.timeoutS * 1000,
          env: runtimeEnv(env),
          heartbeatBase: { candidateId: input.candidateId, slot },
        });
      } catch (err) {
        keepReport(null); // a failed check still leaves its evidence for the report
        throw err;
      }
      keepReport(result);
      if (!result.passed) {
        const failed = result.checks.filter((c) => !c.passed).map((c) => c.name);
        const message = `correctness check failed: ${failed.join(', ') || 'see check.json'}`;
        throw ApplicationFailure.create({
          message,
          type: FAILURE_CANDIDATE,
          nonRetryable: true,
          details: [{ reason: 'wrong_output', message, stage: 'verify' } satisfies RejectionDetails],
        });
      }
      return { passed: true, checkPath, checks: result.checks.length, resumed: false };
    });
  };
}
