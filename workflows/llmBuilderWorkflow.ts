// The LLM builder: a tool-using coding agent as a workflow. Every LLM call and every tool call is
// its own activity, so the conversation is the workflow's state and a crash of any worker resumes
// it at the call that was in flight. Turns, tokens and cost are bounded; checker failures are fed
// back for repair; touching the protected reference/checker/benchmark ends the build as rejected
// with `integrity_violation`.
import {
  ActivityFailure,
  ApplicationFailure,
  log,
  proxyActivities,
  setCurrentDetails,
  workflowInfo,
} from '@temporalio/workflow';
import type { LlmControlActivities, LlmRuntimeActivities } from '../activities/llm.js';
import type { Design, HardwareTarget, LlmSettings, LlmUsage, ScenarioLike } from '../lib/architect/types.js';
import {
  builderSystemPrompt,
  builderTaskPrompt,
  repairPrompt,
  uncheckedPrompt,
} from '../lib/workflowSafe/builderPrompts.js';
import { BUILDER_TOOLS, type ToolContext, type ToolOutcome } from '../lib/workflowSafe/toolSchemas.js';
import { FAILURE_CANDIDATE, FAILURE_USAGE, type RejectionDetails } from '../lib/workflowSafe/failures.js';
import type { ChatMessage } from '../lib/llm/client.js';
import type { UntrustedStack } from '../lib/searchTypes.js';
import { formatNumber } from '../lib/workflowSafe/uiText.js';

export interface LlmBuilderLimits {
  maxTurns: number;
  maxTokens: number;
  maxCostUsd: number;
  maxRepairs: number;
}

export const DEFAULT_LLM_BUILDER_LIMITS: LlmBuilderLimits = {
  maxTurns: 24,
  maxTokens: 400_000,
  maxCostUsd: 5,
  maxRepairs: 4,
};

export interface LlmBuilderInput {
  searchId: string;
  candidateId: string;
  design: Design;
  scenario: ScenarioLike & { search?: { check_timeout_s?: number; bench_timeout_s?: number } };
  hardware: HardwareTarget;
  llm?: LlmSettings;
  /** Queue of the runtime worker that owns the workspace and runs the checker. */
  runtimeQueue: string;
  limits?: Partial<LlmBuilderLimits>;
  workspaceDir?: string;
  memoryBytes?: number;
  /** How soon a dead worker is noticed (its activities heartbeat every 5 s). */
  heartbeatTimeoutMs?: number;
}

export interface LlmBuilderOutput {
  stackDir: string;
  specHash: string;
  turns: number;
  toolCalls: number;
  repairs: number;
  llmUsage: LlmUsage;
  transcriptPath: string;
  /** What verify and benchmark need to run this LLM-written stack in the sandbox. */
  untrusted: UntrustedStack;
}

/** `summary` names the candidate on each LLM call and tool run in the UI's event history. */
function controlActivities(heartbeatTimeoutMs: number, summary: string) {
  return proxyActivities<LlmControlActivities>({
    summary,
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: heartbeatTimeoutMs,
    retry: {
      initialInterval: '5 seconds',
      backoffCoefficient: 2,
      maximumInterval: '2 minutes',
      maximumAttempts: 6,
      nonRetryableErrorTypes: ['LlmFatal'],
    },
  });
}

function runtime(queue: string, timeoutS: number, heartbeatTimeoutMs: number, summary: string) {
  return proxyActivities<LlmRuntimeActivities>({
    summary,
    taskQueue: queue,
    startToCloseTimeout: (timeoutS + 180) * 1000,
    heartbeatTimeout: heartbeatTimeoutMs,
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '30 seconds',
      maximumAttempts: 5,
      nonRetryableErrorTypes: [FAILURE_CANDIDATE, FAILURE_USAGE],
    },
  });
}

function reject(reason: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({
    message,
    type: FAILURE_CANDIDATE,
    nonRetryable: true,
    details: [{ reason, message, stage: 'build' } satisfies RejectionDetails],
  });
}

