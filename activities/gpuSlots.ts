// One runtime activity per GPU: each running activity holds a slot, and its Python process sees
// only that GPU through CUDA_VISIBLE_DEVICES. The worker sets maxConcurrentActivityTaskExecutions
// to the slot count, so acquire() never has to wait in practice.
export class DeviceSlots {
  private readonly free: string[];
  private readonly waiters: Array<(slot: string) => void> = [];

  /** `devices`: GPU indices ("0", "1", ...) or, without GPUs, CPU slot names ("cpu0"). */
  constructor(readonly devices: string[], readonly gpu: boolean) {
    if (devices.length === 0) throw new Error('a runtime worker needs at least one device slot');
    this.free = [...devices];
  }

  get size(): number {
    return this.devices.length;
  }

  async acquire(): Promise<string> {
    const slot = this.free.shift();
    if (slot !== undefined) return slot;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(slot: string): void {
    const next = this.waiters.shift();
    if (next) next(slot);
    else this.free.push(slot);
  }

  /** Environment pinning a process to the slot's GPU (nothing to pin on CPU). */
  envFor(slot: string): NodeJS.ProcessEnv {
    return this.gpu ? { CUDA_VISIBLE_DEVICES: slot } : {};
  }

  async with<T>(fn: (env: NodeJS.ProcessEnv, slot: string) => Promise<T>): Promise<T> {
    const slot = await this.acquire();
    try {
      return await fn(this.envFor(slot), slot);
    } finally {
      this.release(slot);
    }
  }
}
