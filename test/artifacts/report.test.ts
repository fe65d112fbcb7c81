// `vibeserve report` end to end: the fixture search → HTML + SVG + PNG, opened in Debian's headless
// Chromium through playwright-core. Checks that the page is self-contained (no console errors, no
// network), that the plots are drawn (marks counted, screenshot pixels counted) and that every
// figure comes from the bench/check files.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium, type HeadlessBrowser } from '../../lib/report/headlessChromium.js';
import { listSearchIds, loadSearchResults, measuredCandidates } from '../../lib/report/loadSearchResults.js';
import { fmt } from '../../lib/report/svg.js';
import { writeReport, type WrittenReport } from '../../lib/report/writeReport.js';
import { countColor, countNonWhite, decodePng } from './decodePng.js';

const FIXTURE = path.resolve(import.meta.dirname, '..', 'fixtures', 'search-artifacts');
const SEARCH = 'cpu-demo-synthetic';
const hasChromium = existsSync(chromiumPath());
if (!hasChromium)
  console.warn(`report tests skipped: no chromium at ${chromiumPath()} (run scripts/ci-container-tools.sh)`);

function bench(root: string, id: string): Record<string, number> {
  return JSON.parse(readFileSync(path.join(root, SEARCH, 'candidates', id, 'bench.json'), 'utf8'));
}

describe.skipIf(!hasChromium)('vibeserve report', () => {
  let root: string;
  let out: string;
  let written: WrittenReport;
  let chromium: HeadlessBrowser;

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-report-'));
    cpSync(FIXTURE, root, { recursive: true });
    // The fixture predates candidates' finish times; this copy gets one a minute apart, so the timeline is drawn.
    const searchJson = path.join(root, SEARCH, 'search.json');
    const search = JSON.parse(readFileSync(searchJson, 'utf8'));
    const start = Date.parse(search.startedAt);
    [search.baseline, ...search.leaderboard, ...search.rejected].forEach((c, i) => {
      c.finishedAt = new Date(start + (i + 1) * 60_000).toISOString();
    });
    writeFileSync(searchJson, JSON.stringify(search));
    out = path.join(root, 'out');
    written = await writeReport(SEARCH, { artifactsRoot: root, outDir: out });
    chromium = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await chromium?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('writes the HTML page and every plot as SVG and as a non-blank PNG', () => {
    expect(existsSync(written.html)).toBe(true);
    expect(written.svgs.map((f) => path.basename(f)).sort()).toEqual([
      'baseline-comparison.svg',
      'best-per-round.svg',
      'latency-percentiles.svg',
      'pareto.svg',
      'search-timeline.svg',
    ]);
    expect(written.pngs).toHaveLength(5);
    for (const file of written.pngs) {
      const img = decodePng(readFileSync(file));
      expect(img.width).toBeGreaterThan(600);
      // Axes, bars and labels cover a few percent of a chart; a blank render would be ~0.
      expect(countNonWhite(img) / (img.width * img.height), path.basename(file)).toBeGreaterThan(0.02);
    }
  });

  it('loads in headless Chromium without console errors or network requests, and draws the plots', async () => {
    const page = await chromium.context.newPage();
    const problems: string[] = [];
    page.on(
      'console',
      (m) => (m.type() === 'error' || m.type() === 'warning') && problems.push(`console ${m.type()}: ${m.text()}`),
    );
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => !r.url().startsWith('file:') && problems.push(`network request: ${r.url()}`));
    await page.setViewportSize({ width: 1400, height: 1000 });
    await page.goto(pathToFileURL(written.html).href, { waitUntil: 'load' });

    const results = loadSearchResults(SEARCH, root);
    const measured = results.leaderboard.length + (results.baseline ? 1 : 0);
    expect(await page.locator('#leaderboard tr[data-candidate]').count()).toBe(measured);
    expect(await page.locator('#rejected tr[data-candidate]').count()).toBe(3);
    expect(await page.locator('#pareto .mark').count()).toBe(measured);
    expect(await page.locator('#best-per-round .mark.best').count()).toBe(3);
    expect(await page.locator('#latency-percentiles .mark').count()).toBe(measured * 4 * 3);
    expect(await page.locator('#baseline-comparison .mark').count()).toBe(measured);
    expect(await page.locator('#search-timeline .mark.accepted').count()).toBe(measured);
    expect(await page.locator('#search-timeline .mark.rejected').count()).toBe(3);

    // The Pareto front, recomputed here straight from the bench files.
    const ids = results.leaderboard.map((c) => c.candidateId);
    const pts = ids.map((id) => ({ id, t: bench(root, id).output_throughput, l: bench(root, id).median_tpot_ms }));
    const front = pts
      .filter((a) => !pts.some((b) => b !== a && b.t >= a.t && b.l <= a.l && (b.t > a.t || b.l < a.l)))
      .map((p) => p.id);
    const drawnFront = await page
      .locator('#pareto .mark.front')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-candidate')));
    expect(drawnFront.sort()).toEqual(front.sort());

    const shot = decodePng(await page.locator('figure[data-plot=pareto]').screenshot());
    expect(countNonWhite(shot) / (shot.width * shot.height)).toBeGreaterThan(0.02);
    expect(countColor(shot, [0xd9, 0x48, 0x0f])).toBeGreaterThan(100); // the highlighted front
    expect(problems).toEqual([]);
    await page.close();
  });

  it('takes every figure from bench.json, not from search.json', async () => {
    const id = 'r2-c1';
    const file = path.join(root, SEARCH, 'candidates', id, 'bench.json');
    const b = JSON.parse(readFileSync(file, 'utf8'));
    b.output_throughput = 987.6; // now the best; search.json still records 455
    writeFileSync(file, JSON.stringify(b));
    const again = await writeReport(SEARCH, { artifactsRoot: root, outDir: path.join(root, 'out2'), png: false });
    const page = await chromium.context.newPage();
    await page.goto(pathToFileURL(again.html).href);
    const firstRow = page.locator('#leaderboard tr[data-candidate]').first();
    expect(await firstRow.getAttribute('data-candidate')).toBe(id);
    expect(await firstRow.locator('td[data-metric="output_throughput"]').textContent()).toBe(fmt(987.6));
    const bestValues = await page
      .locator('#best-per-round .mark.best')
      .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-value'))));
    expect(bestValues).toEqual([bench(root, 'r1-c1').output_throughput, 987.6, 987.6]);
    // Unchanged candidates still show their own files' numbers.
    const r3 = page.locator('#leaderboard tr[data-candidate="r3-c1"] td[data-metric="median_tpot_ms"]');
    expect(await r3.textContent()).toBe(fmt(bench(root, 'r3-c1').median_tpot_ms));
    await page.close();
  });

  it('names the searches that exist when the id is wrong', async () => {
    await expect(writeReport('no-such-search', { artifactsRoot: root, png: false })).rejects.toThrow(
      /search "no-such-search" not found: searches in .*: cpu-demo-synthetic/,
    );
  });
});

