// Runs a runtime verb (check, bench) on a stack whose code an LLM wrote: inside the sandbox, in the
// candidate's workspace (its only writable place), with the protected files (reference, checker,
// benchmark, the spec) mounted read-only. Read-only mounts do not stop a candidate from renaming a
// directory that holds them and putting its own copy in its place, so the protected files are
// hash-checked again once the run is over. The builder's tools and the official verify and
// benchmark activities all run untrusted code through here.
import path from 'node:path';
import { INSTALLED_RUNTIME, integrityDiff, protectedHashes, readOnlyMounts } from './builder/workspace.js';
import { promoteTritonCache, seedTritonCache } from './kernelCache.js';
import { pythonExecutable } from './paths.js';
import {
  candidateRejection,
  resultOrFailure,
  superviseInActivity,
  type ErrorEvent,
  type ProcessOutcome,
  type RuntimeEvent,
  type VerbActivityOptions,
} from './pythonBridge.js';
import { prepareWorkspace, runVerbSandboxed, type Protection, type SandboxedVerbOutcome } from './sandbox.js';
import type { UntrustedStack } from './searchTypes.js';

export type UntrustedStackDir = UntrustedStack & { stackDir: string };

export interface UntrustedVerbOptions {
  timeoutMs: number;
  /** Added to the sandbox's clean environment (e.g. the device slot's CUDA_VISIBLE_DEVICES). */
  env?: Record<string, string>;
  signal?: AbortSignal;
  onEvent?: (e: Record<string, unknown>) => void;
  onGroup?: (pgid: number | null) => void;
}

export interface UntrustedVerbOutcome extends SandboxedVerbOutcome {
  /** Protected paths that no longer match the expected hashes (changed, added or removed). */
  integrity: string[];
}

export async function runUntrustedVerb(
  verb: string,
  args: string[],
  stack: UntrustedStackDir,
  opts: UntrustedVerbOptions,
): Promise<UntrustedVerbOutcome> {
  const readOnly = readOnlyMounts(stack.protectedEntries);
  seedTritonCache(stack.workspace); // before prepareWorkspace hands the copies to the sandbox user
  prepareWorkspace(stack.workspace, readOnly);
  const out = await runVerbSandboxed(verb, args, {
    workspace: stack.workspace,
    python: pythonExecutable(),
    runtimePath: path.dirname(INSTALLED_RUNTIME),
    timeoutMs: opts.timeoutMs,
    memoryBytes: stack.memoryBytes,
    env: opts.env,
    readOnly,
    signal: opts.signal,
    onEvent: opts.onEvent,
    onGroup: opts.onGroup,
  });
  const integrity = integrityDiff(stack.expectedHashes, protectedHashes(stack.stackDir, stack.protectedEntries));
  if (out.exitCode === 0 && integrity.length === 0) promoteTritonCache(stack.workspace, stack.stackDir);
  return { ...out, integrity };
}

/** What the sandbox did for a run, recorded next to its report. */
export interface SandboxNote {
  protections: Protection[];
  /** Protected paths found changed after the run (empty: intact). */
  integrity: string[];
}

/** A device slot's environment as the plain strings the sandbox takes (unset variables dropped). */
export function sandboxEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/**
 * Runs an untrusted verb inside a Temporal activity with the same supervision (heartbeats with
 * progress, cancellation, process-group records) and the same classification of failures as a
 * trusted one; a changed protected file rejects the candidate with `integrity_violation`, whatever
 * the verb said. `onResult` sees the verb's result before it is judged, so a failed check still
 * leaves its evidence.
 */
export async function runUntrustedVerbInActivity<R = Record<string, unknown>>(
  verb: string,
  args: string[],
  stack: UntrustedStackDir,
  opts: Omit<VerbActivityOptions, 'env' | 'cwd'> & {
    env?: Record<string, string>;
    onResult?: (result: R, note: SandboxNote) => void;
  },
): Promise<{ result: R; note: SandboxNote }> {
  let note: SandboxNote = { protections: [], integrity: [] };
  const outcome = await superviseInActivity<R>(opts, async (hooks) => {
    const out = await runUntrustedVerb(verb, args, stack, {
      timeoutMs: opts.timeoutMs,
      env: opts.env,
      signal: hooks.signal,
      onGroup: hooks.onGroup,
      onEvent: (e) => hooks.onEvent(e as RuntimeEvent),
    });
    note = { protections: out.protections, integrity: out.integrity };
    return asProcessOutcome<R>(out);
  });
  if (outcome.result !== null) opts.onResult?.(outcome.result, note);
  if (note.integrity.length) {
    throw candidateRejection(
      'integrity_violation',
      `protected files changed while the candidate ran: ${note.integrity.slice(0, 6).join(', ')}`,
      opts.stage,
    );
  }
  return { result: resultOrFailure(verb, outcome, opts), note };
}

function asProcessOutcome<R>(o: SandboxedVerbOutcome): ProcessOutcome<R> {
  let result: R | null = null;
  if (o.result) {
    const { event: _tag, ...payload } = o.result;
    result = payload as R;
  }
  return {
    exitCode: o.exitCode,
    signal: o.signal,
    result,
    error: o.error as ErrorEvent | null,
    timedOut: o.timedOut,
    aborted: o.aborted,
    stderrTail: o.stderrTail.split('\n').filter(Boolean),
    durationMs: o.durationMs,
  };
}
