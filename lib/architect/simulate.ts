// Replays a whole search against an objective table: the same plan rounds the search workflow runs,
// with measurements looked up instead of built and benchmarked. Used to compare policies at equal
// budget (scripts/compare-search-policies.ts and the search tests).
import { defaultDesign, loadDesignSpace } from '../designSpace.js';
import { spaceContextFor } from './context.js';
import { planRound } from './index.js';
import { emptyMemory, orientedScore, sloRatio } from './memory.js';
import type { ObjectiveTable } from './objectiveTable.js';
import type { ArchitectKind, CandidateOutcome, HardwareTarget, SearchMemory } from './types.js';

export interface SimulationOptions {
  architect: ArchitectKind;
  rounds: number;
  perRound: number;
  seed: number;
  hardware: HardwareTarget;
  constraints?: Record<string, string[]>;
}

export interface SimulationResult {
  architect: ArchitectKind;
  evaluated: number;
  rejected: number;
  /** Best objective among accepted designs that meet the SLOs (undefined if none did). */
  best?: number;
  bestDesignId?: string;
  /** Best-so-far after each evaluation. */
  curve: (number | undefined)[];
  memory: SearchMemory;
}

export function feasible(table: ObjectiveTable, o: CandidateOutcome): boolean {
  if (o.status !== 'accepted' || typeof o.objective !== 'number') return false;
  const r = sloRatio(table.scenario, o.metrics);
  return r === undefined || r <= 1;
}

export async function simulateSearch(table: ObjectiveTable, opts: SimulationOptions): Promise<SimulationResult> {
  let memory = emptyMemory();
  let history: CandidateOutcome[] = [];
  const curve: (number | undefined)[] = [];
  let best: number | undefined;
  let bestDesignId: string | undefined;
  let rejected = 0;
  const better = (a: number, b: number | undefined) =>
    b === undefined || orientedScore(table.scenario.objective, a) > orientedScore(table.scenario.objective, b);
  for (let round = 0; round < opts.rounds; round++) {
    const plan = await planRound({
      scenario: table.scenario,
      round,
      hardware: opts.hardware,
      history,
      memory,
      hints: [],
      constraints: opts.constraints ?? {},
      count: opts.perRound,
      budget: { candidatesLeft: opts.rounds * opts.perRound - curve.length, roundsLeft: opts.rounds - round },
      seed: opts.seed,
      architect: opts.architect,
    });
    memory = plan.memory;
    history = plan.designs.map((d) => ({ ...table.evaluate(d), round }));
    for (const o of history) {
      if (o.status === 'rejected') rejected++;
      if (feasible(table, o) && better(o.objective!, best)) {
        best = o.objective;
        bestDesignId = o.designId;
      }
      curve.push(best);
    }
  }
  return { architect: opts.architect, evaluated: curve.length, rejected, best, bestDesignId, curve, memory };
}

/** The generic default design's measurement on the table (what the search has to beat). */
export function defaultOutcome(
  table: ObjectiveTable,
  hardware: HardwareTarget,
  constraints: Record<string, string[]> = {},
): CandidateOutcome {
  const space = loadDesignSpace();
  const ctx = spaceContextFor({ scenario: table.scenario, hardware, constraints });
  return table.evaluate(defaultDesign(space, ctx));
}
