// The coding agent's tools: list, read, write and edit files of the candidate's stack, run the
// checker, run a short benchmark. Each call is executed by an activity (activities/llm.ts), so the
// conversation lives in the workflow and a crash resumes between two calls. Candidate code only
// ever runs inside the sandbox; protected files are never writable through these tools.
import { chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SANDBOX_GID, SANDBOX_UID } from '../sandbox.js';
import { runUntrustedVerb } from '../untrustedVerb.js';
import {
  MAX_LIST,
  MAX_READ_CHARS,
  MAX_WRITE_BYTES,
  TOOL_NAMES,
  type ToolContext,
  type ToolOutcome,
} from '../workflowSafe/toolSchemas.js';
import {
  integrityDiff,
  isProtectedPath,
  listStackFiles,
  PathOutsideStack,
  protectedHashes,
  resolveInStack,
} from './workspace.js';

export { BUILDER_TOOLS, TOOL_NAMES } from '../workflowSafe/toolSchemas.js';
export type { ToolContext, ToolOutcome } from '../workflowSafe/toolSchemas.js';

const json = (v: unknown) => JSON.stringify(v);

function parseArgs(raw: string): Record<string, unknown> {
  if (!raw || !raw.trim()) return {};
  const v = JSON.parse(raw) as unknown;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('tool arguments must be a JSON object');
  return v as Record<string, unknown>;
}

function violation(what: string): ToolOutcome {
  return { status: 'integrity_violation', output: json({ error: 'integrity_violation', detail: what }) };
}

export async function executeTool(
  name: string,
  rawArgs: string,
  ctx: ToolContext,
  signal?: AbortSignal,
): Promise<ToolOutcome> {
  let args: Record<string, unknown>;
  try {
    args = parseArgs(rawArgs);
  } catch (err) {
    return { status: 'error', output: json({ error: `arguments are not valid JSON: ${(err as Error).message}` }) };
  }
  try {
    switch (name) {
      case 'list_files': {
        const files = listStackFiles(ctx.stackDir, typeof args.path === 'string' ? args.path : '.');
        return { status: 'ok', output: json({ files: files.slice(0, MAX_LIST), truncated: files.length > MAX_LIST }) };
      }
      case 'read_file': {
        const { abs, rel } = resolveInStack(ctx.stackDir, String(args.path ?? ''));
        if (!existsSync(abs) || !statSync(abs).isFile())
          return { status: 'error', output: json({ error: `${rel}: no such file` }) };
        const text = readFileSync(abs, 'utf8');
        const offset = Math.max(0, Number(args.offset ?? 0) | 0);
        const chunk = text.slice(offset, offset + MAX_READ_CHARS);
        return {
          status: 'ok',
          output: json({
            path: rel,
            offset,
            content: chunk,
            total_chars: text.length,
            next_offset: offset + chunk.length < text.length ? offset + chunk.length : null,
          }),
        };
      }
      case 'write_file':
      case 'edit_file': {
        const { abs, rel } = resolveInStack(ctx.stackDir, String(args.path ?? ''));
        if (isProtectedPath(rel, ctx.protectedEntries)) return violation(`attempted to change protected file ${rel}`);
        let content: string;
        if (name === 'write_file') {
          if (typeof args.content !== 'string')
            return { status: 'error', output: json({ error: 'content must be a string' }) };
          content = args.content;
        } else {
          if (!existsSync(abs)) return { status: 'error', output: json({ error: `${rel}: no such file` }) };
          const before = readFileSync(abs, 'utf8');
          const oldText = String(args.old_text ?? '');
          const count = oldText ? before.split(oldText).length - 1 : 0;
          const newText = String(args.new_text ?? '');
          // A retried activity may find its own edit already applied: answer as the first try did.
          if (count === 0 && newText && before.split(newText).length - 1 === 1) {
            return {
              status: 'ok',
              changed: true,
              output: json({ ok: true, path: rel, bytes: Buffer.byteLength(before) }),
            };
          }
          if (count !== 1)
            return {
              status: 'error',
              output: json({ error: `old_text must occur exactly once in ${rel} (found ${count})` }),
            };
          content = before.replace(oldText, () => newText);
        }
        if (Buffer.byteLength(content) > MAX_WRITE_BYTES)
          return { status: 'error', output: json({ error: `file too large (limit ${MAX_WRITE_BYTES} bytes)` }) };
        mkdirSync(path.dirname(abs), { recursive: true });
        writeFileSync(abs, content);
        giveToSandbox(ctx.stackDir, abs);
        return {
          status: 'ok',
          changed: true,
          output: json({ ok: true, path: rel, bytes: Buffer.byteLength(content) }),
        };
      }
      case 'run_checker':
        return await runChecker(ctx, signal);
      case 'run_short_benchmark':
        return await runShortBenchmark(ctx, signal);
      default:
        return {
          status: 'error',
          output: json({ error: `unknown tool ${name}; available: ${TOOL_NAMES.join(', ')}` }),
        };
    }
  } catch (err) {
    if (err instanceof PathOutsideStack) return { status: 'error', output: json({ error: err.message }) };
    throw err;
  }
}

