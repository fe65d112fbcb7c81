// The search-timeline plot: candidates placed at the minute their pipeline ended (search.json's
// `finishedAt` per candidate), the best objective so far as a step line, and the pace as a caption.
// The fixture's search.json predates `finishedAt`, so the timed cases stamp a copy of it.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listSearchIds, loadSearchResults } from '../../lib/report/loadSearchResults.js';
import { allPlots, timelinePlot } from '../../lib/report/plots.js';
import { renderReport } from '../../lib/report/renderReport.js';
import { writeReport } from '../../lib/report/writeReport.js';

const FIXTURE = path.resolve(import.meta.dirname, '..', 'fixtures', 'search-artifacts');
const SEARCH = 'cpu-demo-synthetic';

/** Minutes after the search's start at which each of the fixture's candidates ended. */
const FINISHED_MIN: Record<string, number> = {
  'baseline-hf-generate': 1,
  'r1-c2': 2.5,
  'r1-c1': 3,
  'r1-c3': 4, // rejected: wrong_output
  'r2-c2': 6.5, // rejected: build_failed
  'r2-c1': 7,
  'r2-c3': 8,
  'r3-c2': 12.5, // not better than r2-c3
  'r3-c1': 14,
  'r3-c3': 15, // rejected: timeout
};

interface Mark {
  cls: string;
  attrs: Record<string, string>;
}

/** Every element with class "mark …" and its data-* attributes. */
function marks(svg: string): Mark[] {
  return [...svg.matchAll(/<\w+ class="(mark[^"]*)"([^>]*)>/g)].map(([, cls, rest]) => ({
    cls,
    attrs: Object.fromEntries([...rest.matchAll(/data-([\w-]+)="([^"]*)"/g)].map(([, k, v]) => [k, v])),
  }));
}

const unescape = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

let roots: string[] = [];
afterEach(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  roots = [];
});

type Entry = { candidateId: string; finishedAt?: string };
/** The parts of search.json these tests edit. */
interface SearchJson {
  status: string;
  startedAt: string;
  finishedAt: string | null;
  scenario: { objective: string };
  leaderboard: Entry[];
  rejected: Entry[];
  baseline: Entry | null;
}

/** A copy of the fixture store whose search.json carries a finish time per candidate (and other edits). */
function timedCopy(edit: (search: SearchJson) => void = () => {}): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-timeline-'));
  roots.push(root);
  cpSync(FIXTURE, root, { recursive: true });
  const file = path.join(root, SEARCH, 'search.json');
  const search = JSON.parse(readFileSync(file, 'utf8')) as SearchJson;
  const start = Date.parse(search.startedAt);
  for (const c of [...search.leaderboard, ...search.rejected, search.baseline!]) {
    c.finishedAt = new Date(start + FINISHED_MIN[c.candidateId] * 60_000).toISOString();
  }
  edit(search);
  writeFileSync(file, JSON.stringify(search));
  return root;
}

/** The best-so-far path's vertical steps, in pixels (SVG y grows downwards). */
function stepYs(svg: string): number[] {
  const d = /<path class="best-so-far" d="([^"]+)"/.exec(svg)![1];
  const start = Number(/^M[\d.]+,([\d.]+)/.exec(d)![1]);
  return [start, ...[...d.matchAll(/V([\d.]+)/g)].map((m) => Number(m[1]))];
}

function stepXs(svg: string): number[] {
  const d = /<path class="best-so-far" d="([^"]+)"/.exec(svg)![1];
  const start = Number(/^M([\d.]+),/.exec(d)![1]);
  return [start, ...[...d.matchAll(/H([\d.]+)/g)].map((m) => Number(m[1]))];
}

