// A scenario's bench workload is built twice: by lib/workflowSafe/benchWorkload.ts for a search, and by
// bench/scenarios/scenario_stacks.py scenario_workload for the Python harnesses (the design sweep, the
// stack comparisons, the shape matrix), since the GPU host runs them without Node. A measurement is
// only comparable to a search's if both build the same workload from the same scenario file.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { projectRoot, pythonExecutable } from '../../lib/paths.js';
import { DATASETS, parseScenario } from '../../lib/scenario.js';
import { benchWorkloadFor } from '../../lib/workflowSafe/benchWorkload.js';

const PYTHON = `
import json, sys
import yaml
from scenario_stacks import scenario_workload
print(json.dumps([scenario_workload(yaml.safe_load(text)).to_dict() for text in json.load(sys.stdin)]))
`;
// Fields of the Python harnesses' run plan (how many passes, how long each), which the scenario does not set.
const RUN_PLAN_FIELDS = ['warmups', 'repetitions', 'min_duration_s'];

type Doc = { workload: Record<string, unknown>; model: Record<string, unknown> };

const scenarioDir = path.join(projectRoot, 'scenarios');
const shipped = readdirSync(scenarioDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => ({ name: f, text: readFileSync(path.join(scenarioDir, f), 'utf8') }));

/** Every workload field the mapping reads, at values the shipped scenarios do not all use. */
function edgeVariants(): { name: string; text: string }[] {
  const base = YAML.parse(readFileSync(path.join(scenarioDir, 'cpu-demo.yaml'), 'utf8')) as Doc;
  const variant = (name: string, change: (d: Doc) => void) => {
    const d = structuredClone(base);
    change(d);
    return { name, text: YAML.stringify(d) };
  };
  return [
    variant('arrival unset', (d) => delete d.workload.arrival),
    variant('dataset unset', (d) => delete d.workload.dataset),
    variant('model seed unset', (d) => delete d.model.seed),
    variant('model seed set', (d) => (d.model.seed = 7)),
    variant('poisson rate', (d) => (d.workload.arrival = { kind: 'poisson', rate: 2.5 })),
    variant('fixed rate', (d) => (d.workload.arrival = { kind: 'fixed_rate', rate: 4 })),
    variant('max concurrency 1', (d) => (d.workload.arrival = { kind: 'max_concurrency', concurrency: 1 })),
    // every dataset the scenario format knows, so that a new one is compared as soon as it exists
    ...DATASETS.map((dataset) =>
      variant(`${dataset} dataset`, (d) => {
        d.workload.dataset = dataset;
        if (dataset === 'shared_prefix') d.workload.shared_prefix_len = 24;
      }),
    ),
  ];
}

describe('scenario_stacks.scenario_workload matches lib/workflowSafe/benchWorkload.ts', () => {
  it('builds the same workload from every scenario file and every edge variant', () => {
    const cases = [...shipped, ...edgeVariants()];
    expect(shipped.length).toBeGreaterThan(5);
    const python = JSON.parse(
      execFileSync(pythonExecutable(), ['-c', PYTHON], {
        cwd: path.join(projectRoot, 'bench', 'scenarios'),
        input: JSON.stringify(cases.map((c) => c.text)),
        encoding: 'utf8',
      }),
    ) as Record<string, unknown>[];
    cases.forEach(({ name, text }, i) => {
      const fromPython = Object.fromEntries(
        Object.entries(python[i]!).filter(
          // absent and null both mean "no shared prefix"
          ([k, v]) => !RUN_PLAN_FIELDS.includes(k) && !(k === 'shared_prefix_len' && v === null),
        ),
      );
      expect({ name, workload: fromPython }).toEqual({ name, workload: benchWorkloadFor(parseScenario(text, name)) });
    });
  });
});
