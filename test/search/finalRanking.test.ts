// The final round's tie rule: candidates re-measured side by side rank by their median, but two whose
// ranges overlap tie, and the simpler design (fewer changes from the generic default) or else the
// earlier one ranks first.
import { describe, expect, it } from 'vitest';
import { changesFrom, rankFinalRound, type RankEntry } from '../../lib/workflowSafe/finalRanking.js';

const generic = {
  choices: { attention: 'sdpa', kv_cache: 'paged', execution: 'eager' },
  params: { max_batch_size: 16, decode_steps: 1 },
};

function entry(
  candidateId: string,
  round: number,
  changes: Record<string, string | number>,
  spread: [number, number, number] | null,
): RankEntry {
  const choices = { ...generic.choices };
  const params: Record<string, number> = { ...generic.params };
  for (const [k, v] of Object.entries(changes)) {
    if (typeof v === 'string') (choices as Record<string, string>)[k] = v;
    else params[k] = v;
  }
  return {
    candidateId,
    round,
    design: { choices, params },
    spread: spread && { median: spread[1], min: spread[0], max: spread[2], n: 3 },
    errors: [],
  };
}

const opts = { metric: 'output_throughput', higherIsBetter: true, generic, passes: 3, evidenceDir: 'final-round' };

describe('final round ranking', () => {
  it('counts the choices and params a design changes from the generic default', () => {
    expect(changesFrom(generic, generic)).toBe(0);
    expect(changesFrom(entry('x', 1, { attention: 'triton_paged', decode_steps: 4 }, null).design, generic)).toBe(2);
  });

  it('ranks by median when the ranges are apart, however complex the leader', () => {
    const r = rankFinalRound(
      [
        entry('r1-c0', 1, {}, [90, 100, 110]),
        entry('r2-c1', 2, { execution: 'cuda_graphs', decode_steps: 8 }, [150, 160, 170]),
      ],
      opts,
    );
    expect(r.order).toEqual(['r2-c1', 'r1-c0']);
    expect(r.ties).toEqual([]);
  });

  it('calls overlapping ranges a tie and keeps the simpler design ahead, saying why', () => {
    const complex = entry(
      'r1-c0',
      1,
      { execution: 'cuda_graphs', decode_steps: 8, max_batch_size: 64 },
      [100, 112, 125],
    );
    const simple = entry('r2-c0', 2, { decode_steps: 2 }, [95, 108, 120]);
    const r = rankFinalRound([complex, simple], opts);
    expect(r.order).toEqual(['r2-c0', 'r1-c0']);
    expect(r.ties).toHaveLength(1);
    expect(r.ties[0]).toMatchObject({ ahead: 'r2-c0', behind: 'r1-c0', rule: 'simpler' });
    expect(r.ties[0]!.message).toContain('108 (95–120, n=3) vs 112 (100–125, n=3) overlap');
    expect(r.ties[0]!.message).toContain('fewer changes from the generic default (1 vs 3)');
    expect(r.candidates.map((c) => c.changes)).toEqual([3, 1]);
  });

  it('keeps the earlier candidate ahead in a tie of equally simple designs', () => {
    const later = entry('r2-c3', 2, { kv_cache: 'contiguous' }, [100, 131, 140]);
    const earlier = entry('r1-c10', 1, { attention: 'triton_paged' }, [110, 120, 130]);
    const sameRound = entry('r1-c2', 1, { execution: 'torch_compile' }, [105, 118, 128]);
    const r = rankFinalRound([later, earlier, sameRound], opts);
    expect(r.order).toEqual(['r1-c2', 'r1-c10', 'r2-c3']); // r1-c2 started before r1-c10
    expect(r.ties.map((t) => [t.ahead, t.behind, t.rule])).toEqual([
      ['r1-c2', 'r1-c10', 'earlier'],
      ['r1-c10', 'r2-c3', 'earlier'],
    ]);
  });

  it('moves a simpler design up only past the candidates it ties with', () => {
    // a ties b, b ties c, a does not tie c: c (the default) passes b, not a
    const a = entry('r1-c0', 1, { decode_steps: 8 }, [200, 210, 220]);
    const b = entry('r1-c1', 1, { decode_steps: 4, max_batch_size: 64 }, [185, 195, 205]);
    const c = entry('r1-c2', 1, {}, [170, 180, 190]);
    expect(rankFinalRound([a, b, c], opts).order).toEqual(['r1-c0', 'r1-c2', 'r1-c1']);
  });

  it('ranks a latency objective lowest first, and puts candidates without figures last', () => {
    const lat = { ...opts, metric: 'median_tpot_ms', higherIsBetter: false };
    const r = rankFinalRound(
      [
        entry('r1-c0', 1, {}, [9, 10, 11]),
        entry('r1-c1', 1, { decode_steps: 4 }, [4, 5, 6]),
        entry('r1-c2', 1, {}, null),
      ],
      lat,
    );
    expect(r.order).toEqual(['r1-c1', 'r1-c0', 'r1-c2']);
  });

  it('falls back to the earlier candidate when the search measured no generic default', () => {
    const r = rankFinalRound(
      [entry('r2-c0', 2, {}, [100, 105, 110]), entry('r1-c1', 1, { decode_steps: 4 }, [99, 104, 109])],
      { ...opts, generic: null },
    );
    expect(r.order).toEqual(['r1-c1', 'r2-c0']);
    expect(r.ties[0]).toMatchObject({ rule: 'earlier' });
    expect(r.candidates.every((c) => c.changes === null)).toBe(true);
  });
});
