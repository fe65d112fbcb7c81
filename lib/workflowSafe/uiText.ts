// Short texts for the Temporal UI and the CLI: a design in a few words, numbers with thousands
// separators and their unit. Pure (no Node APIs): workflow code imports it, and so must replay
// the same text from the same input.
import designSpace from '../../python-runtime/vibeserve_runtime/design_space.json' with { type: 'json' };
import type { Design, ParamValue } from '../architect/types.js';

const DIMENSION_DEFAULTS: Record<string, string> = Object.fromEntries(
  Object.entries(designSpace.dimensions as Record<string, { default: string }>).map(([dim, d]) => [dim, d.default]),
);
const PARAM_DEFAULTS: Record<string, ParamValue> = Object.fromEntries(
  Object.entries(designSpace.params as Record<string, { default: ParamValue }>).map(([name, p]) => [name, p.default]),
);

/** Choice names too long for a one-line summary. */
const SHORT_CHOICE: Record<string, string> = { int8_weight_only: 'int8' };

/** 12345.64 → "12,345.6"; whole numbers keep no decimals. */
export function formatNumber(value: number, fractionDigits = 1): string {
  if (!Number.isFinite(value)) return String(value);
  const fixed = Number.isInteger(value) ? value.toFixed(0) : value.toFixed(fractionDigits);
  const [whole, fraction] = fixed.split('.');
  const sign = whole.startsWith('-') ? '-' : '';
  const digits = whole.replace('-', '').replace(/\B(?=(\d{3})+$)/g, ',');
  return `${sign}${digits}${fraction ? `.${fraction}` : ''}`;
}

/** The unit of a benchmark metric, read from its vLLM name. */
export function metricUnit(metric: string): string {
  if (metric.endsWith('_ms')) return 'ms';
  if (metric === 'request_throughput') return 'req/s';
  if (metric.endsWith('throughput')) return 'tok/s';
  return '';
}

/** 12345.64 for output_throughput → "12,345.6 tok/s"; 42.08 for p99_ttft_ms → "42.1 ms". */
export function formatMetric(metric: string, value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  const unit = metricUnit(metric);
  return unit ? `${formatNumber(value)} ${unit}` : formatNumber(value);
}

/** The choices that differ from the dimension defaults, e.g. "triton_paged, chunked_prefill, int8";
 * a design with none is the generic stack. */
export function designInBrief(design: Pick<Design, 'choices' | 'origin'>): string {
  if (design.origin === 'default') return 'generic stack';
  const changed = Object.entries(design.choices)
    .filter(([dim, choice]) => DIMENSION_DEFAULTS[dim] !== choice)
    .map(([dim, choice]) => (/^\d+$/.test(choice) ? `${dim}=${choice}` : (SHORT_CHOICE[choice] ?? choice)));
  return changed.length ? changed.join(', ') : 'generic stack';
}

/** One line for a candidate workflow: "r2-c1 · triton_paged, chunked_prefill". */
export function candidateSummary(candidateId: string, design: Pick<Design, 'choices' | 'origin' | 'builder'>): string {
  return `${candidateId} · ${designInBrief(design)}${design.builder === 'llm' ? ' (LLM-built)' : ''}`;
}

/** Markdown for a candidate workflow's static details: its choices, the params that differ from
 * their defaults, where it came from and what it is meant to show. */
export function candidateDetails(candidateId: string, round: number, design: Design): string {
  const choices = Object.entries(design.choices).map(([dim, choice]) => `${dim}=${choice}`);
  const params = Object.entries(design.params)
    .filter(([name, value]) => JSON.stringify(PARAM_DEFAULTS[name]) !== JSON.stringify(value))
    .map(([name, value]) => `${name}=${paramText(value)}`);
  return [
    `**${candidateId}** (round ${round}) · ${design.builder} builder · design ${design.id}`,
    `Choices: ${choices.join(', ') || 'none'}`,
    `Params (non-default): ${params.join(', ') || 'none'}`,
    design.origin ? `Origin: ${design.origin}` : '',
    design.hypothesis ? `Hypothesis: ${design.hypothesis}` : '',
    design.llmTask ? `LLM task: ${design.llmTask.dimension}` : '',
  ]
    .filter(Boolean)
    .join('\n\n');
}

/** Long lists (CUDA graph batch sizes) shortened to their ends and count. */
function paramText(value: ParamValue): string {
  if (!Array.isArray(value)) return String(value);
  if (value.length <= 6) return `[${value.join(',')}]`;
  return `[${value[0]}…${value[value.length - 1]}] (${value.length})`;
}
