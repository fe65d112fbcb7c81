// Plain, serializable data exchanged between the search workflow and the architect/builder
// activities. Everything here travels in Temporal payloads, so it stays small and JSON-only.

import type { ModelSpec } from '../stackSchema.js';

/** One dimension → one choice, e.g. {attention: "sdpa", kv_cache: "paged"}. */
export type Choices = Record<string, string>;

export type ParamValue = number | boolean | number[] | string;

/** Where a candidate will run; decides which choices are offered at all. */
export interface HardwareTarget {
  kind: string; // "cpu" | "h100" | "h200" | ...
  device: 'cpu' | 'cuda';
  gpuCount: number;
  computeCapability?: number; // e.g. 9.0 for H100
  /** Devices of one host a candidate may span (tensor parallel): the GPUs, or on a CPU host the
   * worker processes a gloo group may use. gpuCount when absent. */
  devices?: number;
}

/** A candidate stack design as proposed by an architect. */
export interface Design {
  id: string; // stable hash of choices + params
  choices: Choices;
  params: Record<string, ParamValue>;
  builder: 'template' | 'llm';
  hypothesis?: string;
  expectedGain?: string;
  falsifiedBy?: string;
  /** For builder 'llm': what the coding agent should write (e.g. a new sampling component). */
  llmTask?: LlmBuildTask;
  /** Which policy proposed it ("model-free:explore", "random", "llm", "default", ...). */
  origin?: string;
}

export interface LlmBuildTask {
  /** The dimension the new component plugs into, e.g. "sampling" or "attention". */
  dimension: string;
  /** The registry name the new component is given in the candidate's stack copy. */
  componentName: string;
  instructions: string;
}

export interface CandidateOutcome {
  designId: string;
  design: Design;
  status: 'accepted' | 'rejected';
  reason?: string;
  metrics?: Record<string, number>;
  /** The scenario objective, oriented as measured (see `objectiveHigherIsBetter`). */
  objective?: number;
  round?: number;
  /** LLM use of the builder for this candidate (folded into the search's total by the architect). */
  llmUsage?: LlmUsage;
}

/** What the architect remembers across rounds and continue-as-new; kept compact on purpose. */
export interface SearchMemory {
  /** Every design id ever proposed (so nothing is proposed twice). */
  explored: string[];
  /** Summaries of measured outcomes, newest last, bounded by `maxOutcomes`. */
  outcomes: OutcomeSummary[];
  /** Choice combinations that failed (as `regionKey` strings); never proposed again. */
  failedRegions: string[];
  /** Per choice and per pair of choices: [failures, successes], to prune regions that keep failing. */
  regionStats: Record<string, [number, number]>;
  /** Free-form notes (hints received, architect observations), bounded by `noteBudgetChars`. */
  notes: string[];
  /** Running LLM usage for the whole search. */
  llmUsage: LlmUsage;
}

export interface OutcomeSummary {
  id: string;
  c: Choices;
  p: Record<string, ParamValue>;
  ok: boolean;
  obj?: number;
  /** Worst measured latency ÷ its SLO (≤ 1 means every SLO is met), when the scenario has SLOs. */
  slo?: number;
  why?: string;
  round?: number;
  /** Share of a decode step's time spent on the host outside the forward (bench's decode_host_share). */
  host?: number;
  /** Component → share of the decode forward's device time (bench's decode_device_share_<component>). */
  dev?: Record<string, number>;
  /** Share of the time to first token spent waiting for a batch slot, and the part of that wait
   * during which the batch was at its size limit (bench's ttft_queue_share, queue_wait_batch_full_share). */
  queue?: { share: number; full: number; peak?: number };
  /** Speculation choice → output tokens per decode step it would have given on this design's own greedy
   * outputs (bench's speculation_tokens_per_step_<choice>, replayed exactly: python-runtime bench/speculation.py). */
  spec?: Record<string, number>;
}

export interface LlmSettings {
  baseURL: string;
  model: string;
  /** The NAME of the environment variable holding the API key; the key itself never travels. */
  apiKeyEnv: string;
  maxTokensPerCall?: number;
  temperature?: number;
  /** USD per 1M tokens, for cost accounting of paid endpoints. */
  pricePerMTokIn?: number;
  pricePerMTokOut?: number;
  timeoutMs?: number;
  /** Attempts per call on 429/5xx/timeouts, and the first backoff delay (doubling, jittered). */
  maxAttempts?: number;
  retryBaseDelayMs?: number;
}

export interface LlmUsage {
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  calls: number;
}

/** The scenario fields the architect and builder read (satisfied by lib/scenario.ts's Scenario). */
export interface ScenarioLike {
  name: string;
  description?: string;
  model: ModelSpec;
  tokenizer?: { kind?: string; path?: string | null } | null;
  workload: {
    prompt_len?: number;
    output_len?: number;
    num_requests?: number;
    arrival?: Record<string, unknown>;
    streaming?: boolean;
    slo?: { ttft_ms?: number; tpot_ms?: number; itl_ms?: number; e2el_ms?: number } | null;
    [k: string]: unknown;
  };
  objective: string;
  hardware?: { kind?: string; gpus?: number };
}

export type ArchitectKind = 'model-free' | 'random' | 'llm';

export interface PlanInput {
  scenario: ScenarioLike;
  round: number;
  hardware: HardwareTarget;
  /** Outcomes of the most recent rounds (the full record lives in memory). */
  history: CandidateOutcome[];
  memory: SearchMemory;
  hints: string[];
  /** dimension → allowed choices (from the scenario and from `vibeserve steer`). */
  constraints: Record<string, string[]>;
  count: number;
  /** What the search may still spend, this round included (absent: unknown, plan as if ample). */
  budget?: { candidatesLeft: number; roundsLeft: number };
  seed: number;
  architect: ArchitectKind;
  builder?: 'template' | 'llm';
  llm?: LlmSettings;
}

export interface PlanOutput {
  designs: Design[];
  notes?: string;
  usage?: LlmUsage;
  /** The memory with this round's proposals and outcomes folded in; carry it to the next round. */
  memory: SearchMemory;
}
