// The report's five figures, as standalone SVG documents. Every data mark carries class="mark"
// and data-* attributes with the plotted value, so tests (and curious users) can check a figure
// against the bench.json it came from.
import type { CandidateView, SearchResults } from './loadSearchResults.js';
import {
  isBaselineCandidate,
  listedCandidates,
  measuredCandidates,
  metricValue,
  timelineCandidates,
} from './loadSearchResults.js';
import { emptyPlot, esc, fmt, frame, linearScale, palette, svgOpen, xAxis, yAxis } from './svg.js';

export interface Plot {
  name: string;
  title: string;
  svg: string;
}

const label = (metric: string) => metric.replace(/_/g, ' ');

/** Best objective so far per round (step line), with every candidate of the round as a dot. */
export function bestPerRoundPlot(r: SearchResults): Plot {
  const title = `Best ${label(r.objectiveMetric)} per round`;
  const f = frame(640, 340);
  const points = r.rounds.filter((p) => p.best !== null);
  const scored = r.leaderboard.filter((c) => c.objective !== null);
  if (points.length === 0)
    return { name: 'best-per-round', title, svg: emptyPlot(f, title, 'best-per-round', 'no accepted candidate yet') };
  const rounds = r.rounds.map((p) => p.round);
  const x = linearScale([Math.min(...rounds) - 0.5, Math.max(...rounds) + 0.5], f.left, f.right);
  const values = [...points.map((p) => p.best!), ...scored.map((c) => c.objective!)];
  if (r.baseline?.objective != null) values.push(r.baseline.objective);
  const y = linearScale(values, f.bottom, f.top, { zero: true });
  let body =
    yAxis(f, y, label(r.objectiveMetric)) + xAxis(f, x, 'round', (t) => (Number.isInteger(t) ? String(t) : ''));
  if (r.baseline?.objective != null) {
    const by = y(r.baseline.objective).toFixed(1);
    body += `<line class="baseline" x1="${f.left}" x2="${f.right}" y1="${by}" y2="${by}" stroke="${palette.muted}" stroke-dasharray="6 4"/>`;
    body += `<text x="${f.right - 4}" y="${Number(by) - 5}" text-anchor="end" fill="${palette.muted}">baseline ${esc(r.baseline.candidateId)}</text>`;
  }
  for (const c of scored) {
    body += `<circle class="mark candidate" data-candidate="${esc(c.candidateId)}" data-value="${c.objective}" cx="${x(c.round).toFixed(1)}" cy="${y(c.objective!).toFixed(1)}" r="4" fill="${palette.muted}" fill-opacity="0.7"><title>${esc(c.candidateId)}: ${esc(fmt(c.objective))}</title></circle>`;
  }
  const path = points.map((p, i) => `${i ? 'L' : 'M'}${x(p.round).toFixed(1)},${y(p.best!).toFixed(1)}`).join(' ');
  body += `<path d="${path}" fill="none" stroke="${palette.primary}" stroke-width="2.5"/>`;
  for (const p of points) {
    body += `<circle class="mark best" data-round="${p.round}" data-value="${p.best}" cx="${x(p.round).toFixed(1)}" cy="${y(p.best!).toFixed(1)}" r="6" fill="${palette.primary}"><title>round ${p.round}: best ${esc(fmt(p.best))} (${esc(p.bestCandidateId)})</title></circle>`;
    body += `<text x="${x(p.round).toFixed(1)}" y="${(y(p.best!) - 10).toFixed(1)}" text-anchor="middle" fill="${palette.ink}">${esc(fmt(p.best))}</text>`;
  }
  return { name: 'best-per-round', title, svg: `${svgOpen(f, title, 'best-per-round')}${body}</svg>` };
}

/** Candidates that no other candidate beats on both throughput (higher) and latency (lower). */
export function paretoFront<T>(items: T[], throughput: (t: T) => number, latency: (t: T) => number): T[] {
  return items
    .filter(
      (a) =>
        !items.some(
          (b) =>
            b !== a &&
            throughput(b) >= throughput(a) &&
            latency(b) <= latency(a) &&
            (throughput(b) > throughput(a) || latency(b) < latency(a)),
        ),
    )
    .sort((a, b) => latency(a) - latency(b));
}

