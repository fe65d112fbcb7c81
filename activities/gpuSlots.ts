// One runtime activity per GPU: each running activity holds its slots, and its Python process sees
// only those GPUs through CUDA_VISIBLE_DEVICES. A tensor-parallel candidate holds several slots of
// the same host at once (all of them taken together, so two such candidates never deadlock each
// holding half). The base queue and the -xN queues share the slots, so an activity can wait for
// them: while it waits it heartbeats (or the server would time it out and run it a second time),
// and a cancellation takes it out of the line.
import { Context } from '@temporalio/activity';
import { candidateRejection } from '../lib/pythonBridge.js';

/** What a waiting acquire does: beat every `heartbeatMs`, give up when `signal` aborts. */
export interface SlotWait {
  signal?: AbortSignal;
  heartbeat?: () => void;
  heartbeatMs?: number;
}

export class DeviceSlots {
  private readonly free: string[];
  private readonly waiters: Array<{ count: number; resolve: (slots: string[]) => void }> = [];

  /** `devices`: GPU indices ("0", "1", ...) or, without GPUs, CPU slot names ("cpu0"). */
  constructor(
    readonly devices: string[],
    readonly gpu: boolean,
  ) {
    if (devices.length === 0) throw new Error('a runtime worker needs at least one device slot');
    this.free = [...devices];
  }

  get size(): number {
    return this.devices.length;
  }

  /** `count` slots at once; waiters are served in arrival order. */
  async acquire(count = 1, wait: SlotWait = {}): Promise<string[]> {
    if (count < 1 || count > this.size) {
      throw new RangeError(`cannot hold ${count} device slot(s) on a worker with ${this.size}`);
    }
    wait.signal?.throwIfAborted();
    if (this.waiters.length === 0 && this.free.length >= count) return this.take(count);
    return new Promise((resolve, reject) => {
      const beat = wait.heartbeat ? setInterval(wait.heartbeat, wait.heartbeatMs ?? 1000) : undefined;
      const done = () => {
        clearInterval(beat);
        wait.signal?.removeEventListener('abort', abort);
      };
      const waiter = { count, resolve: (slots: string[]) => (done(), resolve(slots)) };
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
    this.free.push(...slots);
    this.free.sort((a, b) => this.devices.indexOf(a) - this.devices.indexOf(b));
    this.serve();
  }

  private serve(): void {
    while (this.waiters.length > 0 && this.free.length >= this.waiters[0].count) {
      const next = this.waiters.shift()!;
      next.resolve(this.take(next.count));
    }
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

  private take(count: number): string[] {
    return this.free.splice(0, count);
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
 * heartbeating while it waits for them. */
export function withActivitySlots<T>(
  slots: DeviceSlots,
  requested: number | undefined,
  stage: string,
  fn: (env: NodeJS.ProcessEnv, slot: string) => Promise<T>,
): Promise<T> {
  const n = slotsNeeded(requested, slots, stage);
  const ctx = Context.current();
  return slots.with(fn, n, {
    signal: ctx.cancellationSignal,
    heartbeat: () => ctx.heartbeat({ stage, waitingForDevices: n }),
  });
}
