// Runs `python -m vibeserve_runtime <verb>` as docs/boundary.md describes: its own process group,
// a time limit (both lib/processSupervisor.ts), JSON-line events on stdout, exit codes mapped to
// retryable or not. A candidate that hangs or crashes takes down only its own process group.
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { FAILURE_CANDIDATE, FAILURE_INFRA, FAILURE_USAGE, type RejectionDetails } from './workflowSafe/failures.js';
import { forgetGroup, recordGroup } from './orphanReaper.js';
import { projectRoot, pythonExecutable } from './paths.js';
import { secretFreeEnv, supervise, superviseSync } from './processSupervisor.js';
import { verbResultProblem, type VerbResults } from './verbResults.js';

export interface ProgressEvent {
  event: 'progress';
  stage: string;
  done: number;
  total: number;
  message?: string;
  [extra: string]: unknown;
}

export interface ErrorEvent {
  event: 'error';
  kind: 'candidate' | 'infrastructure' | 'usage';
  reason: string;
  message: string;
}

export type RuntimeEvent =
  | ProgressEvent
  | ErrorEvent
  | { event: 'result'; [k: string]: unknown }
  | { event: 'log'; level?: string; message?: string }
  | { event: string; [k: string]: unknown };

export interface ProcessOutcome<R = Record<string, unknown>> {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  result: R | null;
  error: ErrorEvent | null;
  timedOut: boolean;
  aborted: boolean;
  stderrTail: string[];
  durationMs: number;
}

export interface RunOptions {
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  signal?: AbortSignal;
  onEvent?: (event: RuntimeEvent) => void;
  /** Called with the process group id right after the spawn, and with null once it is gone. */
  onGroup?: (pgid: number | null) => void;
  /** Time between SIGTERM and SIGKILL of the group when stopping it. */
  killGraceMs?: number;
}

const STDERR_TAIL_LINES = 20;

/** Runs a command under the process supervisor (its own process group, the time limit, the kill of
 * the whole group) and reads its JSON-line events. Never throws for a non-zero exit: the caller
 * decides what an exit code means. */
export function runJsonLines<R = Record<string, unknown>>(
  command: string,
  args: string[],
  opts: RunOptions,
): Promise<ProcessOutcome<R>> {
  const proc = supervise(command, args, {
    cwd: opts.cwd ?? projectRoot,
    env: opts.env,
    timeoutMs: opts.timeoutMs,
    killGraceMs: opts.killGraceMs,
    signal: opts.signal,
    onGroup: opts.onGroup,
  });
  const out = new VerbOutput<R>();
  createInterface({ input: proc.child.stdout! }).on('line', (line) => {
    const event = out.stdoutLine(line);
    if (event) opts.onEvent?.(event);
  });
  createInterface({ input: proc.child.stderr! }).on('line', (line) => out.stderrLine(line));
  return proc.done.then(
    (exit) => ({ ...exit, result: out.result, error: out.error, stderrTail: out.stderrTail }),
    (e: Error) => Promise.reject(new Error(`cannot start ${command}: ${e.message}`)),
  );
}

/** What a verb's output says: its result, its error, and the last lines of everything else. */
class VerbOutput<R> {
  result: R | null = null;
  error: ErrorEvent | null = null;
  readonly stderrTail: string[] = [];

  /** Takes a stdout line; returns it as an event, or null for a log line. */
  stdoutLine(line: string): RuntimeEvent | null {
    const event = parseEventLine(line);
    if (!event) {
      this.stderrLine(line);
      return null;
    }
    if (event.event === 'result') {
      const { event: _tag, ...payload } = event;
      this.result = payload as R;
    } else if (event.event === 'error') {
      this.error = event as ErrorEvent;
    }
    return event;
  }

  stderrLine(line: string): void {
    if (!line.trim()) return;
    this.stderrTail.push(line);
    if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
  }
}

