// One real Temporal dev server for the whole vitest run (headless, a free port, a throw-away
// SQLite file, VibeServe's search attributes registered). Suites read its address with inject().
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePort, startDevServer, type DevServer } from '../lib/devServer.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    testHome: string;
  }
}

let server: DevServer | undefined;
let home: string | undefined;

export default async function setup(project: TestProject) {
  home = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-test-'));
  const port = await freePort();
  server = await startDevServer({
    port,
    headless: true,
    dbFile: path.join(home, 'temporal.db'),
    logFile: path.join(home, 'temporal.log'),
  });
  project.provide('temporalAddress', server.address);
  project.provide('testHome', home);
  return async () => {
    await server?.stop('SIGKILL');
    if (home && !process.env.VIBESERVE_KEEP_TEST_HOME) rmSync(home, { recursive: true, force: true });
  };
}
