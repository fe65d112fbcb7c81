// `vibeserve serve`: runs an exported artifact (or a bare stack directory) as a local
// OpenAI-compatible server through `python -m vibeserve_runtime serve` (docs/boundary.md) and
// resolves once it prints its ready event. The stack's own runtime copy comes first on PYTHONPATH,
// as in the container image, so what runs locally is what was verified.
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { projectRoot, pythonExecutable } from '../paths.js';
import { secretFreeEnv, supervise, type ProcessExit } from '../processSupervisor.js';

export interface ServeOptions {
  host?: string;
  port?: number;
  apiKey?: string;
  device?: 'cpu' | 'cuda';
  python?: string;
  /** How long model loading may take before giving up. */
  readyTimeoutMs?: number;
  /** Receives the server's stderr (logs); default: this process's stderr. */
  onLog?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  stackDir: string;
  child: ChildProcess;
  /** Resolves with the server's exit code once it has stopped. */
  exited: Promise<number>;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/** `<artifact>/stack` for an exported artifact, or the directory itself when it is a stack. */
export function resolveStackDir(artifactDir: string): string {
  const dir = path.resolve(artifactDir);
  if (existsSync(path.join(dir, 'stack', 'stack.json'))) return path.join(dir, 'stack');
  if (existsSync(path.join(dir, 'stack.json'))) return dir;
  throw new Error(
    `${dir} is neither an exported artifact (no stack/stack.json) nor a stack directory (no stack.json); create one with \`vibeserve export <searchId>\``,
  );
}

export async function serveArtifact(artifactDir: string, opts: ServeOptions = {}): Promise<RunningServer> {
  const stackDir = resolveStackDir(artifactDir);
  const python = opts.python ?? pythonExecutable();
  const args = [
    '-m',
    'vibeserve_runtime',
    'serve',
    '--stack',
    stackDir,
    '--host',
    opts.host ?? '127.0.0.1',
    '--port',
    String(opts.port ?? 8000),
  ];
  if (opts.device) args.push('--device', opts.device);
  // A stack without its own runtime copy runs on the project's runtime (python-runtime/).
  const ownRuntime = existsSync(path.join(stackDir, 'vibeserve_runtime')) ? stackDir : null;
  // No credentials of this process reach the server; its own key is handed on on purpose, in the
  // environment, never on the command line where `ps` would show it.
  const env = secretFreeEnv({
    PYTHONUNBUFFERED: '1',
    PYTHONPATH: [ownRuntime, path.join(projectRoot, 'python-runtime'), process.env.PYTHONPATH]
      .filter(Boolean)
      .join(path.delimiter),
    ...(opts.apiKey ? { VIBESERVE_API_KEY: opts.apiKey } : {}),
  });

  // Its own process group (uvicorn workers included), SIGKILL 10 s after a stop signal.
  const proc = supervise(python, args, { env, killGraceMs: 10_000 });
  const child = proc.child;
  const log = opts.onLog ?? ((line: string) => process.stderr.write(line + '\n'));
  const stderrTail: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 15) stderrTail.shift();
    log(line);
  });
  // Shell convention: a process ended by signal N exits with 128 + N (SIGTERM → 143).
  const shellCode = (e: ProcessExit) => e.exitCode ?? 128 + (e.signal ? os.constants.signals[e.signal] : 0);
  const exited = proc.done.then(shellCode, () => 127); // 127: could not start (the ready promise says why)
  const stop = (signal: NodeJS.Signals = 'SIGTERM') => proc.stop(signal).then(shellCode, () => 127);

  return new Promise((resolve, reject) => {
    let errorEvent: { reason?: string; message?: string } | null = null;
    const timer = setTimeout(() => {
      void stop();
      reject(
        new Error(
          `the server did not become ready within ${(opts.readyTimeoutMs ?? 300_000) / 1000}s; last log lines:\n${stderrTail.join('\n')}`,
        ),
      );
    }, opts.readyTimeoutMs ?? 300_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let ev: any;
      try {
        ev = JSON.parse(line);
      } catch {
        log(line);
        return;
      }
      if (ev?.event === 'ready' && typeof ev.url === 'string') {
        clearTimeout(timer);
        resolve({ url: ev.url.replace(/\/+$/, ''), stackDir, child, exited, stop });
      } else if (ev?.event === 'error') errorEvent = ev;
      else if (ev?.event === 'log' && ev.message) log(String(ev.message));
    });
    proc.done.then(
      (exit) => {
        clearTimeout(timer);
        const why = errorEvent?.message ?? (stderrTail.slice(-5).join('\n') || 'no output');
        reject(new Error(`the server exited with code ${shellCode(exit)} before it was ready: ${why}`));
      },
      (err: Error) => {
        clearTimeout(timer);
        reject(
          new Error(`cannot start ${python}: ${err.message} (set VIBESERVE_PYTHON or run the project's set-up step)`),
        );
      },
    );
  });
}
