// The exported stack's requirements come from python-runtime/pyproject.toml's dependency list, read
// without a TOML parser: a comment there must not cut the list short (one naming an extra, `pkg[x]`,
// once ended it at its `]`, and the image lost every dependency after it).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runtimeDependencies } from '../../lib/export/pinnedRequirements.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-pyproject-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('runtimeDependencies', () => {
  it('reads the whole list, whatever its comments say', () => {
    const file = path.join(tmp, 'pyproject.toml');
    writeFileSync(
      file,
      [
        '[project]',
        'dependencies = [',
        '  "torch>=2.4",',
        '  # as uvicorn[standard] has them',
        '  "httptools>=0.6",',
        '  "uvloop>=0.19; sys_platform != \'win32\'",  # not on Windows',
        '  "jsonschema>=4",',
        ']',
        '[project.optional-dependencies]',
        'test = ["pytest>=8"]',
      ].join('\n'),
    );
    expect(runtimeDependencies(file)).toEqual([
      'torch>=2.4',
      'httptools>=0.6',
      "uvloop>=0.19; sys_platform != 'win32'",
      'jsonschema>=4',
    ]);
  });

  it("lists the runtime's own dependencies through the last one", () => {
    expect(runtimeDependencies()).toContain('jsonschema>=4');
  });
});