/** Throughput vs latency for every measured candidate (and the baseline), Pareto front highlighted. */
export function paretoPlot(r: SearchResults): Plot {
  const tMetric = 'output_throughput';
  const lMetric = r.latencyMetric;
  const title = `${label(tMetric)} vs ${label(lMetric)}`;
  const f = frame(640, 380);
  const pts = measuredCandidates(r)
    .map((c) => ({ c, t: metricValue(c.bench, tMetric), l: metricValue(c.bench, lMetric) }))
    .filter((p): p is { c: CandidateView; t: number; l: number } => p.t !== null && p.l !== null);
  if (pts.length === 0)
    return { name: 'pareto', title, svg: emptyPlot(f, title, 'pareto', 'no benchmarked candidate yet') };
  const x = linearScale(
    pts.map((p) => p.l),
    f.left,
    f.right,
    { zero: true },
  );
  const y = linearScale(
    pts.map((p) => p.t),
    f.bottom,
    f.top,
    { zero: true },
  );
  const front = paretoFront(
    pts.filter((p) => !p.c.isBaseline),
    (p) => p.t,
    (p) => p.l,
  );
  const baseId = r.baseline?.candidateId;
  let body = yAxis(f, y, `${label(tMetric)} (tok/s) ↑`) + xAxis(f, x, `${label(lMetric)} ↓`);
  if (front.length > 1) {
    // Staircase through the front: everything below-right of it is dominated.
    let d = '';
    front.forEach((p, i) => {
      const px = x(p.l).toFixed(1);
      const py = y(p.t).toFixed(1);
      d += i === 0 ? `M${px},${py}` : ` L${px},${y(front[i - 1].t).toFixed(1)} L${px},${py}`;
    });
    body += `<path class="front" d="${d}" fill="none" stroke="${palette.accent}" stroke-width="2" stroke-dasharray="5 3"/>`;
  }
  for (const p of pts) {
    const onFront = front.includes(p);
    const cls = p.c.isBaseline ? 'baseline' : onFront ? 'front' : 'dominated';
    const color = p.c.isBaseline ? palette.muted : onFront ? palette.accent : palette.primary;
    const cx = x(p.l).toFixed(1);
    const cy = y(p.t).toFixed(1);
    const shape = p.c.isBaseline
      ? `<rect class="mark ${cls}" x="${Number(cx) - 5}" y="${Number(cy) - 5}" width="10" height="10" fill="${color}"`
      : `<circle class="mark ${cls}" cx="${cx}" cy="${cy}" r="${onFront ? 7 : 5}" fill="${color}" fill-opacity="${onFront ? 1 : 0.6}"`;
    body += `${shape} data-candidate="${esc(p.c.candidateId)}" data-throughput="${p.t}" data-latency="${p.l}"><title>${esc(p.c.candidateId)}: ${esc(fmt(p.t))} tok/s at ${esc(fmt(p.l))} ms</title>${p.c.isBaseline ? '</rect>' : '</circle>'}`;
    const nearRight = Number(cx) > f.right - 120; // keep labels of right-most points inside the figure
    const name = p.c.candidateId === baseId && !p.c.isBaseline ? `${p.c.candidateId} (baseline)` : p.c.candidateId;
    body += `<text x="${Number(cx) + (nearRight ? -9 : 9)}" y="${Number(cy) - 7}" text-anchor="${nearRight ? 'end' : 'start'}" fill="${palette.ink}" font-size="11">${esc(name)}</text>`;
  }
  const lx = f.right - 150;
  body += `<circle cx="${lx}" cy="${f.top + 6}" r="6" fill="${palette.accent}"/><text x="${lx + 10}" y="${f.top + 10}" fill="${palette.ink}">Pareto front</text>`;
  body += `<circle cx="${lx}" cy="${f.top + 24}" r="5" fill="${palette.primary}" fill-opacity="0.6"/><text x="${lx + 10}" y="${f.top + 28}" fill="${palette.ink}">dominated</text>`;
  if (pts.some((p) => p.c.isBaseline))
    body += `<rect x="${lx - 5}" y="${f.top + 37}" width="10" height="10" fill="${palette.muted}"/><text x="${lx + 10}" y="${f.top + 46}" fill="${palette.ink}">baseline</text>`;
  return { name: 'pareto', title, svg: `${svgOpen(f, title, 'pareto')}${body}</svg>` };
}

