// Messages of the search workflow: queries read progress, updates steer it (an update answers the
// caller, so `vibeserve pause` can say what it did), and a signal carries each candidate's report
// to the search's workflow id — not to one run — so reports survive continue-as-new.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { CandidateResult, FinalRound, SearchProgress, SearchStatus, SteerRequest } from '../lib/searchTypes.js';

export interface ControlAck {
  status: SearchStatus;
  message: string;
}

export const progressQuery = defineQuery<SearchProgress>('progress');
/** finalRound: the leading candidates re-measured side by side, once the search's last round is over. */
export const leaderboardQuery = defineQuery<{
  leaderboard: CandidateResult[];
  rejected: CandidateResult[];
  finalRound?: FinalRound | null;
}>('leaderboard');

export const steerUpdate = defineUpdate<ControlAck, [SteerRequest]>('steer');
export const pauseUpdate = defineUpdate<ControlAck>('pause');
export const resumeUpdate = defineUpdate<ControlAck>('resume');
/** Stop-and-finish: no new candidates, let running ones finish, then write the results. */
export const stopUpdate = defineUpdate<ControlAck>('stop');

export const candidateReportSignal = defineSignal<[CandidateResult]>('candidateReport');
