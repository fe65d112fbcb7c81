// README.md of an exported artifact: what it is, its evidence, and how to run it three ways.
import type { CandidateView, SearchResults } from '../report/loadSearchResults.js';
import { metricValue } from '../report/loadSearchResults.js';
import { fmt } from '../report/svg.js';
import { formatSpread } from '../workflowSafe/spread.js';

export interface ReadmeInput {
  results: SearchResults;
  candidate: CandidateView;
  spec: Record<string, any>;
  baseImage: string;
  imageTag: string;
  k8sName: string;
}

export function renderArtifactReadme({ results, candidate, spec, baseImage, imageTag, k8sName }: ReadmeInput): string {
  const base = results.baseline;
  const metricRows = ['output_throughput', 'request_throughput', 'median_ttft_ms', 'median_tpot_ms', 'p99_e2el_ms']
    .map(
      (m) =>
        `| ${m} | ${formatSpread(candidate.spread[m], metricValue(candidate.bench, m))} | ${base ? formatSpread(base.spread[m], metricValue(base.bench, m)) : fmt(null)} |`,
    )
    .join('\n');
  const final = results.finalRound;
  const remeasured =
    final && !final.error ? final.candidates.find((c) => c.candidateId === candidate.candidateId) : undefined;
  const finalNote = remeasured
    ? `\nFinal round (\`evidence/final-round.json\`): re-measured side by side with ${final!.candidates.length - 1} other leading candidate(s) in ${final!.passes} interleaved passes: ${results.objectiveMetric} ${formatSpread(remeasured.spread)}.${final!.ties.length ? ` Ties: ${final!.ties.map((t) => t.message).join('; ')}.` : ''}\n`
    : '';
  const checks = (candidate.check?.checks ?? [])
    .map(
      (c) =>
        `| ${c.name} | ${JSON.stringify(c.value)} | ${JSON.stringify(c.threshold)} | ${c.passed ? 'pass' : 'FAIL'} |`,
    )
    .join('\n');
  const components = Object.entries(spec.components ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const cuda = spec.device === 'cuda';
  return `# ${spec.name ?? candidate.candidateId}

A serving stack found by VibeServe search \`${results.searchId}\` (candidate \`${candidate.candidateId}\`,
round ${candidate.round}) for scenario \`${results.scenario.name ?? '?'}\`. It serves an OpenAI-compatible API
(\`/v1/completions\`, \`/v1/chat/completions\`, \`/v1/models\`, \`/health\`, \`/metrics\`) on port 8000.

- model: ${spec.model?.arch ?? '?'} ${spec.model?.preset ?? spec.model?.path ?? ''} (${spec.model?.weights ?? '?'} weights, ${spec.model?.dtype ?? '?'})
- device: ${spec.device ?? '?'}
- components: ${components}

## Contents

| path | what |
|---|---|
| \`stack/\` | the stack: \`stack.json\` and the runtime code it runs |
| \`Dockerfile\` | image on \`${baseImage}\` (build arg \`BASE_IMAGE\`) |
| \`requirements.txt\` | Python dependencies, pinned to the verified versions |
| \`k8s/stack.yaml\` | Deployment${cuda ? ' (requests nvidia.com/gpu)' : ''} + Service, probes on \`/health\` |
| \`evidence/\` | \`check.json\` (correctness vs the reference), \`bench.json\` (metrics), \`design.json\` |
| \`artifact.json\` | provenance and file hashes |

## Evidence

Benchmark (\`evidence/bench.json\`; baseline from \`evidence/baseline-bench.json\`), each figure the median
of the repetitions with their range and count:

| metric | this stack | baseline |
|---|---|---|
${metricRows}
${finalNote}
Correctness (\`evidence/check.json\`, reference: ${candidate.check?.reference ?? '–'}):

| check | value | threshold | result |
|---|---|---|---|
${checks || '| (no checker report) | | | |'}

## Run it

Locally, with the project's Python environment:

    vibeserve serve ${'<this directory>'} --port 8000

As a container:

    vibeserve build-image ${'<this directory>'} --tag ${imageTag}
    # or: docker build -t ${imageTag} .
    docker run --rm -p 8000:8000${cuda ? ' --gpus all' : ''} ${imageTag}

On Kubernetes (push the image to a registry your cluster pulls from, then set it in the manifest):

    kubectl create secret generic ${k8sName}-api-key --from-literal=api-key=<key>   # optional
    kubectl apply -f k8s/stack.yaml
    kubectl port-forward service/${k8sName} 8000:8000

Then any OpenAI client works:

    curl http://localhost:8000/v1/completions -H 'Content-Type: application/json' \\
      -d '{"model": "${spec.name ?? 'stack'}", "prompt": "Hello", "max_tokens": 16}'
`;
}
