import { describe, expect, it } from 'vitest';
import { DeviceSlots, slotsNeeded } from '../../activities/gpuSlots.js';
import { checkArgs } from '../../activities/verify.js';
import { devicesOf, queueForDevices, queuesForHost } from '../../lib/workflowSafe/deviceQueues.js';

describe('device slots for single- and multi-device candidates', () => {
  it('hands a two-device candidate both GPUs at once, pinned together', async () => {
    const slots = new DeviceSlots(['0', '1'], true);
    const seen: string[] = [];
    await slots.with(async (env, slot) => {
      seen.push(String(env.CUDA_VISIBLE_DEVICES), slot);
    }, 2);
    expect(seen).toEqual(['0,1', '0,1']);
    expect(await slots.acquire(2)).toEqual(['0', '1']);
  });

  it('serves waiters in order: a two-device waiter is not starved by later one-device ones', async () => {
    const slots = new DeviceSlots(['0', '1'], true);
    const first = await slots.acquire(1);
    const order: string[] = [];
    const pair = slots.acquire(2).then((s) => order.push(`pair:${s.join(',')}`));
    const single = slots.acquire(1).then((s) => order.push(`single:${s.join(',')}`));
    await Promise.resolve();
    expect(order).toEqual([]); // one GPU is free, but the pair asked first
    slots.release(first);
    await pair;
    expect(order).toEqual(['pair:0,1']);
    slots.release(['0', '1']);
    await single;
    expect(order).toEqual(['pair:0,1', 'single:0']);
  });

  it('heartbeats while waiting, and a cancelled waiter leaves the line to those behind it', async () => {
    const slots = new DeviceSlots(['0', '1'], true);
    const held = await slots.acquire(1);
    let beats = 0;
    const cancel = new AbortController();
    const pair = slots.acquire(2, { signal: cancel.signal, heartbeat: () => beats++, heartbeatMs: 5 });
    const single = slots.acquire(1);
    await new Promise((r) => setTimeout(r, 30));
    expect(beats).toBeGreaterThan(1); // the waiting activity stays alive for the server
    cancel.abort(new Error('activity cancelled'));
    await expect(pair).rejects.toThrow('activity cancelled');
    expect(await single).toEqual(['1']); // served as soon as the pair ahead of it left
    const after = beats;
    await new Promise((r) => setTimeout(r, 20));
    expect(beats).toBe(after); // no heartbeats once it stopped waiting
    slots.release(held);
  });

  it('lets checks share a device while a benchmark holds it alone, in arrival order', async () => {
    const slots = new DeviceSlots(['0'], true, 2);
    const order: string[] = [];
    const checkA = await slots.acquire(1, { share: 2 });
    const checkB = await slots.acquire(1, { share: 2 }); // shares GPU 0 with check A
    expect(slots.holders()).toEqual({ '0': 2 });
    const bench = slots.acquire(1).then((s) => (order.push('bench'), s));
    const checkC = slots.acquire(1, { share: 2 }).then((s) => (order.push('checkC'), s));
    await Promise.resolve();
    expect(order).toEqual([]); // the benchmark waits for both checks; check C waits behind it
    slots.release(checkA);
    await Promise.resolve();
    expect(order).toEqual([]); // one check still runs: the benchmark does not start beside it
    slots.release(checkB);
    const held = await bench;
    expect(order).toEqual(['bench']);
    expect(slots.holders()).toEqual({ '0': 1 });
    slots.release(held);
    slots.release(await checkC);
    expect(order).toEqual(['bench', 'checkC']);
    expect(slots.holders()).toEqual({ '0': 0 });
  });

  it('shares a device no wider than its worker or any holder allows', async () => {
    const alone = new DeviceSlots(['0'], true); // maxShare 1: a check asking to share still runs alone
    expect(alone.shareFor(2)).toBe(1);
    const first = await alone.acquire(1, { share: 2 });
    let second = false;
    const next = alone.acquire(1, { share: 2 }).then((s) => ((second = true), s));
    await Promise.resolve();
    expect(second).toBe(false);
    alone.release(first);
    alone.release(await next);

    const wide = new DeviceSlots(['0', '1'], true, 3);
    expect(wide.capacity).toBe(6);
    const a = await wide.acquire(1, { share: 3 });
    const b = await wide.acquire(1, { share: 3 });
    expect([a, b]).toEqual([['0'], ['1']]); // a free device before a shared one
    const c = await wide.acquire(1, { share: 2 }); // joins GPU 0: two holders, and 2 ≤ its share
    expect(c).toEqual(['0']);
    const d = await wide.acquire(1, { share: 3 }); // GPU 0 is at its smallest holder's share: GPU 1
    expect(d).toEqual(['1']);
    const e = await wide.acquire(1, { share: 3 }); // GPU 1 takes a third sharer
    expect(e).toEqual(['1']);
    let f = false;
    const late = wide.acquire(1, { share: 3 }).then((s) => ((f = true), s));
    await Promise.resolve();
    expect(f).toBe(false);
    wide.release(c); // GPU 0 has room for a second holder again
    expect(await late).toEqual(['0']);
    expect(() => wide.release(['7'])).toThrow(/device slot 7 released but not held/);
  });

  it('tells a check sharing the GPU to size its KV pool from its share of the memory', () => {
    const input = {
      searchId: 's-1',
      candidateId: 'r0-c0',
      stackDir: '/x/stack',
      device: 'cuda',
      timeoutS: 60,
    } as const;
    expect(checkArgs(input, undefined, 2)).toContain('--memory-share');
    expect(checkArgs(input, undefined, 2).join(' ')).toMatch(/--memory-share 2\b/);
    expect(checkArgs(input, undefined, 1)).not.toContain('--memory-share');
  });

  it('refuses a candidate larger than the host', async () => {
    const slots = new DeviceSlots(['cpu0'], false);
    await expect(slots.acquire(2)).rejects.toThrow(/2 device slot\(s\) on a worker with 1/);
    expect(() => slotsNeeded(2, slots, 'verify')).toThrow(/needs 2 devices of one host; this worker has 1/);
    expect(slotsNeeded(undefined, slots, 'verify')).toBe(1);
  });

  it('routes tp=N designs to the -xN queue that only hosts with N devices poll', () => {
    expect(devicesOf({ choices: { tp: '2', attention: 'sdpa' } })).toBe(2);
    expect(devicesOf({ choices: { attention: 'sdpa' } })).toBe(1);
    expect(queueForDevices('vibeserve-runtime-h200', 2)).toBe('vibeserve-runtime-h200-x2');
    expect(queueForDevices('vibeserve-runtime-h200', 1)).toBe('vibeserve-runtime-h200');
    expect(queuesForHost('q', 3).map((q) => q.queue)).toEqual(['q', 'q-x2', 'q-x3']);
  });
});
