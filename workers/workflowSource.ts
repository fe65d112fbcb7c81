// Where a worker gets its workflow code: a prebuilt bundle (VIBESERVE_WORKFLOW_BUNDLE, made with
// bundleWorkflowCode — start-up in milliseconds instead of a webpack build) or the sources.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../lib/paths.js';

export const WORKFLOWS_PATH = path.join(projectRoot, 'workflows', 'index.ts');

export function workflowSource(
  env: NodeJS.ProcessEnv = process.env,
): { workflowBundle: { codePath: string } } | { workflowsPath: string } {
  const bundle = env.VIBESERVE_WORKFLOW_BUNDLE;
  if (bundle) {
    if (!existsSync(bundle))
      throw new Error(`VIBESERVE_WORKFLOW_BUNDLE=${bundle} does not exist; unset it to bundle from source`);
    return { workflowBundle: { codePath: bundle } };
  }
  return { workflowsPath: WORKFLOWS_PATH };
}
