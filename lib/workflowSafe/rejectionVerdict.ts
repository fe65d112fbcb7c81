// A search whose every candidate was rejected for one and the same reason learned nothing about
// designs: the scenario or the machines are wrong (an unknown model preset rejects every candidate
// as bad_spec). It ends failed with that reason rather than done with an empty leaderboard.
import type { CarriedState } from '../searchTypes.js';
import { reasonOf } from './searchState.js';

type VerdictState = Pick<CarriedState, 'reportedIds' | 'acceptedCount' | 'rejectedByReason' | 'rejected'>;

/** The search's failure when every reported candidate was rejected for the same reason; null otherwise. */
export function allRejectedFailure(st: VerdictState): string | null {
  const reported = st.reportedIds.length;
  if (reported === 0 || st.acceptedCount > 0) return null;
  const reasons = Object.entries(st.rejectedByReason);
  // One reason that covers every report (a tally rebuilt from an older run's capped list may not).
  if (reasons.length !== 1 || reasons[0]![1] !== reported) return null;
  const reason = reasons[0]![0];
  const example = st.rejected.find((r) => reasonOf(r) === reason)?.message;
  return `every candidate (${reported}) was rejected: ${reason}${example ? ` — ${example}` : ''}`;
}
