// `vibeserve export` on the fixture search: the chosen stack, its Dockerfile, Kubernetes manifests,
// evidence and provenance, and the errors a user gets for a wrong id.
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportStack } from '../../lib/export/exportStack.js';

const FIXTURE = path.resolve(import.meta.dirname, '..', 'fixtures', 'search-artifacts');
const SEARCH = 'cpu-demo-synthetic';

describe('vibeserve export', () => {
  let root: string;
  const searchDir = () => path.join(root, SEARCH);

  beforeAll(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-export-'));
    cpSync(FIXTURE, root, { recursive: true });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('exports the candidate with the best objective in its bench.json, with code, evidence and hashes', () => {
    const benches = ['r1-c1', 'r1-c2', 'r2-c1', 'r2-c3', 'r3-c1', 'r3-c2'].map((id) => ({
      id,
      v: JSON.parse(readFileSync(path.join(searchDir(), 'candidates', id, 'bench.json'), 'utf8'))
        .output_throughput as number,
    }));
    const best = benches.sort((a, b) => b.v - a.v)[0].id;
    const out = path.join(root, 'out-best');
    const r = exportStack(SEARCH, { artifactsRoot: root, outDir: out });
    expect(r.candidateId).toBe(best);
    for (const f of [
      'Dockerfile',
      '.dockerignore',
      'requirements.txt',
      'README.md',
      'artifact.json',
      'k8s/stack.yaml',
      'stack/stack.json',
      'evidence/check.json',
      'evidence/bench.json',
      'evidence/design.json',
      'evidence/baseline-bench.json',
    ]) {
      expect(r.files, f).toContain(f);
    }
    // The stack carries its runtime code, so the image needs nothing from this checkout.
    expect(r.files).toContain('stack/vibeserve_runtime/__main__.py');
    for (const f of ['check.json', 'bench.json']) {
      expect(readFileSync(path.join(out, 'evidence', f), 'utf8')).toBe(
        readFileSync(path.join(searchDir(), 'candidates', best, f), 'utf8'),
      );
    }
    const manifest = JSON.parse(readFileSync(path.join(out, 'artifact.json'), 'utf8'));
    expect(manifest.candidateId).toBe(best);
    expect(manifest.objective.value).toBe(benches[0].v);
    for (const [file, sha] of Object.entries(manifest.files)) {
      expect(
        createHash('sha256')
          .update(readFileSync(path.join(out, file)))
          .digest('hex'),
        file,
      ).toBe(sha);
    }
    const readme = readFileSync(path.join(out, 'README.md'), 'utf8');
    expect(readme).toContain(`candidate \`${best}\``);
    expect(readme).toContain(String(benches[0].v));
  });

  it('writes a Dockerfile on a pinned CUDA PyTorch base with a /health HEALTHCHECK, and pinned requirements', () => {
    const out = path.join(root, 'out-docker');
    const r = exportStack(SEARCH, { artifactsRoot: root, outDir: out });
    const dockerfile = readFileSync(path.join(out, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^ARG BASE_IMAGE=pytorch\/pytorch:\d+\.\d+\.\d+-cuda[\d.]+-cudnn\d+-runtime$/m);
    expect(dockerfile).toContain(`ARG BASE_IMAGE=${r.baseImage}`);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n?.*\/health/m);
    expect(dockerfile).toMatch(
      /ENTRYPOINT \["python3", "-m", "vibeserve_runtime", "serve", "--stack", "\/opt\/vibeserve\/stack"/,
    );
    expect(dockerfile).toContain('EXPOSE 8000');
    const reqs = readFileSync(path.join(out, 'requirements.txt'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    expect(reqs.length).toBeGreaterThan(5);
    for (const line of reqs) expect(line, line).toMatch(/^[A-Za-z0-9_.-]+==[\w.+]+$/);
    expect(reqs.some((l) => l.startsWith('torch=='))).toBe(false); // the base image provides torch
  });

  it('writes a Deployment + Service with /health probes on port 8000, requesting GPUs only for CUDA stacks', () => {
    const cpuOut = path.join(root, 'out-cpu');
    exportStack(SEARCH, { artifactsRoot: root, outDir: cpuOut, imageTag: 'registry.example/stack:1' });
    const [dep, svc] = YAML.parseAllDocuments(readFileSync(path.join(cpuOut, 'k8s', 'stack.yaml'), 'utf8')).map((d) =>
      d.toJS(),
    );
    expect(dep.kind).toBe('Deployment');
    expect(svc.kind).toBe('Service');
    const c = dep.spec.template.spec.containers[0];
    expect(c.image).toBe('registry.example/stack:1');
    expect(c.ports[0].containerPort).toBe(8000);
    for (const p of ['readinessProbe', 'livenessProbe', 'startupProbe']) expect(c[p].httpGet.path, p).toBe('/health');
    expect(c.resources.requests['nvidia.com/gpu']).toBeUndefined();
    expect(svc.spec.ports[0].port).toBe(8000);
    expect(svc.spec.selector).toEqual(dep.spec.selector.matchLabels);

    // The same search with a CUDA stack: the manifest asks for the GPU.
    const specFile = path.join(root, SEARCH, 'candidates', 'r2-c3', 'stack', 'stack.json');
    const spec = JSON.parse(readFileSync(specFile, 'utf8'));
    writeFileSync(specFile, JSON.stringify({ ...spec, device: 'cuda' }));
    const gpuOut = path.join(root, 'out-gpu');
    const r = exportStack(SEARCH, { artifactsRoot: root, outDir: gpuOut, candidateId: 'r2-c3' });
    expect(r.device).toBe('cuda');
    const gpuDep = YAML.parseAllDocuments(readFileSync(path.join(gpuOut, 'k8s', 'stack.yaml'), 'utf8'))[0].toJS();
    const res = gpuDep.spec.template.spec.containers[0].resources;
    expect(res.requests['nvidia.com/gpu']).toBe(1);
    expect(res.limits['nvidia.com/gpu']).toBe(1);
    expect(readFileSync(path.join(gpuOut, 'README.md'), 'utf8')).toContain('--gpus all');
  });

  it('says what exists when the search or candidate is wrong, and refuses rejected candidates and foreign directories', () => {
    expect(() => exportStack('nope', { artifactsRoot: root })).toThrow(
      /search "nope" not found: searches in .*: cpu-demo-synthetic/,
    );
    expect(() => exportStack(SEARCH, { artifactsRoot: root, candidateId: 'r9-c9' })).toThrow(
      /candidate "r9-c9" not found .*candidates: r3-c1 \(accepted\).*r1-c3 \(rejected\)/,
    );
    expect(() => exportStack(SEARCH, { artifactsRoot: root, candidateId: 'r1-c3' })).toThrow(
      /r1-c3" was rejected \(wrong_output: logits_max_abs_diff/,
    );
    const foreign = path.join(root, 'someone-elses');
    mkdirSync(foreign);
    writeFileSync(path.join(foreign, 'notes.txt'), 'keep me');
    expect(() => exportStack(SEARCH, { artifactsRoot: root, outDir: foreign })).toThrow(/not an earlier export/);
    expect(readFileSync(path.join(foreign, 'notes.txt'), 'utf8')).toBe('keep me');
  });
});
