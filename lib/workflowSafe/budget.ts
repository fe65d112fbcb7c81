// What a search's budget (rounds, candidates, wall time) still allows. `now` is the caller's clock:
// workflow time in the search workflow, so replays decide the same.
import type { Scenario } from '../scenario.js';
import type { CarriedState, SearchBudget } from '../searchTypes.js';

type BudgetState = Pick<CarriedState, 'startedAt' | 'startedCount'>;

export function wallTimeLeft(st: BudgetState, budget: SearchBudget, now: number): number {
  return st.startedAt + budget.wallTimeMs - now;
}

/** No new candidate may start: the candidate budget is spent or the wall time is up. */
export function budgetReached(st: BudgetState, budget: SearchBudget, now: number): boolean {
  return st.startedCount >= budget.maxCandidates || wallTimeLeft(st, budget, now) <= 0;
}

/** No round follows: stopped, the architect has nothing new, the rounds are done, or the budget is spent. */
export function searchOver(
  st: BudgetState & Pick<CarriedState, 'stopRequested' | 'exhausted' | 'round'>,
  budget: SearchBudget,
  now: number,
): boolean {
  return st.stopRequested || st.exhausted || st.round >= budget.rounds || budgetReached(st, budget, now);
}

/** How many designs the next round asks for: a full round, or what is left of the candidate budget. */
export function candidatesToPlan(st: BudgetState, budget: SearchBudget, perRound: number): number {
  return Math.min(perRound, budget.maxCandidates - st.startedCount);
}

/** Grace after the wall-time budget before a silent candidate counts as lost: its own time limits, and some. */
export function lostAfterMs(search: Pick<Scenario['search'], 'check_timeout_s' | 'bench_timeout_s'>): number {
  return (search.check_timeout_s + search.bench_timeout_s) * 1000 + 10 * 60_000;
}
