// A real HTTP server speaking the OpenAI chat-completions protocol that replays scripted replies,
// for tests that need "an LLM" deterministically: it can also answer 429 (with Retry-After), 5xx,
// a body that is not JSON, or a slow reply, and it records every request it received.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedToolCall {
  name: string;
  arguments: Record<string, unknown> | string;
}

export type ScriptStep =
  | { content: string; toolCalls?: ScriptedToolCall[] }
  | { toolCalls: ScriptedToolCall[]; content?: string }
  | { status: 429; retryAfterS?: number }
  | { status: 500 | 502 | 503 }
  | { garbage: string }
  | { delayMs: number; then: ScriptStep };

export interface RecordedRequest {
  body: {
    model: string;
    messages: { role: string; content?: string | null; tool_calls?: unknown[]; tool_call_id?: string }[];
    tools?: unknown[];
    [k: string]: unknown;
  };
  headers: IncomingMessage['headers'];
  answeredWith: string;
}

export type Responder = ScriptStep | ((req: RecordedRequest['body'], index: number) => ScriptStep);

export class ScriptedOpenAI {
  readonly requests: RecordedRequest[] = [];
  /** Chat requests that arrived (counted before any scripted delay, unlike `requests`). */
  received = 0;
  private server: Server | undefined;
  private script: Responder[] = [];
  private fallback: Responder | undefined;
  private served = 0;

  /** Replies in order; when the script runs out, `fallback` answers (or a 500 saying so). */
  setScript(steps: Responder[], fallback?: Responder): void {
    this.script = [...steps];
    this.fallback = fallback;
  }

  get url(): string {
    const addr = this.server?.address() as AddressInfo | null;
    if (!addr) throw new Error('the scripted server is not listening');
    return `http://127.0.0.1:${addr.port}/v1`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => void this.answer(req, raw, res));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }

  private async answer(req: IncomingMessage, raw: string, res: import('node:http').ServerResponse): Promise<void> {
    if (req.method === 'GET' && req.url?.endsWith('/models')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [{ id: 'scripted', object: 'model', owned_by: 'test' }] }));
      return;
    }
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error' } }),
      );
      return;
    }
    let body: RecordedRequest['body'];
    try {
      body = JSON.parse(raw);
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'request body is not JSON', type: 'invalid_request_error' } }));
      return;
    }
    this.received++;
    const index = this.served++;
    const next = this.script.length ? this.script.shift()! : this.fallback;
    let step: ScriptStep = !next ? { status: 500 } : typeof next === 'function' ? next(body, index) : next;
    while ('delayMs' in step) {
      await new Promise((r) => setTimeout(r, (step as { delayMs: number }).delayMs));
      step = (step as { then: ScriptStep }).then;
    }
    const record: RecordedRequest = { body, headers: req.headers, answeredWith: describe(step) };
    this.requests.push(record);
    if ('status' in step) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (step.status === 429 && step.retryAfterS !== undefined) headers['retry-after'] = String(step.retryAfterS);
      res.writeHead(step.status, headers);
      res.end(
        JSON.stringify({
          error: {
            message: step.status === 429 ? 'Rate limit reached, slow down' : 'internal server error',
            type: step.status === 429 ? 'rate_limit_error' : 'server_error',
          },
        }),
      );
      return;
    }
    if ('garbage' in step) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(step.garbage);
      return;
    }
    const toolCalls = (step.toolCalls ?? []).map((t, i) => ({
      id: `call_${index}_${i}`,
      type: 'function',
      function: {
        name: t.name,
        arguments: typeof t.arguments === 'string' ? t.arguments : JSON.stringify(t.arguments),
      },
    }));
    const promptChars = body.messages.reduce((n, m) => n + (typeof m.content === 'string' ? m.content.length : 0), 0);
    const content = step.content ?? null;
    const completionTokens =
      Math.ceil(((content ?? '').length + JSON.stringify(toolCalls).length * (toolCalls.length ? 1 : 0)) / 4) || 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: `chatcmpl-${index}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) },
            finish_reason: toolCalls.length ? 'tool_calls' : 'stop',
          },
        ],
        usage: {
          prompt_tokens: Math.ceil(promptChars / 4),
          completion_tokens: completionTokens,
          total_tokens: Math.ceil(promptChars / 4) + completionTokens,
        },
      }),
    );
  }
}

function describe(step: ScriptStep): string {
  if ('status' in step) return `status ${step.status}`;
  if ('garbage' in step) return 'garbage';
  if ('toolCalls' in step && step.toolCalls?.length) return `tools ${step.toolCalls.map((t) => t.name).join(',')}`;
  return 'content';
}
