// Runs untrusted candidate code (what an LLM builder wrote) with the strongest isolation the OS
// allows: its own process group, a wall-clock limit, a memory limit, no network (a fresh network
// namespace holds only a downed loopback), its own PID namespace (it cannot signal the workers),
// an unprivileged user, and a mount namespace in which every world-writable directory is
// read-only, so it can write nowhere but its workspace. The environment is rebuilt from an allow
// list, so secrets such as LLM API keys never reach the candidate. The process group, the time
// limit and the kill of the group are lib/processSupervisor.ts's.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { supervise } from './processSupervisor.js';

export const SANDBOX_UID = 65534; // nobody
export const SANDBOX_GID = 65534;
/** Where, inside a workspace, the sandboxed process's Triton kernels are cached (lib/kernelCache.ts). */
export const WORKSPACE_TRITON_CACHE = path.join('.home', '.triton');

/** Directories any user may write to; inside the sandbox they are remounted read-only. */
const WORLD_WRITABLE = ['/tmp', '/var/tmp', '/dev/shm', '/run/lock', '/dev/mqueue'];

/** Variables a candidate may inherit; everything else (keys, tokens, credentials) is dropped. An
 * allow list, stricter than the deny list of processSupervisor's secretFreeEnv: this is candidate code. */
const ENV_ALLOW = [
  'PATH',
  'LANG',
  'LC_ALL',
  'TZ',
  'CUDA_VISIBLE_DEVICES',
  'NVIDIA_VISIBLE_DEVICES',
  'TRITON_INTERPRET',
  'OMP_NUM_THREADS',
  'MKL_NUM_THREADS',
  'VIBESERVE_PYTHON',
];

export type Protection =
  | 'process_group'
  | 'time_limit'
  | 'memory_limit'
  | 'no_network'
  | 'pid_namespace'
  | 'unprivileged_user'
  | 'read_only_outside_workspace'
  | 'clean_environment';

export interface SandboxOptions {
  workspace: string;
  command: string;
  args: string[];
  timeoutMs: number;
  /** Limit on private writable memory (RLIMIT_DATA; unlike RLIMIT_AS it leaves CUDA's address-space reservations alone). */
  memoryBytes?: number;
  /** Largest file the candidate may write. */
  fileSizeBytes?: number;
  env?: Record<string, string>;
  cwd?: string;
  signal?: AbortSignal;
  onStdoutLine?: (line: string) => void;
  /** Called with the process group id right after the spawn, and with null once it is gone. */
  onGroup?: (pgid: number | null) => void;
  /** Paths (inside the workspace) mounted read-only on top of the writable workspace. */
  readOnly?: string[];
  /** Paths outside the workspace the candidate must be able to read (e.g. the runtime, a model directory). */
  visible?: string[];
}

export interface SandboxResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** Killed because opts.signal was aborted. */
  aborted: boolean;
  stdout: string;
  stderr: string;
  durationMs: number;
  protections: Protection[];
}

let support: { namespaces: boolean; reason?: string } | undefined;

/** Whether this host lets us create network/mount/PID namespaces and drop to another user. */
export function sandboxSupport(): { namespaces: boolean; reason?: string } {
  if (support) return support;
  if (process.getuid?.() !== 0) {
    support = { namespaces: false, reason: 'not running as root: namespaces and the user switch are unavailable' };
    return support;
  }
  const probe = spawnSync(
    'unshare',
    [
      '--net',
      '--mount',
      '--pid',
      '--fork',
      'setpriv',
      `--reuid=${SANDBOX_UID}`,
      `--regid=${SANDBOX_GID}`,
      '--clear-groups',
      'true',
    ],
    { timeout: 10_000 },
  );
  support =
    probe.status === 0
      ? { namespaces: true }
      : {
          namespaces: false,
          reason: `unshare/setpriv failed: ${String(probe.stderr ?? probe.error ?? '')
            .trim()
            .slice(0, 200)}`,
        };
  return support;
}

