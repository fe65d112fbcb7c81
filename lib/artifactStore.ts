// The artifact store (docs/boundary.md): large things live on disk and travel by path, so workflow
// payloads stay small. Writes are atomic (write + rename) because a worker may be killed mid-write
// and the retry must never read half a file.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { artifactsRoot } from './paths.js';

export function searchDir(searchId: string): string {
  return path.join(artifactsRoot(), safeSegment(searchId));
}

export function candidateDir(searchId: string, candidateId: string): string {
  return path.join(searchDir(searchId), 'candidates', safeSegment(candidateId));
}

/** The reference's outputs, computed by the first check of a search and reused by every later one
 * (python-runtime checker/reference_cache.py); only the trusted checker reads or writes it. */
export function referenceCacheDir(searchId: string): string {
  return path.join(searchDir(searchId), 'reference-cache');
}

export function searchJsonPath(searchId: string): string {
  return path.join(searchDir(searchId), 'search.json');
}

/** Ids become directory names; refuse anything that could climb out of the store. */
function safeSegment(id: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(id) || id === '.' || id === '..') {
    throw new Error(`'${id}' is not a valid artifact id (letters, digits, '.', '_', '-' only)`);
  }
  return id;
}

export function writeJsonAtomic(file: string, value: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, file);
}

export function readJsonIfExists<T = unknown>(file: string): T | null {
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return null; // a torn or foreign file counts as absent: the stage runs again
  }
}
