// `vibeserve search <scenario>`: validate the scenario (and dry-run its generic design through the
// runtime), start the search (or attach to the running one with the same scenario and name), print
// its id and UI link, optionally watch it.
import { loadScenario } from '../../lib/scenario.js';
import { PreflightUnavailable, preflightScenario } from '../../lib/scenarioPreflight.js';
import {
  BudgetConflict,
  buildSearchInput,
  parseBudget,
  refuseBudgetChange,
  startSearch,
} from '../../lib/searchStart.js';
import { uiLink } from '../../lib/temporalConnection.js';
import { detectHardware } from '../../workers/hardwareDetection.js';
import { parse, UsageError } from '../args.js';
import { getClient } from '../client.js';
import type { Command } from '../command.js';
import { watchSearch } from './watch.js';

const usage =
  'vibeserve search <scenario.yaml> [--name NAME] [--budget rounds=N,candidates=N,minutes=N] ' +
  '[--llm MODEL (or --llm-model MODEL) [--llm-base-url URL] [--llm-api-key-env VAR]] [--watch] [--skip-preflight]';

export const search: Command = {
  name: 'search',
  summary: 'start a search for a scenario (attaches if the same search is running)',
  usage,
  async run(argv) {
    const { values, positionals } = parse(
      argv,
      {
        name: { type: 'string', default: 'main' },
        budget: { type: 'string' },
        llm: { type: 'string' },
        'llm-model': { type: 'string' },
        'llm-base-url': { type: 'string' },
        'llm-api-key-env': { type: 'string' },
        watch: { type: 'boolean' },
        // the scenario's files exist only where the workers run, not on this machine
        'skip-preflight': { type: 'boolean' },
      },
      usage,
    );
    const file = positionals[0];
    if (!file) throw new UsageError(`missing scenario file\nusage: ${usage}`);
    // Everything is validated before anything is started.
    const scenario = loadScenario(file);
    let budget: ReturnType<typeof parseBudget> | undefined;
    try {
      budget = values.budget ? parseBudget(values.budget) : undefined;
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const llmModel = values.llm ?? values['llm-model'];
    const llm = llmModel
      ? {
          model: llmModel,
          baseURL: values['llm-base-url'] ?? process.env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1',
          // Only the variable's NAME travels; the key stays in the workers' environment.
          apiKeyEnv: values['llm-api-key-env'] ?? 'OPENAI_API_KEY',
        }
      : undefined;
    let hardwareKind: string | undefined;
    if (scenario.hardware.kind === 'any') {
      const hw = detectHardware();
      hardwareKind = hw.gpus[0]?.kind ?? 'cpu';
    }
    const { workflowId, input } = buildSearchInput({
      scenario,
      scenarioFile: file,
      name: values.name!,
      budget,
      llm,
      hardwareKind,
    });
    if (!values['skip-preflight']) {
      await preflightScenario(input, file).catch((err) => {
        if (!(err instanceof PreflightUnavailable)) throw err;
        console.error(
          `vibeserve search: the scenario could not be dry-run by the runtime (${err.message}); starting anyway`,
        );
      });
    }

    const client = await getClient();
    if (budget) {
      await refuseBudgetChange(client, workflowId, input.budget).catch((err) => {
        throw err instanceof BudgetConflict ? new UsageError(err.message) : err;
      });
    }
    const started = await startSearch(client, workflowId, input);
    const link = uiLink(workflowId);
    if (started.kind === 'finished') {
      console.log(
        `search ${workflowId} already finished (${started.status}); use \`vibeserve status ${workflowId}\`, or --name to start a new one`,
      );
      console.log(`Temporal UI: ${link}`);
      return 0;
    }
    console.log(
      `${started.kind === 'started' ? 'started' : 'attached to running'} search ${workflowId} on ${input.options.runtimeQueue}`,
    );
    console.log(`Temporal UI: ${link}`);
    if (!values.watch) {
      console.log(`follow it with: vibeserve watch ${workflowId}`);
      return 0;
    }
    return watchSearch(workflowId, 1000, false);
  },
};
