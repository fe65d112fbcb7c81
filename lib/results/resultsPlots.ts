// The README's figures from bench/results: latency percentiles (TTFT, TPOT, ITL) per stack and
// scenario, and output throughput vs concurrency where a run swept it. Standalone SVG built on
// lib/report/svg.ts; every data mark carries class="mark" and data-* attributes with its value.
import { emptyPlot, esc, fmt, frame, linearScale, palette, svgOpen } from '../report/svg.js';
import type { Plot } from '../report/plots.js';
import { STACK_ORDER, sweepStacks, type ResultsSet, type ScenarioResult } from './resultsTable.js';

const FAMILIES = ['ttft', 'tpot', 'itl'];
const STATS = ['median', 'p90', 'p99'];

function stacksOf(r: ScenarioResult): string[] {
  return STACK_ORDER.filter((s) => r.stacks[s]?.metrics && Object.keys(r.stacks[s]!.metrics!).length > 0);
}

/** One row per scenario, one panel per latency family; bars: median / p90 / p99 for each stack. */
export function latencyPlot(set: ResultsSet): Plot {
  const title = 'Latency percentiles per stack (ms; medians over repetitions)';
  const rows = set.scenarios.map((s) => s.result).filter((r) => stacksOf(r).length > 0);
  const panelW = 300;
  const panelH = 230;
  const width = panelW * FAMILIES.length + 20;
  const outer = frame(width, 50 + Math.max(1, rows.length) * panelH);
  if (rows.length === 0)
    return {
      name: 'results-latency',
      title,
      svg: emptyPlot(outer, title, 'results-latency', 'no scenario results yet'),
    };
  let body = '';
  STATS.forEach((s, si) => {
    const lx = width - 260 + si * 80;
    body += `<rect x="${lx}" y="10" width="10" height="10" fill="${palette.series[si]}"/><text x="${lx + 14}" y="19" fill="${palette.ink}">${s}</text>`;
  });
  rows.forEach((r, ri) => {
    const stacks = stacksOf(r);
    FAMILIES.forEach((fam, fi) => {
      const ox = 10 + fi * panelW;
      const oy = 40 + ri * panelH;
      const f = {
        width: panelW,
        height: panelH,
        left: ox + 50,
        right: ox + panelW - 14,
        top: oy + 30,
        bottom: oy + panelH - 40,
      };
      const val = (stack: string, stat: string) => r.stacks[stack]?.metrics?.[`${stat}_${fam}_ms`]?.median ?? null;
      const values = stacks.flatMap((st) => STATS.map((s) => val(st, s) ?? 0)).filter((v) => Number.isFinite(v));
      const y = linearScale(values.length ? values : [0, 1], f.bottom, f.top, { zero: true });
      body += `<text x="${f.left}" y="${oy + 18}" font-weight="bold" fill="${palette.ink}">${esc(r.scenario)}: ${fam.toUpperCase()}</text>`;
      for (const t of y.ticks) {
        body += `<line x1="${f.left}" x2="${f.right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="${palette.grid}"/>`;
        body += `<text x="${f.left - 4}" y="${y(t).toFixed(1)}" text-anchor="end" dominant-baseline="middle" font-size="10" fill="${palette.ink}">${esc(fmt(t))}</text>`;
      }
      const groupW = (f.right - f.left) / stacks.length;
      const barW = (groupW * 0.8) / STATS.length;
      stacks.forEach((st, gi) => {
        const gx = f.left + gi * groupW + groupW * 0.1;
        STATS.forEach((s, si) => {
          const v = val(st, s);
          if (v === null || !Number.isFinite(v)) return;
          const top = y(v);
          body += `<rect class="mark" data-scenario="${esc(r.scenario)}" data-stack="${esc(st)}" data-metric="${s}_${fam}_ms" data-value="${v}" x="${(gx + si * barW).toFixed(1)}" y="${top.toFixed(1)}" width="${Math.max(1, barW - 1).toFixed(1)}" height="${Math.max(0.5, f.bottom - top).toFixed(1)}" fill="${palette.series[si]}"><title>${esc(r.scenario)} ${esc(st)} ${s} ${fam}: ${esc(fmt(v))} ms</title></rect>`;
        });
        body += `<text x="${(gx + (barW * STATS.length) / 2).toFixed(1)}" y="${f.bottom + 14}" text-anchor="middle" font-size="10" fill="${palette.ink}">${esc(st)}</text>`;
      });
      body += `<line x1="${f.left}" x2="${f.right}" y1="${f.bottom}" y2="${f.bottom}" stroke="${palette.ink}"/>`;
    });
  });
  return { name: 'results-latency', title, svg: `${svgOpen(outer, title, 'results-latency')}${body}</svg>` };
}

