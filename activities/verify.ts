// Verify: the candidate must match the reference before it is ever benchmarked. Runs on the
// runtime queue, one GPU per activity; `check` exits 2 when the candidate is wrong. A template-built
// stack is checked directly; an LLM-built one only inside the sandbox (lib/untrustedVerb.ts).
import { existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import { Context, log } from '@temporalio/activity';
import { candidateDir, readJsonIfExists, referenceCacheDir, writeJsonAtomic } from '../lib/artifactStore.js';
import { candidateRejection, runtimeEnv, runVerbInActivity } from '../lib/pythonBridge.js';
import type { UntrustedStack, VerifyInput, VerifyOutput } from '../lib/searchTypes.js';
import { runUntrustedVerbInActivity, sandboxEnv, type SandboxNote } from '../lib/untrustedVerb.js';
import { withActivitySlots, type DeviceSlots } from './gpuSlots.js';

interface CheckResult {
  passed: boolean;
  checks: Array<{ name: string; passed: boolean }>;
  report_path?: string | null;
  /** Present when the check ran sandboxed. */
  sandbox?: SandboxNote;
}

interface CheckRun {
  input: VerifyInput;
  checkPath: string;
  env: NodeJS.ProcessEnv;
  /** Checks that may share the device with this one (its GPU memory is split that many ways). */
  memoryShare: number;
  heartbeatBase: Record<string, unknown>;
}

export function createVerify(slots: DeviceSlots) {
  return async function verify(input: VerifyInput): Promise<VerifyOutput> {
    const ctx = Context.current();
    const dir = candidateDir(input.searchId, input.candidateId);
    const checkPath = path.join(dir, 'check.json');
    // A previous attempt may have finished the check and died before reporting: reuse it (an
    // untrusted stack's only if that attempt ran sandboxed and found its protected files intact).
    const previous = readJsonIfExists<CheckResult>(checkPath);
    if (previous?.passed === true && (!input.untrusted || previous.sandbox?.integrity.length === 0)) {
      log.info('verify resumed from an earlier attempt', {
        candidateId: input.candidateId,
        after: ctx.info.heartbeatDetails,
      });
      return {
        passed: true,
        checkPath,
        checks: previous.checks?.length ?? 0,
        resumed: true,
        ...(previous.sandbox ? { sandbox: previous.sandbox.protections } : {}),
      };
    }
    const share = slots.shareFor(input.checksPerDevice);
    return withActivitySlots(
      slots,
      input.devices,
      'verify',
      async (env, slot) => {
        const run: CheckRun = {
          input,
          checkPath,
          env,
          memoryShare: share,
          heartbeatBase: { candidateId: input.candidateId, slot },
        };
        const result = input.untrusted ? await checkInSandbox(run, input.untrusted) : await checkDirectly(run);
        if (!result.passed) {
          const failed = result.checks.filter((c) => !c.passed).map((c) => c.name);
          throw candidateRejection(
            'wrong_output',
            `correctness check failed: ${failed.join(', ') || 'see check.json'}`,
            'verify',
          );
        }
        return {
          passed: true,
          checkPath,
          checks: result.checks.length,
          resumed: false,
          ...(result.sandbox ? { sandbox: result.sandbox.protections } : {}),
        };
      },
      share,
    );
  };
}

/**
 * `check`'s arguments. A trusted check shares the search's reference cache, so every candidate
 * and retry after the first skips rebuilding the reference. A sandboxed check gets none: there the
 * checker and the candidate run as one user, so whatever the checker could read or write the
 * candidate could too (read the answers, or plant an entry).
 */
export function checkArgs(input: VerifyInput, report?: string, memoryShare = 1): string[] {
  const args = ['--stack', input.stackDir, '--device', input.device];
  if (report) args.push('--report', report);
  if (memoryShare > 1) args.push('--memory-share', String(memoryShare));
  if (!input.untrusted) args.push('--reference-cache', referenceCacheDir(input.searchId));
  return args;
}

/** The trusted checker on a template-built stack: it writes its report straight into the artifacts. */
async function checkDirectly({ input, checkPath, env, memoryShare, heartbeatBase }: CheckRun): Promise<CheckResult> {
  const partial = path.join(path.dirname(checkPath), `check.attempt-${Context.current().info.attempt}.json`);
  const keepReport = (result: CheckResult | null) => {
    if (existsSync(partial)) renameSync(partial, checkPath);
    else if (result) writeJsonAtomic(checkPath, result);
  };
  let result: CheckResult;
  try {
    result = await runVerbInActivity<CheckResult>('check', checkArgs(input, partial, memoryShare), {
      stage: 'verify',
      timeoutMs: input.timeoutS * 1000,
      env: runtimeEnv(env),
      heartbeatBase,
    });
  } catch (err) {
    keepReport(null); // a failed check still leaves its evidence for the report
    throw err;
  }
  keepReport(result);
  return result;
}

/**
 * The checker in the sandbox on an LLM-built stack. The candidate may rewrite anything in its
 * workspace, a report file the checker wrote there included, so check.json is written here from
 * the checker's result event, which only the checker process can emit; a stack whose protected
 * files changed is recorded as failed, and rejected with `integrity_violation`.
 */
async function checkInSandbox(
  { input, checkPath, env, memoryShare, heartbeatBase }: CheckRun,
  untrusted: UntrustedStack,
): Promise<CheckResult> {
  const { result, note } = await runUntrustedVerbInActivity<CheckResult>(
    'check',
    checkArgs(input, undefined, memoryShare),
    { ...untrusted, stackDir: input.stackDir },
    {
      stage: 'verify',
      timeoutMs: input.timeoutS * 1000,
      env: sandboxEnv(env),
      heartbeatBase,
      onResult: (r, ran) =>
        writeJsonAtomic(checkPath, { ...r, passed: r.passed === true && ran.integrity.length === 0, sandbox: ran }),
    },
  );
  return { ...result, sandbox: note };
}
