// The outer loop of a search: rounds of plan → CandidateWorkflow children (bounded concurrency)
// → collect → prune → next, within a budget of rounds, candidates and wall time. Everything the
// search must remember lives in CarriedState, which is handed to the next run on continue-as-new.
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import type { ControlActivities, RuntimeActivities } from '../activities/index.js';
import type { PlanOutput } from '../lib/architect/types.js';
import type { CandidateResult, SearchInput, SearchStatus, SearchSummary, SteerRequest } from '../lib/searchTypes.js';
import { benchWorkloadFor } from '../lib/workflowSafe/benchWorkload.js';
import { budgetReached, candidatesToPlan, lostAfterMs, searchOver, wallTimeLeft } from '../lib/workflowSafe/budget.js';
import { devicesOf, queueForDevices } from '../lib/workflowSafe/deviceQueues.js';
import { FAILURE_CANDIDATE, FAILURE_USAGE } from '../lib/workflowSafe/failures.js';
import { rankFinalRound } from '../lib/workflowSafe/finalRanking.js';
import { higherIsBetter as objectiveHigherIsBetter } from '../lib/workflowSafe/leaderboard.js';
import { allRejectedFailure } from '../lib/workflowSafe/rejectionVerdict.js';
import { emptyMemory } from '../lib/workflowSafe/searchMemory.js';
import { searchProgress } from '../lib/workflowSafe/searchProgress.js';
import { freshSearchState, recordReport, resumedState, roundSummary } from '../lib/workflowSafe/searchState.js';
import { candidateDetails, candidateSummary, formatMetric } from '../lib/workflowSafe/uiText.js';
import { candidateWorkflow } from './candidateWorkflow.js';
import {
  candidateReportSignal,
  leaderboardQuery,
  pauseUpdate,
  progressQuery,
  resumeUpdate,
  steerUpdate,
  stopUpdate,
  type ControlAck,
} from './messages.js';
import { bestMetricAttribute, roundAttribute, scenarioAttribute, statusAttribute } from './searchAttributes.js';

const control = proxyActivities<ControlActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '2 minutes',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [FAILURE_USAGE],
  },
});

/** The final round re-measures this many leading candidates side by side, in this many passes each. */
const FINAL_ROUND_CANDIDATES = 3;
const FINAL_ROUND_PASSES = 3;
/** Searches started before the final round existed end without one when their histories replay. */
const FINAL_ROUND_PATCH = 'final-remeasure';
/** Searches started before every-candidate-rejected meant failed replay as done. */
const ALL_REJECTED_PATCH = 'all-rejected-fails';

/** A fresh run always starts below this many events, so continue-as-new cannot loop. */
const MIN_CONTINUE_AS_NEW_EVENTS = 16;

