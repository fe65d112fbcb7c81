// Activities of the LLM builder: one per LLM call (control queue) and one per tool call (runtime
// queue, where the candidate workspace and the hardware are). Keeping each call its own activity
// means a crashed worker resumes the conversation at the call that was in flight.
import { mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Design, HardwareTarget, LlmSettings, ScenarioLike } from '../lib/architect/types.js';
import { candidateDir } from '../lib/artifactStore.js';
import { buildFromTemplate, BuildError } from '../lib/builder/templateBuilder.js';
import { checkIntegrity, executeTool } from '../lib/builder/llmTools.js';
import type { ToolContext, ToolOutcome } from '../lib/workflowSafe/toolSchemas.js';
import {
  integrityDiff,
  protectedHashes,
  protectedRuntimeEntries,
  readOnlyMounts,
  trustedRuntimeHashes,
} from '../lib/builder/workspace.js';
import {
  FAILURE_CANDIDATE,
  FAILURE_INFRA,
  FAILURE_USAGE,
  type RejectionDetails,
} from '../lib/workflowSafe/failures.js';
import { LlmClient, LlmError, redact, type ChatMessage, type ChatReply, type ChatTool } from '../lib/llm/client.js';
import { prepareWorkspace } from '../lib/sandbox.js';

/** An LLM failure that retrying cannot fix (bad key, bad request, missing key variable). */
export const FAILURE_LLM_FATAL = 'LlmFatal';
/** The endpoint kept failing (rate limits, 5xx, timeouts) through the client's own retries. */
export const FAILURE_LLM_TRANSIENT = 'LlmTransient';

export interface LlmChatInput {
  settings: LlmSettings;
  messages: ChatMessage[];
  tools?: ChatTool[];
  maxTokens?: number;
}

/** Heartbeats while a long call runs, so a dead worker is noticed within the heartbeat timeout. */
function keepBeating(details: Record<string, unknown>): () => void {
  const ctx = Context.current();
  ctx.heartbeat(details);
  const timer = setInterval(() => ctx.heartbeat(details), 2000);
  return () => clearInterval(timer);
}

export async function llmChat(input: LlmChatInput): Promise<ChatReply> {
  const stop = keepBeating({ stage: 'llm', messages: input.messages.length });
  try {
    const client = new LlmClient(input.settings);
    return await client.chat({ messages: input.messages, tools: input.tools, maxTokens: input.maxTokens });
  } catch (err) {
    const key = input.settings.apiKeyEnv ? process.env[input.settings.apiKeyEnv] : undefined;
    const message = redact(err instanceof Error ? err.message : String(err), [key]);
    if (err instanceof LlmError && !err.retryable) throw ApplicationFailure.nonRetryable(message, FAILURE_LLM_FATAL);
    throw ApplicationFailure.retryable(message, FAILURE_LLM_TRANSIENT);
  } finally {
    stop();
  }
}

export interface PrepareWorkspaceInput {
  searchId: string;
  candidateId: string;
  design: Design;
  scenario: ScenarioLike;
  hardware: HardwareTarget;
  /** Where to put the workspace; default <artifacts>/<search>/candidates/<id>/workspace. */
  workspaceDir?: string;
}

export interface PreparedWorkspace {
  workspace: string;
  stackDir: string;
  specHash: string;
  protectedEntries: string[];
  expectedHashes: Record<string, string>;
}

