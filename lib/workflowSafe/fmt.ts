// Human-sized numbers for charts, tables and spreads. Here rather than in the report's SVG
// primitives so the spread text the workflows print shares it (lib/workflowSafe: no Node APIs).

/** Human-sized numbers: 3 significant digits, no exponent for the ranges serving metrics live in. */
export function fmt(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(2);
  if (abs >= 100) return value.toFixed(1).replace(/\.0$/, '');
  return Number(value.toPrecision(3)).toString();
}
