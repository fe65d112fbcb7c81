// When every candidate was rejected for one reason the search fails with it (issue 17); mixed
// reasons or any accepted candidate leave it done (lib/workflowSafe/rejectionVerdict.ts).
import { describe, expect, it } from 'vitest';
import type { CandidateResult } from '../../lib/searchTypes.js';
import { allRejectedFailure } from '../../lib/workflowSafe/rejectionVerdict.js';
import { freshSearchState, recordReport } from '../../lib/workflowSafe/searchState.js';

const design = { id: 'd', choices: {}, params: {}, builder: 'template' as const };
const rules = { objective: 'output_throughput', leaderboardSize: 5 };

function stateOf(results: Array<[status: 'accepted' | 'rejected', reason?: string]>) {
  const st = freshSearchState(0);
  results.forEach(([status, reason], i) => {
    const r: CandidateResult = {
      candidateId: `c${i}`,
      round: 1,
      design,
      status,
      reason,
      message: reason && `${reason} in c${i}`,
    };
    recordReport(st, status === 'accepted' ? { ...r, objective: 1 } : r, rules);
  });
  return st;
}

describe('allRejectedFailure', () => {
  it('names the one reason, how many candidates it rejected, and what the first said', () => {
    expect(
      allRejectedFailure(
        stateOf([
          ['rejected', 'bad_spec'],
          ['rejected', 'bad_spec'],
        ]),
      ),
    ).toBe('every candidate (2) was rejected: bad_spec — bad_spec in c0');
    expect(allRejectedFailure(stateOf([['rejected', 'lost']]))).toBe(
      'every candidate (1) was rejected: lost — lost in c0',
    );
  });

  it('has no verdict for mixed reasons, an accepted candidate, or no candidate at all', () => {
    expect(
      allRejectedFailure(
        stateOf([
          ['rejected', 'bad_spec'],
          ['rejected', 'timeout'],
        ]),
      ),
    ).toBeNull();
    expect(allRejectedFailure(stateOf([['rejected', 'bad_spec'], ['accepted']]))).toBeNull();
    expect(allRejectedFailure(stateOf([]))).toBeNull();
  });

  it("has none when the tally does not cover every report (rebuilt from an older run's capped list)", () => {
    const st = stateOf([
      ['rejected', 'bad_spec'],
      ['rejected', 'bad_spec'],
    ]);
    st.reportedIds.push('an-earlier-one');
    expect(allRejectedFailure(st)).toBeNull();
  });
});
