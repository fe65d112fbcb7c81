// One self-contained HTML page (inline CSS and SVG, no scripts, no network) summarizing a search.
import path from 'node:path';
import { formatSpread } from '../workflowSafe/spread.js';
import type { CandidateView, SearchResults } from './loadSearchResults.js';
import { isBaselineCandidate, measuredCandidates, metricValue } from './loadSearchResults.js';
import type { Plot } from './plots.js';
import { esc, fmt } from './svg.js';

const CSS = `
body{font-family:Helvetica,Arial,sans-serif;color:#1f2933;margin:0;background:#f5f7fa}
main{max-width:1320px;margin:0 auto;padding:24px}
h1{margin:0 0 4px}h2{margin-top:36px;border-bottom:2px solid #d9e2ec;padding-bottom:4px}
.sub{color:#52606d}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{background:#fff;border:1px solid #d9e2ec;border-radius:6px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:20px}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:8px 0}
th,td{border:1px solid #d9e2ec;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
.plots{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0;background:#fff;border:1px solid #d9e2ec;border-radius:6px;padding:6px}
.pass{color:#2b8a3e;font-weight:bold}.fail{color:#c92a2a;font-weight:bold}
details{background:#fff;border:1px solid #d9e2ec;border-radius:6px;margin:8px 0;padding:8px 12px}
summary{cursor:pointer;font-weight:bold}
code,pre{font-family:Menlo,Consolas,monospace;font-size:12px}
pre{background:#f0f4f8;padding:8px;overflow-x:auto;white-space:pre-wrap}
.src{color:#7b8794;font-size:11px}
`;

const LEADERBOARD_METRICS = [
  'output_throughput',
  'request_throughput',
  'median_ttft_ms',
  'median_tpot_ms',
  'p99_e2el_ms',
];

function rel(r: SearchResults, file: string | null): string {
  return file ? path.relative(r.searchDir, file) : '–';
}

function checkCell(c: CandidateView): string {
  if (!c.check) return `<span class="fail">no check</span>`;
  const passed = c.check.checks.filter((k) => k.passed).length;
  return `<span class="${c.check.passed ? 'pass' : 'fail'}">${c.check.passed ? 'passed' : 'failed'}</span> ${passed}/${c.check.checks.length}`;
}

function leaderboard(r: SearchResults): string {
  const metrics = [r.objectiveMetric, ...LEADERBOARD_METRICS.filter((m) => m !== r.objectiveMetric)];
  const final = new Map((r.finalRound?.candidates ?? []).map((c) => [c.candidateId, c.spread]));
  const head =
    `<tr><th>#</th><th>candidate</th><th>round</th>${metrics.map((m) => `<th>${esc(m)}</th>`).join('')}` +
    `<th>${esc(r.objectiveMetric)}: median (min–max, n) over repetitions</th>${final.size ? '<th>final round, side by side</th>' : ''}<th>correctness</th></tr>`;
  const rows = measuredCandidates(r).map((c, i) => {
    const rank = c.isBaseline ? 'base' : isBaselineCandidate(r, c) ? `${i + 1} (baseline)` : String(i + 1);
    const cells = metrics
      .map((m) => `<td class="num" data-metric="${esc(m)}">${esc(fmt(metricValue(c.bench, m)))}</td>`)
      .join('');
    const spread = `<td class="num" data-spread="${esc(r.objectiveMetric)}">${esc(formatSpread(c.spread[r.objectiveMetric], c.objective))}</td>`;
    const finalCell = final.size
      ? `<td class="num" data-final="${esc(r.objectiveMetric)}">${final.has(c.candidateId) ? esc(formatSpread(final.get(c.candidateId))) : '–'}</td>`
      : '';
    return `<tr data-candidate="${esc(c.candidateId)}"><td>${rank}</td><td><a href="#cand-${esc(c.candidateId)}">${esc(c.candidateId)}</a></td><td>${c.isBaseline ? '–' : c.round}</td>${cells}${spread}${finalCell}<td>${c.isBaseline ? 'reference baseline' : checkCell(c)}</td></tr>`;
  });
  return `<table id="leaderboard">${head}${rows.join('')}</table>`;
}

