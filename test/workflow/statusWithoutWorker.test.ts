// `vibeserve status` when something is down: a finished search is read from its search.json with
// no Temporal server at all, and a search whose control worker does not answer shows the server's
// search attributes and the last saved state instead of failing after the query's long timeout.
import { cpSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { statusAttribute, roundAttribute, scenarioAttribute } from '../../workflows/searchAttributes.js';
import { vibeserve } from './cli.js';
import { connect, suite, tinyScenario } from './harness.js';
import { buildSearchInput } from '../../lib/searchStart.js';

const FIXTURE = path.resolve(import.meta.dirname, '..', 'fixtures', 'search-artifacts', 'vibeserve-cpu-demo-fixture');

describe('vibeserve status without a worker', () => {
  it('reads a finished search from search.json, with no server to ask', async () => {
    const s = suite('status-saved');
    mkdirSync(path.join(s.home, 'artifacts'), { recursive: true });
    cpSync(FIXTURE, path.join(s.home, 'artifacts', 'vibeserve-cpu-demo-fixture'), { recursive: true });
    const env = { ...s.env, TEMPORAL_ADDRESS: '127.0.0.1:1' }; // nothing answers there
    const r = await vibeserve(['status', 'vibeserve-cpu-demo-fixture'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('vibeserve-cpu-demo-fixture (done)');
    expect(r.stdout).toContain('leaderboard (output_throughput');
    const json = JSON.parse((await vibeserve(['status', 'vibeserve-cpu-demo-fixture', '--json'], env)).stdout);
    expect(json).toMatchObject({ source: 'search.json', status: 'done' });
  });

  it('answers from the search attributes when the control worker is down', async () => {
    const s = suite('status-noworker');
    const client = await connect(s.address);
    const { workflowId, input } = buildSearchInput({
      scenario: tinyScenario({ name: `noworker-${s.controlQueue.slice(-6)}` }),
      name: 'x',
    });
    // started on a queue no worker polls: the workflow is running, nothing can answer a query
    const handle = await client.workflow.start('searchWorkflow', {
      workflowId,
      taskQueue: s.controlQueue,
      args: [input],
      typedSearchAttributes: [
        { key: scenarioAttribute, value: input.scenario.name },
        { key: statusAttribute, value: 'running' },
        { key: roundAttribute, value: 3 },
      ],
    });
    try {
      const running = await vibeserve(['status', workflowId], s.env);
      expect(running.code).toBe(0);
      expect(running.stdout).toContain(`${workflowId} (running, workflow running)`);
      expect(running.stdout).toContain('the control worker did not answer');
      expect(running.stdout).toContain('round 3');

      await handle.terminate('test');
      const closed = await vibeserve(['status', workflowId], s.env);
      expect(closed.code).toBe(0);
      expect(closed.stdout).toContain('workflow terminated');
      expect(closed.stdout).not.toContain('did not answer'); // a closed search is not queried
    } finally {
      await handle.terminate('cleanup').catch(() => undefined);
    }
  });
});
