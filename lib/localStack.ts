// What `vibeserve up` started on this machine, recorded in .vibeserve/up.json so that `down`
// stops exactly those processes and other commands find the server's address.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { writeJsonAtomic } from './artifactStore.js';
import { isAlive } from './processSupervisor.js';
import { vibeserveHome } from './paths.js';
import { DEFAULT_ADDRESS } from './temporalConnection.js';

export interface StartedProcess {
  pid: number;
  /** A word that must appear in /proc/<pid>/cmdline, so a recycled pid is never signalled. */
  marker: string;
  log: string;
}

export interface UpState {
  address: string;
  uiUrl: string | null;
  server: StartedProcess | null;
  controlWorker: StartedProcess | null;
  runtimeWorker: StartedProcess | null;
}

export function upStatePath(): string {
  return path.join(vibeserveHome(), 'up.json');
}

export function readUpState(): UpState | null {
  const file = upStatePath();
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as UpState;
  } catch {
    return null;
  }
}

export function writeUpState(state: UpState): void {
  writeJsonAtomic(upStatePath(), state);
}

export function clearUpState(): void {
  rmSync(upStatePath(), { force: true });
}

/** Still our process: alive, and its command line still names what we started. */
export function isOurs(p: StartedProcess | null): p is StartedProcess {
  if (!p || !isAlive(p.pid)) return false;
  try {
    return readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').includes(p.marker);
  } catch {
    return true; // no /proc (macOS): trust the pid
  }
}

/** The address clients use: TEMPORAL_ADDRESS, else what `up` started, else the default. */
export function applyLocalAddress(env: NodeJS.ProcessEnv = process.env): void {
  const up = readUpState();
  if (!up) return;
  if (!env.TEMPORAL_ADDRESS && up.address !== DEFAULT_ADDRESS) env.TEMPORAL_ADDRESS = up.address;
  if (!env.TEMPORAL_UI_URL && up.uiUrl && (!env.TEMPORAL_ADDRESS || env.TEMPORAL_ADDRESS === up.address))
    env.TEMPORAL_UI_URL = up.uiUrl;
}