function finalRoundSection(r: SearchResults): string {
  const f = r.finalRound;
  if (!f)
    return '<p>The search ran no final round (stopped early, fewer than two accepted candidates, or started before the final round existed).</p>';
  if (f.error)
    return `<p id="final-round">The final round did not run: ${esc(f.error)}. The leaderboard keeps each candidate's own benchmark.</p>`;
  const rows = f.order.map((id, i) => {
    const c = f.candidates.find((x) => x.candidateId === id);
    return `<tr data-candidate="${esc(id)}"><td>${i + 1}</td><td>${esc(id)}</td><td class="num">${esc(formatSpread(c?.spread))}</td><td class="num">${c?.changes ?? '–'}</td><td>${esc((c?.errors ?? []).join('; '))}</td></tr>`;
  });
  const ties = f.ties.length
    ? `<ul id="ties">${f.ties.map((t) => `<li data-ahead="${esc(t.ahead)}" data-behind="${esc(t.behind)}">${esc(t.message)}</li>`).join('')}</ul>`
    : '<p>No two of them tie: their spreads do not overlap.</p>';
  return `<p>The ${f.candidates.length} leading candidates, benchmarked again on one worker in ${f.passes} interleaved passes each (every pass runs each of them once, on the same requests). Two candidates whose ranges overlap tie; the simpler design (fewer changes from the generic default), or else the earlier one, ranks first.</p>
<table id="final-round"><tr><th>#</th><th>candidate</th><th>${esc(r.objectiveMetric)}: median (min–max, n)</th><th>changes from the generic default</th><th>failed passes</th></tr>${rows.join('')}</table>
${ties}<p class="src">from ${esc(f.evidenceDir ? rel(r, f.evidenceDir) : '–')}</p>`;
}

function rejectedTable(r: SearchResults): string {
  if (r.rejected.length === 0) return '<p>No candidate was rejected.</p>';
  const rows = r.rejected.map(
    (c) =>
      `<tr data-candidate="${esc(c.candidateId)}"><td><a href="#cand-${esc(c.candidateId)}">${esc(c.candidateId)}</a></td><td>${c.round}</td><td>${esc(c.reason ?? 'no reason recorded')}</td><td>${c.check ? checkCell(c) : 'not checked'}</td></tr>`,
  );
  return `<table id="rejected"><tr><th>candidate</th><th>round</th><th>reason</th><th>correctness</th></tr>${rows.join('')}</table>`;
}

function baselineTable(r: SearchResults): string {
  const best = r.leaderboard[0];
  if (!r.baseline || !best) return '<p>No baseline was measured in this search.</p>';
  if (best.candidateId === r.baseline.candidateId)
    return `<p>The baseline ${esc(best.candidateId)} is also the best candidate: no searched stack beat it.</p>`;
  const metrics = [
    'output_throughput',
    'request_throughput',
    'total_token_throughput',
    'median_ttft_ms',
    'median_tpot_ms',
    'median_itl_ms',
    'p99_e2el_ms',
  ];
  const rows = metrics.map((m) => {
    const b = metricValue(r.baseline!.bench, m);
    const v = metricValue(best.bench, m);
    const ratio = b !== null && v !== null && b !== 0 && v !== 0 ? (m.endsWith('_ms') ? b / v : v / b) : null;
    return `<tr><td>${esc(m)}</td><td class="num">${esc(fmt(b))}</td><td class="num">${esc(fmt(v))}</td><td class="num">${ratio === null ? '–' : `${esc(fmt(ratio))}×`}</td></tr>`;
  });
  return `<table id="baseline"><tr><th>metric</th><th>${esc(r.baseline.candidateId)} (baseline)</th><th>${esc(best.candidateId)} (best)</th><th>improvement</th></tr>${rows.join('')}</table>
<p class="src">from ${esc(rel(r, r.baseline.benchPath))} and ${esc(rel(r, best.benchPath))}; improvement is higher-is-better throughput ratio or lower-is-better latency ratio.</p>`;
}

