// A chat-completions client over any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, Ollama)
// through the `openai` package: retries with exponential backoff (honouring Retry-After) on 429,
// 5xx, timeouts and dropped connections; token and cost accounting; and the API key kept out of
// every error message, log line and payload.
import OpenAI from 'openai';
import type {
  ChatCompletionMessageParam,
  ChatCompletionTool,
  ChatCompletionMessageToolCall,
} from 'openai/resources/chat/completions';
import type { LlmSettings, LlmUsage } from '../architect/types.js';

export type ChatMessage = ChatCompletionMessageParam;
export type ChatTool = ChatCompletionTool;
export type ToolCall = ChatCompletionMessageToolCall;

export interface ChatRequest {
  messages: ChatMessage[];
  tools?: ChatTool[];
  maxTokens?: number;
  temperature?: number;
  /** Ask for a JSON object reply (`response_format`); not every server supports it. */
  jsonMode?: boolean;
}

export interface ChatReply {
  content: string;
  toolCalls: { id: string; name: string; arguments: string }[];
  finishReason: string;
  usage: LlmUsage;
  attempts: number;
  model: string;
}

export type LlmErrorKind =
  'rate_limited' | 'server_error' | 'timeout' | 'unreachable' | 'auth' | 'bad_request' | 'missing_key';

export class LlmError extends Error {
  constructor(
    readonly kind: LlmErrorKind,
    message: string,
    readonly status?: number,
    readonly attempts = 1,
  ) {
    super(message);
    this.name = 'LlmError';
  }
  get retryable(): boolean {
    return (
      this.kind === 'rate_limited' ||
      this.kind === 'server_error' ||
      this.kind === 'timeout' ||
      this.kind === 'unreachable'
    );
  }
}

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 20_000 };

