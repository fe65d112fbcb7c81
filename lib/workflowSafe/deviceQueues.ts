// Candidates that span several GPUs of one host (tensor parallel, components.tp = N) go to a queue
// of their own, `<runtime queue>-xN`. Only a runtime worker with at least N devices of the kind
// polls it, so a host advertises how many devices it has by the queues it serves, and a
// multi-device candidate can never land on a host too small for it.
import type { Design } from '../architect/types.js';

/** Devices of one host a design's candidate runs on. */
export function devicesOf(design: Pick<Design, 'choices'>): number {
  const tp = Number.parseInt(String(design.choices.tp ?? '1'), 10);
  return Number.isFinite(tp) && tp > 1 ? tp : 1;
}

export function queueForDevices(runtimeQueue: string, devices: number): string {
  return devices > 1 ? `${runtimeQueue}-x${devices}` : runtimeQueue;
}

/** Every queue a host with `deviceCount` devices serves: the base queue and one per multi-device size. */
export function queuesForHost(runtimeQueue: string, deviceCount: number): Array<{ queue: string; devices: number }> {
  return Array.from({ length: Math.max(1, deviceCount) }, (_, i) => ({
    queue: queueForDevices(runtimeQueue, i + 1),
    devices: i + 1,
  }));
}
