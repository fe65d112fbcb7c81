// The search workflow's state as plain data, and the rules that change it: a fresh or resumed
// state, a candidate's report counted once, a round's summary. All of it is CarriedState, which
// continue-as-new hands whole to the next run.
import type { CandidateOutcome } from '../architect/types.js';
import type { CandidateResult, CarriedState, RoundSummary } from '../searchTypes.js';
import { higherIsBetter, withCandidate } from './leaderboard.js';

/** Rejections kept in workflow state; older ones remain in search.json and the artifact store. */
export const MAX_REJECTED_KEPT = 500;

export function freshSearchState(startedAt: number): CarriedState {
  return {
    startedAt,
    round: 0,
    queue: [],
    pending: [],
    leaderboard: [],
    rejected: [],
    reportedIds: [],
    acceptedCount: 0,
    startedCount: 0,
    totalCandidateMs: 0,
    rounds: [],
    memory: null,
    hints: [],
    constraints: {},
    paused: false,
    stopRequested: false,
    baseline: null,
    runIndex: 0,
    failure: null,
    rejectedByReason: {},
    newOutcomes: [],
    newHints: [],
    roundClosed: true,
    exhausted: false,
  };
}

/** Carried state as workers wrote it before the rejection tally existed. */
type OlderCarriedState = Omit<CarriedState, 'rejectedByReason'> & { rejectedByReason?: Record<string, number> };

/** The state a run continues from; a tally an older run did not carry is rebuilt from the rejections it kept. */
export function resumedState(carried: OlderCarriedState): CarriedState {
  if (carried.rejectedByReason) return carried as CarriedState;
  const rejectedByReason: Record<string, number> = {};
  for (const r of carried.rejected) rejectedByReason[reasonOf(r)] = (rejectedByReason[reasonOf(r)] ?? 0) + 1;
  return { ...carried, rejectedByReason };
}

/** The tag a rejection is tallied under. */
export function reasonOf(r: Pick<CandidateResult, 'reason'>): string {
  return r.reason ?? 'unknown';
}

/**
 * Counts a candidate's report into the state, once: within a run it arrives both by signal and as
 * the child's result. Returns false for a report already counted.
 */
export function recordReport(
  st: CarriedState,
  r: CandidateResult,
  rules: { objective: string; leaderboardSize: number },
): boolean {
  if (st.reportedIds.includes(r.candidateId)) return false;
  st.reportedIds.push(r.candidateId);
  st.pending = st.pending.filter((p) => p.candidateId !== r.candidateId);
  st.totalCandidateMs += r.durationMs ?? 0;
  if (r.design.origin === 'default') st.baseline = r;
  if (r.status === 'accepted' && typeof r.objective === 'number') {
    st.acceptedCount++;
    st.leaderboard = withCandidate(
      st.leaderboard,
      { ...r, objective: r.objective },
      rules.leaderboardSize,
      higherIsBetter(rules.objective),
    );
  } else {
    st.rejected.push({ ...r, status: 'rejected', metrics: undefined, untrusted: undefined });
    if (st.rejected.length > MAX_REJECTED_KEPT) st.rejected.shift();
    st.rejectedByReason[reasonOf(r)] = (st.rejectedByReason[reasonOf(r)] ?? 0) + 1;
  }
  st.newOutcomes.push(outcomeOf(r));
  return true;
}

/** The round's line in search.json: the best so far, and how many of the round's candidates were accepted and rejected. */
export function roundSummary(st: CarriedState): RoundSummary {
  const inRound = [...st.leaderboard, ...st.rejected].filter((r) => r.round === st.round);
  const best = st.leaderboard[0];
  return {
    round: st.round,
    best: best?.objective ?? null,
    bestCandidateId: best?.candidateId ?? null,
    accepted: inRound.filter((r) => r.status === 'accepted').length,
    rejected: inRound.filter((r) => r.status === 'rejected').length,
  };
}

/** What the architect learns from a report (numbers only: the metrics' text fields stay in the artifacts). */
function outcomeOf(r: CandidateResult): CandidateOutcome {
  return {
    designId: r.design.id,
    design: r.design,
    status: r.status,
    reason: r.reason,
    metrics: numericMetrics(r.metrics),
    objective: r.objective,
    round: r.round,
  };
}

function numericMetrics(m: CandidateResult['metrics']): Record<string, number> | undefined {
  if (!m) return undefined;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) if (typeof v === 'number') out[k] = v;
  return out;
}
