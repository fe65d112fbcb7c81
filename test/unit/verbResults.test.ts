// A verb's result event is checked against its shape before anything reads it: a malformed one
// fails naming the verb and the field (a retryable infrastructure failure: the runtime is ours),
// instead of handing `undefined` on.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot, pythonExecutable } from '../../lib/paths.js';
import {
  classifyOutcome,
  resultOrFailure,
  runJsonLines,
  runVerbSync,
  type ProcessOutcome,
} from '../../lib/pythonBridge.js';
import { verbResultProblem } from '../../lib/verbResults.js';
import { FAILURE_INFRA } from '../../lib/workflowSafe/failures.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-verb-results-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ok = (result: Record<string, unknown>): ProcessOutcome => ({
  exitCode: 0,
  signal: null,
  result,
  error: null,
  timedOut: false,
  aborted: false,
  stderrTail: [],
  durationMs: 1,
});

describe('verb result shapes', () => {
  it('accepts what the runtime emits', () => {
    expect(verbResultProblem('materialize', { stack_dir: '/s', spec_hash: 'ab', files: 30, extra: true })).toBeNull();
    expect(
      verbResultProblem('check', {
        passed: false,
        checks: [{ name: 'logits', passed: false, value: 0.3, threshold: 0.1, detail: 'x' }],
        report_path: null,
      }),
    ).toBeNull();
    expect(
      verbResultProblem('bench', { mode: 'offline', repetitions: [{ output_throughput: 10 }], output_throughput: 10 }),
    ).toBeNull();
    expect(
      verbResultProblem('bench', {
        mode: 'offline:side-by-side',
        stacks: [
          { stack: 'a', repetitions: [] },
          { stack: 'b', error: 'integrity_violation: x' },
        ],
      }),
    ).toBeNull();
    expect(verbResultProblem('versions', { versions: { numpy: '2.1.0', nope: null } })).toBeNull();
    expect(verbResultProblem('some-fixture', { value: 42 })).toBeNull(); // no shape: unchecked
  });

  it('names the verb and the field of a malformed result', () => {
    expect(verbResultProblem('materialize', { stack_dir: '/s', files: 3 })).toBe(
      "the materialize verb's result is malformed: field 'spec_hash' should be a string, got nothing",
    );
    expect(
      verbResultProblem('check', {
        passed: true,
        checks: [
          { name: 'a', passed: true },
          { name: 'b', passed: 'yes' },
        ],
      }),
    ).toBe("the check verb's result is malformed: field 'checks[1].passed' should be a boolean, got string \"yes\"");
    expect(
      verbResultProblem('bench', { mode: 'offline:side-by-side', stacks: [{ stack: 'a', repetitions: 'none' }] }),
    ).toMatch(/field 'stacks\[0\]\.repetitions' should be an array/);
    expect(verbResultProblem('versions', { versions: { numpy: 2 } })).toMatch(
      /field 'versions\.numpy' should be a string or null, got number 2/,
    );
    expect(verbResultProblem('protected', { entries: null })).toMatch(
      /^the protected verb's result is malformed: field 'entries' should be an array, got null/,
    );
  });

  it('classifies a malformed result as a retryable infrastructure failure naming verb and field', async () => {
    // the fixture's result ({ value: 42 }) is no materialize result
    const fixture = path.join(projectRoot, 'test', 'fixtures', 'python', 'jsonl_verb.py');
    const outcome = await runJsonLines(pythonExecutable(), [fixture, 'ok'], { timeoutMs: 20_000 });
    expect(classifyOutcome('materialize', outcome, 20_000)).toEqual({
      kind: 'infrastructure',
      message: "the materialize verb's result is malformed: field 'stack_dir' should be a string, got nothing",
    });
    expect(classifyOutcome('fixture', outcome, 20_000)).toEqual({ kind: 'ok' });

    const bad = ok({ passed: true });
    let thrown: unknown;
    try {
      resultOrFailure('check', bad, { stage: 'verify', timeoutMs: 1000 });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ApplicationFailure);
    expect(thrown).toMatchObject({
      type: FAILURE_INFRA,
      nonRetryable: false,
      message: "the check verb's result is malformed: field 'checks' should be an array, got nothing",
    });
    expect(resultOrFailure('check', ok({ passed: true, checks: [] }), { stage: 'verify', timeoutMs: 1000 })).toEqual({
      passed: true,
      checks: [],
    });
  });

  it('runs a synchronous verb and refuses its malformed result', () => {
    expect(runVerbSync('protected', [], { timeoutMs: 60_000 }).entries).toContain('checker');
    const fake = path.join(dir, 'python');
    writeFileSync(fake, '#!/bin/sh\necho \'{"event":"result","entries":"checker"}\'\n');
    chmodSync(fake, 0o755);
    expect(() => runVerbSync('protected', [], { timeoutMs: 10_000, python: fake })).toThrow(
      "the protected verb's result is malformed: field 'entries' should be an array, got string \"checker\"",
    );
  });
});
