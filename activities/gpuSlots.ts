// One runtime activity per GPU: each running activity holds its slots, and its Python process sees
// only those GPUs through CUDA_VISIBLE_DEVICES. A tensor-parallel candidate holds several slots of
// the same host at once (all of them taken together, so two such candidates never deadlock each
// holding half). The base queue and the -xN queues share the slots, so an activity can wait for
// them: while it waits it heartbeats (or the server would time it out and run it a second time),
// and a cancellation takes it out of the line.
// Checks of small models may share a device (up to the scenario's search.checks_per_device, capped
// by the worker's `maxShare`): most of a check is host work (imports, loading, the reference), so
// two at once nearly halve its cost. A benchmark always holds its devices alone: benchmarks own the
// device, and nothing else runs beside one.
import { Context } from '@temporalio/activity';
import { candidateRejection } from '../lib/pythonBridge.js';

/** What a waiting acquire does: beat every `heartbeatMs`, give up when `signal` aborts. */
export interface SlotWait {
  signal?: AbortSignal;
  heartbeat?: () => void;
  heartbeatMs?: number;
  /** How many holders (this one included) may share each device; 1 (the default) holds it alone. */
  share?: number;
}

/** A device's holders now, and how many may share it (the smallest share any of them allows). */
interface DeviceUse {
  holders: number;
  share: number;
}

export class DeviceSlots {
  private readonly use = new Map<string, DeviceUse>();
  private readonly waiters: Array<{ count: number; share: number; resolve: (slots: string[]) => void }> = [];

  /** `devices`: GPU indices ("0", "1", ...) or, without GPUs, CPU slot names ("cpu0").
   * `maxShare`: the most holders this worker lets share one device (1: every activity alone). */
  constructor(
    readonly devices: string[],
    readonly gpu: boolean,
    readonly maxShare = 1,
  ) {
    if (devices.length === 0) throw new Error('a runtime worker needs at least one device slot');
    if (!Number.isInteger(maxShare) || maxShare < 1)
      throw new RangeError(`maxShare must be an integer ≥ 1, got ${maxShare}`);
    for (const d of devices) this.use.set(d, { holders: 0, share: 1 });
  }

  get size(): number {
    return this.devices.length;
  }

  /** Activities this worker can hold at once: every device shared as far as it allows. */
  get capacity(): number {
    return this.size * this.maxShare;
  }

  /** The share an activity asking for `requested` gets here (at most the worker's). */
  shareFor(requested: number | undefined): number {
    return Math.max(1, Math.min(Math.floor(requested ?? 1), this.maxShare));
  }

  /** `count` slots at once; waiters are served in arrival order (a benchmark waiting for a device
   * is not overtaken by checks that could still share it). */
  async acquire(count = 1, wait: SlotWait = {}): Promise<string[]> {
    if (count < 1 || count > this.size) {
      throw new RangeError(`cannot hold ${count} device slot(s) on a worker with ${this.size}`);
    }
    const share = this.shareFor(wait.share);
    wait.signal?.throwIfAborted();
    if (this.waiters.length === 0) {
      const now = this.pick(count, share);
      if (now) return this.take(now, share);
    }
    return new Promise((resolve, reject) => {
      const beat = wait.heartbeat ? setInterval(wait.heartbeat, wait.heartbeatMs ?? 1000) : undefined;
      const done = () => {
        clearInterval(beat);
        wait.signal?.removeEventListener('abort', abort);
      };
      const waiter = { count, share, resolve: (slots: string[]) => (done(), resolve(slots)) };
      const abort = () => {
        done();
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        this.serve(); // those behind it may fit now
        reject(wait.signal!.reason);
      };
      wait.signal?.addEventListener('abort', abort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(slots: string[]): void {
    for (const d of slots) {
      const u = this.use.get(d);
      if (!u || u.holders === 0) throw new Error(`device slot ${d} released but not held`);
      u.holders -= 1;
      if (u.holders === 0) u.share = 1;
    }
    this.serve();
  }

  /** Holders of each device now (for logs and tests). */
  holders(): Record<string, number> {
    return Object.fromEntries(this.devices.map((d) => [d, this.use.get(d)!.holders]));
  }

  private serve(): void {
    while (this.waiters.length > 0) {
      const next = this.waiters[0];
      const devices = this.pick(next.count, next.share);
      if (!devices) return;
      this.waiters.shift();
      next.resolve(this.take(devices, next.share));
    }
  }

  /** `count` devices that admit one more holder of `share`, least used first (a free device before
   * a shared one); null if there are not enough. */
  private pick(count: number, share: number): string[] | null {
    const open = this.devices.filter((d) => {
      const u = this.use.get(d)!;
      return u.holders === 0 || (share > 1 && u.holders + 1 <= Math.min(u.share, share));
    });
    if (open.length < count) return null;
    return open.sort((a, b) => this.use.get(a)!.holders - this.use.get(b)!.holders).slice(0, count);
  }

  private take(devices: string[], share: number): string[] {
    for (const d of devices) {
      const u = this.use.get(d)!;
      u.share = u.holders === 0 ? share : Math.min(u.share, share);
      u.holders += 1;
    }
    return [...devices].sort((a, b) => this.devices.indexOf(a) - this.devices.indexOf(b));
  }

  /** Environment pinning a process to the slots' GPUs (nothing to pin on CPU). */
  envFor(slots: string[]): NodeJS.ProcessEnv {
    return this.gpu ? { CUDA_VISIBLE_DEVICES: slots.join(',') } : {};
  }

  async with<T>(fn: (env: NodeJS.ProcessEnv, slot: string) => Promise<T>, count = 1, wait: SlotWait = {}): Promise<T> {
    const slots = await this.acquire(count, wait);
    try {
      return await fn(this.envFor(slots), slots.join(','));
    } finally {
      this.release(slots);
    }
  }
}

/** The slots an activity holds for a candidate spanning `requested` devices; a candidate larger than
 * this host is the candidate's fault (its -xN queue should never have reached this worker). */
export function slotsNeeded(requested: number | undefined, slots: DeviceSlots, stage: string): number {
  const n = requested ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > slots.size) {
    throw candidateRejection(
      'too_few_devices',
      `the candidate needs ${n} devices of one host; this worker has ${slots.size}`,
      stage,
    );
  }
  return n;
}

/** Runs `fn` in the current activity holding the slots of a candidate spanning `requested` devices,
 * heartbeating while it waits for them; `share` > 1 lets that many such activities share each device. */
export function withActivitySlots<T>(
  slots: DeviceSlots,
  requested: number | undefined,
  stage: string,
  fn: (env: NodeJS.ProcessEnv, slot: string) => Promise<T>,
  share = 1,
): Promise<T> {
  const n = slotsNeeded(requested, slots, stage);
  const ctx = Context.current();
  return slots.with(fn, n, {
    signal: ctx.cancellationSignal,
    heartbeat: () => ctx.heartbeat({ stage, waitingForDevices: n }),
    share,
  });
}
