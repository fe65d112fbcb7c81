// The leaderboard: accepted candidates, best first, at most a fixed number of them. Which way is
// better follows from the objective's name: latencies (`*_ms`) are lower-is-better.
import type { CandidateResult } from '../searchTypes.js';

export function higherIsBetter(objective: string): boolean {
  return !objective.endsWith('_ms');
}

/** The board with `r` placed after every candidate at least as good (an earlier one keeps a tie), cut to `size`. */
export function withCandidate(
  board: CandidateResult[],
  r: CandidateResult & { objective: number },
  size: number,
  higher: boolean,
): CandidateResult[] {
  const better = (a: number, b: number) => (higher ? a > b : a < b);
  const at = board.findIndex((x) => better(r.objective, x.objective!));
  const next = [...board];
  next.splice(at === -1 ? next.length : at, 0, r);
  return next.slice(0, size);
}
