// The search workflow's state rules (lib/workflowSafe/searchState.ts, leaderboard.ts), without a
// workflow: reports count once, the leaderboard stays ordered and short, rejections are tallied.
import { describe, expect, it } from 'vitest';
import type { CandidateResult, CarriedState } from '../../lib/searchTypes.js';
import { higherIsBetter, withCandidate } from '../../lib/workflowSafe/leaderboard.js';
import {
  freshSearchState,
  MAX_REJECTED_KEPT,
  recordReport,
  resumedState,
  roundSummary,
} from '../../lib/workflowSafe/searchState.js';

const design = { id: 'd', choices: {}, params: {}, builder: 'template' as const };
const accepted = (id: string, objective: number, round = 1): CandidateResult => ({
  candidateId: id,
  round,
  design,
  status: 'accepted',
  objective,
  metrics: { output_throughput: objective, engine: 'x' },
});
const rejected = (id: string, reason?: string, round = 1): CandidateResult => ({
  candidateId: id,
  round,
  design,
  status: 'rejected',
  reason,
  message: `${id} failed`,
});
const rules = { objective: 'output_throughput', leaderboardSize: 2 };

describe('leaderboard', () => {
  it('orders by the objective, latencies ascending, and keeps an earlier candidate ahead of an equal one', () => {
    expect(higherIsBetter('output_throughput')).toBe(true);
    expect(higherIsBetter('median_ttft_ms')).toBe(false);
    let board: CandidateResult[] = [];
    for (const c of [accepted('a', 5), accepted('b', 9), accepted('c', 5)])
      board = withCandidate(board, { ...c, objective: c.objective! }, 3, true);
    expect(board.map((c) => c.candidateId)).toEqual(['b', 'a', 'c']);
    let latency: CandidateResult[] = [];
    for (const c of [accepted('a', 5), accepted('b', 9), accepted('c', 1)])
      latency = withCandidate(latency, { ...c, objective: c.objective! }, 2, false);
    expect(latency.map((c) => c.candidateId)).toEqual(['c', 'a']);
  });
});

describe('recordReport', () => {
  it('counts a report once and keeps the board at its size', () => {
    const st = freshSearchState(0);
    st.pending = [{ candidateId: 'a', workflowId: 'w.a', round: 1, startedAt: 0 }];
    expect(recordReport(st, { ...accepted('a', 3), durationMs: 10 }, rules)).toBe(true);
    expect(recordReport(st, accepted('a', 3), rules)).toBe(false);
    for (const c of [accepted('b', 7), accepted('c', 1)]) recordReport(st, c, rules);
    expect(st).toMatchObject({ pending: [], acceptedCount: 3, totalCandidateMs: 10, reportedIds: ['a', 'b', 'c'] });
    expect(st.leaderboard.map((c) => c.candidateId)).toEqual(['b', 'a']);
    // the architect sees numbers only
    expect(st.newOutcomes[0]).toMatchObject({
      designId: 'd',
      status: 'accepted',
      objective: 3,
      metrics: { output_throughput: 3 },
    });
    expect(st.newOutcomes[0]!.metrics).not.toHaveProperty('engine');
  });

  it('keeps rejections without metrics, tallied by reason, the list capped', () => {
    const st = freshSearchState(0);
    recordReport(st, { ...rejected('x', 'bad_spec'), metrics: { output_throughput: 1 } }, rules);
    recordReport(st, rejected('y'), rules);
    expect(st.rejected[0]).toMatchObject({ candidateId: 'x', status: 'rejected', metrics: undefined });
    expect(st.rejectedByReason).toEqual({ bad_spec: 1, unknown: 1 });
    for (let i = 0; i < MAX_REJECTED_KEPT; i++) recordReport(st, rejected(`r${i}`, 'timeout'), rules);
    expect(st.rejected).toHaveLength(MAX_REJECTED_KEPT);
    expect(st.rejectedByReason).toEqual({ bad_spec: 1, unknown: 1, timeout: MAX_REJECTED_KEPT });
  });

  it('takes the default design as the baseline', () => {
    const st = freshSearchState(0);
    recordReport(st, { ...accepted('g', 2), design: { ...design, origin: 'default' } }, rules);
    expect(st.baseline?.candidateId).toBe('g');
  });
});

describe('roundSummary', () => {
  it("is the best so far and the round's own counts", () => {
    const st = freshSearchState(0);
    recordReport(st, accepted('a', 4, 1), rules);
    st.round = 2;
    recordReport(st, accepted('b', 2, 2), rules);
    recordReport(st, rejected('c', 'timeout', 2), rules);
    expect(roundSummary(st)).toEqual({ round: 2, best: 4, bestCandidateId: 'a', accepted: 1, rejected: 1 });
  });
});

describe('resumedState', () => {
  it('carries a new run on unchanged, and rebuilds the tally an older run did not carry', () => {
    const st = freshSearchState(0);
    recordReport(st, rejected('x', 'oom'), rules);
    expect(resumedState(st)).toBe(st);
    const { rejectedByReason: _, ...older } = st;
    expect(resumedState(older as Omit<CarriedState, 'rejectedByReason'>).rejectedByReason).toEqual({ oom: 1 });
  });
});