/** Small multiples: mean / median / p99 of TTFT, TPOT, ITL and E2EL for each measured candidate. */
export function latencyPercentilesPlot(r: SearchResults): Plot {
  const title = 'Latency percentiles per candidate (ms)';
  const cands = measuredCandidates(r).filter((c) => c.bench);
  const families = ['ttft', 'tpot', 'itl', 'e2el'];
  const stats = ['mean', 'median', 'p99'];
  const panelW = 340;
  const panelH = 290;
  const width = panelW * 2 + 60; // room on the right for the last rotated label
  const height = panelH * 2 + 40;
  const outer = frame(width, height);
  if (cands.length === 0)
    return {
      name: 'latency-percentiles',
      title,
      svg: emptyPlot(outer, title, 'latency-percentiles', 'no benchmarked candidate yet'),
    };
  let body = '';
  families.forEach((fam, i) => {
    const ox = (i % 2) * panelW;
    const oy = 30 + Math.floor(i / 2) * panelH;
    const f = {
      width: panelW,
      height: panelH,
      left: ox + 52,
      right: ox + panelW - 12,
      top: oy + 28,
      bottom: oy + panelH - 90,
    };
    const values = cands.flatMap((c) => stats.map((s) => metricValue(c.bench, `${s}_${fam}_ms`) ?? 0));
    const y = linearScale(values, f.bottom, f.top, { zero: true });
    body += `<text x="${f.left}" y="${oy + 18}" font-weight="bold" fill="${palette.ink}">${fam.toUpperCase()}</text>`;
    for (const t of y.ticks) {
      body += `<line x1="${f.left}" x2="${f.right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="${palette.grid}"/>`;
      body += `<text x="${f.left - 4}" y="${y(t).toFixed(1)}" text-anchor="end" dominant-baseline="middle" font-size="10" fill="${palette.ink}">${esc(fmt(t))}</text>`;
    }
    const groupW = (f.right - f.left) / cands.length;
    const barW = Math.max(2, (groupW * 0.8) / stats.length);
    cands.forEach((c, ci) => {
      const gx = f.left + ci * groupW + groupW * 0.1;
      stats.forEach((s, si) => {
        const v = metricValue(c.bench, `${s}_${fam}_ms`);
        if (v === null) return;
        const top = y(v);
        body += `<rect class="mark" data-candidate="${esc(c.candidateId)}" data-metric="${s}_${fam}_ms" data-value="${v}" x="${(gx + si * barW).toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${Math.max(0.5, f.bottom - top).toFixed(1)}" fill="${palette.series[si]}"><title>${esc(c.candidateId)} ${s} ${fam}: ${esc(fmt(v))} ms</title></rect>`;
      });
      const tx = gx + (barW * stats.length) / 2;
      const name = c.candidateId.length > 14 ? `${c.candidateId.slice(0, 13)}…` : c.candidateId;
      body += `<text transform="translate(${(tx - 3).toFixed(1)} ${f.bottom + 8}) rotate(50)" font-size="10" fill="${palette.ink}">${esc(name)}<title>${esc(c.candidateId)}</title></text>`;
    });
    body += `<line x1="${f.left}" x2="${f.right}" y1="${f.bottom}" y2="${f.bottom}" stroke="${palette.ink}"/>`;
  });
  stats.forEach((s, si) => {
    const lx = width - 250 + si * 80;
    body += `<rect x="${lx}" y="10" width="10" height="10" fill="${palette.series[si]}"/><text x="${lx + 14}" y="19" fill="${palette.ink}">${s}</text>`;
  });
  return { name: 'latency-percentiles', title, svg: `${svgOpen(outer, title, 'latency-percentiles')}${body}</svg>` };
}

