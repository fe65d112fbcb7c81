// Every workflow the control worker runs (this file is its workflowsPath).
export { searchWorkflow } from './searchWorkflow.js';
export { candidateWorkflow } from './candidateWorkflow.js';
export { llmBuilderWorkflow } from './llmBuilderWorkflow.js';
