// Turning a scenario into a running search: the workflow id, the input, and the start call that
// attaches to a running search of the same id instead of starting a second one.
import {
  WorkflowExecutionAlreadyStartedError,
  type Client,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import type { HardwareTarget, LlmSettings } from './architect/types.js';
import { objectiveIsMinimized, runtimeQueueFor, type HardwareKind, type Scenario } from './scenario.js';
import type { SearchBudget, SearchInput, SearchOptions } from './searchTypes.js';
import { CONTROL_QUEUE } from './temporalConnection.js';
import { formatNumber } from './workflowSafe/uiText.js';
import { progressQuery } from '../workflows/messages.js';
import type { searchWorkflow } from '../workflows/searchWorkflow.js';
import {
  bestMetricAttribute,
  roundAttribute,
  scenarioAttribute,
  statusAttribute,
} from '../workflows/searchAttributes.js';

export const NAME_PATTERN = /^[a-z0-9][a-z0-9-]*$/;

export function searchWorkflowId(scenarioName: string, name: string): string {
  if (!NAME_PATTERN.test(name))
    throw new Error(`--name '${name}' must match [a-z0-9-]+ (it becomes part of the workflow id)`);
  return `vibeserve-${scenarioName}-${name}`;
}

/** Compute capability by GPU kind, for the architect's hardware constraints (fp8 needs ≥ 8.9). */
const KNOWN_COMPUTE_CAPABILITY: Record<string, number> = { h100: 9.0, h200: 9.0, a100: 8.0, l4: 8.9, 'rtx-4090': 8.9 };

export function hardwareTargetFor(kind: Exclude<HardwareKind, 'any'> | string, gpus: number): HardwareTarget {
  // on CPU, hardware.gpus > 1 lets a candidate span that many processes (tensor parallel over gloo)
  if (kind === 'cpu') return { kind: 'cpu', device: 'cpu', gpuCount: 0, ...(gpus > 1 ? { devices: gpus } : {}) };
  return { kind, device: 'cuda', gpuCount: gpus, computeCapability: KNOWN_COMPUTE_CAPABILITY[kind] };
}

export interface BudgetOverrides {
  rounds?: number;
  candidates?: number;
  minutes?: number;
}

/** Parses `--budget rounds=2,candidates=6,minutes=30` (any subset); rounds and candidates are
 * whole numbers, minutes may have a fraction. */
export function parseBudget(text: string): BudgetOverrides {
  const out: BudgetOverrides = {};
  for (const part of text.split(',').filter(Boolean)) {
    const eq = part.indexOf('=');
    const k = part.slice(0, eq);
    const v = part.slice(eq + 1).trim();
    const n = v === '' ? NaN : Number(v);
    if (eq <= 0 || !['rounds', 'candidates', 'minutes'].includes(k) || !Number.isFinite(n) || n <= 0) {
      throw new Error(`--budget '${part}' is not understood; use rounds=N,candidates=N,minutes=N`);
    }
    if (k !== 'minutes' && !Number.isInteger(n)) throw new Error(`--budget '${part}': ${k} must be a whole number`);
    out[k as keyof BudgetOverrides] = n;
  }
  return out;
}

export function formatBudget(b: SearchBudget): string {
  return `rounds=${b.rounds},candidates=${b.maxCandidates},minutes=${+(b.wallTimeMs / 60_000).toFixed(3)}`;
}

/** A --budget that differs from the running search's: a running search's budget cannot change. */
export class BudgetConflict extends Error {}

/** Refuses a --budget that differs from the budget of the running search of this id (if one runs). */
export async function refuseBudgetChange(
  client: Client,
  workflowId: string,
  wanted: SearchBudget,
  timeoutMs = 15_000,
): Promise<void> {
  const handle = client.workflow.getHandle<typeof searchWorkflow>(workflowId);
  const running = await handle.describe().then(
    (d) => d.status.name === 'RUNNING',
    () => false,
  );
  if (!running) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('no answer')), timeoutMs);
  });
  const has = await Promise.race([handle.query(progressQuery), timeout])
    .catch((err: Error) => {
      throw new BudgetConflict(
        `search ${workflowId} is running and its budget cannot be read (${err.message}; is the control worker up? \`vibeserve up\`), so --budget cannot be checked against it; run again without --budget to attach`,
      );
    })
    .finally(() => clearTimeout(timer));
  const now = formatBudget(has.budget);
  const asked = formatBudget(wanted);
  if (now !== asked) {
    throw new BudgetConflict(
      `search ${workflowId} is already running with budget ${now}; --budget asks ${asked}. A running search's budget cannot change: ` +
        `run again without --budget to attach, or \`vibeserve stop ${workflowId}\` and start a new search with --name`,
    );
  }
}

