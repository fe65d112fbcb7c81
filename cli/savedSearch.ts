// What `vibeserve status` shows when the search's control worker is not asked: the search.json the
// search writes after every round and at its end (docs/boundary.md), and the Temporal server's
// search attributes. A finished search is read from its file alone: no server, worker or query.
import { readJsonIfExists, searchJsonPath } from '../lib/artifactStore.js';
import type { CandidateResult, FinalRound, RoundSummary, SearchStatus } from '../lib/searchTypes.js';
import { leaderboardLines } from './leaderboardText.js';

export interface SavedSearch {
  searchId: string;
  scenario: { name: string; objective: string };
  scenarioFile: string | null;
  status: SearchStatus;
  failure: string | null;
  rounds: RoundSummary[];
  leaderboard: CandidateResult[];
  finalRound?: FinalRound | null;
  rejected: CandidateResult[];
  startedAt: string;
  finishedAt: string | null;
}

/** What the server's search attributes say about a search (also without its worker). */
export interface SearchAttributesView {
  workflowStatus: string;
  status?: string;
  round?: number;
  bestMetric?: number;
}

const FINISHED: SearchStatus[] = ['done', 'stopped', 'failed'];

export function readSavedSearch(searchId: string): SavedSearch | null {
  return readJsonIfExists<SavedSearch>(searchJsonPath(searchId));
}

export function isFinished(saved: SavedSearch): boolean {
  return FINISHED.includes(saved.status) && saved.finishedAt !== null;
}

export function savedSearchLines(
  id: string,
  saved: SavedSearch | null,
  attrs: SearchAttributesView | null,
  note?: string,
): string[] {
  const lines: string[] = [];
  const status = saved && isFinished(saved) ? saved.status : (attrs?.status ?? saved?.status ?? 'unknown');
  const workflow = attrs ? `, workflow ${attrs.workflowStatus.toLowerCase()}` : '';
  lines.push(`${id} (${status}${workflow}) — from ${saved ? searchJsonPath(id) : "the server's search attributes"}`);
  if (note) lines.push(note);
  if (saved) {
    const accepted = saved.rounds.reduce((n, r) => n + r.accepted, 0);
    const rejected = saved.rounds.reduce((n, r) => n + r.rejected, 0);
    const best = saved.leaderboard[0];
    const when = saved.finishedAt ? `finished ${saved.finishedAt}` : `saved after round ${saved.rounds.length}`;
    lines.push(
      `${saved.rounds.length} round(s), ${accepted + rejected} candidates (${accepted} accepted, ${rejected} rejected); ${when}`,
    );
    if (best) lines.push(`best ${best.candidateId}: ${best.objective?.toFixed(3)} ${saved.scenario.objective}`);
    if (saved.failure) lines.push(`failure: ${saved.failure}`);
    lines.push(...leaderboardLines(saved, saved.scenario.objective));
    if (saved.rejected.length) lines.push('rejected:');
    for (const c of saved.rejected.slice(-10))
      lines.push(`  ${c.candidateId}  ${c.reason}: ${c.message ?? ''}`.slice(0, 160));
  } else if (attrs) {
    lines.push(
      `round ${attrs.round ?? 0}${attrs.bestMetric !== undefined ? `, best ${attrs.bestMetric.toFixed(3)}` : ''}`,
    );
  }
  return lines;
}
