// The control worker: every workflow, plus the CPU-only activities (plan, build, finalize), on the
// `vibeserve-control` queue. Run: `npx tsx workers/controlWorker.ts`.
import { pathToFileURL } from 'node:url';
import { Worker } from '@temporalio/worker';
import { controlActivities } from '../activities/index.js';
import { connectWorker, CONTROL_QUEUE, temporalTarget } from '../lib/temporalConnection.js';
import { workflowSource } from './workflowSource.js';

export function controlQueue(env: NodeJS.ProcessEnv = process.env): string {
  return env.VIBESERVE_CONTROL_QUEUE || CONTROL_QUEUE;
}

export async function createControlWorker(): Promise<Worker> {
  const target = temporalTarget();
  const connection = await connectWorker(target);
  return Worker.create({
    connection,
    namespace: target.namespace,
    taskQueue: controlQueue(),
    ...workflowSource(),
    activities: controlActivities,
    // Planning and building are short; give them a moment to finish on shutdown.
    shutdownGraceTime: process.env.VIBESERVE_SHUTDOWN_GRACE || '10s',
  });
}

async function main(): Promise<void> {
  const worker = await createControlWorker();
  console.log(JSON.stringify({ event: 'ready', worker: 'control', queue: controlQueue(), pid: process.pid }));
  await worker.run();
  console.log(JSON.stringify({ event: 'stopped', worker: 'control' }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(`control worker: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
