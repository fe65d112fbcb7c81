// The SVG plot builders on edge cases the fixture does not cover: scales that must reach the
// largest value, the Pareto front, and a search with nothing measured yet.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSearchResults } from '../../lib/report/loadSearchResults.js';
import { allPlots, paretoFront } from '../../lib/report/plots.js';
import { renderReport } from '../../lib/report/renderReport.js';
import { niceTicks } from '../../lib/report/svg.js';

const FIXTURE = path.resolve(import.meta.dirname, '..', 'fixtures', 'search-artifacts');

describe('plots', () => {
  it('chooses ticks that cover the data range', () => {
    for (const [lo, hi] of [
      [0, 531],
      [0, 118],
      [13.7, 24.5],
      [0, 0.0042],
      [0, 1e6 + 1],
    ]) {
      const t = niceTicks(lo, hi);
      expect(t[0]).toBeLessThanOrEqual(lo);
      expect(t[t.length - 1]).toBeGreaterThanOrEqual(hi);
      expect(t.length).toBeGreaterThanOrEqual(2);
      expect(t.length).toBeLessThanOrEqual(12);
    }
  });

  it('keeps exactly the non-dominated points on the Pareto front', () => {
    const pts = [
      { id: 'a', t: 100, l: 10 },
      { id: 'b', t: 200, l: 20 },
      { id: 'c', t: 150, l: 25 }, // dominated by b
      { id: 'd', t: 90, l: 12 }, // dominated by a
      { id: 'e', t: 250, l: 40 },
    ];
    expect(
      paretoFront(
        pts,
        (p) => p.t,
        (p) => p.l,
      ).map((p) => p.id),
    ).toEqual(['a', 'b', 'e']);
  });

  it('renders a report for a search with no accepted candidate yet', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-plots-'));
    try {
      cpSync(FIXTURE, root, { recursive: true });
      const file = path.join(root, 'cpu-demo-synthetic', 'search.json');
      const search = JSON.parse(readFileSync(file, 'utf8'));
      writeFileSync(
        file,
        JSON.stringify({ ...search, status: 'running', leaderboard: [], baseline: null, finishedAt: null }),
      );
      const r = loadSearchResults('cpu-demo-synthetic', root);
      const plots = allPlots(r);
      expect(plots).toHaveLength(5);
      for (const p of plots) {
        expect(p.svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
        expect(p.svg).not.toContain('class="mark');
      }
      const html = renderReport(r, plots);
      expect(html).toContain('No baseline was measured');
      expect(html).toContain('wrong_output');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