describe('search timeline plot', () => {
  it('places every candidate at the minute it ended, with its objective or its rejection reason', () => {
    const r = loadSearchResults(SEARCH, timedCopy());
    expect(r.wallS).toBe(17 * 60 + 36); // 08:02:11 → 08:19:47
    const plot = timelinePlot(r);
    expect(plot.name).toBe('search-timeline');
    expect(plot.svg).toMatch(/^<svg [^>]*id="search-timeline"/);
    const all = marks(plot.svg);

    const byId = new Map([...r.leaderboard, ...r.rejected, r.baseline!].map((c) => [c.candidateId, c]));
    const accepted = all.filter((m) => m.cls === 'mark accepted');
    expect(accepted.map((m) => m.attrs.candidate).sort()).toEqual(
      [...r.leaderboard.map((c) => c.candidateId), 'baseline-hf-generate'].sort(),
    );
    for (const m of accepted) {
      expect(Number(m.attrs.minutes), m.attrs.candidate).toBeCloseTo(FINISHED_MIN[m.attrs.candidate], 9);
      expect(Number(m.attrs.value), m.attrs.candidate).toBe(byId.get(m.attrs.candidate)!.objective);
    }

    const rejected = all.filter((m) => m.cls === 'mark rejected');
    expect(rejected.map((m) => m.attrs.candidate)).toEqual(['r1-c3', 'r2-c2', 'r3-c3']);
    for (const m of rejected) {
      expect(Number(m.attrs.minutes)).toBeCloseTo(FINISHED_MIN[m.attrs.candidate], 9);
      expect(unescape(m.attrs.reason)).toBe(byId.get(m.attrs.candidate)!.reason);
    }
    expect(unescape(rejected[0].attrs.reason)).toMatch(/^wrong_output: logits_max_abs_diff/);

    // The running best: every improvement in time order, r3-c2 (489 after 498) not among them.
    const best = all.filter((m) => m.cls === 'mark best');
    expect(best.map((m) => m.attrs.candidate)).toEqual([
      'baseline-hf-generate',
      'r1-c2',
      'r1-c1',
      'r2-c1',
      'r2-c3',
      'r3-c1',
    ]);
    const values = best.map((m) => Number(m.attrs.value));
    expect(values).toEqual(best.map((m) => byId.get(m.attrs.candidate)!.objective));
    for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThan(values[i - 1]);
    const ys = stepYs(plot.svg);
    expect(ys).toHaveLength(values.length);
    for (let i = 1; i < ys.length; i++) expect(ys[i]).toBeLessThan(ys[i - 1]); // higher is better: upwards
    const xs = stepXs(plot.svg);
    for (let i = 1; i < xs.length; i++) expect(xs[i]).toBeGreaterThanOrEqual(xs[i - 1]);

    // The pace: 10 candidates in 17.6 minutes, the best found at minute 14; the baseline drawn dashed.
    const caption =
      /<text class="caption" data-candidates="(\d+)" data-minutes="([\d.]+)" data-per-hour="([\d.]+)"[^>]*>([^<]*)</.exec(
        plot.svg,
      )!;
    expect(Number(caption[1])).toBe(10);
    expect(Number(caption[2])).toBeCloseTo(17.6, 9);
    expect(Number(caption[3])).toBeCloseTo(10 / (17.6 / 60), 9);
    expect(caption[4]).toBe('10 candidates in 17.6 min (34.1 per hour); best 531 at 14 min');
    expect(plot.svg).toContain('<line class="baseline"');
    expect(plot.svg).toContain('baseline baseline-hf-generate');
  });

  it('steps downwards when the objective is minimized', () => {
    const r = loadSearchResults(
      SEARCH,
      timedCopy((s) => {
        s.scenario.objective = 'median_tpot_ms';
      }),
    );
    expect(r.higherIsBetter).toBe(false);
    const plot = timelinePlot(r);
    const best = marks(plot.svg).filter((m) => m.cls === 'mark best');
    expect(best.length).toBeGreaterThan(1);
    const values = best.map((m) => Number(m.attrs.value));
    for (let i = 1; i < values.length; i++) expect(values[i]).toBeLessThan(values[i - 1]);
    // The last step is the lowest objective among accepted candidates.
    const accepted = [...r.leaderboard, r.baseline!].map((c) => c.objective!).filter((v) => v !== null);
    expect(values.at(-1)).toBe(Math.min(...accepted));
    const ys = stepYs(plot.svg);
    for (let i = 1; i < ys.length; i++) expect(ys[i]).toBeGreaterThan(ys[i - 1]); // lower is better: downwards
    expect(plot.svg).toContain('lower is better');
  });

  it('spans a running search up to its last finished candidate, and says how many it cannot place', () => {
    const r = loadSearchResults(
      SEARCH,
      timedCopy((s) => {
        s.status = 'running';
        s.finishedAt = null;
        delete s.rejected.find((c) => c.candidateId === 'r3-c3')!.finishedAt;
      }),
    );
    expect(r.wallS).toBe(14 * 60);
    const plot = timelinePlot(r);
    expect(plot.svg).toContain('9 candidates in 14 min');
    expect(plot.svg).toContain('1 without a finish time not shown');
    expect(marks(plot.svg).filter((m) => m.cls === 'mark rejected')).toHaveLength(2);
  });

  it('shows the empty-plot message for a search.json without finish times', () => {
    const ids = listSearchIds(FIXTURE);
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) {
      const r = loadSearchResults(id, FIXTURE);
      expect(
        [...r.leaderboard, ...r.rejected].every((c) => c.finishedS === null),
        id,
      ).toBe(true);
      const plot = timelinePlot(r);
      expect(plot.svg, id).toContain('no candidate finish times in search.json');
      expect(plot.svg, id).not.toContain('class="mark');
    }
  });

  it('shows the empty-plot message for a search with no candidate yet', () => {
    const r = loadSearchResults(
      SEARCH,
      timedCopy((s) => {
        s.leaderboard = [];
        s.rejected = [];
        s.baseline = null;
      }),
    );
    const plot = timelinePlot(r);
    expect(plot.svg).toContain('no candidate finished yet');
    expect(plot.svg).not.toContain('class="mark');
  });

  it('is one of the report figures: in the HTML page and written as plots/search-timeline.svg', async () => {
    const root = timedCopy();
    const r = loadSearchResults(SEARCH, root);
    const plots = allPlots(r);
    expect(plots.map((p) => p.name)).toContain('search-timeline');
    const html = renderReport(r, plots);
    expect(html).toMatch(/<figure data-plot="search-timeline"><svg [^>]*id="search-timeline"/);

    const out = path.join(root, 'out');
    const written = await writeReport(SEARCH, { artifactsRoot: root, outDir: out, png: false });
    const svg = path.join(out, 'plots', 'search-timeline.svg');
    expect(written.svgs).toContain(svg);
    expect(existsSync(svg)).toBe(true);
    expect(marks(readFileSync(svg, 'utf8')).filter((m) => m.cls === 'mark rejected')).toHaveLength(3);
  });
});
