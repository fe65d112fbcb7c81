// Failure types that cross from activities to workflows. Pure constants, so workflow code may
// import them (the workflow bundle cannot import Node modules).

/** The candidate is at fault (wrong output, build failure, OOM, its own timeout): reject it. */
export const FAILURE_CANDIDATE = 'CandidateRejected';
/** Bad spec or scenario (exit code 3): retrying cannot help. */
export const FAILURE_USAGE = 'UsageError';
/** The machinery failed (worker died, runtime import error): retry. */
export const FAILURE_INFRA = 'RuntimeInfrastructureError';

export interface RejectionDetails {
  reason: string;
  message: string;
  stage: string;
}
