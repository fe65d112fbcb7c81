// `vibeserve down`: stop what `vibeserve up` started, and nothing else.
import { signalGroup, waitForExit } from '../../lib/processSupervisor.js';
import { clearUpState, isOurs, readUpState, type StartedProcess } from '../../lib/localStack.js';
import { parse } from '../args.js';
import type { Command } from '../command.js';

const usage = 'vibeserve down';

export const down: Command = {
  name: 'down',
  summary: 'stop the dev server and workers that `vibeserve up` started',
  usage,
  async run(argv) {
    parse(argv, {}, usage);
    const state = readUpState();
    if (!state) {
      console.log('nothing to stop: `vibeserve up` has not started anything here');
      return 0;
    }
    // Workers first, so in-flight activities are handed back before the server goes.
    for (const [label, p] of [
      ['runtime worker', state.runtimeWorker],
      ['control worker', state.controlWorker],
      ['Temporal dev server', state.server],
    ] as Array<[string, StartedProcess | null]>) {
      if (!isOurs(p)) continue;
      signalGroup(p.pid, 'SIGTERM');
      const graceful = await waitForExit(p.pid, 75_000);
      if (!graceful) signalGroup(p.pid, 'SIGKILL');
      console.log(`stopped ${label} (pid ${p.pid}${graceful ? '' : ', killed after the grace time'})`);
    }
    clearUpState();
    return 0;
  },
};