/** Replaces every occurrence of the given secrets (and bearer tokens) in a text. */
export function redact(text: string, secrets: (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out.replace(/(Bearer\s+)[A-Za-z0-9._-]{8,}/g, '$1[redacted]');
}

/** The API key from the environment variable the settings name; never stored anywhere else. */
export function resolveApiKey(settings: LlmSettings): string {
  if (!settings.apiKeyEnv) return 'not-needed';
  const key = process.env[settings.apiKeyEnv];
  if (key === undefined || key === '') {
    throw new LlmError(
      'missing_key',
      `the LLM API key variable ${settings.apiKeyEnv} is not set in this worker's environment; ` +
        `export ${settings.apiKeyEnv}=... before starting the control worker (or pass --llm-api-key-env with the variable that holds it)`,
    );
  }
  return key;
}

export function costOf(settings: LlmSettings, promptTokens: number, completionTokens: number): number {
  const cost =
    (promptTokens * (settings.pricePerMTokIn ?? 0) + completionTokens * (settings.pricePerMTokOut ?? 0)) / 1e6;
  return Math.round(cost * 1e6) / 1e6;
}

export class LlmClient {
  private readonly client: OpenAI;
  private readonly key: string;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly retry: RetryPolicy;

  constructor(
    readonly settings: LlmSettings,
    retry?: RetryPolicy,
    sleep?: (ms: number) => Promise<void>,
  ) {
    this.retry = retry ?? {
      ...DEFAULT_RETRY,
      maxAttempts: settings.maxAttempts ?? DEFAULT_RETRY.maxAttempts,
      baseDelayMs: settings.retryBaseDelayMs ?? DEFAULT_RETRY.baseDelayMs,
    };
    this.key = resolveApiKey(settings);
    // The SDK's own retries are off: this class retries, so it can count attempts and report them.
    this.client = new OpenAI({
      baseURL: settings.baseURL,
      apiKey: this.key,
      maxRetries: 0,
      timeout: settings.timeoutMs ?? 120_000,
    });
    this.sleep = sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async chat(req: ChatRequest): Promise<ChatReply> {
    let attempt = 0;
    for (;;) {
      attempt++;
      try {
        return await this.once(req, attempt);
      } catch (raw) {
        const err = this.classify(raw, attempt);
        if (!err.retryable || attempt >= this.retry.maxAttempts) throw err;
        await this.sleep(this.backoffMs(attempt, raw));
      }
    }
  }

  private async once(req: ChatRequest, attempt: number): Promise<ChatReply> {
    const completion = await this.client.chat.completions.create({
      model: this.settings.model,
      messages: req.messages,
      ...(req.tools?.length ? { tools: req.tools } : {}),
      max_tokens: req.maxTokens ?? this.settings.maxTokensPerCall ?? 2048,
      temperature: req.temperature ?? this.settings.temperature ?? 0.2,
      ...(req.jsonMode ? { response_format: { type: 'json_object' as const } } : {}),
    });
    const choice = completion.choices?.[0];
    if (!choice || !choice.message) {
      throw new LlmError('server_error', `the LLM endpoint returned no choices (${this.settings.baseURL})`);
    }
    const promptTokens = completion.usage?.prompt_tokens ?? 0;
    const completionTokens = completion.usage?.completion_tokens ?? 0;
    return {
      content: choice.message.content ?? '',
      toolCalls: (choice.message.tool_calls ?? [])
        .filter((c): c is Extract<ToolCall, { type: 'function' }> => c.type === 'function')
        .map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })),
      finishReason: choice.finish_reason ?? 'stop',
      usage: {
        promptTokens,
        completionTokens,
        costUsd: costOf(this.settings, promptTokens, completionTokens),
        calls: 1,
      },
      attempts: attempt,
      model: completion.model ?? this.settings.model,
    };
  }

  private backoffMs(attempt: number, raw: unknown): number {
    const headers = (raw as { headers?: Headers | Record<string, string> })?.headers;
    const retryAfter = headers instanceof Headers ? headers.get('retry-after') : headers?.['retry-after'];
    const fromServer = retryAfter !== undefined && retryAfter !== null ? Number(retryAfter) * 1000 : NaN;
    const exp = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
    const jittered = exp * (0.75 + Math.random() * 0.5);
    return Number.isFinite(fromServer) && fromServer >= 0 ? Math.min(this.retry.maxDelayMs, fromServer) : jittered;
  }

  private classify(raw: unknown, attempts: number): LlmError {
    if (raw instanceof LlmError) return new LlmError(raw.kind, raw.message, raw.status, attempts);
    const where = `${this.settings.baseURL} (model ${this.settings.model})`;
    const msg = redact(String((raw as Error)?.message ?? raw), [this.key]);
    if (raw instanceof OpenAI.APIConnectionTimeoutError)
      return new LlmError('timeout', `the LLM endpoint ${where} timed out: ${msg}`, undefined, attempts);
    if (raw instanceof OpenAI.APIConnectionError) {
      return new LlmError(
        'unreachable',
        `cannot reach the LLM endpoint ${where}: ${msg}; check --llm-base-url and that the server is up`,
        undefined,
        attempts,
      );
    }
    if (raw instanceof OpenAI.APIError) {
      const status = raw.status ?? 0;
      if (status === 429)
        return new LlmError(
          'rate_limited',
          `the LLM endpoint ${where} is rate limiting (429): ${msg}`,
          status,
          attempts,
        );
      if (status === 401 || status === 403) {
        return new LlmError(
          'auth',
          `the LLM endpoint ${where} refused the key in ${this.settings.apiKeyEnv} (${status})`,
          status,
          attempts,
        );
      }
      if (status >= 500 || status === 408 || status === 409)
        return new LlmError('server_error', `the LLM endpoint ${where} failed (${status}): ${msg}`, status, attempts);
      return new LlmError(
        'bad_request',
        `the LLM endpoint ${where} rejected the request (${status}): ${msg}`,
        status,
        attempts,
      );
    }
    // A reply the SDK could not parse (e.g. an HTML error page) is the server's fault: retry it.
    if (raw instanceof SyntaxError)
      return new LlmError(
        'server_error',
        `the LLM endpoint ${where} sent an unparseable reply: ${msg}`,
        undefined,
        attempts,
      );
    return new LlmError('server_error', `LLM call to ${where} failed: ${msg}`, undefined, attempts);
  }
}

/**
 * Extracts the first JSON object from a model reply: the whole reply, a ```json fence, or the
 * outermost {...}. Throws a SyntaxError that says what was wrong.
 */
export function extractJsonObject(text: string): Record<string, unknown> {
  const attempts: string[] = [text.trim()];
  const fence = /```(?:json)?\s*([\s\S]*?)```/i.exec(text);
  if (fence) attempts.push(fence[1]!.trim());
  const first = text.indexOf('{');
  const last = text.lastIndexOf('}');
  if (first >= 0 && last > first) attempts.push(text.slice(first, last + 1));
  for (const a of attempts) {
    try {
      const v = JSON.parse(a) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // try the next candidate span
    }
  }
  throw new SyntaxError(`the reply is not a JSON object (starts with ${JSON.stringify(text.slice(0, 60))})`);
}