/** Materializes the design's stack into the workspace (once: a retry keeps the agent's edits). */
export async function prepareLlmWorkspace(input: PrepareWorkspaceInput): Promise<PreparedWorkspace> {
  const workspace = path.resolve(
    input.workspaceDir ?? path.join(candidateDir(input.searchId, input.candidateId), 'workspace'),
  );
  const marker = path.join(workspace, '.prepared.json');
  if (existsSync(marker)) return JSON.parse(readFileSync(marker, 'utf8')) as PreparedWorkspace;
  mkdirSync(workspace, { recursive: true });
  const ctx = Context.current();
  const stop = keepBeating({ stage: 'build', step: 'materialize' });
  let built;
  try {
    built = await buildFromTemplate({
      design: input.design,
      scenario: input.scenario,
      hardware: input.hardware,
      outDir: path.join(workspace, 'stack'),
      signal: ctx.cancellationSignal,
    });
  } catch (err) {
    stop();
    if (err instanceof BuildError && err.kind !== 'infrastructure') {
      throw ApplicationFailure.create({
        message: err.message,
        type: err.kind === 'usage' ? FAILURE_USAGE : FAILURE_CANDIDATE,
        nonRetryable: true,
        details: [{ reason: err.reason, message: err.message, stage: 'build' } satisfies RejectionDetails],
      });
    }
    throw ApplicationFailure.retryable((err as Error).message, FAILURE_INFRA);
  }
  stop();
  const protectedEntries = protectedRuntimeEntries();
  const trusted = trustedRuntimeHashes(protectedEntries);
  const stackDir = built.stackDir;
  const copy = protectedHashes(stackDir, protectedEntries);
  const runtimeOnly = Object.fromEntries(Object.entries(copy).filter(([k]) => k.startsWith('vibeserve_runtime/')));
  const drift = integrityDiff(trusted, runtimeOnly);
  if (drift.length)
    throw ApplicationFailure.retryable(
      `the materialized stack's protected code differs from the installed runtime: ${drift.slice(0, 5).join(', ')}`,
      FAILURE_INFRA,
    );
  prepareWorkspace(workspace, readOnlyMounts(protectedEntries));
  const prepared: PreparedWorkspace = {
    workspace,
    stackDir,
    specHash: built.specHash,
    protectedEntries,
    expectedHashes: copy,
  };
  writeFileSync(marker, JSON.stringify(prepared));
  return prepared;
}

export interface BuilderToolInput {
  context: ToolContext;
  call: { id: string; name: string; arguments: string };
}

/** What a runtime worker lends a tool that runs candidate code: one device, pinned by environment. */
export interface ToolDeviceSlots {
  with<T>(fn: (env: NodeJS.ProcessEnv, slot: string) => Promise<T>): Promise<T>;
}

const RUNS_CANDIDATE = new Set(['run_checker', 'run_short_benchmark']);

export function createRunBuilderTool(slots?: ToolDeviceSlots) {
  return async function runBuilderTool(input: BuilderToolInput): Promise<ToolOutcome> {
    const ctx = Context.current();
    const stop = keepBeating({ stage: 'tool', tool: input.call.name });
    const run = (context: ToolContext) =>
      executeTool(input.call.name, input.call.arguments, context, ctx.cancellationSignal);
    try {
      if (!slots || !RUNS_CANDIDATE.has(input.call.name)) return await run(input.context);
      return await slots.with((env) =>
        run({ ...input.context, env: { ...input.context.env, ...(env as Record<string, string>) } }),
      );
    } finally {
      stop();
    }
  };
}

export const runBuilderTool = createRunBuilderTool();

export interface FinalizeInput {
  context: ToolContext;
  transcript: ChatMessage[];
  summary: Record<string, unknown>;
}

/** Last integrity check and the transcript kept as evidence next to the stack. */
export async function finalizeLlmWorkspace(
  input: FinalizeInput,
): Promise<{ integrity: string[]; transcriptPath: string }> {
  const integrity = checkIntegrity(input.context);
  const transcriptPath = path.join(input.context.workspace, 'transcript.json');
  writeFileSync(transcriptPath, JSON.stringify({ ...input.summary, messages: input.transcript }, null, 1));
  return { integrity, transcriptPath };
}

export const llmControlActivities = { llmChat };
export const llmRuntimeActivities = { prepareLlmWorkspace, runBuilderTool, finalizeLlmWorkspace };
/** The runtime worker's variant: tools that run candidate code take one of its device slots. */
export function createLlmRuntimeActivities(slots: ToolDeviceSlots) {
  return { prepareLlmWorkspace, runBuilderTool: createRunBuilderTool(slots), finalizeLlmWorkspace };
}
export type LlmControlActivities = typeof llmControlActivities;
export type LlmRuntimeActivities = typeof llmRuntimeActivities;
