// `vibeserve serve` starts the stack's server without this process's credentials (it used to pass
// the whole environment, LLM API keys included); only the server's own key is handed on. A stand-in
// for Python reports what it was given, so no model is loaded.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { serveArtifact } from '../../lib/export/serveArtifact.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-serve-env-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Prints what a server would see of the two keys as a log event, then its ready event, then waits. */
function fakePython(): string {
  const file = path.join(dir, 'python');
  writeFileSync(
    file,
    [
      '#!/bin/sh',
      'echo "{\\"event\\":\\"log\\",\\"message\\":\\"openai=${OPENAI_API_KEY:-unset} own=${VIBESERVE_API_KEY:-unset}\\"}"',
      'echo \'{"event":"ready","url":"http://127.0.0.1:9/"}\'',
      'exec sleep 600',
    ].join('\n'),
  );
  chmodSync(file, 0o755);
  return file;
}

describe('serveArtifact environment', () => {
  it("does not hand the parent's OPENAI_API_KEY to the server, only its own key", async () => {
    writeFileSync(path.join(dir, 'stack.json'), '{}');
    process.env.OPENAI_API_KEY = 'sk-canary-serve';
    const logs: string[] = [];
    try {
      const server = await serveArtifact(dir, {
        python: fakePython(),
        apiKey: 'sk-own-key',
        readyTimeoutMs: 20_000,
        onLog: (l) => logs.push(l),
      });
      expect(server.url).toBe('http://127.0.0.1:9');
      expect(logs).toContain('openai=unset own=sk-own-key');
      expect(await server.stop()).toBe(143); // SIGTERM to the group
    } finally {
      delete process.env.OPENAI_API_KEY;
    }
  });
});
