import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pythonExecutable } from '../../lib/paths.js';
import { prepareWorkspace, runSandboxed, sandboxSupport } from '../../lib/sandbox.js';

// The outer directory is private (0700), like a test home: the sandbox must still reach its
// workspace inside it, and must not see anything else there.
const outer = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-sandbox-'));
const workspace = path.join(outer, 'candidate', 'workspace');
const neighbour = path.join(outer, 'other-candidate.txt');
const python = pythonExecutable();
const CANARY = 'sk-canary-sandbox-77aa11';

beforeAll(() => {
  mkdirSync(workspace, { recursive: true });
  writeFileSync(neighbour, 'someone else');
  process.env.VIBESERVE_SANDBOX_TEST_KEY = CANARY;
});
afterAll(() => {
  rmSync(outer, { recursive: true, force: true });
  delete process.env.VIBESERVE_SANDBOX_TEST_KEY;
});

async function candidate(name: string, code: string, opts: { timeoutMs?: number; memoryBytes?: number } = {}) {
  writeFileSync(path.join(workspace, `${name}.py`), code);
  prepareWorkspace(workspace);
  return runSandboxed({
    workspace,
    command: python,
    args: [`${name}.py`],
    timeoutMs: opts.timeoutMs ?? 60_000,
    memoryBytes: opts.memoryBytes,
  });
}

describe('sandbox for untrusted candidate code', () => {
  it('has every protection on this machine (root: namespaces and the user switch)', () => {
    expect(sandboxSupport()).toEqual({ namespaces: true });
  });

  it('stops a candidate that opens a socket', async () => {
    const r = await candidate(
      'net',
      'import socket\ns = socket.create_connection(("1.1.1.1", 443), timeout=5)\nprint("CONNECTED")\n',
    );
    expect(r.protections).toContain('no_network');
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).not.toContain('CONNECTED');
    expect(r.stderr).toMatch(/Network is unreachable/);
    // Not even the host's loopback services (the Temporal server, the workers) are reachable.
    const local = await candidate(
      'loopback',
      'import socket\nsocket.create_connection(("127.0.0.1", 22), timeout=5)\n',
    );
    expect(local.exitCode).not.toBe(0);
  });

  it('stops a candidate that writes outside its workspace, and lets it write inside', async () => {
    const code = (target: string) => `open(${JSON.stringify(target)}, "w").write("x")\nprint("WROTE")\n`;
    for (const target of [
      '/tmp/vibeserve-escape.txt',
      path.join(outer, 'escape.txt'),
      '/work/main/escape.txt',
      '/dev/shm/escape',
      '/var/tmp/escape',
    ]) {
      const r = await candidate('escape', code(target));
      expect(r.exitCode, target).not.toBe(0);
      expect(r.stdout, target).not.toContain('WROTE');
      expect(r.stderr, target).toMatch(/Read-only file system|Permission denied|No such file or directory/);
      expect(existsSync(target), target).toBe(false);
    }
    const ok = await candidate(
      'inside',
      `import os\nopen("result.txt", "w").write(str(os.getuid()))\nprint(open(${JSON.stringify(neighbour)}).read() if os.path.exists(${JSON.stringify(neighbour)}) else "hidden")\n`,
    );
    expect(ok.exitCode).toBe(0);
    expect(readFileSync(path.join(workspace, 'result.txt'), 'utf8')).toBe('65534');
    expect(ok.stdout.trim()).toBe('hidden');
  });

  it('keeps read-only paths inside the workspace read-only', async () => {
    mkdirSync(path.join(workspace, 'checker'), { recursive: true });
    writeFileSync(path.join(workspace, 'checker', 'checks.py'), 'ORIGINAL = True\n');
    prepareWorkspace(workspace, ['checker']);
    writeFileSync(path.join(workspace, 'tamper.py'), 'open("checker/checks.py", "w").write("ORIGINAL = False")\n');
    const r = await runSandboxed({
      workspace,
      command: python,
      args: ['tamper.py'],
      timeoutMs: 30_000,
      readOnly: ['checker'],
    });
    expect(r.exitCode).not.toBe(0);
    expect(readFileSync(path.join(workspace, 'checker', 'checks.py'), 'utf8')).toBe('ORIGINAL = True\n');
  });

  it('enforces the memory limit', async () => {
    const r = await candidate('hog', 'x = bytearray(1024 * 1024 * 1024)\nprint("ALLOCATED")\n', {
      memoryBytes: 256 * 1024 * 1024,
    });
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).not.toContain('ALLOCATED');
    expect(r.stderr).toMatch(/MemoryError/);
  });

  it('kills the whole process tree at the time limit', async () => {
    const started = Date.now();
    const r = await candidate(
      'hang',
      'import subprocess, time\nsubprocess.Popen(["sleep", "300"])\nprint("forked", flush=True)\ntime.sleep(300)\n',
      { timeoutMs: 3000 },
    );
    expect(r.timedOut).toBe(true);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(r.stdout).toContain('forked');
  });

  it('gives the candidate a clean environment without secrets', async () => {
    const r = await candidate('env', 'import os, json\nprint(json.dumps(dict(os.environ)))\n');
    const env = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(env.VIBESERVE_SANDBOX_TEST_KEY).toBeUndefined();
    expect(r.stdout).not.toContain(CANARY);
    expect(env.HOME).toBe(path.join(workspace, '.home'));
    expect(env.TMPDIR).toBe(path.join(workspace, '.tmp'));
  });
});