/** New files and directories the agent creates belong to the sandbox user, like the rest of the stack. */
function giveToSandbox(stackDir: string, abs: string): void {
  if (process.getuid?.() !== 0) return;
  let p = abs;
  while (p.startsWith(stackDir) && p !== stackDir) {
    try {
      chownSync(p, SANDBOX_UID, SANDBOX_GID);
    } catch {
      return;
    }
    p = path.dirname(p);
  }
}

/** Hash check after anything ran: protected files must still equal the installed runtime's. */
export function checkIntegrity(ctx: ToolContext): string[] {
  return integrityDiff(ctx.expectedHashes, protectedHashes(ctx.stackDir, ctx.protectedEntries));
}

function runInSandbox(verb: string, args: string[], ctx: ToolContext, timeoutS: number, signal?: AbortSignal) {
  return runUntrustedVerb(verb, args, ctx, { timeoutMs: timeoutS * 1000, env: ctx.env, signal });
}

async function runChecker(ctx: ToolContext, signal?: AbortSignal): Promise<ToolOutcome> {
  const report = path.join(ctx.workspace, '.reports', 'check.json');
  mkdirSync(path.dirname(report), { recursive: true });
  giveToSandbox(ctx.workspace, path.dirname(report));
  const out = await runInSandbox(
    'check',
    ['--stack', ctx.stackDir, '--device', ctx.device, '--report', report, '--timeout', String(ctx.checkTimeoutS)],
    ctx,
    ctx.checkTimeoutS + 60,
    signal,
  );
  if (out.integrity.length)
    return violation(`protected files changed while the candidate ran: ${out.integrity.slice(0, 6).join(', ')}`);
  if (out.error?.reason === 'integrity_violation') return violation(out.error.message);
  const checks =
    (out.result?.checks as
      Array<{ name: string; value: unknown; threshold: unknown; passed: boolean; detail?: string }> | undefined) ?? [];
  const passed = out.exitCode === 0 && out.result?.passed === true;
  const reason = passed
    ? undefined
    : out.timedOut
      ? 'timeout'
      : (out.error?.reason ?? (out.exitCode === 3 ? 'bad_spec' : 'crashed'));
  const summary = {
    passed,
    ...(reason
      ? {
          reason,
          message:
            out.error?.message?.slice(0, 1500) ??
            (out.timedOut ? `the checker exceeded ${ctx.checkTimeoutS}s` : out.stderrTail.slice(-1500)),
        }
      : {}),
    checks: checks.map((c) => ({
      name: c.name,
      passed: c.passed,
      value: c.value,
      threshold: c.threshold,
      detail: (c.detail ?? '').slice(0, 400),
    })),
  };
  return { status: 'ok', output: json(summary).slice(0, 8000), checkerPassed: passed, checkerReason: reason };
}

async function runShortBenchmark(ctx: ToolContext, signal?: AbortSignal): Promise<ToolOutcome> {
  const b = ctx.bench;
  const args = [
    '--stack',
    ctx.stackDir,
    '--device',
    ctx.device,
    '--num-prompts',
    String(b.numPrompts),
    '--input-len',
    String(b.inputLen),
    '--output-len',
    String(b.outputLen),
    '--max-concurrency',
    String(b.maxConcurrency),
    '--warmups',
    '1',
    '--repetitions',
    '1',
    '--timeout',
    String(ctx.benchTimeoutS),
  ];
  const out = await runInSandbox('bench', args, ctx, ctx.benchTimeoutS + 60, signal);
  if (out.integrity.length)
    return violation(`protected files changed while the candidate ran: ${out.integrity.slice(0, 6).join(', ')}`);
  if (out.exitCode !== 0 || !out.result) {
    return {
      status: 'error',
      output: json({
        error: out.error?.reason ?? (out.timedOut ? 'timeout' : 'crashed'),
        message: (out.error?.message ?? out.stderrTail).slice(0, 1500),
      }),
    };
  }
  const keys = [
    'output_throughput',
    'request_throughput',
    'mean_ttft_ms',
    'median_ttft_ms',
    'mean_tpot_ms',
    'median_tpot_ms',
    'completed',
    'duration_s',
  ];
  const metrics: Record<string, number> = {};
  for (const k of keys) if (typeof out.result[k] === 'number') metrics[k] = out.result[k] as number;
  return { status: 'ok', output: json({ metrics }), metrics };
}