/** One panel per scenario with a sweep: output tokens/s against max concurrency, a line per stack. */
export function throughputConcurrencyPlot(set: ResultsSet): Plot | null {
  const rows = set.scenarios.map((s) => s.result).filter((r) => sweepStacks(r).length > 0);
  if (rows.length === 0) return null;
  const title = 'Output throughput vs concurrency (tokens/s)';
  const panelW = 420;
  const panelH = 260;
  const cols = Math.min(2, rows.length);
  const outer = frame(cols * panelW + 20, 50 + Math.ceil(rows.length / cols) * panelH);
  let body = '';
  rows.forEach((r, ri) => {
    const ox = 10 + (ri % cols) * panelW;
    const oy = 40 + Math.floor(ri / cols) * panelH;
    const f = {
      width: panelW,
      height: panelH,
      left: ox + 60,
      right: ox + panelW - 90,
      top: oy + 30,
      bottom: oy + panelH - 42,
    };
    const pts = (r.concurrency_sweep ?? []).filter(
      (p) => Number.isFinite(p.output_throughput) && p.max_concurrency > 0,
    );
    const levels = [...new Set(pts.map((p) => p.max_concurrency))].sort((a, b) => a - b);
    // Concurrencies are powers of two or so: equal spacing per level reads better than a linear axis.
    const x = (c: number) => f.left + ((levels.indexOf(c) + 0.5) / levels.length) * (f.right - f.left);
    const y = linearScale(
      pts.map((p) => p.output_throughput),
      f.bottom,
      f.top,
      { zero: true },
    );
    body += `<text x="${f.left}" y="${oy + 18}" font-weight="bold" fill="${palette.ink}">${esc(r.scenario)}</text>`;
    for (const t of y.ticks) {
      body += `<line x1="${f.left}" x2="${f.right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="${palette.grid}"/>`;
      body += `<text x="${f.left - 4}" y="${y(t).toFixed(1)}" text-anchor="end" dominant-baseline="middle" font-size="10" fill="${palette.ink}">${esc(fmt(t))}</text>`;
    }
    body += `<line x1="${f.left}" x2="${f.right}" y1="${f.bottom}" y2="${f.bottom}" stroke="${palette.ink}"/>`;
    for (const c of levels)
      body += `<text x="${x(c).toFixed(1)}" y="${f.bottom + 14}" text-anchor="middle" font-size="10" fill="${palette.ink}">${c}</text>`;
    body += `<text x="${(f.left + f.right) / 2}" y="${f.bottom + 32}" text-anchor="middle" fill="${palette.ink}">max concurrency</text>`;
    sweepStacks(r).forEach((st, si) => {
      const color = palette.series[(STACK_ORDER.indexOf(st) + 3) % palette.series.length];
      const line = pts.filter((p) => p.stack === st).sort((a, b) => a.max_concurrency - b.max_concurrency);
      body += `<path d="${line.map((p, i) => `${i ? 'L' : 'M'}${x(p.max_concurrency).toFixed(1)},${y(p.output_throughput).toFixed(1)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`;
      for (const p of line) {
        body += `<circle class="mark" data-scenario="${esc(r.scenario)}" data-stack="${esc(st)}" data-concurrency="${p.max_concurrency}" data-value="${p.output_throughput}" cx="${x(p.max_concurrency).toFixed(1)}" cy="${y(p.output_throughput).toFixed(1)}" r="4" fill="${color}"><title>${esc(st)} @ ${p.max_concurrency}: ${esc(fmt(p.output_throughput))} tok/s</title></circle>`;
      }
      body += `<rect x="${f.right + 10}" y="${f.top + si * 18}" width="10" height="10" fill="${color}"/><text x="${f.right + 24}" y="${f.top + 9 + si * 18}" fill="${palette.ink}">${esc(st)}</text>`;
    });
  });
  return {
    name: 'results-throughput-concurrency',
    title,
    svg: `${svgOpen(outer, title, 'results-throughput-concurrency')}${body}</svg>`,
  };
}

export function resultsPlots(set: ResultsSet): Plot[] {
  const t = throughputConcurrencyPlot(set);
  return [latencyPlot(set), ...(t ? [t] : [])];
}
