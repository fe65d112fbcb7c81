// Shared by the LLM-builder tests: in-process workers for a control and a runtime queue on the real
// dev server (globalSetup), the scripted OpenAI-compatible server as the model, and the design of
// the builder's task used throughout (write a faster greedy sampler).
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, inject } from 'vitest';
import type { Design, HardwareTarget } from '../../lib/architect/types.js';
import { defaultDesign, loadDesignSpace, makeDesign } from '../../lib/designSpace.js';
import type { ScriptedOpenAI, ScriptedToolCall } from '../helpers/scriptedOpenAI.js';
import { workflowBundlePath } from '../workflow/harness.js';

export const cpuHardware: HardwareTarget = { kind: 'cpu', device: 'cpu', gpuCount: 0 };

export interface InProcessWorkers {
  /** Unique per test file run: names queues, workflow ids and the artifact home. */
  readonly tag: string;
  readonly controlQueue: string;
  readonly runtimeQueue: string;
  readonly client: Client;
  /** VIBESERVE_HOME of this test file. */
  readonly home: string;
}

/** Starts the scripted server and both workers before the file's tests; the API key lives in `keyEnv`. */
export function useInProcessWorkers(opts: {
  name: string;
  server: ScriptedOpenAI;
  keyEnv: string;
  key: string;
  controlActivities: object;
  runtimeActivities: object;
}): InProcessWorkers {
  const tag = Math.random().toString(16).slice(2, 8);
  const controlQueue = `${opts.name}-control-${tag}`;
  const runtimeQueue = `${opts.name}-runtime-${tag}`;
  let connection: Connection | undefined;
  let client: Client | undefined;
  let home: string | undefined;
  let workers: Worker[] = [];
  let running: Promise<void>[] = [];
  beforeAll(async () => {
    home = path.join(inject('testHome'), `${opts.name}-${tag}`);
    process.env.VIBESERVE_HOME = home;
    process.env[opts.keyEnv] = opts.key;
    await opts.server.start();
    const address = inject('temporalAddress');
    connection = await Connection.connect({ address });
    client = new Client({ connection });
    const native = await NativeConnection.connect({ address });
    const codePath = await workflowBundlePath();
    workers = [
      await Worker.create({
        connection: native,
        taskQueue: controlQueue,
        workflowBundle: { codePath },
        activities: opts.controlActivities,
      }),
      await Worker.create({
        connection: native,
        taskQueue: runtimeQueue,
        activities: opts.runtimeActivities,
        maxConcurrentActivityTaskExecutions: 2,
      }),
    ];
    running = workers.map((w) => w.run());
  });
  afterAll(async () => {
    for (const w of workers) w.shutdown();
    await Promise.allSettled(running);
    await connection?.close();
    await opts.server.stop();
    delete process.env[opts.keyEnv];
  });
  const ready = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`useInProcessWorkers: ${what} is available only inside tests`);
    return v;
  };
  return {
    tag,
    controlQueue,
    runtimeQueue,
    get client() {
      return ready(client, 'the client');
    },
    get home() {
      return ready(home, 'the home directory');
    },
  };
}

/** The default design on CPU, built by the LLM builder: its task is a faster greedy sampler. */
export function samplerTaskDesign(componentName: string): Design {
  const space = loadDesignSpace();
  const base = defaultDesign(space, { hardware: cpuHardware, arch: 'llama', tokenizer: 'byte' });
  return makeDesign(
    space,
    base.choices,
    { ...base.params, max_batch_size: 4 },
    {
      builder: 'llm',
      llmTask: {
        dimension: 'sampling',
        componentName,
        instructions: 'Write a sampler that is faster for greedy decoding.',
      },
    },
  );
}

/** The coding model's edit that registers `FastSampler` from components/sampling/<file>.py. */
export function registerSampler(file: string, componentName: string): ScriptedToolCall {
  return {
    name: 'edit_file',
    arguments: {
      path: 'vibeserve_runtime/engine/builtin_components.py',
      old_text: 'for dim, name, factory in [',
      new_text: `from ..components.sampling.${file} import FastSampler\nregister_component("sampling", "${componentName}", FastSampler)\n\nfor dim, name, factory in [`,
    },
  };
}
