import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot, pythonExecutable } from '../../lib/paths.js';
import {
  classifyOutcome,
  parseEventLine,
  runJsonLines,
  runtimeEnv,
  runVerb,
  type RuntimeEvent,
} from '../../lib/pythonBridge.js';
import { isAlive, waitForExit } from '../../lib/processSupervisor.js';

const fixture = path.join(projectRoot, 'test', 'fixtures', 'python', 'jsonl_verb.py');
const run = (mode: string, timeoutMs = 20_000, signal?: AbortSignal) => {
  const events: RuntimeEvent[] = [];
  return runJsonLines(pythonExecutable(), [fixture, mode], { timeoutMs, signal, onEvent: (e) => events.push(e) }).then(
    (o) => ({ o, events }),
  );
};

describe('python bridge', () => {
  it('hands runtime verbs no credentials, only what the caller passes explicitly', () => {
    process.env.CANARY_LLM_API_KEY = 'sk-canary-0123';
    process.env.TEMPORAL_TLS_KEY = '/secret/client.key';
    try {
      const env = runtimeEnv({ VIBESERVE_API_KEY: 'given-on-purpose' });
      expect(Object.values(env)).not.toContain('sk-canary-0123');
      expect(env.TEMPORAL_TLS_KEY).toBeUndefined();
      expect(env.VIBESERVE_API_KEY).toBe('given-on-purpose');
      expect(env.PYTHONPATH).toContain('python-runtime');
    } finally {
      delete process.env.CANARY_LLM_API_KEY;
      delete process.env.TEMPORAL_TLS_KEY;
    }
  });

  it('parses JSON lines and treats anything else as a log', () => {
    expect(parseEventLine('{"event":"progress","stage":"x","done":1,"total":2}')).toMatchObject({
      event: 'progress',
      done: 1,
    });
    expect(parseEventLine('loading weights...')).toBeNull();
    expect(parseEventLine('{"no_event": true}')).toBeNull();
    expect(parseEventLine('{broken')).toBeNull();
  });

  it('returns the result and streams progress on exit 0', async () => {
    const { o, events } = await run('ok');
    expect(o.exitCode).toBe(0);
    expect(o.result).toMatchObject({ value: 42 });
    expect(events.filter((e) => e.event === 'progress').map((e) => (e as { stage: string }).stage)).toEqual([
      'start',
      'work',
    ]);
    expect(o.stderrTail).toContain('a plain log line on stdout');
    expect(classifyOutcome('x', o, 20_000)).toEqual({ kind: 'ok' });
  });

  it('maps exit 2 to a candidate rejection and exit 3 to a usage error, with the reason', async () => {
    const cand = await run('candidate');
    expect(classifyOutcome('check', cand.o, 20_000)).toEqual({
      kind: 'candidate',
      reason: 'wrong_output',
      message: 'logits differ at token 3',
    });
    const usage = await run('usage');
    expect(classifyOutcome('check', usage.o, 20_000)).toEqual({
      kind: 'usage',
      reason: 'bad_spec',
      message: "unknown attention 'foo'",
    });
  });

  it('maps a crash to a retryable infrastructure failure naming the last stderr line', async () => {
    const { o } = await run('crash');
    const c = classifyOutcome('bench', o, 20_000);
    expect(c.kind).toBe('infrastructure');
    expect((c as { message: string }).message).toBe('bench exited with code 1: RuntimeError: runtime import failed');
  });

  it('kills the whole process group at the time limit, and calls it the candidate timing out', async () => {
    let grandchild = 0;
    const started = Date.now();
    const o = await runJsonLines(pythonExecutable(), [fixture, 'hang'], {
      timeoutMs: 2_500,
      killGraceMs: 500,
      onEvent: (e) => {
        if (e.event === 'progress' && typeof e.grandchild === 'number') grandchild = e.grandchild;
      },
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(o.timedOut).toBe(true);
    expect(classifyOutcome('bench', o, 2_500)).toMatchObject({ kind: 'candidate', reason: 'timeout' });
    expect(grandchild).toBeGreaterThan(0);
    expect(await waitForExit(grandchild, 5_000)).toBe(true);
    expect(isAlive(grandchild)).toBe(false);
  });

  it('kills the group on cancellation', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 1_500);
    const { o } = await run('hang', 60_000, ac.signal);
    expect(o.aborted).toBe(true);
    expect(classifyOutcome('bench', o, 60_000)).toEqual({ kind: 'cancelled' });
  });

  it('runs the real runtime: `hardware` answers on this machine', async () => {
    const o = await runVerb<{ device: string; torch: string }>('hardware', [], { timeoutMs: 120_000 });
    expect(o.exitCode).toBe(0);
    expect(['cpu', 'cuda']).toContain(o.result!.device);
    expect(o.result!.torch).toMatch(/^\d+\.\d+/);
  });
});
