import { describe, expect, it } from 'vitest';
import { estimateRemainingMs, formatDuration, renderProgress } from '../../cli/progressBar.js';
import type { SearchProgress } from '../../lib/searchTypes.js';

const progress = (over: Partial<SearchProgress> = {}): SearchProgress => ({
  searchId: 'vibeserve-cpu-demo-x',
  scenario: 'cpu-demo',
  objective: 'output_throughput',
  status: 'running',
  round: 1,
  budget: { rounds: 2, maxCandidates: 4, wallTimeMs: 3_600_000 },
  concurrency: 1,
  candidates: { started: 2, done: 1, running: 1, accepted: 1, rejected: 0, queued: 1 },
  best: { candidateId: 'r1-c0', objective: 123.456 },
  startedAt: 0,
  now: 60_000,
  meanCandidateMs: 30_000,
  runIndex: 0,
  hints: [],
  constraints: {},
  details: '',
  failure: null,
  ...over,
});

describe('progress bar', () => {
  it('shows round, candidates, best, elapsed and ETA', () => {
    expect(renderProgress(progress(), 65_000, 8)).toBe(
      '[##------] running · round 1/2 · 1/4 done, 1 running, 0 rejected · best output_throughput 123.5 (r1-c0) · elapsed 1m05s · ETA 1m30s',
    );
  });

  it('has no ETA before the first candidate and caps it by the wall-time budget', () => {
    expect(estimateRemainingMs(progress({ meanCandidateMs: null }), 0)).toBeNull();
    expect(estimateRemainingMs(progress({ budget: { rounds: 2, maxCandidates: 4, wallTimeMs: 70_000 } }), 60_000)).toBe(
      10_000,
    );
  });

  it('formats durations', () => {
    expect(formatDuration(5_400)).toBe('5s');
    expect(formatDuration(3_723_000)).toBe('1h02m');
  });
});
