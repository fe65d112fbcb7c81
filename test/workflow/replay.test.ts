// Determinism guard: histories recorded from real runs (test/fixtures/histories/) must replay
// against the current workflow code. Files are named <workflowId>.json, or <workflowId>~run<N>.json
// for the runs of a search that continued as new (replay needs the id). A change that breaks
// running searches fails here. Fixtures are recorded with VIBESERVE_RECORD_HISTORIES=1 by the
// suite that ran them (harness.ts recordHistories).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../lib/paths.js';
import { workflowBundlePath } from './harness.js';

const dir = path.join(projectRoot, 'test', 'fixtures', 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
const workflowIdOf = (file: string) => file.replace(/(~run\d+)?\.json$/, '');
const eventsOf = (file: string): HistoryJson['events'] => JSON.parse(readFileSync(path.join(dir, file), 'utf8')).events;

describe('replay of recorded histories', () => {
  it('has recorded histories of both workflows', () => {
    const types = files.map((f) => eventsOf(f)[0]!.workflowExecutionStartedEventAttributes!.workflowType.name);
    expect(types).toEqual(expect.arrayContaining(['searchWorkflow', 'candidateWorkflow']));
  });

  it('has a search whose every candidate was rejected from before and after the all-rejected-fails patch', () => {
    // vibeserve-wf-rejected-a ended done (recorded before the patch, never to be re-recorded);
    // -b ended failed, behind the patch's marker (allRejected.test.ts records it).
    const ending = (workflowId: string) => {
      const events = eventsOf(`${workflowId}.json`);
      const patches = events.flatMap((e) =>
        e.markerRecordedEventAttributes
          ? [decode<{ id: string }>(e.markerRecordedEventAttributes.details['patch-data'].payloads[0].data).id]
          : [],
      );
      const statuses = events.flatMap((e) => {
        const status = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes.indexedFields.VibeServeStatus;
        return status ? [decode<string>(status.data)] : [];
      });
      return { patches, status: statuses.at(-1) };
    };
    expect(ending('vibeserve-wf-rejected-a')).toEqual({ patches: ['final-remeasure'], status: 'done' });
    expect(ending('vibeserve-wf-rejected-b')).toEqual({
      patches: ['final-remeasure', 'all-rejected-fails'],
      status: 'failed',
    });
  });

  it('has histories of a long-running search: steered, paused and resumed, continued as new', () => {
    const updates = new Set(
      files.flatMap((f) =>
        eventsOf(f).flatMap((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest.input.name ?? []),
      ),
    );
    expect([...updates]).toEqual(expect.arrayContaining(['pause', 'steer', 'resume', 'stop']));
    const runs = files.filter((f) => /~run\d+\.json$/.test(f));
    // the run that continued as new, and a run that started from one
    expect(runs.some((f) => eventsOf(f).at(-1)?.workflowExecutionContinuedAsNewEventAttributes)).toBe(true);
    expect(runs.some((f) => eventsOf(f)[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId)).toBe(
      true,
    );
  });

  it('replays every recorded history without nondeterminism', async () => {
    // Fixtures are protobufjs toJSON() output (what JSON.stringify of a fetched history gives);
    // fromObject is its exact inverse.
    const histories = files.map((f) => ({
      workflowId: workflowIdOf(f),
      history: temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(path.join(dir, f), 'utf8'))),
    }));
    const bundle = await workflowBundlePath();
    let replayed = 0;
    for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: bundle } }, histories)) {
      expect(r.error, `replay of ${r.workflowId}: ${r.error?.message}`).toBeUndefined();
      replayed++;
    }
    expect(replayed).toBe(files.length);
  });
});

/** The parts of a fixture (protobuf JSON) these tests read. */
interface HistoryJson {
  events: Array<{
    workflowExecutionStartedEventAttributes?: { workflowType: { name: string }; continuedExecutionRunId?: string };
    workflowExecutionUpdateAcceptedEventAttributes?: { acceptedRequest: { input: { name: string } } };
    workflowExecutionContinuedAsNewEventAttributes?: { newExecutionRunId: string };
    markerRecordedEventAttributes?: { details: Record<string, { payloads: Array<{ data: string }> }> };
    upsertWorkflowSearchAttributesEventAttributes?: {
      searchAttributes: { indexedFields: Record<string, { data: string }> };
    };
  }>;
}

function decode<T>(base64: string): T {
  return JSON.parse(Buffer.from(base64, 'base64').toString('utf8'));
}
