// Compiled Triton kernels for sandboxed candidates. A template-built candidate runs directly and
// shares the worker's own Triton cache; an LLM-built one runs in the sandbox, in its own workspace,
// whose HOME, and so its TRITON_CACHE_DIR (lib/sandbox.ts), starts empty: without help it compiles
// every kernel again (about a second per kernel specialization). It gets a copy of the worker's
// cache before it runs. Only a sandboxed candidate that ran the installed runtime's code unchanged
// adds the kernels it compiled afterwards: a stack with code of its own could plant a wrong binary
// under the key of a kernel that other candidates load.
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { INSTALLED_RUNTIME, integrityDiff, treeHashes } from './builder/workspace.js';
import { WORKSPACE_TRITON_CACHE } from './sandbox.js';

/** The worker's own cache, where directly run verbs compile (Triton's default unless
 * TRITON_CACHE_DIR moves it); its keys already cover the kernel source, the GPU and Triton's version. */
export function sharedTritonCache(): string {
  return process.env.TRITON_CACHE_DIR || path.join(os.homedir(), '.triton', 'cache');
}

/** A copy per sandboxed run must stay cheap next to the compiles it saves (an entry is ~0.3 MB):
 * the most recently written entries, which a long-lived worker's current searches use, go first. */
const MAX_SEEDED_ENTRIES = 256;

/** Copies into the workspace's cache the complete shared entries it lacks (the newest
 * MAX_SEEDED_ENTRIES at most); returns how many. */
export function seedTritonCache(workspace: string, shared = sharedTritonCache()): number {
  return copyEntries(shared, path.join(workspace, WORKSPACE_TRITON_CACHE), MAX_SEEDED_ENTRIES);
}

/** Adds the workspace's complete entries to the shared cache when the stack runs the installed
 * runtime unchanged (else nothing); returns how many entries it added. */
export function promoteTritonCache(workspace: string, stackDir: string, shared = sharedTritonCache()): number {
  if (!runsInstalledRuntime(stackDir)) return 0;
  return copyEntries(path.join(workspace, WORKSPACE_TRITON_CACHE), shared);
}

/**
 * One entry of Triton's file cache is a directory named by its key, written once: the compiled
 * files and a group file (`__grp__<kernel>.json`) listing their absolute paths. An entry is copied
 * whole into a temporary directory with the group's paths rewritten to the new place, then renamed
 * into the target, so a reader never meets half an entry. Entries still being written (Triton's
 * `tmp.*` files), entries whose group names a missing file or a path outside the entry, and anything
 * that is not a plain file are skipped.
 */
function copyEntries(from: string, to: string, most = Infinity): number {
  if (!existsSync(from)) return 0;
  from = realpathSync(from); // the paths Triton wrote: the sandbox runs in the workspace's real path
  const newestFirst = readdirSync(from)
    .map((key) => ({ key, mtime: lstatSync(path.join(from, key)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime)
    .slice(0, most);
  let added = 0;
  for (const { key } of newestFirst) {
    const src = path.join(from, key);
    const dst = path.join(to, key);
    if (key.startsWith('.') || existsSync(dst) || !lstatSync(src).isDirectory()) continue;
    const files = readdirSync(src);
    const groups = files.filter((f) => f.startsWith('__grp__'));
    if (groups.length === 0 || files.some((f) => f.startsWith('tmp.') || !lstatSync(path.join(src, f)).isFile()))
      continue;
    const rewritten = groups.map((g) => rewriteGroup(path.join(src, g), src, dst));
    if (rewritten.some((r) => r === null)) continue;
    mkdirSync(to, { recursive: true });
    const tmp = path.join(to, `.incoming-${key}-${process.pid}-${randomSuffix()}`);
    try {
      cpSync(src, tmp, { recursive: true });
      groups.forEach((g, i) => writeFileSync(path.join(tmp, g), rewritten[i]!));
      renameSync(tmp, dst);
      added += 1;
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another worker's copy arrived first, or the disk is full
    }
  }
  return added;
}

/** The group file with its paths under `dst` instead of `src`; null when it names anything else. */
function rewriteGroup(file: string, src: string, dst: string): string | null {
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as { child_paths?: Record<string, string> };
    const children = data.child_paths;
    if (!children || typeof children !== 'object') return null;
    const moved: Record<string, string> = {};
    for (const [name, p] of Object.entries(children)) {
      if (typeof p !== 'string' || path.dirname(p) !== src || !existsSync(p)) return null;
      moved[name] = path.join(dst, path.basename(p));
    }
    return JSON.stringify({ ...data, child_paths: moved });
  } catch {
    return null;
  }
}

function randomSuffix(): string {
  return Math.random().toString(36).slice(2, 10);
}

/** What a stack directory may hold besides its runtime copy when it runs nothing but the installed
 * runtime: the files materialize writes (python-runtime/vibeserve_runtime/materialize.py) and data assets. */
const PLAIN_STACK_FILES = new Set(['stack.json', 'MANIFEST.json', 'serve.sh']);
const CODE_SUFFIXES = ['.py', '.so', '.pth', '.pyc'];

/**
 * Whether the stack runs the installed runtime's code and nothing else: its vibeserve_runtime/ has
 * the same files with the same bytes (caches aside), its stack.json loads
 * no custom components, and nothing else in the directory is code.
 */
export function runsInstalledRuntime(stackDir: string): boolean {
  try {
    for (const e of readdirSync(stackDir, { withFileTypes: true })) {
      if (e.name === 'vibeserve_runtime' && e.isDirectory()) continue;
      if (e.name === 'assets' && e.isDirectory()) {
        if (codeFiles(path.join(stackDir, 'assets'))) return false;
        continue;
      }
      if (!e.isFile() || !PLAIN_STACK_FILES.has(e.name)) return false;
    }
    const spec = JSON.parse(readFileSync(path.join(stackDir, 'stack.json'), 'utf8')) as Record<string, unknown>;
    if (spec.custom_components && Object.keys(spec.custom_components).length > 0) return false;
    return (
      integrityDiff(treeHashes(INSTALLED_RUNTIME), treeHashes(path.join(stackDir, 'vibeserve_runtime'))).length === 0
    );
  } catch {
    return false;
  }
}

function codeFiles(dir: string): boolean {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() ? codeFiles(p) : !e.isFile() || CODE_SUFFIXES.some((s) => e.name.endsWith(s))) return true;
  }
  return false;
}