export function parseEventLine(line: string): RuntimeEvent | null {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{')) return null;
  try {
    const obj = JSON.parse(trimmed) as unknown;
    if (obj && typeof obj === 'object' && typeof (obj as { event?: unknown }).event === 'string')
      return obj as RuntimeEvent;
  } catch {
    // not JSON: a log line
  }
  return null;
}

/** Environment for a runtime verb: the runtime package importable even without `pip install -e`,
 *  and no credentials (an LLM or Temporal key must never reach candidate code or its logs). */
export function runtimeEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const pyPath = [path.join(projectRoot, 'python-runtime'), process.env.PYTHONPATH]
    .filter(Boolean)
    .join(path.delimiter);
  return secretFreeEnv({ PYTHONPATH: pyPath, PYTHONUNBUFFERED: '1', ...extra });
}

export function runVerb<R = Record<string, unknown>>(
  verb: string,
  args: string[],
  opts: RunOptions,
): Promise<ProcessOutcome<R>> {
  return runJsonLines<R>(pythonExecutable(), ['-m', 'vibeserve_runtime', verb, ...args], {
    ...opts,
    env: opts.env ?? runtimeEnv(),
  });
}

/** A quick trusted verb for a synchronous caller (the export's pinned versions, the builder's
 * protected list): its result, checked against the verb's shape, or an error naming the verb. Only
 * for verbs that start no processes of their own (see superviseSync). */
export function runVerbSync<V extends keyof VerbResults>(
  verb: V,
  args: string[],
  opts: { timeoutMs: number; python?: string },
): VerbResults[V] {
  const run = superviseSync(opts.python ?? pythonExecutable(), ['-m', 'vibeserve_runtime', verb, ...args], {
    cwd: projectRoot,
    env: runtimeEnv(),
    timeoutMs: opts.timeoutMs,
  });
  if (run.error) throw new Error(`cannot start ${opts.python ?? pythonExecutable()}: ${run.error.message}`);
  const out = new VerbOutput<VerbResults[V]>();
  for (const line of run.stdout.split('\n')) out.stdoutLine(line);
  for (const line of run.stderr.split('\n')) out.stderrLine(line);
  const outcome = {
    exitCode: run.status,
    signal: run.signal,
    result: out.result,
    error: out.error,
    timedOut: run.timedOut,
    aborted: false,
    stderrTail: out.stderrTail,
    durationMs: 0,
  };
  const c = classifyOutcome(verb, outcome, opts.timeoutMs);
  if (c.kind === 'ok') return out.result!;
  throw new Error(
    c.kind === 'infrastructure' ? c.message : `${verb}: ${c.kind === 'cancelled' ? 'cancelled' : c.message}`,
  );
}

/** How an outcome is to be treated (docs/boundary.md, exit codes). */
export type OutcomeClass =
  | { kind: 'ok' }
  | { kind: 'candidate'; reason: string; message: string }
  | { kind: 'usage'; reason: string; message: string }
  | { kind: 'infrastructure'; message: string }
  | { kind: 'cancelled' };

export function classifyOutcome(verb: string, o: ProcessOutcome<unknown>, timeoutMs: number): OutcomeClass {
  if (o.aborted) return { kind: 'cancelled' };
  if (o.timedOut) {
    return {
      kind: 'candidate',
      reason: 'timeout',
      message: `${verb} did not finish within ${Math.round(timeoutMs / 1000)} s (the candidate's time limit)`,
    };
  }
  const last = o.error?.message ?? o.stderrTail.at(-1) ?? 'no output';
  if (o.exitCode === 0) {
    if (o.result === null)
      return { kind: 'infrastructure', message: `${verb} exited 0 without a result event (${last})` };
    // A result in a shape this side does not know is a bug or a version skew, not the candidate's.
    const malformed = verbResultProblem(verb, o.result);
    return malformed ? { kind: 'infrastructure', message: malformed } : { kind: 'ok' };
  }
  if (o.exitCode === 2) return { kind: 'candidate', reason: o.error?.reason ?? 'candidate_error', message: last };
  if (o.exitCode === 3) return { kind: 'usage', reason: o.error?.reason ?? 'usage', message: last };
  const how = o.signal ? `was killed by ${o.signal}` : `exited with code ${o.exitCode}`;
  return { kind: 'infrastructure', message: `${verb} ${how}: ${last}` };
}

