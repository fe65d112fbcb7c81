// Debian's chromium driven by playwright-core (no browser download is possible here). The flags
// keep it from reaching out to the network at start, which a closed network answers with errors.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.VIBESERVE_CHROMIUM ?? '/usr/bin/chromium';
}

export interface HeadlessBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A fresh profile each time (a persistent context on a new temporary --user-data-dir). */
export async function launchChromium(opts: { deviceScaleFactor?: number } = {}): Promise<HeadlessBrowser> {
  const executablePath = chromiumPath();
  if (!existsSync(executablePath)) {
    throw new Error(
      `chromium not found at ${executablePath}: install it (apt-get install -y chromium) or set VIBESERVE_CHROMIUM`,
    );
  }
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    args: CHROMIUM_FLAGS,
    deviceScaleFactor: opts.deviceScaleFactor ?? 1,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
