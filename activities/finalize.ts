// Finalize: write <artifacts>/<searchId>/search.json (docs/boundary.md). Called after every round
// (so a report can be made while the search runs) and once more when the search ends.
import { Context } from '@temporalio/activity';
import { searchJsonPath, writeJsonAtomic } from '../lib/artifactStore.js';
import type { LlmUsage } from '../lib/architect/types.js';
import type { Scenario } from '../lib/scenario.js';
import type { CandidateResult, FinalRound, RoundSummary, SearchStatus } from '../lib/searchTypes.js';

export interface FinalizeInput {
  searchId: string;
  workflowId: string;
  scenario: Scenario;
  scenarioFile?: string;
  status: SearchStatus;
  rounds: RoundSummary[];
  leaderboard: CandidateResult[];
  rejected: CandidateResult[];
  baseline: CandidateResult | null;
  llmUsage: LlmUsage | null;
  startedAt: number;
  finishedAt: number | null;
  failure: string | null;
  /** The leading candidates re-measured side by side, and the ties found (absent before it ran). */
  finalRound?: FinalRound | null;
}

export async function finalizeSearch(input: FinalizeInput): Promise<string> {
  Context.current().heartbeat({ stage: 'finalize' });
  const file = searchJsonPath(input.searchId);
  writeJsonAtomic(file, {
    searchId: input.searchId,
    workflowId: input.workflowId,
    scenario: input.scenario,
    scenarioFile: input.scenarioFile ?? null,
    status: input.status,
    failure: input.failure,
    rounds: input.rounds.map((r) => ({
      round: r.round,
      best: r.best,
      bestCandidateId: r.bestCandidateId,
      accepted: r.accepted,
      rejected: r.rejected,
    })),
    leaderboard: input.leaderboard,
    finalRound: input.finalRound ?? null,
    rejected: input.rejected,
    baseline: input.baseline,
    llmUsage: input.llmUsage ?? { promptTokens: 0, completionTokens: 0, costUsd: 0, calls: 0 },
    startedAt: new Date(input.startedAt).toISOString(),
    finishedAt: input.finishedAt === null ? null : new Date(input.finishedAt).toISOString(),
  });
  return file;
}
