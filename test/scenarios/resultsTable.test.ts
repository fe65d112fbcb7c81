// The README results table and figures, generated from a scenario result written by
// bench/scenarios/compare_stacks.py (a CPU dry run of scripts/gpu/run-scenarios.sh) and a
// kernel-benchmark file: every figure in the table and plots must be the file's own.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { latencyPlot, throughputConcurrencyPlot } from '../../lib/results/resultsPlots.js';
import { END_MARKER, START_MARKER, cell, loadResults, renderResultsMarkdown, spliceReadme } from '../../lib/results/resultsTable.js';
import { fmt } from '../../lib/report/svg.js';

const FIXTURE = path.resolve(import.meta.dirname, 'fixtures', 'results');
const ROOT = path.resolve(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-results-table-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('results table', () => {
  const set = loadResults(FIXTURE);
  const scenario = set.scenarios.find((s) => s.result.scenario === 'gpt2-chat')!.result;

  it('separates scenario results from other benchmark files and skips the run index', () => {
    expect(set.scenarios.map((s) => s.file)).toEqual(['gpt2-chat.json']);
    expect(set.others.map((o) => o.file)).toEqual(['decode_roofline_h100.json']);
    expect(set.others[0]!.figures.length).toBeGreaterThan(0);
  });

  it('puts the files own medians, spreads and ratio in the row', () => {
    const md = renderResultsMarkdown(set);
    const row = md.split('\n').find((l) => l.startsWith('| [gpt2-chat](bench/results/gpt2-chat.json)'))!;
    expect(row).toBeDefined();
    const obj = scenario.objective;
    for (const stack of ['hf-generate', 'generic', 'searched']) {
      const m = scenario.stacks[stack]!.metrics![obj]!;
      expect(m.min).toBeLessThanOrEqual(m.median);
      expect(m.max).toBeGreaterThanOrEqual(m.median);
      expect(row).toContain(cell(m));
    }
    expect(scenario.ratio_vs_generic).toBeCloseTo(
      scenario.stacks.searched!.metrics![obj]!.median / scenario.stacks.generic!.metrics![obj]!.median, 9);
    expect(row).toContain(`**${fmt(scenario.ratio_vs_generic)}×**`);
    expect(row).toContain(scenario.ratio_vs_generic! >= scenario.target!.ratio_vs_generic ? '✅' : '❌');
    expect(row).toContain(`${scenario.search!.candidates_evaluated} (${scenario.search!.accepted} ok`);
    expect(md).toContain(`decode_roofline_h100.json](bench/results/decode_roofline_h100.json) (${set.others[0]!.device})`);
  });

  it('puts a served comparison in its own table: every engine, both workloads, both ratios from the file', () => {
    expect(set.served!.map((s) => s.file)).toEqual(['served_gpt2-chat.json']);
    const served = set.served![0]!.result;
    const md = renderResultsMarkdown(set);
    expect(md.indexOf('### Served over HTTP')).toBeLessThan(md.indexOf('### Offline scenario runs'));
    const rows = md.split('\n').filter((l) => l.startsWith('| [gpt2-chat](bench/results/served_gpt2-chat.json)'));
    expect(rows).toHaveLength(2);
    for (const [i, name] of ['scenario', 'saturating'].entries()) {
      const w = served.workloads[name]!;
      const row = rows[i]!;
      expect(row).toContain(`${w.workload.num_prompts} × ${w.workload.input_len}/${w.workload.output_len}, ${w.workload.max_concurrency} in flight`);
      for (const stack of ['generic', 'searched', 'transformers-cb']) expect(row).toContain(cell(w.stacks[stack]!.metrics![w.objective]!));
      expect(row).toContain(`| – |`);   // no vLLM in this run
      expect(row).toContain(`**${w.ratio_vs_generic!.toFixed(2)}×**`);
      expect(row).toContain(`**${w.ratio_vs_peer!.toFixed(2)}×** (transformers-cb)`);
      expect(w.ratio_vs_peer).toBeCloseTo(w.stacks.searched!.metrics![w.objective]!.median / w.stacks['transformers-cb']!.metrics![w.objective]!.median, 9);
    }
    expect(md).toContain(`- gpt2-chat: searched = ${served.searched_source}`);
    // without a served comparison the offline rows say what their generic stack was
    const offlineOnly = renderResultsMarkdown({ ...set, served: [] });
    expect(offlineOnly).not.toContain('### Served over HTTP');
    expect(offlineOnly).toContain('No served comparison is recorded yet');
  });

  it('gives llama.cpp its own column, and the row its peer ratio against it', () => {
    const served = set.served![0]!.result;
    const w = served.workloads.scenario!;
    const peer = { ...w.stacks['transformers-cb']! };
    const gguf = { ...served, scenario: 'smollm2-chat-cpu', workloads: { scenario: { ...w, stacks: { generic: w.stacks.generic!, 'llama.cpp': peer }, best_peer: 'llama.cpp' } } };
    const md = renderResultsMarkdown({ ...set, served: [{ file: 'served_smollm2.json', result: gguf }] });
    expect(md).toContain('| vLLM | transformers-cb | llama.cpp |');
    const row = md.split('\n').find((l) => l.startsWith('| [smollm2-chat-cpu]'))!;
    const cells = row.split(' | ');
    expect(cells[7]).toBe(cell(peer.metrics![w.objective]!));   // scenario, workload, objective, 4 engines before it
    expect(row).toContain('(llama.cpp)');
  });

  it('names the device of each row once results come from more than one kind of machine', () => {
    expect(renderResultsMarkdown(set)).not.toContain(`| [gpt2-chat](bench/results/gpt2-chat.json) (`);
    const other = { file: 'tp.json', result: { ...scenario, scenario: 'multi-gpu-tp', device: '2 x NVIDIA H200' } };
    const md = renderResultsMarkdown({ ...set, scenarios: [...set.scenarios, other] });
    expect(md).toContain(`| [multi-gpu-tp](bench/results/tp.json) (2 x NVIDIA H200) |`);
    expect(md).toContain(`| [gpt2-chat](bench/results/gpt2-chat.json) (${scenario.device}) |`);
    expect(md).toContain(`Device: ${scenario.device}; 2 x NVIDIA H200.`);
  });

  it('replaces only what lies between the markers, and adds them once when absent', () => {
    const readme = '# Title\n\nIntro.\n';
    const once = spliceReadme(readme, 'table v1');
    expect(once).toContain(`## Results\n\n${START_MARKER}\ntable v1\n${END_MARKER}`);
    const twice = spliceReadme(`${once}\n## After\n`, 'table v2');
    expect(twice.split(START_MARKER)).toHaveLength(2);
    expect(twice).toContain('table v2');
    expect(twice).not.toContain('table v1');
    expect(twice.startsWith('# Title\n\nIntro.')).toBe(true);
    expect(twice.trimEnd().endsWith('## After')).toBe(true);
  });

  it('draws the files values in the figures', () => {
    const lat = latencyPlot(set).svg;
    for (const stack of ['hf-generate', 'generic', 'searched']) {
      const v = scenario.stacks[stack]!.metrics!.p99_ttft_ms!.median;
      expect(lat).toContain(`data-stack="${stack}" data-metric="p99_ttft_ms" data-value="${v}"`);
    }
    const sweep = throughputConcurrencyPlot(set)!;
    expect(scenario.concurrency_sweep!.length).toBeGreaterThanOrEqual(4);
    for (const p of scenario.concurrency_sweep!) {
      expect(sweep.svg).toContain(`data-stack="${p.stack}" data-concurrency="${p.max_concurrency}" data-value="${p.output_throughput}"`);
    }
    const noSweep = { ...set, scenarios: [{ file: 'x.json', result: { ...scenario, concurrency_sweep: [] } }] };
    expect(throughputConcurrencyPlot(noSweep)).toBeNull();
  });

  it('regenerates a README and the SVG figures from the command line', () => {
    const results = path.join(tmp, 'results');
    cpSync(FIXTURE, results, { recursive: true });
    const readme = path.join(tmp, 'README.md');
    writeFileSync(readme, `# Project\n\n${START_MARKER}\nold table\n${END_MARKER}\n\nMore text.\n`);
    execFileSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'results-table.ts'), '--results', results,
      '--readme', readme, '--images', path.join(tmp, 'images'), '--no-png'], { cwd: ROOT, encoding: 'utf8' });
    const out = readFileSync(readme, 'utf8');
    expect(out).not.toContain('old table');
    expect(out).toContain('| [gpt2-chat]');
    expect(out).toContain('![Latency percentiles per stack](images/results-latency.png)');
    expect(out.endsWith('More text.\n')).toBe(true);
    expect(readFileSync(path.join(tmp, 'images', 'results-latency.svg'), 'utf8')).toContain('<svg');
    expect(readFileSync(path.join(tmp, 'images', 'results-throughput-concurrency.svg'), 'utf8')).toContain('class="mark"');
  });
});
