// `vibeserve up`: start (or reuse) the Temporal dev server, the control worker and a runtime
// worker for this host's hardware, in the background.
import path from 'node:path';
import { isTemporalUp, startDevServer } from '../../lib/devServer.js';
import { isOurs, readUpState, writeUpState, type StartedProcess, type UpState } from '../../lib/localStack.js';
import { logsDir, projectRoot, vibeserveHome } from '../../lib/paths.js';
import { supervise } from '../../lib/processSupervisor.js';
import { DEFAULT_ADDRESS, temporalTarget } from '../../lib/temporalConnection.js';
import { linesSince, openWorkerLog } from '../../lib/workerLog.js';
import { parse } from '../args.js';
import type { Command } from '../command.js';

const usage = 'vibeserve up [--port 7233] [--ui-port 8233] [--no-runtime-worker]';

export const up: Command = {
  name: 'up',
  summary: 'start the local Temporal dev server (or use TEMPORAL_ADDRESS) and the workers',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      { port: { type: 'string' }, 'ui-port': { type: 'string' }, 'no-runtime-worker': { type: 'boolean' } },
      usage,
    );
    const previous = readUpState();
    const state: UpState = previous ?? {
      address: DEFAULT_ADDRESS,
      uiUrl: null,
      server: null,
      controlWorker: null,
      runtimeWorker: null,
    };
    const target = temporalTarget();

    if (target.external) {
      if (!(await isTemporalUp(target.address)) && !target.tls) {
        throw new Error(
          `TEMPORAL_ADDRESS=${target.address} does not answer; start that cluster or unset TEMPORAL_ADDRESS to use the embedded server`,
        );
      }
      state.address = target.address;
      state.server = null;
      console.log(`Temporal: existing cluster at ${target.address} (namespace ${target.namespace})`);
    } else if (isOurs(state.server)) {
      console.log(`Temporal: dev server already running (pid ${state.server.pid}) at ${state.address}`);
    } else {
      const port = Number(values.port ?? 7233);
      const uiPort = Number(values['ui-port'] ?? 8233);
      const address = `127.0.0.1:${port}`;
      if (await isTemporalUp(address)) {
        state.address = address;
        state.server = null;
        console.log(
          `Temporal: reusing the server already answering at ${address} (not started by vibeserve; down leaves it)`,
        );
      } else {
        const log = path.join(logsDir(), 'temporal.log');
        const server = await startDevServer({
          port,
          uiPort,
          dbFile: path.join(vibeserveHome(), 'temporal.db'),
          logFile: log,
        });
        state.address = server.address;
        state.uiUrl = server.uiUrl;
        state.server = { pid: server.pid, marker: 'start-dev', log };
        console.log(
          `Temporal: dev server started (pid ${server.pid}) at ${server.address}, UI ${server.uiUrl}, data ${path.join(vibeserveHome(), 'temporal.db')}`,
        );
      }
    }
    if (!state.uiUrl && !target.external) state.uiUrl = 'http://localhost:8233';
    writeUpState(state);

    const env = { ...process.env, TEMPORAL_ADDRESS: state.address };
    if (!isOurs(state.controlWorker)) {
      state.controlWorker = await startWorker('controlWorker', env);
      writeUpState(state);
    }
    console.log(`control worker: pid ${state.controlWorker!.pid} (log ${state.controlWorker!.log})`);
    if (!values['no-runtime-worker']) {
      if (!isOurs(state.runtimeWorker)) {
        state.runtimeWorker = await startWorker('runtimeWorker', env);
        writeUpState(state);
      }
      console.log(`runtime worker: pid ${state.runtimeWorker!.pid} ${readyLine(state.runtimeWorker!.log)}`);
    }
    if (state.uiUrl) console.log(`Temporal UI: ${state.uiUrl}`);
    return 0;
  },
};

/** Starts a worker in the background and waits for its `ready` line (in this start's part of the log). */
async function startWorker(name: 'controlWorker' | 'runtimeWorker', env: NodeJS.ProcessEnv): Promise<StartedProcess> {
  const log = path.join(logsDir(), `${name}.log`);
  const { fd, offset } = openWorkerLog(log, name);
  const script = path.join(projectRoot, 'workers', `${name}.ts`);
  // A daemon that outlives this command. Workers need the credentials (LLM keys, Temporal TLS or
  // API keys), so they get the full environment; they hand none to the verbs they run.
  const { child } = supervise(process.execPath, ['--import', 'tsx', script], {
    cwd: projectRoot,
    env,
    background: true,
    stdio: ['ignore', fd, fd],
  });
  const deadline = Date.now() + 180_000; // the first start bundles the workflow code
  while (Date.now() < deadline) {
    const text = linesSince(log, offset).join('\n');
    if (text.includes('"event":"ready"')) return { pid: child.pid!, marker: `${name}.ts`, log };
    if (child.exitCode !== null)
      throw new Error(`${name} exited (code ${child.exitCode}): ${text.trim().split('\n').pop()} — see ${log}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${name} did not become ready within 180 s; see ${log}`);
}

/** The worker's latest ready line: a log holds every start since it was last rotated. */
function readyLine(log: string): string {
  const line = linesSince(log, 0)
    .reverse()
    .find((l) => l.includes('"event":"ready"'));
  if (!line) return '';
  const r = JSON.parse(line) as { queue: string; devices?: string };
  return `on ${r.queue}${r.devices ? ` (${r.devices})` : ''}`;
}