export { FAILURE_CANDIDATE, FAILURE_INFRA, FAILURE_USAGE, type RejectionDetails } from './workflowSafe/failures.js';

export interface VerbActivityOptions extends Omit<RunOptions, 'signal' | 'onEvent' | 'onGroup'> {
  /** The candidate pipeline stage, carried in heartbeats and rejections. */
  stage: string;
  /** Extra fields every heartbeat carries (e.g. what a retry may skip). */
  heartbeatBase?: Record<string, unknown>;
  heartbeatEveryMs?: number;
}

/** What a running verb needs from its activity: cancellation, progress, its process group. */
export interface ActivityHooks {
  signal: AbortSignal;
  onEvent: (event: RuntimeEvent) => void;
  onGroup: (pgid: number | null) => void;
}

/** Supervises a verb process inside a Temporal activity: progress events become heartbeat details,
 * the activity is heartbeated while the process lives (so a dead worker is noticed within the
 * heartbeat timeout), cancellation reaches the process through the hooks' signal, and its process
 * group is recorded so a restarted worker can stop what a dead one left behind. */
export async function superviseInActivity<R>(
  opts: VerbActivityOptions,
  launch: (hooks: ActivityHooks) => Promise<ProcessOutcome<R>>,
): Promise<ProcessOutcome<R>> {
  const ctx = Context.current();
  let last: Record<string, unknown> = { ...opts.heartbeatBase, stage: opts.stage, done: 0, total: 0 };
  ctx.heartbeat(last);
  const beat = setInterval(() => ctx.heartbeat(last), opts.heartbeatEveryMs ?? 1000);
  try {
    return await launch({
      signal: ctx.cancellationSignal,
      onGroup: (pgid) => (pgid === null ? forgetGroup(ctx.info.activityId) : recordGroup(ctx.info.activityId, pgid)),
      onEvent: (e) => {
        if (e.event !== 'progress') return;
        const p = e as ProgressEvent;
        last = {
          ...opts.heartbeatBase,
          stage: opts.stage,
          step: p.stage,
          done: p.done,
          total: p.total,
          message: p.message,
        };
        ctx.heartbeat(last);
      },
    });
  } finally {
    clearInterval(beat);
  }
}

/** The non-retryable failure that rejects a candidate (the workflow turns it into its reason). */
export function candidateRejection(reason: string, message: string, stage: string): ApplicationFailure {
  return ApplicationFailure.create({
    message,
    type: FAILURE_CANDIDATE,
    nonRetryable: true,
    details: [{ reason, message, stage } satisfies RejectionDetails],
  });
}

/** The verb's result, or the failure its outcome stands for: exit codes become retryable or
 * non-retryable failures (docs/boundary.md). */
export function resultOrFailure<R>(
  verb: string,
  outcome: ProcessOutcome<R>,
  opts: Pick<VerbActivityOptions, 'stage' | 'timeoutMs'>,
): R {
  const c = classifyOutcome(verb, outcome, opts.timeoutMs);
  switch (c.kind) {
    case 'ok':
      return outcome.result as R;
    case 'cancelled':
      throw new CancelledFailure(`${verb} cancelled`);
    case 'candidate':
      throw candidateRejection(c.reason, c.message, opts.stage);
    case 'usage':
      throw ApplicationFailure.create({
        message: c.message,
        type: FAILURE_USAGE,
        nonRetryable: true,
        details: [{ reason: c.reason, message: c.message, stage: opts.stage } satisfies RejectionDetails],
      });
    case 'infrastructure':
      throw ApplicationFailure.retryable(c.message, FAILURE_INFRA);
  }
}

/** Runs a (trusted) verb inside a Temporal activity, supervised and classified as above. */
export async function runVerbInActivity<R = Record<string, unknown>>(
  verb: string,
  args: string[],
  opts: VerbActivityOptions,
): Promise<R> {
  const outcome = await superviseInActivity<R>(opts, (hooks) => runVerb<R>(verb, args, { ...opts, ...hooks }));
  return resultOrFailure(verb, outcome, opts);
}
