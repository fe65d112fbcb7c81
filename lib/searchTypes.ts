// The data that travels between the search workflow, its candidate children, the activities and
// the CLI. Type-only (safe to import from workflow code); every value is plain JSON and small.
import type {
  CandidateOutcome,
  Design,
  HardwareTarget,
  LlmSettings,
  LlmUsage,
  SearchMemory,
} from './architect/types.js';
import type { BenchWorkload } from './workflowSafe/benchWorkload.js';
import type { Scenario } from './scenario.js';
import type { MetricSpread } from './workflowSafe/spread.js';

export type { Design, HardwareTarget, LlmSettings, LlmUsage, SearchMemory, MetricSpread };

export type Metrics = Record<string, number | string | null>;

/** One evaluated candidate (docs/boundary.md, "CandidateResult"). */
export interface CandidateResult {
  candidateId: string;
  round: number;
  design: Design;
  status: 'accepted' | 'rejected';
  /** Machine tag for a rejection: build_failed, wrong_output, out_of_memory, timeout, ... */
  reason?: string;
  /** One line a person can act on. */
  message?: string;
  /** Which stage rejected it: build | verify | benchmark. */
  stage?: string;
  metrics?: Metrics;
  objective?: number;
  /** The objective's and the key metrics' median, range and count over the benchmark's repetitions. */
  spread?: Record<string, MetricSpread>;
  /** The final round's side-by-side figures for the objective, when this candidate was re-measured. */
  remeasured?: MetricSpread;
  checkPath?: string;
  benchPath?: string;
  stackDir?: string;
  /** Set for LLM-built stacks: where the sandbox re-runs them (the final round re-measures some). */
  untrusted?: UntrustedStack;
  /** Wall time of the candidate pipeline, from the child workflow's clock. */
  durationMs?: number;
  /** The same clock's wall time per stage it reached (build, verify, benchmark). */
  stageMs?: Record<string, number>;
  /** ISO time at which the candidate pipeline ended, from the same clock (absent in older search.json files). */
  finishedAt?: string;
}

/** One of the leading candidates, re-measured side by side in the final round. */
export interface RemeasuredCandidate {
  candidateId: string;
  /** The objective over the side-by-side passes; null when no pass of it completed. */
  spread: MetricSpread | null;
  /** Why passes failed, when some did. */
  errors: string[];
  /** Choices and params that differ from the generic default design; null without a baseline to compare. */
  changes: number | null;
}

/** Two candidates whose re-measured spreads overlap, and which one the leaderboard keeps ahead. */
export interface TieNote {
  ahead: string;
  behind: string;
  /** Which rule decided: the simpler design, or the earlier one when both are as simple. */
  rule: 'simpler' | 'earlier';
  message: string;
}

/** search.json's `finalRound`: the leading candidates re-measured side by side, and the ties it found. */
export interface FinalRound {
  metric: string;
  /** Interleaved passes per candidate. */
  passes: number;
  candidates: RemeasuredCandidate[];
  /** Candidate ids, best first, after the tie rule. */
  order: string[];
  ties: TieNote[];
  /** Where the passes' bench results are kept (relative to the search directory). */
  evidenceDir: string;
  /** Set when the final round could not run; the leaderboard then keeps the search's own figures. */
  error?: string;
}

export interface SearchBudget {
  rounds: number;
  maxCandidates: number;
  wallTimeMs: number;
}

export interface SearchOptions {
  /** Continue-as-new once the history has this many events (Temporal also suggests it itself). */
  continueAsNewAfterEvents: number;
  /** How many accepted candidates the leaderboard keeps (the rest stay in the artifact store). */
  leaderboardSize: number;
  /** The queue that runs plan/build activities and the workflows. */
  controlQueue: string;
  /** The queue that verifies and benchmarks (vibeserve-runtime-<kind>). */
  runtimeQueue: string;
  /** Heartbeat timeout of the long runtime activities. */
  heartbeatTimeoutMs: number;
}

export interface SearchInput {
  searchId: string;
  scenario: Scenario;
  /** Where the scenario came from (shown in status, kept in search.json). */
  scenarioFile?: string;
  hardware: HardwareTarget;
  budget: SearchBudget;
  options: SearchOptions;
  llm?: LlmSettings;
  /** Present after continue-as-new: everything the search must not forget, kept compact. */
  carried?: CarriedState;
}

export type SearchStatus = 'running' | 'paused' | 'stopping' | 'done' | 'stopped' | 'failed';

/** A candidate started but not yet reported; its report arrives by signal to the search's id. */
export interface PendingCandidate {
  candidateId: string;
  workflowId: string;
  round: number;
  startedAt: number;
}

export interface RoundSummary {
  round: number;
  /** Best objective so far, after this round. */
  best: number | null;
  bestCandidateId: string | null;
  accepted: number;
  rejected: number;
}

export interface SteerRequest {
  /** Free text for the architect's next plan. */
  hint?: string;
  /** dimension -> allowed choices; narrows what the architect may propose from the next plan on. */
  constraints?: Record<string, string[]>;
}

