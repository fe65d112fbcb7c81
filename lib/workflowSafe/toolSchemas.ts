// The coding agent's tool schemas and the plain data its tools exchange. Pure (no Node imports),
// so the builder workflow can offer the tools to the model.
import type { ChatCompletionTool } from 'openai/resources/chat/completions';

export const TOOL_NAMES = [
  'list_files',
  'read_file',
  'write_file',
  'edit_file',
  'run_checker',
  'run_short_benchmark',
] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

export const MAX_READ_CHARS = 16_000;
export const MAX_WRITE_BYTES = 256 * 1024;
export const MAX_LIST = 400;

export const BUILDER_TOOLS: ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'list_files',
      description: 'List files of the candidate stack (paths relative to the stack directory).',
      parameters: {
        type: 'object',
        properties: { path: { type: 'string', description: 'sub-directory, default "."' } },
        additionalProperties: false,
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'read_file',
      description: `Read a text file of the stack (at most ${MAX_READ_CHARS} characters from offset).`,
      parameters: {
        type: 'object',
        properties: { path: { type: 'string' }, offset: { type: 'integer', minimum: 0 } },
        required: ['path'],
        additionalProperties: false,
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'write_file',
      description:
        'Create or replace a file of the stack. Protected files (reference, checker, bench, cli, stack.json) must not be changed.',
      parameters: {
        type: 'object',
        properties: { path: { type: 'string' }, content: { type: 'string' } },
        required: ['path', 'content'],
        additionalProperties: false,
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'edit_file',
      description: 'Replace one exact, unique occurrence of old_text with new_text in a stack file.',
      parameters: {
        type: 'object',
        properties: { path: { type: 'string' }, old_text: { type: 'string' }, new_text: { type: 'string' } },
        required: ['path', 'old_text', 'new_text'],
        additionalProperties: false,
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'run_checker',
      description:
        'Run the correctness checker (fp32 reference comparison) on the stack; returns each check with value and threshold.',
      parameters: { type: 'object', properties: {}, additionalProperties: false },
    },
  },
  {
    type: 'function',
    function: {
      name: 'run_short_benchmark',
      description: 'Run a short offline benchmark of the stack; returns throughput and latency metrics.',
      parameters: { type: 'object', properties: {}, additionalProperties: false },
    },
  },
];

export interface ToolContext {
  workspace: string;
  stackDir: string;
  protectedEntries: string[];
  /** Protected-file hashes the stack must keep (taken from the installed runtime). */
  expectedHashes: Record<string, string>;
  device: 'cpu' | 'cuda';
  checkTimeoutS: number;
  benchTimeoutS: number;
  memoryBytes?: number;
  bench: { numPrompts: number; inputLen: number; outputLen: number; maxConcurrency: number };
  env?: Record<string, string>;
}

export interface ToolOutcome {
  /** What the model sees (JSON text, bounded). */
  output: string;
  status: 'ok' | 'error' | 'integrity_violation';
  /** Set by run_checker. */
  checkerPassed?: boolean;
  /** Reason the checker gave when it failed (wrong_output, timeout, crashed, ...). */
  checkerReason?: string;
  /** True when the tool changed a file of the stack. */
  changed?: boolean;
  metrics?: Record<string, number>;
}
