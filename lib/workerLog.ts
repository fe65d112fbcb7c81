// The log file `vibeserve up` gives a background worker. A restart appends to it after a start
// marker line, so the lines of a worker that just crashed are still there to read; a log past
// ROTATE_BYTES is first moved to <log>.1 (the one before it is dropped), so logs stay bounded.
import { appendFileSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';

export const ROTATE_BYTES = 10 * 1024 * 1024;

export interface WorkerLog {
  /** Append-mode descriptor for the worker's stdout and stderr. */
  fd: number;
  /** Where this start's lines begin: what came before belongs to earlier runs. */
  offset: number;
}

export function openWorkerLog(file: string, name: string, now = new Date(), rotateBytes = ROTATE_BYTES): WorkerLog {
  mkdirSync(path.dirname(file), { recursive: true });
  if (existsSync(file) && statSync(file).size > rotateBytes) renameSync(file, `${file}.1`);
  appendFileSync(file, `--- ${name} starting ${now.toISOString()} ---\n`);
  const offset = statSync(file).size;
  return { fd: openSync(file, 'a'), offset };
}

/** The lines written since this start (`offset` from openWorkerLog). */
export function linesSince(file: string, offset: number): string[] {
  return readFileSync(file).subarray(offset).toString('utf8').split('\n');
}
