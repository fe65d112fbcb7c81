// The one process supervisor (lib/processSupervisor.ts): whatever a child forked dies with it, at
// its time limit, on cancellation or when the leader exits; a child that ignores SIGTERM gets SIGKILL
// after the grace; credentials never reach a child that was not handed them.
import { describe, expect, it } from 'vitest';
import { isAlive, secretFreeEnv, supervise, waitForExit } from '../../lib/processSupervisor.js';

/** A bash leader that starts a grandchild in its group and prints the grandchild's pid first. */
function withGrandchild(script: string, opts: Parameters<typeof supervise>[2] = {}) {
  const proc = supervise('bash', ['-c', script], opts);
  const grandchild = new Promise<number>((resolve) =>
    proc.child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim().split('\n')[0]))),
  );
  return { proc, grandchild };
}

describe('process supervisor', () => {
  it('kills the whole group at the time limit, grandchild included', async () => {
    const started = Date.now();
    const { proc, grandchild } = withGrandchild('sleep 600 & echo $!; wait', { timeoutMs: 1_000, killGraceMs: 500 });
    const pid = await grandchild;
    expect(isAlive(pid)).toBe(true);
    const exit = await proc.done;
    expect(exit).toMatchObject({ timedOut: true, aborted: false, signal: 'SIGTERM' });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await waitForExit(pid, 5_000)).toBe(true);
  });

  it('sends SIGKILL after the grace to a group that ignores SIGTERM', async () => {
    // An ignored signal stays ignored across fork and exec: neither process reacts to SIGTERM.
    const { proc, grandchild } = withGrandchild(`trap '' TERM; sleep 600 & echo $!; wait`, {
      timeoutMs: 500,
      killGraceMs: 1_000,
    });
    const pid = await grandchild;
    const exit = await proc.done;
    expect(exit).toMatchObject({ timedOut: true, signal: 'SIGKILL' });
    expect(exit.durationMs).toBeGreaterThanOrEqual(1_400);
    expect(await waitForExit(pid, 5_000)).toBe(true);
  });

  it('kills what the leader left behind when it exits', async () => {
    // The grandchild holds the output pipe open: without the sweep 'close' would wait 600 s.
    const { proc, grandchild } = withGrandchild('sleep 600 & echo $!', { timeoutMs: 60_000 });
    const pid = await grandchild;
    expect(await proc.done).toMatchObject({ exitCode: 0, timedOut: false });
    expect(await waitForExit(pid, 5_000)).toBe(true);
  });

  it('stops the group on cancellation and reports the group id', async () => {
    const groups: Array<number | null> = [];
    const ac = new AbortController();
    const { proc, grandchild } = withGrandchild('sleep 600 & echo $!; wait', {
      signal: ac.signal,
      onGroup: (g) => groups.push(g),
    });
    const pid = await grandchild;
    ac.abort();
    expect(await proc.done).toMatchObject({ aborted: true, timedOut: false });
    expect(await waitForExit(pid, 5_000)).toBe(true);
    expect(groups).toEqual([proc.child.pid, null]);
  });

  it('rejects when the command cannot start', async () => {
    await expect(supervise('/no/such/command', []).done).rejects.toThrow(/ENOENT/);
  });

  it('hands a child no credentials unless given on purpose', async () => {
    process.env.OPENAI_API_KEY = 'sk-canary-supervisor';
    process.env.TEMPORAL_TLS_KEY = '/secret/client.key';
    try {
      const env = secretFreeEnv({ VIBESERVE_API_KEY: 'given-on-purpose' });
      expect(env.OPENAI_API_KEY).toBeUndefined();
      expect(env.TEMPORAL_TLS_KEY).toBeUndefined();
      expect(env.VIBESERVE_API_KEY).toBe('given-on-purpose');
      expect(env.PATH).toBe(process.env.PATH);
      // the default environment of a supervised child
      const proc = supervise('bash', ['-c', 'echo "${OPENAI_API_KEY:-unset}"']);
      let out = '';
      proc.child.stdout!.on('data', (d) => (out += d));
      await proc.done;
      expect(out.trim()).toBe('unset');
    } finally {
      delete process.env.OPENAI_API_KEY;
      delete process.env.TEMPORAL_TLS_KEY;
    }
  });
});