function candidateDetails(r: SearchResults, c: CandidateView): string {
  const d = c.design as Record<string, any>;
  // The architect's Design names them "choices"; a stack spec names them "components".
  const components = [d.choices, d.components].find((v) => v && typeof v === 'object') ?? {};
  const compRows = Object.entries(components)
    .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`)
    .join('');
  const params = d.params && Object.keys(d.params).length ? `<pre>${esc(JSON.stringify(d.params, null, 1))}</pre>` : '';
  const checks = c.check
    ? `<table class="checks"><tr><th>check</th><th>value</th><th>threshold</th><th>result</th><th>detail</th></tr>${c.check.checks
        .map(
          (k) =>
            `<tr><td>${esc(k.name)}</td><td class="num">${esc(typeof k.value === 'number' ? fmt(k.value) : JSON.stringify(k.value))}</td><td class="num">${esc(typeof k.threshold === 'number' ? fmt(k.threshold) : JSON.stringify(k.threshold))}</td><td class="${k.passed ? 'pass' : 'fail'}">${k.passed ? 'pass' : 'FAIL'}</td><td>${esc(k.detail ?? '')}</td></tr>`,
        )
        .join(
          '',
        )}</table><p class="src">reference: ${esc(c.check.reference ?? '–')}; from ${esc(rel(r, c.checkPath))}</p>`
    : '<p>No correctness report (the candidate did not reach the checker).</p>';
  const stage = c.stage ? ` at ${esc(c.stage)}` : '';
  const status =
    c.status === 'accepted'
      ? `<span class="pass">accepted</span>`
      : `<span class="fail">rejected${stage}</span>: ${esc(c.reason ?? 'no reason recorded')}`;
  const objective = c.objective !== null ? ` — ${esc(r.objectiveMetric)} ${esc(fmt(c.objective))}` : '';
  return `<details id="cand-${esc(c.candidateId)}" class="candidate"><summary>${esc(c.candidateId)} (round ${c.round}) — ${status}${objective}</summary>
${d.hypothesis ? `<p><b>Hypothesis:</b> ${esc(d.hypothesis)}${d.expectedGain ? ` — expected ${esc(d.expectedGain)}` : ''}${d.falsifiedBy ? `; falsified if ${esc(d.falsifiedBy)}` : ''}${d.origin ? ` <span class="src">(${esc(d.origin)})</span>` : ''}</p>` : ''}
${compRows ? `<table><tr><th>dimension</th><th>choice</th></tr>${compRows}</table>` : ''}${params}
<h4>Correctness evidence</h4>${checks}
${c.bench ? `<p class="src">metrics from ${esc(rel(r, c.benchPath))}</p>` : ''}</details>`;
}

export function renderReport(r: SearchResults, plots: Plot[]): string {
  const s = r.scenario;
  const best = r.leaderboard[0];
  const base = r.baseline?.objective ?? null;
  const speedup =
    best?.objective != null && base ? (r.higherIsBetter ? best.objective / base : base / best.objective) : null;
  const model = s.model
    ? `${s.model.arch ?? '?'} ${s.model.preset ?? s.model.path ?? ''} (${s.model.weights ?? '?'} weights, ${s.model.dtype ?? '?'})`
    : '–';
  const w = s.workload ?? {};
  const a = w.arrival ?? {};
  const arrival =
    a.kind === 'max_concurrency'
      ? `at most ${a.concurrency} concurrent`
      : a.rate !== undefined
        ? `${a.kind} at ${a.rate} req/s`
        : String(a.kind ?? '?');
  const workload = `${w.num_requests ?? '?'} requests, prompt ${w.prompt_len ?? '?'} / output ${w.output_len ?? '?'} tokens, ${esc(arrival)}${w.streaming ? ', streaming' : ''}`;
  const llm = r.llmUsage as Record<string, unknown>;
  const cards = [
    ['best candidate', best ? best.candidateId : 'none'],
    [`best ${r.objectiveMetric}`, best ? formatSpread(best.spread[r.objectiveMetric], best.objective) : fmt(null)],
    ['baseline', fmt(base)],
    ['vs baseline', speedup === null ? '–' : `${fmt(speedup)}×`],
    ['accepted / rejected', `${r.leaderboard.length} / ${r.rejected.length}`],
    ['LLM tokens', String(Number(llm.promptTokens ?? 0) + Number(llm.completionTokens ?? 0))],
  ]
    .map(([k, v]) => `<div class="card">${esc(k)}<b>${esc(v)}</b></div>`)
    .join('');
  const figures = plots.map((p) => `<figure data-plot="${esc(p.name)}">${p.svg}</figure>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>VibeServe report — ${esc(r.searchId)}</title><style>${CSS}</style></head>
<body><main>
<h1>VibeServe search ${esc(r.searchId)}</h1>
<p class="sub">scenario <b>${esc(s.name ?? '?')}</b> — ${esc(s.description ?? '')}<br>
model: ${esc(model)}; hardware: ${esc(s.hardware?.kind ?? '?')}; workload: ${workload}<br>
objective: <b>${esc(r.objectiveMetric)}</b> (${r.higherIsBetter ? 'higher' : 'lower'} is better); status: ${esc(r.status)}; ${esc(r.startedAt ?? '?')} → ${esc(r.finishedAt ?? 'running')}</p>
<div class="cards">${cards}</div>
<h2>Leaderboard</h2>${leaderboard(r)}
<h2>Final round</h2>${finalRoundSection(r)}
<h2>Plots</h2><div class="plots">${figures}</div>
<h2>Baseline comparison</h2>${baselineTable(r)}
<h2>Rejected candidates</h2>${rejectedTable(r)}
<h2>Candidates</h2>${[...r.leaderboard, ...r.rejected].map((c) => candidateDetails(r, c)).join('\n')}
<p class="src">Every figure on this page is read from the candidates' bench.json and check.json files under ${esc(r.searchDir)}.</p>
</main></body></html>
`;
}
