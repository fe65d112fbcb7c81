// The one way VibeServe starts a child process. Every child gets its own process group, so one
// signal reaches whatever it forked (a verb's engine processes, uvicorn workers, a sandbox's
// namespace helpers); an optional time limit stops that group with SIGTERM and, after a grace,
// SIGKILL; the group never outlives its leader; and unless the caller says otherwise the group is
// killed when this process exits. The environment is this process's, less any credential,
// unless the caller passes its own.
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';

/** Variable names that hold credentials (LLM API keys, Temporal API/TLS keys, tokens). */
const SECRET_VARIABLE = /(API_?KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL|TLS_KEY)/i;

/** This process's environment without credentials, plus `extra` (which may hand one on on purpose). */
export function secretFreeEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !SECRET_VARIABLE.test(name)));
  return { ...base, ...extra };
}

export interface SuperviseOptions {
  cwd?: string;
  /** Default: secretFreeEnv(). Pass a full environment only to a process that needs credentials. */
  env?: NodeJS.ProcessEnv;
  /** Default: stdin ignored, stdout and stderr piped. */
  stdio?: StdioOptions;
  /** Wall-clock limit; past it the group is stopped and the exit says timedOut. */
  timeoutMs?: number;
  /** Between SIGTERM and SIGKILL when stopping the group; 0 sends SIGKILL at once. Default 3 s. */
  killGraceMs?: number;
  /** Aborting it stops the group; the exit says aborted. */
  signal?: AbortSignal;
  /** Called with the process group id right after the spawn, and with null once it is gone. */
  onGroup?: (pgid: number | null) => void;
  /** A daemon meant to outlive this process (`vibeserve up`'s server and workers): it does not
   * keep this process's event loop alive and is not killed when this process exits. */
  background?: boolean;
}

export interface ProcessExit {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  durationMs: number;
}

export interface SupervisedProcess {
  child: ChildProcess;
  /** Settles once the leader has exited and its output is closed; rejects only if it could not start. */
  done: Promise<ProcessExit>;
  /** Sends `signal` to the group, SIGKILL after the grace, and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<ProcessExit>;
}

/** Groups to kill if this process exits first (a CLI that throws, a test file that ends). */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function killLiveGroupsOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' covers a normal end and process.exit(); a parent killed with SIGKILL cannot run it,
  // which is what lib/orphanReaper.ts is for.
  process.once('exit', () => {
    for (const pgid of liveGroups) killWholeGroup(pgid, 'SIGKILL');
  });
}

export function supervise(command: string, args: string[], opts: SuperviseOptions = {}): SupervisedProcess {
  const started = Date.now();
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? secretFreeEnv(),
    detached: true, // its own process group, so one kill reaches every process it started
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  const pgid = child.pid;
  const graceMs = opts.killGraceMs ?? 3000;
  let timedOut = false;
  let aborted = false;
  let killTimer: NodeJS.Timeout | undefined;

  if (pgid !== undefined) {
    if (opts.background) child.unref();
    else {
      liveGroups.add(pgid);
      killLiveGroupsOnExit();
    }
    opts.onGroup?.(pgid);
  }

  const stopGroup = (sig: NodeJS.Signals) => {
    if (pgid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    if (graceMs === 0 || sig === 'SIGKILL') return killWholeGroup(pgid, 'SIGKILL');
    killWholeGroup(pgid, sig);
    killTimer ??= setTimeout(() => killWholeGroup(pgid, 'SIGKILL'), graceMs);
  };
  const limit =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => ((timedOut = true), stopGroup('SIGTERM')), opts.timeoutMs);
  const onAbort = () => ((aborted = true), stopGroup('SIGTERM'));
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });

  const cleanUp = () => {
    clearTimeout(limit);
    clearTimeout(killTimer);
    opts.signal?.removeEventListener('abort', onAbort);
  };
  // The leader may exit before processes it forked; none may outlive it (and a straggler holding
  // the output pipe open would otherwise delay 'close').
  child.once('exit', () => pgid !== undefined && killWholeGroup(pgid, 'SIGKILL'));
  const done = new Promise<ProcessExit>((resolve, reject) => {
    child.on('error', (e) => {
      if (child.pid !== undefined) return; // a failed kill or the like: 'close' still comes
      cleanUp();
      reject(e);
    });
    child.once('close', (exitCode, signal) => {
      cleanUp();
      if (pgid !== undefined) {
        liveGroups.delete(pgid);
        opts.onGroup?.(null);
      }
      resolve({ exitCode, signal, timedOut, aborted, durationMs: Date.now() - started });
    });
  });
  done.catch(() => undefined); // callers that only stop() a process need not handle a failed start

  return {
    child,
    done,
    stop: (sig: NodeJS.Signals = 'SIGTERM') => {
      stopGroup(sig);
      return done;
    },
  };
}

export interface SyncRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  /** Set when the command could not be started. */
  error?: Error;
}

/** A short command run to completion for a synchronous caller, with the same environment rule and
 * a time limit (SIGKILL). spawnSync cannot create a process group, so this is only for commands
 * that start no processes of their own. */
export function superviseSync(
  command: string,
  args: string[],
  opts: { timeoutMs: number; cwd?: string; env?: NodeJS.ProcessEnv },
): SyncRun {
  const r = spawnSync(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? secretFreeEnv(),
    encoding: 'utf8',
    timeout: opts.timeoutMs,
    killSignal: 'SIGKILL',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
  return {
    status: r.status,
    signal: r.signal,
    timedOut,
    stdout: r.stdout ?? '',
    stderr: r.stderr ?? '',
    ...(r.error && !timedOut ? { error: r.error } : {}),
  };
}

/** Signals a whole group. Never the lone pid: once our child is reaped its pid may be reused. */
function killWholeGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is already gone
  }
}

/** Signals the group a recorded pid leads (what `vibeserve up` started), or the lone process
 * when it leads none. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls until `pid` is gone (it need not be our child: `vibeserve down` stops what `up` started). */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}