/** Gives the workspace to the sandbox user (everything except read-only paths stays writable to it). */
export function prepareWorkspace(workspace: string, readOnly: string[] = []): void {
  mkdirSync(path.join(workspace, '.home'), { recursive: true });
  mkdirSync(path.join(workspace, '.tmp'), { recursive: true });
  if (process.getuid?.() !== 0) return;
  const keep = new Set(readOnly.map((p) => path.resolve(workspace, p)));
  const walk = (p: string) => {
    if (keep.has(p)) return;
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    chownSync(p, SANDBOX_UID, SANDBOX_GID);
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(path.join(p, e));
  };
  walk(path.resolve(workspace));
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The highest directory on the way to `p` that the sandbox user could not pass (or /root, always hidden). */
function blockingAncestor(p: string): string | null {
  if (p === '/root' || p.startsWith('/root/')) return '/root';
  let dir = '/';
  for (const part of p.split('/').filter(Boolean)) {
    dir = path.join(dir, part);
    try {
      if ((statSync(dir).mode & 0o001) === 0) return dir;
    } catch {
      return null;
    }
  }
  return null;
}

/**
 * The mount set-up run as root inside the new namespaces, before dropping privileges. Every
 * world-writable directory becomes read-only; /root and any directory the sandbox user could not
 * pass on the way to a path it needs (the workspace, the Python installation) are covered by an
 * empty tmpfs into which only those paths are mounted back, so their siblings stay invisible and
 * every path keeps its name; the workspace is writable, the protected paths inside it read-only.
 */
function mountScript(workspace: string, readOnly: string[], needed: string[]): string {
  const q = shellQuote;
  const lines = ['set -e', 'mount --make-rprivate /'];
  const rescue = [workspace, ...needed]
    .map((p) => ({ p, a: blockingAncestor(p) }))
    .filter((r): r is { p: string; a: string } => r.a !== null);
  const stage = existsSync('/mnt') ? '/mnt' : existsSync('/media') ? '/media' : null;
  if (stage && rescue.length) {
    lines.push(`mount -t tmpfs -o mode=0755,size=1m tmpfs ${stage}`);
    rescue.forEach(({ p }, i) => lines.push(`mkdir -p ${stage}/${i}`, `mount --bind ${q(p)} ${stage}/${i}`));
  }
  for (const dir of WORLD_WRITABLE) {
    if (existsSync(dir)) lines.push(`{ mount --bind ${dir} ${dir} && mount -o remount,bind,ro ${dir}; } || true`);
  }
  const covered: string[] = [];
  const cover = (a: string) => {
    if (covered.some((c) => a === c || a.startsWith(c + '/'))) return;
    covered.push(a);
    lines.push(`mount -t tmpfs -o mode=0755,size=1m tmpfs ${q(a)}`);
  };
  if (existsSync('/root')) cover('/root');
  if (stage) {
    rescue.forEach(({ p, a }, i) => {
      cover(a);
      lines.push(`mkdir -p ${q(p)}`, `mount --move ${stage}/${i} ${q(p)}`);
    });
    lines.push(`umount ${stage}`);
  }
  if (!rescue.some((r) => r.p === workspace)) lines.push(`mount --bind ${q(workspace)} ${q(workspace)}`);
  lines.push(`mount -o remount,bind,rw ${q(workspace)}`);
  for (const p of readOnly) {
    const abs = path.resolve(workspace, p);
    lines.push(`mount --bind ${q(abs)} ${q(abs)}`, `mount -o remount,bind,ro ${q(abs)}`);
  }
  return lines.join('\n');
}

function pythonPrefixOf(command: string): string | null {
  try {
    const out = spawnSync(command, ['-c', 'import sys; print(sys.base_prefix)'], { encoding: 'utf8', timeout: 20_000 });
    const prefix = out.stdout?.trim();
    return prefix ? realpathSync(prefix) : null;
  } catch {
    return null;
  }
}

const prefixCache = new Map<string, string | null>();

export async function runSandboxed(opts: SandboxOptions): Promise<SandboxResult> {
  const workspace = realpathSync(path.resolve(opts.workspace));
  const readOnly = (opts.readOnly ?? []).filter((p) => existsSync(path.resolve(workspace, p)));
  const protections: Protection[] = ['process_group', 'time_limit', 'clean_environment'];
  const env: Record<string, string> = {};
  for (const k of ENV_ALLOW) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  Object.assign(env, {
    HOME: path.join(workspace, '.home'),
    TMPDIR: path.join(workspace, '.tmp'),
    XDG_CACHE_HOME: path.join(workspace, '.home', '.cache'),
    TRITON_CACHE_DIR: path.join(workspace, WORKSPACE_TRITON_CACHE),
    TORCHINDUCTOR_CACHE_DIR: path.join(workspace, '.home', '.inductor'),
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONUNBUFFERED: '1',
    ...opts.env,
  });
  const limits = ['prlimit'];
  if (opts.memoryBytes) {
    limits.push(`--data=${opts.memoryBytes}`);
    protections.push('memory_limit');
  }
  limits.push(`--fsize=${opts.fileSizeBytes ?? 2 * 1024 ** 3}`, '--core=0', '--');
  const inner = [...limits, opts.command, ...opts.args];

  let command: string;
  let args: string[];
  const ns = sandboxSupport();
  if (ns.namespaces) {
    if (!prefixCache.has(opts.command)) prefixCache.set(opts.command, pythonPrefixOf(opts.command));
    const drop = [
      'setpriv',
      `--reuid=${SANDBOX_UID}`,
      `--regid=${SANDBOX_GID}`,
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--no-new-privs',
      '--',
    ];
    const needed = [prefixCache.get(opts.command), ...(opts.visible ?? [])].filter((p): p is string => !!p);
    const script = `${mountScript(workspace, readOnly, needed)}\ncd ${shellQuote(opts.cwd ?? workspace)}\nexec "$@"`;
    command = 'unshare';
    args = [
      '--net',
      '--mount',
      '--pid',
      '--fork',
      '--mount-proc',
      '--kill-child',
      'bash',
      '-c',
      script,
      'vibeserve-sandbox',
      ...drop,
      ...inner,
    ];
    protections.push('no_network', 'pid_namespace', 'unprivileged_user', 'read_only_outside_workspace');
  } else {
    [command, ...args] = inner as [string, ...string[]];
  }

  // No grace before SIGKILL: a candidate gets no chance to handle the signal.
  const proc = supervise(command, args, {
    cwd: opts.cwd ?? workspace,
    env,
    timeoutMs: opts.timeoutMs,
    killGraceMs: 0,
    signal: opts.signal,
    onGroup: opts.onGroup,
  });
  let stdout = '';
  let stderr = '';
  createInterface({ input: proc.child.stdout! }).on('line', (line) => {
    stdout = (stdout + line + '\n').slice(-200_000);
    opts.onStdoutLine?.(line);
  });
  proc.child.stderr!.on('data', (c) => (stderr = (stderr + c).slice(-50_000)));
  try {
    const exit = await proc.done;
    return { ...exit, stdout, stderr, protections };
  } catch (e) {
    throw new Error(`cannot start the sandbox (${command}): ${(e as Error).message}`);
  }
}

export interface SandboxedVerbOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  result: Record<string, unknown> | null;
  error: { kind: string; reason: string; message: string } | null;
  stderrTail: string;
  protections: Protection[];
  durationMs: number;
}

