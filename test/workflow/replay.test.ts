// Determinism guard: histories recorded from real runs (test/fixtures/histories/) must replay
// against the current workflow code. Files are named <workflowId>.json (replay needs the id). A change that breaks running searches fails here.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../lib/paths.js';
import { workflowBundlePath } from './harness.js';

const dir = path.join(projectRoot, 'test', 'fixtures', 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('replay of recorded histories', () => {
  it('has recorded histories of both workflows', () => {
    const types = files.map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')).events[0].workflowExecutionStartedEventAttributes.workflowType.name);
    expect(types).toEqual(expect.arrayContaining(['searchWorkflow', 'candidateWorkflow']));
  });

  it('replays every recorded history without nondeterminism', async () => {
    // Fixtures are protobufjs toJSON() output (what JSON.stringify of a fetched history gives);
    // fromObject is its exact inverse.
    const histories = files.map((f) => ({ workflowId: f.replace(/\.json$/, ''), history: temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(path.join(dir, f), 'utf8'))) }));
    const bundle = await workflowBundlePath();
    let replayed = 0;
    for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: bundle } }, histories)) {
      expect(r.error, `replay of ${r.workflowId}: ${r.error?.message}`).toBeUndefined();
      replayed++;
    }
    expect(replayed).toBe(files.length);
  });
});
