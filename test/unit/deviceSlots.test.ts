import { describe, expect, it } from 'vitest';
import { DeviceSlots, slotsNeeded } from '../../activities/gpuSlots.js';
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
