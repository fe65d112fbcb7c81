// The integrity check after a sandboxed run reads what the candidate left behind, as root: links,
// FIFOs and devices in place of protected files must count as changed without being followed.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { integrityDiff, protectedHashes } from '../../lib/builder/workspace.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-hashes-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function stack(name: string): string {
  const dir = path.join(root, name);
  mkdirSync(path.join(dir, 'vibeserve_runtime', 'checker'), { recursive: true });
  writeFileSync(path.join(dir, 'stack.json'), '{}');
  writeFileSync(path.join(dir, 'vibeserve_runtime', 'checker', 'checks.py'), 'OK = True\n');
  return dir;
}

describe('protectedHashes', () => {
  const expected = protectedHashes(stack('honest'), ['checker']);

  it('hashes regular files', () => {
    expect(Object.keys(expected).sort()).toEqual(['stack.json', 'vibeserve_runtime/checker/checks.py']);
    expect(integrityDiff(expected, protectedHashes(stack('same'), ['checker']))).toEqual([]);
  });

  it('marks a link, a FIFO or a device in place of a protected file without reading it', () => {
    const dir = stack('special');
    const checks = path.join(dir, 'vibeserve_runtime', 'checker', 'checks.py');
    rmSync(checks);
    symlinkSync('/dev/zero', checks); // following it would never end
    execFileSync('mkfifo', [path.join(dir, 'vibeserve_runtime', 'checker', 'pipe.py')]); // opening it would block
    const actual = protectedHashes(dir, ['checker']);
    expect(actual['vibeserve_runtime/checker/checks.py']).toMatch(/^not a regular file/);
    expect(integrityDiff(expected, actual)).toEqual([
      'vibeserve_runtime/checker/checks.py',
      'vibeserve_runtime/checker/pipe.py',
    ]);
  });

  it('does not follow a protected directory or the runtime replaced by a link', () => {
    const honest = stack('linked-source');
    const dir = stack('linked-dir');
    rmSync(path.join(dir, 'vibeserve_runtime'), { recursive: true });
    symlinkSync(path.join(honest, 'vibeserve_runtime'), path.join(dir, 'vibeserve_runtime'));
    expect(integrityDiff(expected, protectedHashes(dir, ['checker']))).not.toEqual([]);
    const entry = stack('linked-entry');
    rmSync(path.join(entry, 'vibeserve_runtime', 'checker'), { recursive: true });
    symlinkSync(path.join(honest, 'vibeserve_runtime', 'checker'), path.join(entry, 'vibeserve_runtime', 'checker'));
    expect(integrityDiff(expected, protectedHashes(entry, ['checker']))).toContain('vibeserve_runtime/checker');
  });
});