/**
 * Runs `python -m vibeserve_runtime <verb>` inside the sandbox, with the workspace as its only
 * writable place. `-P` keeps the current directory off sys.path and `-s` the user site (under
 * HOME, which is in the workspace), so files the candidate wrote cannot shadow or extend the
 * trusted runtime (which comes from the installed package, not the workspace). The verb's first
 * result and first error are its answer; nothing may follow them.
 */
export async function runVerbSandboxed(
  verb: string,
  args: string[],
  opts: {
    workspace: string;
    python: string;
    runtimePath: string;
    visible?: string[];
    timeoutMs: number;
    memoryBytes?: number;
    env?: Record<string, string>;
    readOnly?: string[];
    signal?: AbortSignal;
    onEvent?: (e: Record<string, unknown>) => void;
    onGroup?: (pgid: number | null) => void;
  },
): Promise<SandboxedVerbOutcome> {
  let result: Record<string, unknown> | null = null;
  let error: SandboxedVerbOutcome['error'] = null;
  const r = await runSandboxed({
    workspace: opts.workspace,
    command: opts.python,
    args: ['-P', '-s', '-m', 'vibeserve_runtime', verb, ...args],
    timeoutMs: opts.timeoutMs,
    memoryBytes: opts.memoryBytes,
    env: { PYTHONPATH: opts.runtimePath, ...opts.env },
    readOnly: opts.readOnly,
    visible: [opts.runtimePath, ...(opts.visible ?? [])],
    signal: opts.signal,
    onGroup: opts.onGroup,
    onStdoutLine: (line) => {
      const t = line.trim();
      if (!t.startsWith('{')) return;
      try {
        const e = JSON.parse(t) as Record<string, unknown>;
        if (e.event === 'result') result ??= e;
        else if (e.event === 'error') error ??= e as unknown as SandboxedVerbOutcome['error'];
        opts.onEvent?.(e);
      } catch {
        // a log line
      }
    },
  });
  return {
    exitCode: r.exitCode,
    signal: r.signal,
    timedOut: r.timedOut,
    aborted: r.aborted,
    result,
    error,
    stderrTail: r.stderr.split('\n').filter(Boolean).slice(-8).join('\n'),
    protections: r.protections,
    durationMs: r.durationMs,
  };
}
