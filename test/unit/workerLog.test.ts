// `vibeserve up` keeps the log of a worker that crashed: a restart appends after a start marker,
// and only a log past the size limit is rotated to <log>.1.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { linesSince, openWorkerLog } from '../../lib/workerLog.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-worker-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('worker logs across restarts', () => {
  it('appends after a start marker and reads only the new start', () => {
    const file = path.join(dir, 'controlWorker.log');
    writeFileSync(file, 'Error: the crash that must stay readable\n{"event":"ready"}\n');
    const { fd, offset } = openWorkerLog(file, 'controlWorker', new Date('2026-01-02T03:04:05Z'));
    writeSync(fd, 'second start\n');
    closeSync(fd);
    const text = readFileSync(file, 'utf8');
    expect(text).toBe(
      'Error: the crash that must stay readable\n{"event":"ready"}\n--- controlWorker starting 2026-01-02T03:04:05.000Z ---\nsecond start\n',
    );
    // an earlier start's ready line does not count as this start's
    expect(linesSince(file, offset)).toEqual(['second start', '']);
  });

  it('rotates a log past the limit to <log>.1', () => {
    const file = path.join(dir, 'runtimeWorker.log');
    writeFileSync(file, 'x'.repeat(100));
    closeSync(openWorkerLog(file, 'runtimeWorker', new Date(), 50).fd);
    expect(readFileSync(`${file}.1`, 'utf8')).toBe('x'.repeat(100));
    expect(readFileSync(file, 'utf8')).toMatch(/^--- runtimeWorker starting .* ---\n$/);
    closeSync(openWorkerLog(file, 'runtimeWorker', new Date(), 1000).fd);
    expect(readFileSync(`${file}.1`, 'utf8')).toBe('x'.repeat(100)); // small logs are not rotated
  });
});
