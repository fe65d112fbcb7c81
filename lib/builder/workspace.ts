// A candidate workspace for the LLM builder: <dir>/stack is a materialized stack whose code the
// agent may change, except the protected parts (reference, checker, benchmark, the spec itself),
// which are hash-checked against the installed runtime. Anything that changes them, or writes
// outside the stack, is an integrity violation.
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  realpathSync,
  statSync,
} from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../paths.js';
import { runVerbSync } from '../pythonBridge.js';

export const INSTALLED_RUNTIME = path.join(projectRoot, 'python-runtime', 'vibeserve_runtime');

/** Files of the stack directory itself that only the design may decide. */
const STACK_LEVEL_PROTECTED = ['stack.json', 'MANIFEST.json', 'serve.sh'];

/** The runtime's list of protected entries (checker/integrity.py is the authority, read through
 * the `protected` verb). */
export function protectedRuntimeEntries(): string[] {
  try {
    return runVerbSync('protected', [], { timeoutMs: 60_000 }).entries;
  } catch (err) {
    throw new Error(`cannot read the protected list from the runtime: ${(err as Error).message}`);
  }
}

function walkFiles(root: string, rel = ''): string[] {
  const dir = path.join(root, rel);
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === '__pycache__' || e.name.endsWith('.pyc')) continue;
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walkFiles(root, r));
    else out.push(r);
  }
  return out.sort();
}

/** sha256 of a regular file, read in chunks without following a final symlink. Anything else (a
 * link, a FIFO, a device a candidate left in its place) gets a marker that matches no hash, so it
 * is neither followed nor read by the trusted worker. */
function sha(file: string): string {
  const st = lstatSync(file);
  if (!st.isFile()) return `not a regular file (mode ${st.mode.toString(8)})`;
  const hash = createHash('sha256');
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(1 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

function lexists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** sha256 of every protected file: runtime entries under vibeserve_runtime/, plus stack-level files.
 * The stack directory and its vibeserve_runtime/ must be real directories: a candidate that swapped
 * either for a link gets a marker entry, which no expected set contains. */
export function protectedHashes(stackDir: string, entries: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const code = path.join(stackDir, 'vibeserve_runtime');
  for (const dir of [stackDir, code]) {
    if (lexists(dir) && !lstatSync(dir).isDirectory()) return { [path.basename(dir)]: 'not a directory' };
  }
  for (const name of STACK_LEVEL_PROTECTED) {
    const p = path.join(stackDir, name);
    if (lexists(p)) out[name] = sha(p);
  }
  for (const entry of entries) {
    const p = path.join(code, entry);
    if (!lexists(p)) continue;
    if (lstatSync(p).isDirectory())
      for (const f of walkFiles(p)) out[`vibeserve_runtime/${entry}/${f}`] = sha(path.join(p, f));
    else out[`vibeserve_runtime/${entry}`] = sha(p);
  }
  return out;
}

/** sha256 of every file under `root` by relative path (caches aside; a link or other special file
 * gets a marker that matches no hash). */
export function treeHashes(root: string): Record<string, string> {
  return Object.fromEntries(walkFiles(root).map((f) => [f, sha(path.join(root, f))]));
}

/** The installed runtime's hashes of the same entries (what an honest stack copy must equal). */
export function trustedRuntimeHashes(entries: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of entries) {
    const p = path.join(INSTALLED_RUNTIME, entry);
    if (!existsSync(p)) continue;
    if (statSync(p).isDirectory())
      for (const f of walkFiles(p)) out[`vibeserve_runtime/${entry}/${f}`] = sha(path.join(p, f));
    else out[`vibeserve_runtime/${entry}`] = sha(p);
  }
  return out;
}

/** Every protected path whose content differs from the expected hashes (changed, added or removed). */
export function integrityDiff(expected: Record<string, string>, actual: Record<string, string>): string[] {
  const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
  return [...keys].filter((k) => expected[k] !== actual[k]).sort();
}

/** Whether a stack-relative path is protected (so the agent may not write it). */
export function isProtectedPath(rel: string, entries: string[]): boolean {
  const norm = rel.replace(/^\.\/+/, '');
  if (STACK_LEVEL_PROTECTED.includes(norm)) return true;
  if (!norm.startsWith('vibeserve_runtime/')) return false;
  const inner = norm.slice('vibeserve_runtime/'.length);
  return entries.some((e) => inner === e || inner.startsWith(`${e}/`));
}

/** Paths (relative to the workspace) to mount read-only in the sandbox. */
export function readOnlyMounts(entries: string[]): string[] {
  return [...STACK_LEVEL_PROTECTED.map((f) => `stack/${f}`), ...entries.map((e) => `stack/vibeserve_runtime/${e}`)];
}

export class PathOutsideStack extends Error {}

/**
 * Resolves a path the agent gave, relative to the stack directory; refuses anything that leaves
 * it (absolute paths, '..', symlinks pointing out).
 */
export function resolveInStack(stackDir: string, rel: string): { abs: string; rel: string } {
  if (typeof rel !== 'string' || rel.trim() === '') throw new PathOutsideStack('a path is required');
  if (path.isAbsolute(rel)) throw new PathOutsideStack(`${rel}: use a path relative to the stack directory`);
  const root = realpathSync(stackDir);
  const abs = path.resolve(root, rel);
  if (abs !== root && !abs.startsWith(root + path.sep))
    throw new PathOutsideStack(`${rel} is outside the stack directory`);
  // Follow an existing prefix's symlinks: a link must not lead out either.
  let probe = abs;
  while (!existsSync(probe)) probe = path.dirname(probe);
  const real = realpathSync(probe);
  if (real !== root && !real.startsWith(root + path.sep))
    throw new PathOutsideStack(`${rel} leads outside the stack directory`);
  return { abs, rel: path.relative(root, abs).split(path.sep).join('/') };
}

export function listStackFiles(stackDir: string, sub = '.'): string[] {
  const { abs, rel } = resolveInStack(stackDir, sub);
  return walkFiles(abs).map((f) => (rel ? `${rel}/${f}` : f));
}
