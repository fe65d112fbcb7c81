// The answer to the search's progress query (`vibeserve watch`, `status`), derived from its state.
import type { CarriedState, SearchInput, SearchProgress, SearchStatus } from '../searchTypes.js';

export function searchProgress(
  input: Pick<SearchInput, 'searchId' | 'scenario' | 'budget'>,
  st: CarriedState,
  status: SearchStatus,
  now: number,
): SearchProgress {
  const best = st.leaderboard[0];
  const done = st.reportedIds.length;
  return {
    searchId: input.searchId,
    scenario: input.scenario.name,
    objective: input.scenario.objective,
    status,
    round: st.round,
    budget: input.budget,
    concurrency: input.scenario.search.concurrency,
    candidates: {
      started: st.startedCount,
      done,
      running: st.pending.length,
      accepted: st.acceptedCount,
      rejected: done - st.acceptedCount,
      queued: st.queue.length,
    },
    best: best ? { candidateId: best.candidateId, objective: best.objective! } : null,
    startedAt: st.startedAt,
    now,
    meanCandidateMs: done > 0 ? st.totalCandidateMs / done : null,
    runIndex: st.runIndex,
    hints: st.hints,
    constraints: st.constraints,
    details: `round ${st.round}, ${st.pending.length} running`,
    failure: st.failure,
  };
}