/** The objective of the baseline and of every accepted candidate, with the speed-up over the baseline. */
export function baselineComparisonPlot(r: SearchResults): Plot {
  const metric = r.objectiveMetric;
  const title = `Baseline comparison: ${label(metric)}`;
  const rows = [
    ...(r.baseline ? [r.baseline] : []),
    ...r.leaderboard.filter((c) => c.candidateId !== r.baseline?.candidateId),
  ].filter((c) => c.objective !== null);
  const f = frame(640, Math.max(160, 70 + rows.length * 30), { left: 230, right: 90, top: 40, bottom: 40 });
  if (rows.length === 0)
    return {
      name: 'baseline-comparison',
      title,
      svg: emptyPlot(f, title, 'baseline-comparison', 'no benchmarked candidate yet'),
    };
  const x = linearScale(
    rows.map((c) => c.objective!),
    f.left,
    f.right,
    { zero: true },
  );
  const base = r.baseline?.objective ?? null;
  const best = r.leaderboard[0];
  let body = xAxis(f, x, label(metric));
  for (const t of x.ticks)
    body += `<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${f.top}" y2="${f.bottom}" stroke="${palette.grid}"/>`;
  const rowH = (f.bottom - f.top) / rows.length;
  rows.forEach((c, i) => {
    const yTop = f.top + i * rowH + rowH * 0.15;
    const isBase = isBaselineCandidate(r, c);
    const color = isBase ? palette.muted : c === best ? palette.accent : palette.primary;
    const w = Math.max(1, x(c.objective!) - f.left);
    const name = isBase
      ? `${c.candidateId} (baseline${c === best ? ', best' : ''})`
      : c === best
        ? `${c.candidateId} (best)`
        : c.candidateId;
    body += `<text x="${f.left - 8}" y="${(yTop + rowH * 0.35).toFixed(1)}" text-anchor="end" dominant-baseline="middle" fill="${palette.ink}">${esc(name)}</text>`;
    body += `<rect class="mark" data-candidate="${esc(c.candidateId)}" data-value="${c.objective}" x="${f.left}" y="${yTop.toFixed(1)}" width="${w.toFixed(1)}" height="${(rowH * 0.7).toFixed(1)}" fill="${color}"><title>${esc(c.candidateId)}: ${esc(fmt(c.objective))}</title></rect>`;
    const speedup = base && !isBase ? ` (${fmt(r.higherIsBetter ? c.objective! / base : base / c.objective!)}×)` : '';
    body += `<text x="${(f.left + w + 6).toFixed(1)}" y="${(yTop + rowH * 0.35).toFixed(1)}" dominant-baseline="middle" fill="${palette.ink}">${esc(fmt(c.objective))}${esc(speedup)}</text>`;
  });
  return { name: 'baseline-comparison', title, svg: `${svgOpen(f, title, 'baseline-comparison')}${body}</svg>` };
}

/** Candidates over the search's wall time: each accepted one as a dot at its objective, each rejected
 * one as a cross along the bottom, the best objective so far as a step line, and the pace as a caption. */