export async function llmBuilderWorkflow(input: LlmBuilderInput): Promise<LlmBuilderOutput> {
  const task = input.design.llmTask;
  if (!input.llm) {
    throw ApplicationFailure.create({
      message:
        'this design asks for the LLM builder, but the search has no LLM endpoint: start it with --llm-base-url, --llm-model and --llm-api-key-env',
      type: FAILURE_USAGE,
      nonRetryable: true,
      details: [{ reason: 'llm_unavailable', message: 'no LLM settings', stage: 'build' } satisfies RejectionDetails],
    });
  }
  if (!task) throw reject('bad_design', `design ${input.design.id} has builder 'llm' but no llmTask`);
  const limits = { ...DEFAULT_LLM_BUILDER_LIMITS, ...input.limits };
  const checkTimeoutS = input.scenario.search?.check_timeout_s ?? 600;
  const benchTimeoutS = Math.min(input.scenario.search?.bench_timeout_s ?? 600, 600);
  const heartbeatTimeoutMs = input.heartbeatTimeoutMs ?? 30_000;
  const tools = runtime(
    input.runtimeQueue,
    Math.max(checkTimeoutS, benchTimeoutS),
    heartbeatTimeoutMs,
    `LLM build tools ${input.candidateId}`,
  );
  const control = controlActivities(heartbeatTimeoutMs, `LLM build ${input.candidateId}`);

  const prepared = await tools.prepareLlmWorkspace({
    searchId: input.searchId,
    candidateId: input.candidateId,
    design: input.design,
    scenario: input.scenario,
    hardware: input.hardware,
    workspaceDir: input.workspaceDir,
  });
  const context: ToolContext = {
    workspace: prepared.workspace,
    stackDir: prepared.stackDir,
    protectedEntries: prepared.protectedEntries,
    expectedHashes: prepared.expectedHashes,
    device: input.hardware.device,
    checkTimeoutS,
    benchTimeoutS,
    memoryBytes: input.memoryBytes,
    bench: {
      numPrompts: 8,
      inputLen: Math.min(input.scenario.workload.prompt_len ?? 64, 256),
      outputLen: Math.min(input.scenario.workload.output_len ?? 32, 64),
      maxConcurrency: 4,
    },
  };

  const untrusted: UntrustedStack = {
    workspace: prepared.workspace,
    protectedEntries: prepared.protectedEntries,
    expectedHashes: prepared.expectedHashes,
    ...(input.memoryBytes ? { memoryBytes: input.memoryBytes } : {}),
  };

  const messages: ChatMessage[] = [
    { role: 'system', content: builderSystemPrompt() },
    { role: 'user', content: builderTaskPrompt(input.design, task, input.scenario, input.hardware) },
  ];
  const usage: LlmUsage = { promptTokens: 0, completionTokens: 0, costUsd: 0, calls: 0 };
  let turns = 0;
  let toolCalls = 0;
  let repairs = 0;
  let checkedClean = false; // the checker passed and nothing changed since
  let lastFailure: string | null = null;
  const show = (what: string) =>
    setCurrentDetails(
      `**LLM builder** ${input.candidateId}: ${task.dimension} component \`${task.componentName}\`\n\n` +
        `turn ${turns}/${limits.maxTurns}, tool calls ${toolCalls}, repairs ${repairs}, tokens ${formatNumber(usage.promptTokens + usage.completionTokens)}, cost $${usage.costUsd.toFixed(4)}\n\n${what}`,
    );

  const finish = async (status: string) => {
    return tools.finalizeLlmWorkspace({
      context,
      transcript: messages,
      summary: {
        status,
        turns,
        toolCalls,
        repairs,
        usage,
        workflowId: workflowInfo().workflowId,
        design: input.design.id,
      },
    });
  };

  const runTool = async (call: { id: string; name: string; arguments: string }): Promise<ToolOutcome> => {
    toolCalls++;
    show(`running ${call.name}`);
    const outcome = await tools.runBuilderTool({ context, call });
    if (outcome.status === 'integrity_violation') {
      messages.push({ role: 'tool', tool_call_id: call.id, content: outcome.output });
      await finish('rejected: integrity_violation');
      throw reject(
        'integrity_violation',
        `the LLM builder touched protected files: ${JSON.parse(outcome.output).detail ?? outcome.output}`,
      );
    }
    if (outcome.changed) checkedClean = false;
    if (call.name === 'run_checker') {
      checkedClean = outcome.checkerPassed === true;
      lastFailure = outcome.checkerPassed ? null : (outcome.checkerReason ?? 'wrong_output');
    }
    return outcome;
  };

  const repairOrGiveUp = async () => {
    repairs++;
    if (repairs > limits.maxRepairs) {
      await finish(`rejected: ${lastFailure}`);
      throw reject(
        lastFailure ?? 'wrong_output',
        `the LLM-built ${task.dimension} component still fails the checker after ${limits.maxRepairs} repairs (${lastFailure})`,
      );
    }
    messages.push({ role: 'user', content: repairPrompt(lastFailure ?? 'wrong_output', repairs, limits.maxRepairs) });
  };

  while (turns < limits.maxTurns) {
    if (usage.promptTokens + usage.completionTokens >= limits.maxTokens || usage.costUsd >= limits.maxCostUsd) {
      await finish('rejected: llm_budget_exhausted');
      throw reject(
        'llm_budget_exhausted',
        `the LLM builder used its budget (${usage.promptTokens + usage.completionTokens} tokens, $${usage.costUsd.toFixed(4)}) without a passing component`,
      );
    }
    turns++;
    show('waiting for the model');
    let reply;
    try {
      reply = await control.llmChat({
        settings: input.llm,
        messages,
        tools: BUILDER_TOOLS,
        maxTokens: input.llm.maxTokensPerCall,
      });
    } catch (err) {
      // The endpoint stayed down through every retry: this candidate cannot be built now, which
      // says nothing about the design; the search goes on with the others.
      const cause = err instanceof ActivityFailure ? err.cause : err;
      await finish('rejected: llm_unavailable');
      throw reject(
        'llm_unavailable',
        `the LLM endpoint failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      );
    }
    usage.promptTokens += reply.usage.promptTokens;
    usage.completionTokens += reply.usage.completionTokens;
    usage.costUsd = Math.round((usage.costUsd + reply.usage.costUsd) * 1e6) / 1e6;
    usage.calls += 1;
    messages.push({
      role: 'assistant',
      content: reply.content || null,
      ...(reply.toolCalls.length
        ? {
            tool_calls: reply.toolCalls.map((c) => ({
              id: c.id,
              type: 'function' as const,
              function: { name: c.name, arguments: c.arguments },
            })),
          }
        : {}),
    });

    if (reply.toolCalls.length) {
      let checkerFailed = false;
      for (const call of reply.toolCalls) {
        const outcome = await runTool(call);
        messages.push({ role: 'tool', tool_call_id: call.id, content: outcome.output });
        if (call.name === 'run_checker' && !outcome.checkerPassed) checkerFailed = true;
      }
      if (checkerFailed && !checkedClean) await repairOrGiveUp();
      continue;
    }

    // No tool call: the model says it is done. Only a checked, unchanged stack counts.
    if (checkedClean) {
      const { integrity, transcriptPath } = await finish('built');
      if (integrity.length)
        throw reject('integrity_violation', `protected files changed: ${integrity.slice(0, 5).join(', ')}`);
      log.info('LLM builder finished', { candidateId: input.candidateId, turns, toolCalls, repairs });
      show('built: the checker passes');
      return {
        stackDir: prepared.stackDir,
        specHash: prepared.specHash,
        turns,
        toolCalls,
        repairs,
        llmUsage: usage,
        transcriptPath,
        untrusted,
      };
    }
    const auto = await runTool({ id: `auto-check-${turns}`, name: 'run_checker', arguments: '{}' });
    if (auto.checkerPassed) {
      const { integrity, transcriptPath } = await finish('built');
      if (integrity.length)
        throw reject('integrity_violation', `protected files changed: ${integrity.slice(0, 5).join(', ')}`);
      return {
        stackDir: prepared.stackDir,
        specHash: prepared.specHash,
        turns,
        toolCalls,
        repairs,
        llmUsage: usage,
        transcriptPath,
        untrusted,
      };
    }
    messages.push({ role: 'user', content: `${uncheckedPrompt()}\nChecker result: ${auto.output}` });
    await repairOrGiveUp();
  }
  await finish('rejected: llm_turn_limit');
  throw reject(
    lastFailure ?? 'llm_turn_limit',
    `the LLM builder reached ${limits.maxTurns} turns without a component that passes the checker${lastFailure ? ` (last failure: ${lastFailure})` : ''}`,
  );
}
