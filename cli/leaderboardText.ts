// The leaderboard as `vibeserve status` prints it: each candidate's objective as the median of its
// repetitions with their range and count, the final round's side-by-side figures, and its ties.
import type { CandidateResult, FinalRound } from '../lib/searchTypes.js';
import { formatSpread } from '../lib/workflowSafe/spread.js';

export interface Board {
  leaderboard: CandidateResult[];
  finalRound?: FinalRound | null;
}

export function leaderboardLines(board: Board, objective: string, limit = 10): string[] {
  const lines = [`leaderboard (${objective}: median (min–max, n) over repetitions):`];
  for (const [i, c] of board.leaderboard.slice(0, limit).entries()) {
    const choices = Object.entries(c.design.choices)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const final = c.remeasured ? `  final ${formatSpread(c.remeasured)}` : '';
    lines.push(`  ${i + 1}. ${c.candidateId}  ${formatSpread(c.spread?.[objective], c.objective)}${final}  ${choices}`);
  }
  const f = board.finalRound;
  if (f?.error) lines.push(`final round: not run (${f.error}); the leaderboard keeps the search's own figures`);
  else if (f) {
    lines.push(
      `final round: ${f.candidates.length} leading candidates re-measured side by side, ${f.passes} interleaved passes each`,
    );
    for (const t of f.ties) lines.push(`  tie: ${t.message}`);
    for (const c of f.candidates) for (const e of c.errors) lines.push(`  ${c.candidateId} ${e}`);
  }
  return lines;
}
