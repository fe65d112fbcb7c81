// `vibeserve up` starts the embedded dev server and both workers (and reuses them when run again);
// `vibeserve down` stops exactly those, leaving every other Temporal server alone.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, isTemporalUp } from '../../lib/devServer.js';
import { isAlive } from '../../lib/processSupervisor.js';
import type { UpState } from '../../lib/localStack.js';
import { vibeserve } from './cli.js';
import { suite, workflowBundlePath } from './harness.js';

describe('vibeserve up / down', () => {
  it('starts, reuses and stops only its own processes', async () => {
    const s = suite('updown');
    const env: NodeJS.ProcessEnv = { ...s.env, VIBESERVE_WORKFLOW_BUNDLE: await workflowBundlePath() };
    delete env.TEMPORAL_ADDRESS;
    delete env.VIBESERVE_CONTROL_QUEUE;
    delete env.VIBESERVE_RUNTIME_QUEUE;
    const port = await freePort();
    const uiPort = await freePort();

    const up = await vibeserve(['up', '--port', String(port), '--ui-port', String(uiPort)], env, 240_000);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toContain(`dev server started`);
    expect(up.stdout).toContain('runtime worker: pid');
    expect(up.stdout).toContain('on vibeserve-runtime-cpu (CPU, 1 slot(s))');
    expect(up.stdout).toContain(`Temporal UI: http://localhost:${uiPort}`);
    const state = JSON.parse(readFileSync(path.join(s.home, 'up.json'), 'utf8')) as UpState;
    const pids = [state.server!.pid, state.controlWorker!.pid, state.runtimeWorker!.pid];
    for (const pid of pids) expect(isAlive(pid)).toBe(true);
    expect(await isTemporalUp(`127.0.0.1:${port}`)).toBe(true);

    const again = await vibeserve(['up', '--port', String(port), '--ui-port', String(uiPort)], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`dev server already running (pid ${state.server!.pid})`);
    expect(again.stdout).toContain(`control worker: pid ${state.controlWorker!.pid}`);

    const down = await vibeserve(['down'], env);
    expect(down.code).toBe(0);
    expect(down.stdout.trim().split('\n')).toEqual([
      `stopped runtime worker (pid ${state.runtimeWorker!.pid})`,
      `stopped control worker (pid ${state.controlWorker!.pid})`,
      `stopped Temporal dev server (pid ${state.server!.pid})`,
    ]);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    // The suite's own dev server was not started by `up` and is still serving.
    expect(await isTemporalUp(s.address)).toBe(true);
    expect((await vibeserve(['down'], env)).stdout).toContain('nothing to stop');
  });
});
