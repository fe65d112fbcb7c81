// Candidates share compiled Triton kernels: a workspace seeded from the worker's cache loads the
// kernel a pristine candidate compiled (real Triton compiles for an H100 target, which need no GPU),
// and a stack with code of its own never adds to the shared cache.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { INSTALLED_RUNTIME } from '../../lib/builder/workspace.js';
import { promoteTritonCache, runsInstalledRuntime, seedTritonCache } from '../../lib/kernelCache.js';
import { projectRoot, pythonExecutable } from '../../lib/paths.js';
import { WORKSPACE_TRITON_CACHE } from '../../lib/sandbox.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-kernel-cache-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const shared = path.join(root, 'shared');

/** A candidate workspace holding a stack that runs the installed runtime, as materialize writes it. */
function workspace(name: string): { ws: string; stackDir: string } {
  const ws = path.join(root, name);
  const stackDir = path.join(ws, 'stack');
  mkdirSync(stackDir, { recursive: true });
  cpSync(INSTALLED_RUNTIME, path.join(stackDir, 'vibeserve_runtime'), {
    recursive: true,
    filter: (src) => !src.includes('__pycache__') && !src.endsWith('.pyc'),
  });
  writeFileSync(path.join(stackDir, 'stack.json'), JSON.stringify({ name, components: {}, params: {} }));
  writeFileSync(path.join(stackDir, 'MANIFEST.json'), '{}');
  writeFileSync(path.join(stackDir, 'serve.sh'), '#!/bin/sh\n');
  return { ws, stackDir };
}

/** Compiles the paged decode kernel with the workspace's cache, as the sandboxed candidate would. */
function compile(ws: string): { cache_hit: boolean; seconds: number } {
  const out = execFileSync(pythonExecutable(), [path.join(projectRoot, 'test/fixtures/python/triton_compile.py')], {
    env: {
      ...process.env,
      TRITON_CACHE_DIR: path.join(ws, WORKSPACE_TRITON_CACHE),
      PYTHONPATH: path.dirname(INSTALLED_RUNTIME),
    },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return JSON.parse(out.trim().split('\n').at(-1)!) as { cache_hit: boolean; seconds: number };
}

describe('shared Triton kernel cache', () => {
  it('a seeded workspace loads what a pristine candidate compiled, from its own copy', () => {
    const first = workspace('first');
    expect(seedTritonCache(first.ws, shared)).toBe(0);
    expect(compile(first.ws).cache_hit).toBe(false);
    expect(promoteTritonCache(first.ws, first.stackDir, shared)).toBe(1);
    expect(promoteTritonCache(first.ws, first.stackDir, shared)).toBe(0); // already there

    const second = workspace('second');
    expect(seedTritonCache(second.ws, shared)).toBe(1);
    const [entry] = readdirSync(path.join(second.ws, WORKSPACE_TRITON_CACHE));
    const dir = path.join(second.ws, WORKSPACE_TRITON_CACHE, entry!);
    const group = readdirSync(dir).find((f) => f.startsWith('__grp__'))!;
    const children = Object.values(
      (JSON.parse(readFileSync(path.join(dir, group), 'utf8')) as { child_paths: Record<string, string> }).child_paths,
    );
    expect(children.length).toBeGreaterThan(0);
    for (const p of children) expect(path.dirname(p)).toBe(dir); // never the first workspace's files
    rmSync(first.ws, { recursive: true, force: true });
    expect(compile(second.ws).cache_hit).toBe(true);
  });

  it('only a stack that runs the installed runtime unchanged adds to the shared cache', () => {
    const changed = workspace('changed-code');
    writeFileSync(path.join(changed.stackDir, 'vibeserve_runtime', 'kernels', 'paged_attention.py'), '# mine\n', {
      flag: 'a',
    });
    const extra = workspace('extra-module');
    writeFileSync(path.join(extra.stackDir, 'my_attention.py'), 'X = 1\n');
    const custom = workspace('custom-component');
    writeFileSync(
      path.join(custom.stackDir, 'stack.json'),
      JSON.stringify({ custom_components: { mine: { dimension: 'attention', module: 'mine' } } }),
    );
    const added = workspace('added-runtime-file');
    writeFileSync(path.join(added.stackDir, 'vibeserve_runtime', 'sitecustomize.py'), 'X = 1\n');
    for (const s of [changed, extra, custom, added]) {
      expect(runsInstalledRuntime(s.stackDir)).toBe(false);
      compile(s.ws);
      expect(promoteTritonCache(s.ws, s.stackDir, path.join(root, 'untouched'))).toBe(0);
    }
    const pristine = workspace('pristine');
    mkdirSync(path.join(pristine.stackDir, 'assets'));
    writeFileSync(path.join(pristine.stackDir, 'assets', 'tokenizer.json'), '{}'); // data, not code
    expect(runsInstalledRuntime(pristine.stackDir)).toBe(true);
  });

  it('skips entries that are incomplete or name files outside themselves', () => {
    const src = path.join(root, 'odd', WORKSPACE_TRITON_CACHE);
    const half = path.join(src, 'HALF');
    mkdirSync(half, { recursive: true });
    writeFileSync(path.join(half, 'k.cubin'), 'x'); // no group file yet
    const outside = path.join(src, 'OUTSIDE');
    mkdirSync(outside, { recursive: true });
    writeFileSync(path.join(outside, '__grp__k.json'), JSON.stringify({ child_paths: { 'k.cubin': '/etc/passwd' } }));
    const into = path.join(root, 'odd-seeded');
    expect(seedTritonCache(into, src)).toBe(0);
  });
});
