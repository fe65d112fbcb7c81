// One candidate: build (control queue) → verify (runtime queue) → benchmark (runtime queue).
// Infrastructure failures are retried by the activities' retry policy; a candidate's own failure
// ends here as a rejected CandidateResult with its reason — never as a failed search. Code an LLM
// wrote is untrusted: its verify and benchmark run in the sandbox.
import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type { ControlActivities, RuntimeActivities } from '../activities/index.js';
import { benchWorkloadFor } from '../lib/workflowSafe/benchWorkload.js';
import { devicesOf, queueForDevices } from '../lib/workflowSafe/deviceQueues.js';
import { FAILURE_CANDIDATE, FAILURE_USAGE, type RejectionDetails } from '../lib/workflowSafe/failures.js';
import type { BuildInput, BuildOutput, CandidateInput, CandidateResult } from '../lib/searchTypes.js';
import { formatMetric } from '../lib/workflowSafe/uiText.js';
import { llmBuilderWorkflow } from './llmBuilderWorkflow.js';
import { candidateReportSignal } from './messages.js';

const retry = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '20 seconds',
  maximumAttempts: 6,
  nonRetryableErrorTypes: [FAILURE_CANDIDATE, FAILURE_USAGE],
};

const control = proxyActivities<ControlActivities>({
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '2 minutes',
  retry,
});

/** `summary` names the stage and candidate in the UI's event history. */
function runtimeActivities(input: CandidateInput, timeoutS: number, summary: string) {
  return proxyActivities<RuntimeActivities>({
    summary,
    // a tensor-parallel candidate waits on the queue of hosts with enough devices of the kind
    taskQueue: queueForDevices(input.runtimeQueue, devicesOf(input.design)),
    // The verb's own limit plus room for process start-up; the heartbeat notices a dead worker.
    startToCloseTimeout: (timeoutS + 120) * 1000,
    heartbeatTimeout: input.heartbeatTimeoutMs,
    retry,
  });
}

class Rejection extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly stage: string,
  ) {
    super(message);
  }
}

export async function candidateWorkflow(input: CandidateInput): Promise<CandidateResult> {
  const started = Date.now();
  const base = { candidateId: input.candidateId, round: input.round, design: input.design };
  const device = input.hardware.device;
  let stage = 'build';
  const show = (s: string) =>
    setCurrentDetails(`**${input.candidateId}** (round ${input.round}) — ${s}\n\n${describeDesign(input)}`);
  // Wall time per stage from this workflow's clock (activity queueing and retries included): what a
  // search's candidates per hour are made of.
  const stageMs: Record<string, number> = {};
  let stageStarted = started;
  const endStage = () => {
    const now = Date.now();
    stageMs[stage] = now - stageStarted;
    stageStarted = now;
  };
  const enter = (s: string) => {
    if (s !== stage) endStage();
    stage = s;
    show(s);
  };
  let result: CandidateResult;
  try {
    enter('build');
    const built = await buildStage(input);
    const untrusted = input.design.builder === 'llm' ? built.untrusted : undefined;
    if (input.design.builder === 'llm' && !untrusted) {
      // Never run LLM-written code outside the sandbox, even if a builder forgot to say where it lives.
      throw new Rejection('build_failed', 'the LLM builder returned no workspace to sandbox the stack in', 'build');
    }

    enter('verify');
    const verify = runtimeActivities(
      input,
      input.scenario.search.check_timeout_s,
      `verify ${input.candidateId}`,
    ).verify;
    const checked = await verify({
      searchId: input.searchId,
      candidateId: input.candidateId,
      stackDir: built.stackDir,
      device,
      devices: devicesOf(input.design),
      timeoutS: input.scenario.search.check_timeout_s,
      checksPerDevice: input.scenario.search.checks_per_device,
      ...(untrusted ? { untrusted } : {}),
    });

    enter('benchmark');
    const benchmark = runtimeActivities(
      input,
      input.scenario.search.bench_timeout_s,
      `benchmark ${input.candidateId}`,
    ).benchmark;
    const bench = await benchmark({
      searchId: input.searchId,
      candidateId: input.candidateId,
      stackDir: built.stackDir,
      device,
      devices: devicesOf(input.design),
      workload: benchWorkloadFor(input.scenario),
      objective: input.scenario.objective,
      timeoutS: input.scenario.search.bench_timeout_s,
      ...(untrusted ? { untrusted } : {}),
    });
    if (bench.objective === null) {
      throw new Rejection('missing_metric', `the benchmark reported no '${input.scenario.objective}'`, 'benchmark');
    }
    result = {
      ...base,
      status: 'accepted',
      metrics: bench.metrics,
      objective: bench.objective,
      ...(bench.spread && Object.keys(bench.spread).length ? { spread: bench.spread } : {}),
      checkPath: checked.checkPath,
      benchPath: bench.benchPath,
      stackDir: built.stackDir,
      ...(untrusted ? { untrusted } : {}),
    };
  } catch (err) {
    if (isCancellation(err)) throw err;
    result = { ...base, status: 'rejected', ...rejectionOf(err, stage) };
    log.info('candidate rejected', { candidateId: input.candidateId, reason: result.reason, stage });
  }
  endStage();
  // Same clock as durationMs (Temporal's workflow time, so replay yields the same values): the
  // report's timeline places each candidate at the moment its pipeline ended.
  const finished = Date.now();
  result.stageMs = stageMs;
  result.durationMs = finished - started;
  result.finishedAt = new Date(finished).toISOString();
  show(
    result.status === 'accepted'
      ? `accepted: ${input.scenario.objective} = ${formatMetric(input.scenario.objective, result.objective)}`
      : `rejected (${result.reason})`,
  );
  await reportToSearch(input.parentWorkflowId, result);
  return result;
}

