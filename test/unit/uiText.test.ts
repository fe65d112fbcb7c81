import { describe, expect, it } from 'vitest';
import {
  candidateDetails,
  candidateSummary,
  designInBrief,
  formatMetric,
  formatNumber,
} from '../../lib/workflowSafe/uiText.js';
import { searchDetails, searchSummaryLine } from '../../lib/searchStart.js';

describe('formatNumber', () => {
  it('groups thousands and keeps one decimal', () => {
    expect(formatNumber(12345.64)).toBe('12,345.6');
    expect(formatNumber(1234567)).toBe('1,234,567');
    expect(formatNumber(-9876.54)).toBe('-9,876.5');
    expect(formatNumber(0.042, 3)).toBe('0.042');
    expect(formatNumber(Number.NaN)).toBe('NaN');
  });
});

describe('formatMetric', () => {
  it('names the unit from the metric', () => {
    expect(formatMetric('output_throughput', 12345.64)).toBe('12,345.6 tok/s');
    expect(formatMetric('p99_ttft_ms', 42.08)).toBe('42.1 ms');
    expect(formatMetric('request_throughput', 3.25)).toBe('3.3 req/s');
    expect(formatMetric('output_throughput', null)).toBe('—');
  });
});

describe('design in a few words', () => {
  const tuned = {
    id: 'abc123',
    choices: {
      attention: 'triton_paged',
      kv_cache: 'paged',
      scheduler: 'chunked_prefill',
      execution: 'cuda_graphs',
      linear: 'int8_weight_only',
      tp: '1',
    },
    params: { max_batch_size: 64, block_size: 16, graph_batch_sizes: [1, 2, 4, 8, 16, 24, 32, 40] },
    builder: 'template' as const,
    origin: 'model-free:explore',
    hypothesis: 'paged attention keeps large batches busy',
  };

  it('lists only the choices that differ from the defaults', () => {
    expect(designInBrief(tuned)).toBe('triton_paged, chunked_prefill, cuda_graphs, int8');
    expect(candidateSummary('r2-c1', tuned)).toBe('r2-c1 · triton_paged, chunked_prefill, cuda_graphs, int8');
  });

  it('calls the default design and an all-default design the generic stack', () => {
    expect(designInBrief({ choices: { attention: 'triton_paged' }, origin: 'default' })).toBe('generic stack');
    expect(designInBrief({ choices: { attention: 'sdpa', kv_cache: 'paged' } })).toBe('generic stack');
    expect(designInBrief({ choices: { tp: '2' } })).toBe('tp=2');
  });

  it('details give choices, non-default params, origin and hypothesis', () => {
    const md = candidateDetails('r2-c1', 2, tuned);
    expect(md).toContain('**r2-c1** (round 2) · template builder · design abc123');
    expect(md).toContain('Choices: attention=triton_paged, kv_cache=paged');
    expect(md).toContain('Params (non-default): max_batch_size=64, graph_batch_sizes=[1…40] (8)');
    expect(md).not.toContain('block_size');
    expect(md).toContain('Origin: model-free:explore');
    expect(md).toContain('Hypothesis: paged attention keeps large batches busy');
  });
});

describe('search summary', () => {
  it('names scenario, objective, model and budget', () => {
    const input = {
      scenario: {
        name: 'cpu-demo',
        objective: 'p99_ttft_ms',
        model: { arch: 'llama', preset: 'tiny', weights: 'random', dtype: 'float32' },
      },
      hardware: { kind: 'cpu', device: 'cpu', gpuCount: 0 },
      budget: { rounds: 2, maxCandidates: 6, wallTimeMs: 1_800_000 },
    } as unknown as Parameters<typeof searchSummaryLine>[0];
    expect(searchSummaryLine(input)).toBe('cpu-demo search (p99_ttft_ms)');
    const md = searchDetails(input);
    expect(md).toContain('**cpu-demo**: minimise p99_ttft_ms');
    expect(md).toContain('Model: llama tiny (random weights, float32) · hardware cpu');
    expect(md).toContain('Budget: 2 rounds, 6 candidates, 30 min');
  });
});
