// Where VibeServe keeps things on disk. Everything is relative to the project root so the CLI,
// the workers and the tests agree without configuration.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** `$VIBESERVE_HOME`, else `<project>/.vibeserve`: dev-server database, logs, artifacts. */
export function vibeserveHome(): string {
  return process.env.VIBESERVE_HOME ? path.resolve(process.env.VIBESERVE_HOME) : path.join(projectRoot, '.vibeserve');
}

export function artifactsRoot(): string {
  return path.join(vibeserveHome(), 'artifacts');
}

export function logsDir(): string {
  return path.join(vibeserveHome(), 'logs');
}

/** `$VIBESERVE_PYTHON`, else the project venv, else `python3` (docs/boundary.md). */
export function pythonExecutable(): string {
  if (process.env.VIBESERVE_PYTHON) return process.env.VIBESERVE_PYTHON;
  const venv = path.join(projectRoot, '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

export function designSpacePath(): string {
  return path.join(projectRoot, 'python-runtime', 'vibeserve_runtime', 'design_space.json');
}