// Every search in the fixture store (the real CPU search included): the page renders each
// measured candidate, with the numbers of its own bench.json.
describe.skipIf(!hasChromium).each(listSearchIds(FIXTURE))('report of fixture search %s', (searchId) => {
  let out: string;
  let chromium: HeadlessBrowser;
  beforeAll(async () => {
    out = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-report-each-'));
    chromium = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await chromium?.close();
    rmSync(out, { recursive: true, force: true });
  });

  it('renders every measured candidate with its bench.json figures and no console errors', async () => {
    const written = await writeReport(searchId, { artifactsRoot: FIXTURE, outDir: out });
    const r = loadSearchResults(searchId, FIXTURE);
    const measured = measuredCandidates(r).filter((c) => c.bench);
    expect(measured.length).toBeGreaterThan(0);
    const page = await chromium.context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('request', (q) => !q.url().startsWith('file:') && problems.push(`network request: ${q.url()}`));
    await page.goto(pathToFileURL(written.html).href);
    expect(await page.locator('#pareto .mark').count()).toBe(measured.length);
    for (const c of measured) {
      const raw = JSON.parse(readFileSync(c.benchPath!, 'utf8'));
      const cell = page.locator(
        `#leaderboard tr[data-candidate="${c.candidateId}"] td[data-metric="output_throughput"]`,
      );
      expect(await cell.textContent(), c.candidateId).toBe(
        fmt(raw.output_throughput ?? raw.metrics?.output_throughput),
      );
    }
    const timed = [...r.leaderboard, ...r.rejected].some((c) => c.finishedS !== null);
    for (const png of written.pngs) {
      if (!timed && path.basename(png) === 'search-timeline.png') {
        // A search.json from before candidates recorded their finish times: the timeline says so instead.
        expect(await page.locator('#search-timeline').textContent()).toContain('no candidate finish times');
        continue;
      }
      const img = decodePng(readFileSync(png));
      expect(countNonWhite(img) / (img.width * img.height), path.basename(png)).toBeGreaterThan(0.02);
    }
    expect(problems).toEqual([]);
    await page.close();
  });
});
