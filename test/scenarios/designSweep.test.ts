// The design sweep end to end on CPU: bench/gpu/design_sweep.py measures a few designs of the CPU
// variant of gpt2-chat with the runtime's real verbs, lib/architect/objectiveTable.ts reads the
// table, and scripts/compare-search-policies.ts replays both policies on it.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tableFromFile } from '../../lib/architect/objectiveTable.js';
import { defaultDesign, designId, loadDesignSpace, makeDesign } from '../../lib/designSpace.js';
import { summarizeOther } from '../../lib/results/resultsTable.js';
import { spaceContextFor } from '../../lib/architect/context.js';
import { projectRoot, pythonExecutable } from '../../lib/paths.js';
import type { HardwareTarget } from '../../lib/architect/types.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-design-sweep-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const cpu: HardwareTarget = { kind: 'cpu', device: 'cpu', gpuCount: 0 };
const scenarioFile = path.join(tmp, 'gpt2-chat-cpu.yaml');

function sweepArgs(out: string, extra: string[]): string[] {
  return [path.join(projectRoot, 'bench', 'gpu', 'design_sweep.py'), '--scenario', scenarioFile, '--device', 'cpu',
    '--num-prompts', '4', '--time-budget-s', '100', '--work-dir', path.join(tmp, 'work'), '--out', out, ...extra];
}

function sweep(out: string, extra: string[]): void {
  execFileSync(pythonExecutable(), sweepArgs(out, extra), { cwd: projectRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The same, without blocking the event loop (vitest's worker must keep answering its runner). */
async function sweepAsync(out: string, extra: string[]): Promise<void> {
  await promisify(execFile)(pythonExecutable(), sweepArgs(out, extra), { cwd: projectRoot, encoding: 'utf8' });
}

interface SweepRow {
  design: { id: string; origin?: string };
  status: string;
  reason?: string;
  objective?: number;
}

describe('design sweep on CPU', () => {
  it('measures designs into a table that the comparison replays', () => {
    execFileSync(pythonExecutable(), [path.join(projectRoot, 'bench', 'scenarios', 'prepare_scenario.py'),
      path.join(projectRoot, 'scenarios', 'gpt2-chat.yaml'), scenarioFile, '--cpu'], { cwd: projectRoot });
    const tableFile = path.join(tmp, 'table.json');
    // Only neighbours of the default: eager designs, a few seconds each on CPU.
    sweep(tableFile, ['--max-designs', '3', '--local-share', '1', '--design-timeout-s', '90']);
    const raw = JSON.parse(readFileSync(tableFile, 'utf8')) as { rows: SweepRow[]; planned: string[]; complete: boolean; hardware: HardwareTarget };
    expect(raw.complete).toBe(true);
    expect(raw.hardware).toEqual(cpu);
    expect(raw.rows.map((r) => r.design.id)).toEqual(raw.planned);
    expect(raw.rows.map((r) => r.status)).toEqual(['accepted', 'accepted', 'accepted']);
    expect(raw.rows.every((r) => typeof r.objective === 'number' && r.objective > 0)).toBe(true);

    const table = tableFromFile(tableFile);
    const base = defaultDesign(loadDesignSpace(), spaceContextFor({ scenario: table.scenario, hardware: cpu, constraints: {} }));
    expect(raw.rows[0]!.design.id).toBe(base.id);
    expect(table.rows).toBe(3);
    expect(table.hardware).toEqual(cpu);
    expect(table.evaluate(base).objective).toBe(raw.rows[0]!.objective);
    // An unmeasured design answers with its nearest measured one: here the default, one parameter away.
    const near = makeDesign(loadDesignSpace(), base.choices, { ...base.params, max_num_batched_tokens: 8192 });
    expect(table.evaluate(near).metrics).toEqual(table.evaluate(base).metrics);

    const json = path.join(tmp, 'compare.json');
    const printed = execFileSync(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'scripts', 'compare-search-policies.ts'),
      '--table', tableFile, '--rounds', '2', '--per-round', '2', '--seeds', '4', '--json', json], { cwd: projectRoot, encoding: 'utf8' });
    expect(printed).toMatch(/3 measured designs/);
    expect(printed).toMatch(/model-free beats random in \d+\/4 paired searches/);
    const figures = JSON.parse(readFileSync(json, 'utf8')) as {
      measuredDesigns: number;
      budget: { evaluations: number };
      policies: Record<string, { searches: number; byRound: unknown[] }>;
      paired: { wins: number; ties: number; losses: number };
    };
    expect(figures.measuredDesigns).toBe(3);
    expect(figures.budget.evaluations).toBe(4);
    expect(Object.keys(figures.policies).sort()).toEqual(['model-free', 'random']);
    expect(figures.policies['model-free']!.searches).toBe(4);
    expect(figures.policies['random']!.byRound).toHaveLength(2);
    expect(figures.paired.wins + figures.paired.ties + figures.paired.losses).toBe(4);
  }, 150_000);

  it('measures one factor side by side with --vary, and reads tables from before a parameter existed', async () => {
    const tableFile = path.join(tmp, 'vary.json');
    await sweepAsync(tableFile, ['--vary', 'decode_steps=1,4', '--design-timeout-s', '90']);
    const raw = JSON.parse(readFileSync(tableFile, 'utf8')) as { rows: (SweepRow & { design: { params: Record<string, unknown> } })[]; complete: boolean };
    expect(raw.complete).toBe(true);
    expect(raw.rows.map((r) => [r.status, r.design.params.decode_steps])).toEqual([['accepted', 1], ['accepted', 4]]);
    const summary = summarizeOther('vary.json', raw);
    expect(summary.figures.map(([k]) => k)).toEqual(['decode_steps=1', 'decode_steps=4']);
    expect(summary.figures[0]![1]).toContain(String(Math.round(raw.rows[0]!.objective! * 100) / 100).slice(0, 3));

    // The same table as a sweep measured before decode_steps existed would have written it: a design
    // proposed now (decode_steps: 1 filled in) still hits its row exactly.
    const old = JSON.parse(readFileSync(tableFile, 'utf8')) as { rows: { design: { id: string; choices: Record<string, string>; params: Record<string, unknown> } }[] };
    const first = old.rows[0]!.design;
    delete first.params.decode_steps;
    first.id = designId(first.choices, first.params as never);
    old.rows = old.rows.slice(0, 1);
    const oldFile = path.join(tmp, 'vary-old.json');
    writeFileSync(oldFile, JSON.stringify(old));
    const table = tableFromFile(oldFile);
    const now = makeDesign(loadDesignSpace(), first.choices, first.params as never);
    expect(now.params.decode_steps).toBe(1);
    expect(table.measured[0]!.design.id).toBe(now.id);
    expect(table.evaluate(now).objective).toBe(raw.rows[0]!.objective);
  }, 150_000);

  it('records a design that runs out of time as rejected and goes on', () => {
    const tableFile = path.join(tmp, 'timeouts.json');
    sweep(tableFile, ['--max-designs', '2', '--design-timeout-s', '1.5']);
    const raw = JSON.parse(readFileSync(tableFile, 'utf8')) as { rows: SweepRow[] };
    expect(raw.rows.map((r) => [r.status, r.reason])).toEqual([['rejected', 'timeout'], ['rejected', 'timeout']]);
    expect(tableFromFile(tableFile).evaluate(tableFromFile(tableFile).measured[0]!.design).status).toBe('rejected');
  }, 60_000);
});
