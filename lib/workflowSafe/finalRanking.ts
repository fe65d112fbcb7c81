// The final round's leaderboard: the leading candidates, re-measured side by side, ranked by their
// median, where two candidates whose spreads overlap are a tie that the simpler design wins (fewer
// choices and params changed from the generic default), or the earlier one when both are as simple.
// A measured difference inside the noise is not a reason to ship a more complex stack. Pure, so the
// search workflow may call it.
import type { Design } from '../architect/types.js';
import type { FinalRound, RemeasuredCandidate, TieNote } from '../searchTypes.js';
import { formatSpread, spreadsOverlap, type MetricSpread } from './spread.js';

export interface RankEntry {
  candidateId: string;
  round: number;
  design: Pick<Design, 'choices' | 'params'>;
  /** The objective over the side-by-side passes; null when none completed. */
  spread: MetricSpread | null;
  /** Why passes of it failed, when some did. */
  errors: string[];
}

export interface RankOptions {
  metric: string;
  higherIsBetter: boolean;
  /** The generic default design; null when the search measured none (ties then go to the earlier). */
  generic: Pick<Design, 'choices' | 'params'> | null;
  passes: number;
  evidenceDir: string;
}

/** Choices and params in which a design differs from the generic default design. */
export function changesFrom(
  design: Pick<Design, 'choices' | 'params'>,
  generic: Pick<Design, 'choices' | 'params'>,
): number {
  const differ = (a: Record<string, unknown>, b: Record<string, unknown>) =>
    [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
      .length;
  return differ(design.choices, generic.choices) + differ(design.params, generic.params);
}

/**
 * Orders the entries best first. Entries are sorted by median; then, while two neighbours tie
 * (overlapping spreads) and the one behind is preferred (simpler, else earlier), they swap. Each
 * swap puts a tied pair in preference order, so this ends, and every tied neighbour pair is left in
 * preference order. Entries without a figure go last, in the order given.
 */
export function rankFinalRound(entries: RankEntry[], opts: RankOptions): FinalRound {
  const changes = new Map(
    entries.map((e) => [e.candidateId, opts.generic ? changesFrom(e.design, opts.generic) : null]),
  );
  // candidate ids are r<round>-c<index>, so their numeric order is the order they started in
  const earlier = (a: RankEntry, b: RankEntry) =>
    a.round - b.round || a.candidateId.localeCompare(b.candidateId, 'en', { numeric: true });
  /** < 0 when `a` is preferred over `b` in a tie. */
  const preference = (a: RankEntry, b: RankEntry) =>
    (changes.get(a.candidateId) ?? 0) - (changes.get(b.candidateId) ?? 0) || earlier(a, b);

  const measured = entries.filter((e) => e.spread !== null);
  const better = (a: MetricSpread, b: MetricSpread) =>
    opts.higherIsBetter ? b.median - a.median : a.median - b.median;
  const order = [...measured].sort((a, b) => better(a.spread!, b.spread!) || earlier(a, b));
  for (let swapped = true; swapped;) {
    swapped = false;
    for (let i = 0; i + 1 < order.length; i++) {
      const [a, b] = [order[i]!, order[i + 1]!];
      if (spreadsOverlap(a.spread!, b.spread!) && preference(b, a) < 0) {
        [order[i], order[i + 1]] = [b, a];
        swapped = true;
      }
    }
  }

  const ties: TieNote[] = [];
  for (let i = 0; i + 1 < order.length; i++) {
    const [a, b] = [order[i]!, order[i + 1]!];
    if (!spreadsOverlap(a.spread!, b.spread!)) continue;
    const [ca, cb] = [changes.get(a.candidateId), changes.get(b.candidateId)];
    const rule: TieNote['rule'] = ca !== null && cb !== null && ca !== cb ? 'simpler' : 'earlier';
    const why =
      rule === 'simpler'
        ? `fewer changes from the generic default (${ca} vs ${cb})`
        : `started earlier (${a.candidateId} before ${b.candidateId})`;
    ties.push({
      ahead: a.candidateId,
      behind: b.candidateId,
      rule,
      message: `${a.candidateId} and ${b.candidateId} tie on ${opts.metric}: ${formatSpread(a.spread)} vs ${formatSpread(b.spread)} overlap; ${a.candidateId} ranks first: ${why}`,
    });
  }
  const unmeasured = entries.filter((e) => e.spread === null);
  const candidates: RemeasuredCandidate[] = entries.map((e) => ({
    candidateId: e.candidateId,
    spread: e.spread,
    errors: e.errors,
    changes: changes.get(e.candidateId) ?? null,
  }));
  return {
    metric: opts.metric,
    passes: opts.passes,
    candidates,
    order: [...order, ...unmeasured].map((e) => e.candidateId),
    ties,
    evidenceDir: opts.evidenceDir,
  };
}
