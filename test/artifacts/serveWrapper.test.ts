// The `vibeserve serve` wrapper as a user meets it, on a freshly materialized tiny stack: a busy
// port is one line on stderr, and a wrapper killed outright (SIGKILL: no handler runs) leaves no
// Python server behind holding the port.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot, pythonExecutable } from '../../lib/paths.js';
import { vibeserve } from '../workflow/cli.js';

const SPEC = {
  name: 'tiny-wrapper',
  model: { arch: 'llama', preset: 'tiny-llama', seed: 0 },
  components: { kv_cache: 'paged', scheduler: 'continuous' },
  params: { max_model_len: 128, max_batch_size: 2 },
  device: 'cpu',
};

function listen(port = 0): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

async function freePort(): Promise<number> {
  const s = await listen();
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function answers(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
}

describe('vibeserve serve (the wrapper process)', () => {
  let root: string;
  let stack: string;

  beforeAll(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-wrapper-'));
    stack = path.join(root, 'stack');
    const made = spawnSync(
      pythonExecutable(),
      ['-m', 'vibeserve_runtime', 'materialize', '--spec', JSON.stringify(SPEC), '--out', stack],
      {
        cwd: path.join(projectRoot, 'python-runtime'),
        encoding: 'utf8',
      },
    );
    expect(made.status, made.stderr).toBe(0);
  });

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('reports a busy port in one line', async () => {
    const busy = await listen();
    try {
      const port = String((busy.address() as net.AddressInfo).port);
      const r = await vibeserve(['serve', stack, '--port', port], process.env);
      expect(r.code).not.toBe(0);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`127.0.0.1:${port}`);
      expect(lines[0]).toContain('already in use');
    } finally {
      await new Promise((r) => busy.close(r));
    }
  });

  it('leaves no server behind when the wrapper is killed', async () => {
    const port = await freePort();
    const wrapper = spawn(
      process.execPath,
      [path.join(projectRoot, 'cli', 'bin', 'vibeserve.mjs'), 'serve', stack, '--port', String(port)],
      {
        cwd: projectRoot,
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: wrapper.stdout! }).on(
          'line',
          (line) => line.includes('OpenAI-compatible API') && resolve(),
        );
        wrapper.on('exit', (code) => reject(new Error(`the wrapper exited (${code}) before the server was ready`)));
      });
      expect(await answers(port)).toBe(true);
      wrapper.kill('SIGKILL');
      const deadline = Date.now() + 20_000;
      while ((await answers(port)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(await answers(port)).toBe(false);
      const reuse = await listen(port); // the port is free again
      await new Promise((r) => reuse.close(r));
    } finally {
      wrapper.kill('SIGKILL');
    }
  }, 120_000);
});
