// requirements.txt for an exported stack: the runtime's dependencies (python-runtime/pyproject.toml)
// pinned to the versions installed in the project's Python, i.e. the versions the stack was
// checked and benchmarked with. torch and triton come with the base image and are pinned there.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot, pythonExecutable } from '../paths.js';
import { runVerbSync } from '../pythonBridge.js';

export const PROVIDED_BY_BASE_IMAGE = new Set(['torch', 'triton']);

export interface PinnedRequirements {
  /** requirements.txt text. */
  text: string;
  /** Installed torch version, or null when the project Python has none. */
  torch: string | null;
  /** Requirements that could not be pinned (not installed), kept as version ranges. */
  unpinned: string[];
}

/** The `dependencies = [...]` array of a pyproject.toml (no TOML parser needed for this one key). */
export function runtimeDependencies(pyproject = path.join(projectRoot, 'python-runtime', 'pyproject.toml')): string[] {
  // comments first: one that names an extra (`pkg[extra]`) would end the list early
  const text = readFileSync(pyproject, 'utf8').replace(/#.*$/gm, '');
  const block = /^dependencies\s*=\s*\[([\s\S]*?)\]/m.exec(text);
  if (!block) throw new Error(`${pyproject}: no [project] dependencies list`);
  return [...block[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]);
}

const distName = (req: string) => /^[A-Za-z0-9_.-]+/.exec(req)![0];

export function pinRequirements(python = pythonExecutable()): PinnedRequirements {
  const deps = runtimeDependencies();
  const names = [...deps.map(distName), 'torch'];
  let versions: Record<string, string | null> = {};
  try {
    versions = runVerbSync('versions', names, { timeoutMs: 30_000, python }).versions;
  } catch {
    // A Python that cannot answer leaves every requirement unpinned, as `unpinned` reports.
  }
  const lines: string[] = [];
  const unpinned: string[] = [];
  for (const req of deps) {
    const name = distName(req);
    if (PROVIDED_BY_BASE_IMAGE.has(name.toLowerCase())) continue;
    const v = versions[name];
    if (v) lines.push(`${name}==${v}`);
    else {
      lines.push(req);
      unpinned.push(req);
    }
  }
  const header = '# Pinned to the versions this stack was verified with. torch comes from the base image.\n';
  return { text: header + lines.join('\n') + '\n', torch: versions.torch ?? null, unpinned };
}
