// Minimal SVG charting primitives: linear scales, "nice" ticks, axes and escaping. The report
// must be self-contained and render offline, so no charting library or web font is involved.
import { fmt } from '../workflowSafe/fmt.js';

export const palette = {
  ink: '#1f2933',
  grid: '#e4e7eb',
  muted: '#9aa5b1',
  accent: '#d9480f',
  primary: '#1c7ed6',
  secondary: '#37b24d',
  series: ['#1c7ed6', '#37b24d', '#f59f00', '#ae3ec9', '#e8590c', '#0ca678'],
};

export function esc(text: unknown): string {
  return String(text).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

// The charts format numbers as the spreads do.
export { fmt };

export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => raw <= s) ?? 10 * mag;
  const ticks: number[] = [];
  // The last tick must reach hi, or marks above it would be drawn outside the plot area.
  for (let t = Math.floor(lo / step) * step; ; t += step) {
    ticks.push(Number(t.toPrecision(12)));
    if (t >= hi - step * 1e-9) break;
  }
  return ticks;
}

export interface Scale {
  (v: number): number;
  ticks: number[];
}

/** Linear scale over [lo, hi] extended to nice tick bounds, mapped onto [r0, r1] pixels. */
export function linearScale(values: number[], r0: number, r1: number, opts: { zero?: boolean } = {}): Scale {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (opts.zero) lo = Math.min(0, lo);
  if (lo === hi) {
    lo = lo === 0 ? 0 : lo * 0.9;
    hi = hi === 0 ? 1 : hi * 1.1;
  }
  const ticks = niceTicks(lo, hi);
  const d0 = ticks[0];
  const d1 = ticks[ticks.length - 1];
  const scale = ((v: number) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0)) as Scale;
  scale.ticks = ticks;
  return scale;
}

export interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export function frame(width: number, height: number, margin = { left: 64, right: 20, top: 40, bottom: 52 }): Frame {
  return {
    width,
    height,
    left: margin.left,
    right: width - margin.right,
    top: margin.top,
    bottom: height - margin.bottom,
  };
}

export function svgOpen(f: Frame, title: string, id: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" id="${esc(id)}" class="plot" width="${f.width}" height="${f.height}" ` +
    `viewBox="0 0 ${f.width} ${f.height}" role="img" aria-label="${esc(title)}" font-family="Helvetica, Arial, sans-serif" font-size="12">` +
    `<rect width="${f.width}" height="${f.height}" fill="#ffffff"/>` +
    `<text x="${f.left}" y="22" font-size="14" font-weight="bold" fill="${palette.ink}">${esc(title)}</text>`
  );
}

export function yAxis(f: Frame, y: Scale, label: string): string {
  let out = '';
  for (const t of y.ticks) {
    const py = y(t).toFixed(1);
    out += `<line x1="${f.left}" x2="${f.right}" y1="${py}" y2="${py}" stroke="${palette.grid}"/>`;
    out += `<text x="${f.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle" fill="${palette.ink}">${esc(fmt(t))}</text>`;
  }
  const cy = (f.top + f.bottom) / 2;
  out += `<text transform="translate(14 ${cy}) rotate(-90)" text-anchor="middle" fill="${palette.ink}">${esc(label)}</text>`;
  return out;
}

export function xAxis(f: Frame, x: Scale, label: string, tickLabel: (t: number) => string = fmt): string {
  let out = `<line x1="${f.left}" x2="${f.right}" y1="${f.bottom}" y2="${f.bottom}" stroke="${palette.ink}"/>`;
  for (const t of x.ticks) {
    const px = x(t).toFixed(1);
    out += `<line x1="${px}" x2="${px}" y1="${f.bottom}" y2="${f.bottom + 4}" stroke="${palette.ink}"/>`;
    out += `<text x="${px}" y="${f.bottom + 16}" text-anchor="middle" fill="${palette.ink}">${esc(tickLabel(t))}</text>`;
  }
  out += `<text x="${(f.left + f.right) / 2}" y="${f.height - 10}" text-anchor="middle" fill="${palette.ink}">${esc(label)}</text>`;
  return out;
}

export function emptyPlot(f: Frame, title: string, id: string, message: string): string {
  return (
    svgOpen(f, title, id) +
    `<text x="${f.width / 2}" y="${f.height / 2}" text-anchor="middle" fill="${palette.muted}">${esc(message)}</text></svg>`
  );
}
