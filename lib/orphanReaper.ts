// A runtime worker killed with SIGKILL cannot stop the verb processes it started; they would keep
// a GPU (or the CPU) busy while the retried activity runs elsewhere. Each running verb's process
// group is recorded under $VIBESERVE_HOME/run/ with the worker's pid, and a starting worker stops
// the groups whose worker is gone. Groups of live workers (other workers on this host) are left alone.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { vibeserveHome } from './paths.js';

function runDir(): string {
  return path.join(vibeserveHome(), 'run');
}

function fileFor(key: string): string {
  return path.join(runDir(), `${process.pid}-${key.replace(/[^A-Za-z0-9_-]/g, '_')}.json`);
}

export function recordGroup(key: string, pgid: number): void {
  mkdirSync(runDir(), { recursive: true });
  writeFileSync(fileFor(key), JSON.stringify({ workerPid: process.pid, pgid }));
}

export function forgetGroup(key: string): void {
  rmSync(fileFor(key), { force: true });
}

function isRuntimeVerb(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('vibeserve_runtime');
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops verb process groups left behind by dead workers; returns how many were stopped. */
export function reapOrphanedGroups(): number {
  let reaped = 0;
  let files: string[];
  try {
    files = readdirSync(runDir());
  } catch {
    return 0;
  }
  for (const f of files) {
    const file = path.join(runDir(), f);
    try {
      const { workerPid, pgid } = JSON.parse(readFileSync(file, 'utf8')) as { workerPid: number; pgid: number };
      if (alive(workerPid)) continue;
      // Only a group whose leader is still a runtime verb: never a recycled pid.
      if (isRuntimeVerb(pgid)) {
        process.kill(-pgid, 'SIGKILL');
        reaped++;
      }
      rmSync(file, { force: true });
    } catch {
      rmSync(file, { force: true }); // unreadable: written by a worker killed mid-write
    }
  }
  return reaped;
}
