// Build: turn a design into a self-contained stack directory with the template builder (designs
// whose builder is 'llm' are built by the LLM builder workflow instead, see candidateWorkflow.ts).
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { candidateDir, writeJsonAtomic } from '../lib/artifactStore.js';
import { BuildError, buildFromTemplate } from '../lib/builder/templateBuilder.js';
import { FAILURE_CANDIDATE, FAILURE_INFRA, type RejectionDetails } from '../lib/pythonBridge.js';
import type { BuildInput, BuildOutput } from '../lib/searchTypes.js';

export async function build(input: BuildInput): Promise<BuildOutput> {
  const ctx = Context.current();
  const dir = candidateDir(input.searchId, input.candidateId);
  writeJsonAtomic(path.join(dir, 'design.json'), input.design);
  ctx.heartbeat({ stage: 'build', step: 'materialize' });
  try {
    const out = await buildFromTemplate({
      design: input.design,
      scenario: input.scenario,
      hardware: input.hardware,
      outDir: path.join(dir, 'stack'),
      signal: ctx.cancellationSignal,
      onEvent: (e) => e.event === 'progress' && ctx.heartbeat({ ...e, stage: 'build', step: e.stage }),
    });
    return { stackDir: out.stackDir, specHash: out.specHash };
  } catch (err) {
    if (!(err instanceof BuildError)) throw err;
    if (err.kind === 'infrastructure') throw ApplicationFailure.retryable(err.message, FAILURE_INFRA);
    // A design the library cannot build is the candidate's fault, whether the spec or the code broke.
    throw ApplicationFailure.create({
      message: err.message,
      type: FAILURE_CANDIDATE,
      nonRetryable: true,
      details: [{ reason: err.reason, message: err.message, stage: 'build' } satisfies RejectionDetails],
    });
  }
}
