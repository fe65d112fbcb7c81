// What a search's budget still allows (lib/workflowSafe/budget.ts).
import { describe, expect, it } from 'vitest';
import {
  budgetReached,
  candidatesToPlan,
  lostAfterMs,
  searchOver,
  wallTimeLeft,
} from '../../lib/workflowSafe/budget.js';
import { freshSearchState } from '../../lib/workflowSafe/searchState.js';

const budget = { rounds: 3, maxCandidates: 5, wallTimeMs: 60_000 };

describe('search budget', () => {
  it('is spent by candidates started or by wall time', () => {
    const st = { ...freshSearchState(1_000), startedCount: 4 };
    expect(wallTimeLeft(st, budget, 31_000)).toBe(30_000);
    expect(budgetReached(st, budget, 31_000)).toBe(false);
    expect(budgetReached(st, budget, 61_000)).toBe(true);
    expect(budgetReached({ ...st, startedCount: 5 }, budget, 0)).toBe(true);
  });

  it('plans a full round, or what is left of the candidates', () => {
    expect(candidatesToPlan({ ...freshSearchState(0), startedCount: 0 }, budget, 2)).toBe(2);
    expect(candidatesToPlan({ ...freshSearchState(0), startedCount: 4 }, budget, 2)).toBe(1);
  });

  it('ends the search when stopped, exhausted, out of rounds or out of budget', () => {
    const st = { ...freshSearchState(0), round: 1 };
    expect(searchOver(st, budget, 0)).toBe(false);
    expect(searchOver({ ...st, stopRequested: true }, budget, 0)).toBe(true);
    expect(searchOver({ ...st, exhausted: true }, budget, 0)).toBe(true);
    expect(searchOver({ ...st, round: 3 }, budget, 0)).toBe(true);
    expect(searchOver(st, budget, 60_000)).toBe(true);
  });

  it('waits for a silent candidate its own time limits and ten minutes more', () => {
    expect(lostAfterMs({ check_timeout_s: 60, bench_timeout_s: 120 })).toBe(180_000 + 600_000);
  });
});