export async function searchWorkflow(input: SearchInput): Promise<SearchSummary> {
  const info = workflowInfo();
  const { scenario, budget, options } = input;
  const higherIsBetter = objectiveHigherIsBetter(scenario.objective);
  const st = input.carried ? resumedState(input.carried) : freshSearchState(Date.now());
  let status: SearchStatus = st.failure ? 'failed' : st.stopRequested ? 'stopping' : st.paused ? 'paused' : 'running';
  let version = 0; // bumped by every message, so the main loop wakes up
  const bump = () => void version++;

  const best = (): CandidateResult | null => st.leaderboard[0] ?? null;
  const timeLeft = () => wallTimeLeft(st, budget, Date.now());
  const outOfBudget = () => budgetReached(st, budget, Date.now());
  const graceMs = lostAfterMs(scenario.search);

  // ---- messages -------------------------------------------------------------------------------
  const absorb = (r: CandidateResult) => {
    if (recordReport(st, r, { objective: scenario.objective, leaderboardSize: options.leaderboardSize })) bump();
  };

  const ack = (message: string): ControlAck => ({ status, message });
  setHandler(candidateReportSignal, absorb);
  setHandler(progressQuery, () => searchProgress(input, st, status, Date.now()));
  setHandler(leaderboardQuery, () => ({
    leaderboard: st.leaderboard,
    rejected: st.rejected,
    finalRound: st.finalRound ?? null,
  }));
  setHandler(
    steerUpdate,
    (req: SteerRequest) => {
      if (req.hint) {
        st.hints.push(req.hint);
        st.newHints.push(req.hint);
      }
      for (const [dim, allowed] of Object.entries(req.constraints ?? {})) st.constraints[dim] = allowed;
      bump();
      return ack(`steering applies from the next plan (round ${st.round + 1})`);
    },
    {
      validator: (req: SteerRequest) => {
        const hasConstraints = req.constraints && Object.keys(req.constraints).length > 0;
        if (!req.hint && !hasConstraints) throw new Error('steer needs a hint or a constraint');
        for (const [dim, allowed] of Object.entries(req.constraints ?? {})) {
          if (!Array.isArray(allowed) || allowed.length === 0 || allowed.some((c) => typeof c !== 'string')) {
            throw new Error(`constraint '${dim}' must list at least one allowed choice`);
          }
        }
      },
    },
  );
  setHandler(pauseUpdate, () => {
    if (st.stopRequested || isFinal(status)) return ack(`search is ${status}; nothing to pause`);
    st.paused = true;
    setStatus('paused');
    bump();
    return ack('paused: running candidates finish, no new ones start until resume');
  });
  setHandler(resumeUpdate, () => {
    if (!st.paused) return ack(`search is ${status}, not paused`);
    st.paused = false;
    if (!st.stopRequested) setStatus('running');
    bump();
    return ack('resumed');
  });
  setHandler(stopUpdate, () => {
    if (isFinal(status)) return ack(`search is already ${status}`);
    st.stopRequested = true;
    st.paused = false;
    st.queue = [];
    setStatus('stopping');
    bump();
    return ack(`stopping: waiting for ${st.pending.length} running candidate(s), then writing results`);
  });

  // ---- internals ------------------------------------------------------------------------------
  function setStatus(s: SearchStatus) {
    status = s;
    upsertSearchAttributes([{ key: statusAttribute, value: s }]);
    showDetails();
  }

  function showDetails() {
    const b = best();
    setCurrentDetails(
      [
        `### ${scenario.name} — ${status}`,
        `Round ${st.round}/${budget.rounds} · candidates ${st.reportedIds.length} done, ${st.pending.length} running, ${st.rejected.length} rejected (budget ${budget.maxCandidates})`,
        b
          ? `Best: **${b.candidateId}** ${scenario.objective} = ${formatMetric(scenario.objective, b.objective)}`
          : 'Best: none yet',
        st.hints.length ? `Hints: ${st.hints.map((h) => `“${h}”`).join('; ')}` : '',
        st.failure ? `Failure: ${st.failure}` : '',
      ]
        .filter(Boolean)
        .join('\n\n'),
    );
  }

  async function writeResults(final: boolean): Promise<string> {
    return control.finalizeSearch.executeWithOptions(
      { summary: final ? 'write final results' : `write results round ${st.round}` },
      [
        {
          searchId: input.searchId,
          workflowId: info.workflowId,
          scenario,
          scenarioFile: input.scenarioFile,
          status,
          rounds: st.rounds,
          leaderboard: st.leaderboard,
          rejected: st.rejected,
          baseline: st.baseline,
          llmUsage: st.memory?.llmUsage ?? null,
          startedAt: st.startedAt,
          finishedAt: final ? Date.now() : null,
          failure: st.failure,
          finalRound: st.finalRound ?? null,
        },
      ],
    );
  }

  /** The leading candidates benchmarked again side by side on one worker; their new figures order
   * them, and two whose spreads overlap tie (lib/workflowSafe/finalRanking.ts). */
  async function finalRound(): Promise<void> {
    const leaders = st.leaderboard.slice(0, FINAL_ROUND_CANDIDATES).filter((c) => c.stackDir);
    if (leaders.length < 2) return; // nothing to compare
    const devices = Math.max(...leaders.map((c) => devicesOf(c.design)));
    const perRun = scenario.search.bench_timeout_s;
    const runtime = proxyActivities<RuntimeActivities>({
      summary: `final round ${leaders.map((c) => c.candidateId).join(', ')}`,
      taskQueue: queueForDevices(options.runtimeQueue, devices),
      startToCloseTimeout: (FINAL_ROUND_PASSES * leaders.length * (perRun + 60) + 120) * 1000,
      heartbeatTimeout: options.heartbeatTimeoutMs,
      retry: {
        initialInterval: '1 second',
        backoffCoefficient: 2,
        maximumInterval: '20 seconds',
        maximumAttempts: 3,
        nonRetryableErrorTypes: [FAILURE_CANDIDATE, FAILURE_USAGE],
      },
    });
    setCurrentDetails(
      `### ${scenario.name} — final round\n\nre-measuring ${leaders.map((c) => c.candidateId).join(', ')} side by side`,
    );
    const rules = {
      metric: scenario.objective,
      higherIsBetter,
      generic: st.baseline?.design ?? null,
      passes: FINAL_ROUND_PASSES,
    };
    try {
      const out = await runtime.remeasure({
        searchId: input.searchId,
        candidates: leaders.map((c) => ({
          candidateId: c.candidateId,
          stackDir: c.stackDir!,
          ...(c.untrusted ? { untrusted: c.untrusted } : {}),
        })),
        device: input.hardware.device,
        devices,
        workload: benchWorkloadFor(scenario),
        objective: scenario.objective,
        passes: FINAL_ROUND_PASSES,
        timeoutS: perRun,
      });
      const measured = new Map(out.candidates.map((c) => [c.candidateId, c]));
      const ranked = rankFinalRound(
        leaders.map((c) => ({
          candidateId: c.candidateId,
          round: c.round,
          design: c.design,
          spread: measured.get(c.candidateId)?.spread ?? null,
          errors: measured.get(c.candidateId)?.errors ?? [],
        })),
        { ...rules, evidenceDir: out.evidenceDir },
      );
      st.finalRound = ranked;
      const byId = new Map(leaders.map((c) => [c.candidateId, c]));
      const reordered = ranked.order.map((id) => {
        const spread = measured.get(id)?.spread;
        return spread ? { ...byId.get(id)!, remeasured: spread } : byId.get(id)!;
      });
      st.leaderboard = [...reordered, ...st.leaderboard.filter((c) => !byId.has(c.candidateId))];
      const leader = st.leaderboard[0];
      if (leader?.objective !== undefined)
        upsertSearchAttributes([{ key: bestMetricAttribute, value: leader.objective }]);
      for (const t of ranked.ties) log.info('final round tie', { message: t.message });
    } catch (err) {
      // The search's own figures stand; search.json says why the final round is missing.
      st.finalRound = {
        metric: scenario.objective,
        passes: FINAL_ROUND_PASSES,
        candidates: [],
        order: [],
        ties: [],
        evidenceDir: '',
        error: rootMessage(err),
      };
      log.warn('final round failed', { error: st.finalRound.error });
    }
  }

  async function planNextRound(): Promise<void> {
    st.round++;
    st.roundClosed = false;
    upsertSearchAttributes([{ key: roundAttribute, value: st.round }]);
    showDetails();
    const count = candidatesToPlan(st, budget, scenario.search.candidates_per_round);
    let out: PlanOutput;
    try {
      out = await control.plan.executeWithOptions({ summary: `plan round ${st.round}` }, [
        {
          scenario,
          round: st.round,
          hardware: input.hardware,
          history: st.newOutcomes,
          memory: st.memory ?? emptyMemory(),
          hints: st.newHints,
          constraints: { ...scenario.constraints, ...st.constraints },
          count,
          budget: { candidatesLeft: budget.maxCandidates - st.startedCount, roundsLeft: budget.rounds - st.round + 1 },
          seed: scenario.model.seed * 100_003 + st.round,
          architect: scenario.search.architect,
          builder: scenario.search.builder,
          llm: input.llm,
        },
      ]);
    } catch (err) {
      // The architect could not plan even after retries: keep everything found so far and end.
      st.failure = `planning round ${st.round} failed: ${rootMessage(err)}`;
      st.exhausted = true;
      log.error('plan failed', { error: st.failure });
      return;
    }
    st.memory = out.memory;
    st.newOutcomes = [];
    st.newHints = [];
    const designs = out.designs.slice(0, count);
    if (designs.length === 0) st.exhausted = true; // the architect has nothing new to try
    st.queue = designs.map((design, i) => ({ candidateId: `r${st.round}-c${i}`, design }));
  }

  async function startNextCandidate(): Promise<void> {
    const next = st.queue.shift()!;
    const workflowId = `${info.workflowId}.${next.candidateId}`;
    st.pending.push({ candidateId: next.candidateId, workflowId, round: st.round, startedAt: Date.now() });
    st.startedCount++;
    try {
      const handle = await startChild(candidateWorkflow, {
        workflowId,
        taskQueue: options.controlQueue,
        staticSummary: candidateSummary(next.candidateId, next.design),
        staticDetails: candidateDetails(next.candidateId, st.round, next.design),
        args: [
          {
            searchId: input.searchId,
            parentWorkflowId: info.workflowId,
            candidateId: next.candidateId,
            round: st.round,
            design: next.design,
            scenario,
            hardware: input.hardware,
            runtimeQueue: options.runtimeQueue,
            heartbeatTimeoutMs: options.heartbeatTimeoutMs,
            llm: input.llm,
          },
        ],
        // Candidates outlive a continue-as-new of the search; they report by signal to its id.
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      });
      // Within this run the result also arrives directly; absorb() ignores the duplicate.
      handle
        .result()
        .then(absorb, (err) => absorb(lostCandidate(next, `candidate workflow failed: ${rootMessage(err)}`)));
    } catch (err) {
      absorb(lostCandidate(next, `candidate could not start: ${rootMessage(err)}`));
    }
  }

  function lostCandidate(
    c: { candidateId: string; design: CandidateResult['design'] },
    message: string,
  ): CandidateResult {
    const round = st.pending.find((p) => p.candidateId === c.candidateId)?.round ?? st.round;
    return {
      candidateId: c.candidateId,
      round,
      design: c.design,
      status: 'rejected',
      reason: 'candidate_workflow_failed',
      message,
    };
  }

  function closeRound() {
    st.roundClosed = true;
    st.rounds.push(roundSummary(st));
    const b = best();
    if (b?.objective !== undefined) upsertSearchAttributes([{ key: bestMetricAttribute, value: b.objective }]);
    showDetails();
  }

  function historyTooLong(): boolean {
    const now = workflowInfo();
    return (
      now.continueAsNewSuggested ||
      now.historyLength >= Math.max(options.continueAsNewAfterEvents, MIN_CONTINUE_AS_NEW_EVENTS)
    );
  }

  async function continueAsNewIfLong(): Promise<void> {
    if (!historyTooLong()) return;
    await condition(allHandlersFinished);
    log.info('continuing as new', {
      runIndex: st.runIndex + 1,
      pending: st.pending.length,
      historyLength: workflowInfo().historyLength,
    });
    await continueAsNew<typeof searchWorkflow>({ ...input, carried: { ...st, runIndex: st.runIndex + 1 } });
  }

  // ---- the loop -------------------------------------------------------------------------------
  upsertSearchAttributes([
    { key: scenarioAttribute, value: scenario.name },
    { key: statusAttribute, value: status },
    { key: roundAttribute, value: st.round },
  ]);
  showDetails();

  while (true) {
    const roundIdle = st.queue.length === 0 && st.pending.length === 0;
    if (roundIdle) {
      if (st.round > 0 && !st.roundClosed) {
        closeRound();
        await writeResults(false);
      }
      if (searchOver(st, budget, Date.now())) break;
      if (st.paused) {
        await condition(() => !st.paused || st.stopRequested);
        continue;
      }
      await continueAsNewIfLong();
      await planNextRound();
      continue;
    }

    if (st.stopRequested || outOfBudget()) st.queue = []; // what has not started will not start
    while (!st.paused && st.queue.length > 0 && st.pending.length < scenario.search.concurrency) {
      await startNextCandidate();
    }
    await continueAsNewIfLong();

    const seen = version;
    const canStart = () => !st.paused && st.queue.length > 0 && st.pending.length < scenario.search.concurrency;
    const wakeIn = timeLeft() > 0 ? timeLeft() : graceMs + timeLeft();
    const woke = await condition(() => version !== seen || canStart(), Math.max(wakeIn, 1000));
    if (!woke && timeLeft() <= -graceMs) {
      // Far past the wall-time budget and the candidates' own time limits: they are not coming back.
      for (const p of [...st.pending]) {
        absorb({
          candidateId: p.candidateId,
          round: p.round,
          design: { id: p.candidateId, choices: {}, params: {}, builder: 'template' },
          status: 'rejected',
          reason: 'lost',
          message: 'no report within the time limits',
        });
      }
    }
  }

  if (!st.failure && !st.stopRequested && patched(FINAL_ROUND_PATCH)) await finalRound();
  // Every candidate rejected for one reason (an unknown model preset: all bad_spec) is the search's
  // failure, not a result (lib/workflowSafe/rejectionVerdict.ts).
  const allRejected = st.failure || st.stopRequested ? null : allRejectedFailure(st);
  if (allRejected && patched(ALL_REJECTED_PATCH)) st.failure = allRejected;
  const finalStatus: SearchStatus = st.failure ? 'failed' : st.stopRequested ? 'stopped' : 'done';
  setStatus(finalStatus);
  const searchJson = await writeResults(true);
  await condition(allHandlersFinished);
  return {
    searchId: input.searchId,
    status: finalStatus,
    rounds: st.round,
    candidates: st.reportedIds.length,
    accepted: st.acceptedCount,
    rejected: st.reportedIds.length - st.acceptedCount,
    best: best(),
    failure: st.failure,
    searchJson,
  };
}

function isFinal(s: SearchStatus): boolean {
  return s === 'done' || s === 'stopped' || s === 'failed';
}

function rootMessage(err: unknown): string {
  let e: unknown = err;
  while (e && typeof e === 'object' && 'cause' in e && (e as { cause?: unknown }).cause)
    e = (e as { cause: unknown }).cause;
  return e instanceof Error ? e.message : String(e);
}