/** Everything the search must not forget, handed whole to the next run on continue-as-new. */
export interface CarriedState {
  startedAt: number;
  round: number;
  /** The current round's designs that have not been started yet. */
  queue: Array<{ candidateId: string; design: Design }>;
  pending: PendingCandidate[];
  /** Accepted candidates, best first, at most `leaderboardSize`. */
  leaderboard: CandidateResult[];
  /** Rejected candidates, with metrics stripped (reasons are what matter). */
  rejected: CandidateResult[];
  /** Ids of every candidate already counted, so a duplicate report is ignored. */
  reportedIds: string[];
  acceptedCount: number;
  startedCount: number;
  totalCandidateMs: number;
  rounds: RoundSummary[];
  memory: SearchMemory | null;
  hints: string[];
  constraints: Record<string, string[]>;
  paused: boolean;
  stopRequested: boolean;
  baseline: CandidateResult | null;
  /** How many times this search has continued as new. */
  runIndex: number;
  failure: string | null;
  /** The final round's outcome, once it ran. */
  finalRound?: FinalRound | null;
  /** Rejections per reason over the whole search (the `rejected` list keeps only the latest). */
  rejectedByReason: Record<string, number>;
  /** Outcomes the architect has not seen yet: handed to the next plan, then cleared. */
  newOutcomes: CandidateOutcome[];
  /** Hints the architect has not seen yet. */
  newHints: string[];
  /** The current round's summary is written (false while the round still has candidates). */
  roundClosed: boolean;
  /** No more rounds: the architect had nothing new to try, or planning failed. */
  exhausted: boolean;
}

export interface SearchProgress {
  searchId: string;
  scenario: string;
  objective: string;
  status: SearchStatus;
  round: number;
  budget: SearchBudget;
  /** Candidates run at once (scenario search.concurrency). */
  concurrency: number;
  candidates: { started: number; done: number; running: number; accepted: number; rejected: number; queued: number };
  best: { candidateId: string; objective: number } | null;
  startedAt: number;
  /** Workflow time of the last workflow task (for elapsed time in clients without clock skew). */
  now: number;
  meanCandidateMs: number | null;
  runIndex: number;
  hints: string[];
  constraints: Record<string, string[]>;
  details: string;
  failure: string | null;
}

export interface SearchSummary {
  searchId: string;
  status: SearchStatus;
  rounds: number;
  candidates: number;
  accepted: number;
  rejected: number;
  best: CandidateResult | null;
  failure: string | null;
  searchJson: string;
}

export interface CandidateInput {
  searchId: string;
  /** The search's workflow id; the candidate signals its report there (survives continue-as-new). */
  parentWorkflowId: string;
  candidateId: string;
  round: number;
  design: Design;
  scenario: Scenario;
  hardware: HardwareTarget;
  runtimeQueue: string;
  heartbeatTimeoutMs: number;
  llm?: LlmSettings;
}

export interface BuildInput {
  searchId: string;
  candidateId: string;
  design: Design;
  scenario: Scenario;
  hardware: HardwareTarget;
}

/**
 * A stack whose code an LLM wrote: every verb that runs it does so inside the sandbox, in its
 * workspace, with the protected files mounted read-only and hash-checked afterwards against the
 * hashes taken when the stack was materialized, before any of its code ran.
 */
export interface UntrustedStack {
  /** The only place the candidate may write; the stack directory lies inside it. */
  workspace: string;
  /** Runtime entries (checker/integrity.py's list) the candidate must not change. */
  protectedEntries: string[];
  /** Protected path -> sha256, from before the candidate's code ever ran. */
  expectedHashes: Record<string, string>;
  /** Limit on the candidate's private memory, when the search sets one. */
  memoryBytes?: number;
}

export interface BuildOutput {
  stackDir: string;
  specHash: string;
  /** Set by the LLM builder: the stack is untrusted and runs only inside the sandbox. */
  untrusted?: UntrustedStack;
}

export interface VerifyInput {
  searchId: string;
  candidateId: string;
  stackDir: string;
  device: 'cpu' | 'cuda';
  /** Devices of one host the candidate spans (tensor parallel); 1 when absent. */
  devices?: number;
  timeoutS: number;
  /** Checks that may share one device with this one (scenario search.checks_per_device; 1 when absent). */
  checksPerDevice?: number;
  /** Present for LLM-built stacks: check them in the sandbox. Template stacks run directly. */
  untrusted?: UntrustedStack;
}

export interface VerifyOutput {
  passed: boolean;
  checkPath: string;
  checks: number;
  /** True when a previous attempt's finished report was reused instead of checking again. */
  resumed: boolean;
  /** The sandbox's protections when the check ran sandboxed (also recorded in check.json). */
  sandbox?: string[];
}

export interface BenchmarkInput {
  searchId: string;
  candidateId: string;
  stackDir: string;
  device: 'cpu' | 'cuda';
  /** Devices of one host the candidate spans (tensor parallel); 1 when absent. */
  devices?: number;
  workload: BenchWorkload;
  objective: string;
  timeoutS: number;
  /** Present for LLM-built stacks: benchmark them in the sandbox. */
  untrusted?: UntrustedStack;
}

export interface BenchmarkOutput {
  metrics: Metrics;
  objective: number | null;
  /** Median, range and count over the repetitions, for the objective and the key metrics. */
  spread?: Record<string, MetricSpread>;
  benchPath: string;
  resumed: boolean;
  /** The sandbox's protections when the benchmark ran sandboxed (also recorded in bench.json). */
  sandbox?: string[];
}

/** The final round: the leading candidates benchmarked again on one worker, passes interleaved. */
export interface RemeasureInput {
  searchId: string;
  candidates: Array<{ candidateId: string; stackDir: string; untrusted?: UntrustedStack }>;
  device: 'cpu' | 'cuda';
  /** Devices of one host the widest of them spans. */
  devices?: number;
  workload: BenchWorkload;
  objective: string;
  /** Passes per candidate; pass p runs every candidate once, in a rotated order. */
  passes: number;
  /** Limit of one benchmark run. */
  timeoutS: number;
}

export interface RemeasureOutput {
  candidates: Array<{ candidateId: string; spread: MetricSpread | null; errors: string[] }>;
  /** Where the passes' bench results are kept (relative to the search directory). */
  evidenceDir: string;
}