export function timelinePlot(r: SearchResults): Plot {
  const name = 'search-timeline';
  const title = `Search timeline: ${label(r.objectiveMetric)}`;
  const f = frame(640, 380, { left: 64, right: 20, top: 76, bottom: 52 });
  const listed = listedCandidates(r);
  const cands = timelineCandidates(r);
  if (cands.length === 0)
    return {
      name,
      title,
      svg: emptyPlot(
        f,
        title,
        name,
        listed.length
          ? 'no candidate finish times in search.json (written before they were recorded)'
          : 'no candidate finished yet',
      ),
    };
  const minutes = (s: number) => s / 60;
  const wallMin = minutes(Math.max(r.wallS ?? 0, ...cands.map((c) => c.finishedS)));
  const x = linearScale([0, wallMin], f.left, f.right, { zero: true });
  const scored = cands.filter((c) => c.status === 'accepted' && c.objective !== null);
  const values = scored.map((c) => c.objective!);
  if (r.baseline?.objective != null) values.push(r.baseline.objective);
  const y = linearScale(values.length ? values : [0], f.bottom, f.top, { zero: true });
  let body = yAxis(f, y, label(r.objectiveMetric)) + xAxis(f, x, 'minutes since the search started');

  // The pace: what the search managed per hour, and when its best was found.
  const better = (a: number, b: number) => (r.higherIsBetter ? a > b : a < b);
  const steps: Array<{ c: (typeof cands)[number]; value: number }> = [];
  for (const c of scored)
    if (!steps.length || better(c.objective!, steps.at(-1)!.value)) steps.push({ c, value: c.objective! });
  const perHour = wallMin > 0 ? cands.length / (wallMin / 60) : null;
  const last = steps.at(-1);
  const unplaced = listed.length - cands.length;
  const caption =
    `${cands.length} candidate${cands.length === 1 ? '' : 's'} in ${fmt(wallMin)} min` +
    (perHour === null ? '' : ` (${fmt(perHour)} per hour)`) +
    (last ? `; best ${fmt(last.value)} at ${fmt(minutes(last.c.finishedS))} min` : '; none accepted') +
    (unplaced ? `; ${unplaced} without a finish time not shown` : '');
  body += `<text class="caption" data-candidates="${cands.length}" data-minutes="${wallMin}" data-per-hour="${perHour ?? ''}" x="${f.left}" y="42" fill="${palette.ink}">${esc(caption)}</text>`;
  const ly = 62;
  body += `<circle cx="${f.left + 4}" cy="${ly - 4}" r="4" fill="${palette.muted}" fill-opacity="0.7"/><text x="${f.left + 12}" y="${ly}" fill="${palette.ink}" font-size="11">accepted</text>`;
  body += `<line x1="${f.left + 76}" x2="${f.left + 96}" y1="${ly - 4}" y2="${ly - 4}" stroke="${palette.primary}" stroke-width="2.5"/><text x="${f.left + 102}" y="${ly}" fill="${palette.ink}" font-size="11">best so far (${r.higherIsBetter ? 'higher' : 'lower'} is better)</text>`;
  body += `<path d="${cross(f.left + 286, ly - 4)}" stroke="${palette.accent}" stroke-width="1.5"/><text x="${f.left + 294}" y="${ly}" fill="${palette.ink}" font-size="11">rejected</text>`;

  if (r.baseline?.objective != null) {
    const by = y(r.baseline.objective).toFixed(1);
    body += `<line class="baseline" x1="${f.left}" x2="${f.right}" y1="${by}" y2="${by}" stroke="${palette.muted}" stroke-dasharray="6 4"/>`;
    body += `<text x="${f.right - 4}" y="${Number(by) - 5}" text-anchor="end" fill="${palette.muted}">baseline ${esc(r.baseline.candidateId)}</text>`;
  }
  for (const c of scored) {
    const m = minutes(c.finishedS);
    body += `<circle class="mark accepted" data-candidate="${esc(c.candidateId)}" data-minutes="${m}" data-value="${c.objective}" cx="${x(m).toFixed(1)}" cy="${y(c.objective!).toFixed(1)}" r="4" fill="${palette.muted}" fill-opacity="0.7"><title>${esc(c.candidateId)} at ${esc(fmt(m))} min: ${esc(fmt(c.objective))}</title></circle>`;
  }
  for (const c of cands.filter((k) => k.status === 'rejected')) {
    const m = minutes(c.finishedS);
    const why = c.reason ?? 'no reason recorded';
    body += `<path class="mark rejected" data-candidate="${esc(c.candidateId)}" data-minutes="${m}" data-reason="${esc(why)}" d="${cross(x(m), f.bottom - 7)}" stroke="${palette.accent}" stroke-width="1.5"><title>${esc(c.candidateId)} at ${esc(fmt(m))} min: rejected (${esc(why)})</title></path>`;
  }
  if (steps.length) {
    // Flat until the next improvement, then straight to it; the last best holds to the end of the search.
    let d = `M${x(minutes(steps[0].c.finishedS)).toFixed(1)},${y(steps[0].value).toFixed(1)}`;
    for (const s of steps.slice(1)) d += ` H${x(minutes(s.c.finishedS)).toFixed(1)} V${y(s.value).toFixed(1)}`;
    d += ` H${x(wallMin).toFixed(1)}`;
    body += `<path class="best-so-far" d="${d}" fill="none" stroke="${palette.primary}" stroke-width="2.5"/>`;
    for (const s of steps) {
      const m = minutes(s.c.finishedS);
      body += `<circle class="mark best" data-candidate="${esc(s.c.candidateId)}" data-minutes="${m}" data-value="${s.value}" cx="${x(m).toFixed(1)}" cy="${y(s.value).toFixed(1)}" r="5.5" fill="${palette.primary}"><title>${esc(s.c.candidateId)} at ${esc(fmt(m))} min: new best ${esc(fmt(s.value))}</title></circle>`;
    }
  }
  return { name, title, svg: `${svgOpen(f, title, name)}${body}</svg>` };
}

/** A small × centred on (cx, cy). */
function cross(cx: number, cy: number, r = 4): string {
  const [a, b, c, d] = [cx - r, cx + r, cy - r, cy + r].map((v) => v.toFixed(1));
  return `M${a},${c} L${b},${d} M${a},${d} L${b},${c}`;
}

export function allPlots(r: SearchResults): Plot[] {
  return [bestPerRoundPlot(r), timelinePlot(r), paretoPlot(r), latencyPercentilesPlot(r), baselineComparisonPlot(r)];
}
