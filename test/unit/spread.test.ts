// bench.json's spreads as the TypeScript side reads and prints them.
import { describe, expect, it } from 'vitest';
import { leaderboardLines } from '../../cli/leaderboardText.js';
import type { CandidateResult, FinalRound } from '../../lib/searchTypes.js';
import { formatSpread, KEY_METRICS, spreadOfValues, spreadsOf, spreadsOverlap } from '../../lib/workflowSafe/spread.js';

const bench = {
  output_throughput: 3590.53,
  spread: {
    output_throughput: { median: 3590.53, min: 3402.12, max: 3701.2, n: 3 },
    median_tpot_ms: { median: 1.234, min: 1.2, max: 1.3, n: 3 },
    completed: { median: 16, min: 16, max: 16, n: 3 },
    broken: { median: 'x', min: 1, max: 2, n: 3 },
  },
};

describe('metric spreads', () => {
  it("reads the asked metrics' spreads from a bench result and skips malformed ones", () => {
    expect(spreadsOf(bench, ['output_throughput', 'median_tpot_ms', 'broken', 'p99_e2el_ms'])).toEqual({
      output_throughput: { median: 3590.53, min: 3402.12, max: 3701.2, n: 3 },
      median_tpot_ms: { median: 1.234, min: 1.2, max: 1.3, n: 3 },
    });
    expect(spreadsOf({ output_throughput: 1 }, KEY_METRICS)).toEqual({});
  });

  it('prints median (min–max, n) and the bare value without a spread', () => {
    expect(formatSpread(bench.spread.output_throughput)).toBe('3590.5 (3402.1–3701.2, n=3)');
    expect(formatSpread(undefined, 41.3)).toBe('41.3');
    expect(formatSpread(null)).toBe('–');
  });

  it('summarizes per-pass values and tells overlapping ranges apart', () => {
    expect(spreadOfValues([3, 1, 2, Number.NaN])).toEqual({ median: 2, min: 1, max: 3, n: 3 });
    expect(spreadOfValues([4, 1])).toEqual({ median: 2.5, min: 1, max: 4, n: 2 });
    expect(spreadOfValues([])).toBeNull();
    const s = (min: number, max: number) => ({ median: (min + max) / 2, min, max, n: 3 });
    expect(spreadsOverlap(s(1, 3), s(3, 5))).toBe(true);
    expect(spreadsOverlap(s(1, 2.9), s(3, 5))).toBe(false);
  });
});

describe('status leaderboard', () => {
  const candidate = (
    id: string,
    spread?: CandidateResult['spread'],
    remeasured?: CandidateResult['remeasured'],
  ): CandidateResult => ({
    candidateId: id,
    round: 1,
    design: { id, choices: { attention: 'sdpa' }, params: {}, builder: 'template' },
    status: 'accepted',
    objective: 3590.53,
    ...(spread ? { spread } : {}),
    ...(remeasured ? { remeasured } : {}),
  });

  it('shows each objective as median (min–max, n) and the final round with its ties', () => {
    const finalRound: FinalRound = {
      metric: 'output_throughput',
      passes: 3,
      candidates: [
        { candidateId: 'r1-c0', spread: { median: 3500, min: 3400, max: 3600, n: 3 }, errors: [], changes: 0 },
        {
          candidateId: 'r1-c1',
          spread: { median: 3550, min: 3450, max: 3650, n: 3 },
          errors: ['pass 2: timeout'],
          changes: 2,
        },
      ],
      order: ['r1-c0', 'r1-c1'],
      ties: [{ ahead: 'r1-c0', behind: 'r1-c1', rule: 'simpler', message: 'r1-c0 and r1-c1 tie on output_throughput' }],
      evidenceDir: 'final-round',
    };
    const lines = leaderboardLines(
      {
        leaderboard: [
          candidate('r1-c0', { output_throughput: bench.spread.output_throughput }, finalRound.candidates[0]!.spread!),
          candidate('r1-c1'),
        ],
        finalRound,
      },
      'output_throughput',
    );
    expect(lines[0]).toBe('leaderboard (output_throughput: median (min–max, n) over repetitions):');
    expect(lines[1]).toBe('  1. r1-c0  3590.5 (3402.1–3701.2, n=3)  final 3500 (3400–3600, n=3)  attention=sdpa');
    expect(lines[2]).toBe('  2. r1-c1  3590.5  attention=sdpa');
    expect(lines).toContain('final round: 2 leading candidates re-measured side by side, 3 interleaved passes each');
    expect(lines).toContain('  tie: r1-c0 and r1-c1 tie on output_throughput');
    expect(lines).toContain('  r1-c1 pass 2: timeout');
  });

  it('says when the final round could not run', () => {
    const lines = leaderboardLines(
      {
        leaderboard: [],
        finalRound: {
          metric: 'x',
          passes: 3,
          candidates: [],
          order: [],
          ties: [],
          evidenceDir: '',
          error: 'no worker',
        },
      },
      'x',
    );
    expect(lines.at(-1)).toBe("final round: not run (no worker); the leaderboard keeps the search's own figures");
  });
});