export interface SearchRequest {
  scenario: Scenario;
  scenarioFile?: string;
  name: string;
  budget?: BudgetOverrides;
  /** The hardware kind that runs it (resolves scenario kind 'any'). */
  hardwareKind?: string;
  llm?: LlmSettings;
  options?: Partial<SearchOptions>;
}

export function buildSearchInput(req: SearchRequest): { workflowId: string; input: SearchInput } {
  const s = req.scenario;
  const kind = req.hardwareKind ?? (s.hardware.kind === 'any' ? 'cpu' : s.hardware.kind);
  const scenario: Scenario = req.llm ? { ...s, search: { ...s.search, architect: 'llm' } } : s;
  const workflowId = searchWorkflowId(s.name, req.name);
  const rounds = req.budget?.rounds ?? s.search.rounds;
  return {
    workflowId,
    input: {
      searchId: workflowId,
      scenario: { ...scenario, search: { ...scenario.search, rounds } },
      scenarioFile: req.scenarioFile,
      hardware: hardwareTargetFor(kind, s.hardware.gpus),
      budget: {
        rounds,
        maxCandidates: req.budget?.candidates ?? s.search.max_candidates,
        wallTimeMs: (req.budget?.minutes ?? s.search.wall_time_minutes) * 60_000,
      },
      options: {
        continueAsNewAfterEvents: 2_000,
        leaderboardSize: 100,
        controlQueue: process.env.VIBESERVE_CONTROL_QUEUE || CONTROL_QUEUE,
        runtimeQueue: runtimeQueueFor(kind as Exclude<HardwareKind, 'any'>),
        heartbeatTimeoutMs: 10_000,
        ...req.options,
      },
      llm: req.llm,
    },
  };
}

export type SearchStart =
  | { kind: 'started'; handle: WorkflowHandleWithFirstExecutionRunId<typeof searchWorkflow> }
  | { kind: 'attached'; handle: WorkflowHandleWithFirstExecutionRunId<typeof searchWorkflow> }
  | { kind: 'finished'; handle: WorkflowHandle<typeof searchWorkflow>; status: string };

export async function startSearch(client: Client, workflowId: string, input: SearchInput): Promise<SearchStart> {
  const existing = client.workflow.getHandle<typeof searchWorkflow>(workflowId);
  const running = await existing.describe().then(
    (d) => d.status.name === 'RUNNING',
    () => false,
  );
  try {
    const handle = await client.workflow.start<typeof searchWorkflow>('searchWorkflow', {
      workflowId,
      taskQueue: input.options.controlQueue,
      args: [input],
      // A second `vibeserve search` of the same scenario and name attaches to the running search.
      workflowIdConflictPolicy: 'USE_EXISTING',
      // A finished search keeps its id (and its artifacts); a new run needs a new --name.
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      staticSummary: searchSummaryLine(input),
      staticDetails: searchDetails(input),
      // `vibeserve list` reads the objective here to name the best metric's unit.
      memo: { objective: input.scenario.objective },
      typedSearchAttributes: [
        { key: scenarioAttribute, value: input.scenario.name },
        { key: statusAttribute, value: 'running' },
        { key: roundAttribute, value: 0 },
      ],
    });
    return { kind: running ? 'attached' : 'started', handle };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      const d = await existing.describe();
      const status = d.typedSearchAttributes.get(statusAttribute) ?? d.status.name.toLowerCase();
      return { kind: 'finished', handle: existing, status };
    }
    throw err;
  }
}

/** The search's one line in the Temporal UI: "cpu-demo search (output_throughput)". */
export function searchSummaryLine(input: SearchInput): string {
  return `${input.scenario.name} search (${input.scenario.objective})`;
}

/** The search's static details in the Temporal UI: model, hardware and budget. */
export function searchDetails(input: SearchInput): string {
  const { scenario, hardware, budget } = input;
  const gpus = hardware.gpuCount > 0 ? ` × ${hardware.gpuCount}` : '';
  const direction = objectiveIsMinimized(scenario.objective) ? 'minimise' : 'maximise';
  const model = `${[scenario.model.arch, scenario.model.preset].filter(Boolean).join(' ')} (${scenario.model.weights} weights, ${scenario.model.dtype})`;
  return [
    `**${scenario.name}**: ${direction} ${scenario.objective}`,
    `Model: ${model} · hardware ${hardware.kind}${gpus}`,
    `Budget: ${budget.rounds} rounds, ${budget.maxCandidates} candidates, ${formatNumber(budget.wallTimeMs / 60_000)} min`,
  ].join('\n\n');
}

export { bestMetricAttribute, roundAttribute, scenarioAttribute, statusAttribute };