/** Template designs are built by an activity; LLM-built designs by the LLM builder workflow, a
 * child of its own so each LLM call is an activity and a crash resumes mid-conversation. */
async function buildStage(input: CandidateInput): Promise<BuildOutput> {
  const buildInput: BuildInput = {
    searchId: input.searchId,
    candidateId: input.candidateId,
    design: input.design,
    scenario: input.scenario,
    hardware: input.hardware,
  };
  if (input.design.builder === 'llm') {
    return executeChild(llmBuilderWorkflow, {
      workflowId: `${workflowInfo().workflowId}.llm-build`,
      staticSummary: `LLM build ${input.candidateId}${input.design.llmTask ? ` · ${input.design.llmTask.dimension}` : ''}`,
      args: [{ ...buildInput, llm: input.llm, runtimeQueue: input.runtimeQueue }],
    });
  }
  // executeWithOptions merges the summary into the proxy's options, so the UI names the candidate.
  return control.build.executeWithOptions({ summary: `build ${input.candidateId}` }, [buildInput]);
}

function rejectionOf(err: unknown, stage: string): Pick<CandidateResult, 'reason' | 'message' | 'stage'> {
  if (err instanceof Rejection) return { reason: err.reason, message: err.message, stage: err.stage };
  let cause: unknown = err;
  while (cause instanceof ActivityFailure || cause instanceof ChildWorkflowFailure) cause = cause.cause;
  if (cause instanceof ApplicationFailure) {
    const d = cause.details?.[0] as Partial<RejectionDetails> | undefined;
    if (cause.type === FAILURE_CANDIDATE || cause.type === FAILURE_USAGE) {
      return { reason: d?.reason ?? 'candidate_error', message: d?.message ?? cause.message, stage: d?.stage ?? stage };
    }
    // Retries exhausted on an infrastructure error: the candidate is not proven bad, but the search
    // must go on; the reason says so.
    return { reason: 'infrastructure_error', message: cause.message, stage };
  }
  if (cause instanceof TimeoutFailure) {
    return {
      reason: 'infrastructure_timeout',
      message: `${stage} timed out (${cause.timeoutType}) after all retries`,
      stage,
    };
  }
  return { reason: 'infrastructure_error', message: err instanceof Error ? err.message : String(err), stage };
}

async function reportToSearch(parentWorkflowId: string, result: CandidateResult): Promise<void> {
  try {
    await getExternalWorkflowHandle(parentWorkflowId).signal(candidateReportSignal, result);
  } catch (err) {
    // The search has already closed (stopped or finished); the result is still this workflow's.
    log.warn('search did not take the report', { parentWorkflowId, error: String(err) });
  }
}

function describeDesign(input: CandidateInput): string {
  const choices = Object.entries(input.design.choices)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return `${choices}${input.design.hypothesis ? `\n\nHypothesis: ${input.design.hypothesis}` : ''}`;
}
