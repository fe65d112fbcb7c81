// The runtime worker: verify and benchmark activities on the queue of this host's hardware
// (vibeserve-runtime-h100, ..., or vibeserve-runtime-cpu), one activity slot per GPU, each pinned
// with CUDA_VISIBLE_DEVICES (checks may share a slot: activities/gpuSlots.ts). A host with N devices of a kind also serves `<queue>-x2` ... `-xN`,
// where tensor-parallel candidates wait for that many of its devices (lib/workflowSafe/deviceQueues.ts).
// Run: `npx tsx workers/runtimeWorker.ts`.
import { pathToFileURL } from 'node:url';
import { Worker } from '@temporalio/worker';
import { DeviceSlots } from '../activities/gpuSlots.js';
import { createRuntimeActivities } from '../activities/index.js';
import { queuesForHost } from '../lib/workflowSafe/deviceQueues.js';
import { reapOrphanedGroups } from '../lib/orphanReaper.js';
import { MAX_CHECKS_PER_DEVICE, runtimeQueueFor } from '../lib/scenario.js';
import { connectWorker, temporalTarget } from '../lib/temporalConnection.js';
import { detectHardware, gpusByKind, type HardwareReport } from './hardwareDetection.js';

export interface RuntimeQueuePlan {
  queue: string;
  slots: DeviceSlots;
  description: string;
  /** Devices each activity on this queue holds at once (1, or N on a `-xN` queue). */
  devicesPerActivity: number;
}

/** One queue per GPU kind on this host (or the CPU queue), plus its `-xN` queues for candidates
 * that need N of those devices; all queues of a kind share its device slots.
 * VIBESERVE_RUNTIME_QUEUE renames the base queue (tests, or a pool of hosts that should share one). */
export function planRuntimeQueues(report: HardwareReport, env: NodeJS.ProcessEnv = process.env): RuntimeQueuePlan[] {
  const hosts: Array<{ queue: string; slots: DeviceSlots; description: string }> = [];
  const useGpus = report.device === 'cuda' && env.VIBESERVE_FORCE_CPU !== '1';
  const maxShare = checksPerDevice(env, useGpus);
  if (useGpus) {
    for (const [kind, gpus] of gpusByKind(report)) {
      hosts.push({
        queue: `vibeserve-runtime-${kind}`,
        slots: new DeviceSlots(
          gpus.map((g) => String(g.index)),
          true,
          maxShare,
        ),
        description: `${gpus.length}× ${gpus[0].name} (${gpus[0].memoryMiB} MiB, sm ${gpus[0].computeCapability ?? '?'})`,
      });
    }
  } else {
    const n = Math.max(1, Number.parseInt(env.VIBESERVE_CPU_SLOTS ?? '1', 10) || 1);
    hosts.push({
      queue: runtimeQueueFor('cpu'),
      slots: new DeviceSlots(
        Array.from({ length: n }, (_, i) => `cpu${i}`),
        false,
        maxShare,
      ),
      description: `CPU, ${n} slot(s)`,
    });
  }
  if (env.VIBESERVE_RUNTIME_QUEUE) {
    if (hosts.length !== 1) throw new Error('VIBESERVE_RUNTIME_QUEUE needs a host with a single GPU kind');
    hosts[0].queue = env.VIBESERVE_RUNTIME_QUEUE;
  }
  return hosts.flatMap(({ queue, slots, description }) =>
    queuesForHost(queue, slots.size).map((q) => ({
      queue: q.queue,
      slots,
      description,
      devicesPerActivity: q.devices,
    })),
  );
}

/** How many checks may share one device on this worker (VIBESERVE_CHECKS_PER_DEVICE): 2 on a GPU,
 * where a check is mostly host work on a 16-core host; 1 on CPU, where the checks' own compute is
 * what the few cores would split. A scenario asks for sharing with search.checks_per_device. */
export function checksPerDevice(env: NodeJS.ProcessEnv, gpu: boolean): number {
  const raw = env.VIBESERVE_CHECKS_PER_DEVICE;
  if (raw === undefined || raw === '') return gpu ? 2 : 1;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_CHECKS_PER_DEVICE) {
    throw new Error(`VIBESERVE_CHECKS_PER_DEVICE must be an integer from 1 to ${MAX_CHECKS_PER_DEVICE}, got '${raw}'`);
  }
  return n;
}

export async function createRuntimeWorkers(
  report: HardwareReport = detectHardware(),
): Promise<Array<{ plan: RuntimeQueuePlan; worker: Worker }>> {
  const target = temporalTarget();
  const connection = await connectWorker(target);
  const plans = planRuntimeQueues(report);
  return Promise.all(
    plans.map(async (plan) => ({
      plan,
      worker: await Worker.create({
        connection,
        namespace: target.namespace,
        taskQueue: plan.queue,
        activities: createRuntimeActivities(plan.slots),
        // room for every check that may share a device; the slots decide who runs
        maxConcurrentActivityTaskExecutions: Math.floor(plan.slots.capacity / plan.devicesPerActivity),
        // In-flight benchmarks get this long to finish on SIGTERM before they are cancelled
        // (which kills their process group); the server then retries them elsewhere.
        shutdownGraceTime: process.env.VIBESERVE_SHUTDOWN_GRACE || '60s',
      }),
    })),
  );
}

async function main(): Promise<void> {
  const report = detectHardware();
  if (report.note) console.error(`runtime worker: ${report.note}`);
  const reaped = reapOrphanedGroups();
  if (reaped > 0) console.error(`runtime worker: stopped ${reaped} verb process group(s) left by a dead worker`);
  const workers = await createRuntimeWorkers(report);
  for (const { plan } of workers) {
    console.log(
      JSON.stringify({
        event: 'ready',
        worker: 'runtime',
        queue: plan.queue,
        slots: plan.slots.size,
        devicesPerActivity: plan.devicesPerActivity,
        checksPerDevice: plan.slots.maxShare,
        devices: plan.description,
        pid: process.pid,
      }),
    );
  }
  await Promise.all(workers.map(({ worker }) => worker.run()));
  console.log(JSON.stringify({ event: 'stopped', worker: 'runtime' }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(`runtime worker: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
