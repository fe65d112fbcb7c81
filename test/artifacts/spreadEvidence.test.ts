// The spread of every figure over the benchmark's repetitions, and the final round's side-by-side
// figures and ties, as the report and the export show them (read from bench.json, the final
// round's pass files and search.json; no browser needed).
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportStack } from '../../lib/export/exportStack.js';
import { loadSearchResults } from '../../lib/report/loadSearchResults.js';
import { renderReport } from '../../lib/report/renderReport.js';

const FIXTURE = path.resolve(import.meta.dirname, '..', 'fixtures', 'search-artifacts');
const SEARCH = 'cpu-demo-synthetic';

describe('spreads in the report and the export', () => {
  let root: string;
  const dir = () => path.join(root, SEARCH);
  const json = (f: string) => JSON.parse(readFileSync(f, 'utf8'));
  const write = (f: string, v: unknown) => {
    mkdirSync(path.dirname(f), { recursive: true });
    writeFileSync(f, JSON.stringify(v, null, 2));
  };

  beforeAll(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-spread-'));
    cpSync(FIXTURE, root, { recursive: true });
    // r3-c1 leads on its own benchmark; r2-c3 ties it in the final round and is simpler
    for (const [id, lo, hi] of [
      ['r3-c1', 470, 560],
      ['r2-c3', 480, 505],
    ] as const) {
      const file = path.join(dir(), 'candidates', id, 'bench.json');
      const b = json(file);
      write(file, {
        ...b,
        spread: {
          output_throughput: { median: b.output_throughput, min: lo, max: hi, n: 3 },
          median_tpot_ms: { median: b.median_tpot_ms, min: b.median_tpot_ms * 0.9, max: b.median_tpot_ms * 1.2, n: 3 },
        },
      });
    }
    const passes: Record<string, number[]> = { 'r3-c1': [500, 520, 470], 'r2-c3': [505, 490, 498] };
    for (const [id, values] of Object.entries(passes)) {
      values.forEach((v, p) =>
        write(path.join(dir(), 'final-round', `${id}.pass-${p + 1}.json`), { output_throughput: v, repetitions: [{}] }),
      );
    }
    const search = json(path.join(dir(), 'search.json'));
    search.finalRound = {
      metric: 'output_throughput',
      passes: 3,
      candidates: [
        { candidateId: 'r3-c1', spread: { median: 1, min: 1, max: 1, n: 3 }, errors: [], changes: 4 },
        { candidateId: 'r2-c3', spread: { median: 1, min: 1, max: 1, n: 3 }, errors: [], changes: 1 },
      ],
      order: ['r2-c3', 'r3-c1'],
      ties: [
        {
          ahead: 'r2-c3',
          behind: 'r3-c1',
          rule: 'simpler',
          message:
            'r2-c3 and r3-c1 tie on output_throughput; r2-c3 ranks first: fewer changes from the generic default (1 vs 4)',
        },
      ],
      evidenceDir: 'final-round',
    };
    write(path.join(dir(), 'search.json'), search);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('orders the leaderboard by the final round and reads its figures from the pass files', () => {
    const r = loadSearchResults(SEARCH, root);
    expect(r.leaderboard.map((c) => c.candidateId).slice(0, 3)).toEqual(['r2-c3', 'r3-c1', 'r3-c2']);
    expect(r.finalRound!.candidates.find((c) => c.candidateId === 'r3-c1')!.spread).toEqual({
      median: 500,
      min: 470,
      max: 520,
      n: 3,
    });
    expect(r.leaderboard[1]!.spread.output_throughput).toEqual({ median: 531, min: 470, max: 560, n: 3 });
  });

  it("shows median (min–max, n) in the report's leaderboard and a final round section with the tie", () => {
    const html = renderReport(loadSearchResults(SEARCH, root), []);
    expect(html).toContain('<td class="num" data-spread="output_throughput">531 (470–560, n=3)</td>');
    expect(html).toContain('<td class="num" data-final="output_throughput">500 (470–520, n=3)</td>');
    expect(html).toContain('<td class="num" data-spread="output_throughput">489</td>'); // no spread recorded: the bare value
    expect(html).toMatch(
      /<table id="final-round">.*<tr data-candidate="r2-c3"><td>1<\/td><td>r2-c3<\/td><td class="num">498 \(490–505, n=3\)<\/td><td class="num">1<\/td>/s,
    );
    expect(html).toContain('<li data-ahead="r2-c3" data-behind="r3-c1">r2-c3 and r3-c1 tie on output_throughput;');
  });

  it("exports the final round's leader with its spreads in the README, the manifest and the evidence", () => {
    const out = path.join(root, 'out');
    const r = exportStack(SEARCH, { artifactsRoot: root, outDir: out });
    expect(r.candidateId).toBe('r2-c3');
    const readme = readFileSync(path.join(out, 'README.md'), 'utf8');
    expect(readme).toContain('| output_throughput | 498 (480–505, n=3) |');
    expect(readme).toContain('output_throughput 498 (490–505, n=3).');
    expect(readme).toContain('Ties: r2-c3 and r3-c1 tie on output_throughput');
    const manifest = json(path.join(out, 'artifact.json'));
    expect(manifest.objective).toEqual({
      metric: 'output_throughput',
      value: 498,
      spread: { median: 498, min: 480, max: 505, n: 3 },
      finalRound: { median: 498, min: 490, max: 505, n: 3 },
    });
    expect(existsSync(path.join(out, 'evidence', 'final-round.json'))).toBe(true);
    expect(json(path.join(out, 'evidence', 'final-round.json')).order).toEqual(['r2-c3', 'r3-c1']);
  });
});
