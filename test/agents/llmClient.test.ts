import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlmClient, LlmError, extractJsonObject, redact } from '../../lib/llm/client.js';
import type { LlmSettings } from '../../lib/architect/types.js';
import { ScriptedOpenAI } from '../helpers/scriptedOpenAI.js';

const server = new ScriptedOpenAI();
const KEY_ENV = 'VIBESERVE_TEST_LLM_KEY_CLIENT';
beforeAll(async () => {
  process.env[KEY_ENV] = 'sk-canary-client-0123456789';
  await server.start();
});
afterAll(async () => {
  await server.stop();
  delete process.env[KEY_ENV];
});

const settings = (): LlmSettings => ({
  baseURL: server.url,
  model: 'scripted',
  apiKeyEnv: KEY_ENV,
  pricePerMTokIn: 1,
  pricePerMTokOut: 2,
  retryBaseDelayMs: 50,
  maxAttempts: 4,
  timeoutMs: 2000,
});

describe('LlmClient over the real openai package', () => {
  it('sends the key as a bearer token and counts tokens and cost', async () => {
    server.setScript([{ content: 'hello' }]);
    const before = server.requests.length;
    const reply = await new LlmClient(settings()).chat({ messages: [{ role: 'user', content: 'x'.repeat(400) }] });
    expect(reply.content).toBe('hello');
    expect(reply.usage.promptTokens).toBe(100);
    expect(reply.usage.completionTokens).toBe(2);
    expect(reply.usage.costUsd).toBeCloseTo((100 * 1 + 2 * 2) / 1e6, 9);
    expect(server.requests[before]!.headers.authorization).toBe('Bearer sk-canary-client-0123456789');
  });

  it('retries 429 with backoff, honouring Retry-After', async () => {
    server.setScript([{ status: 429, retryAfterS: 0.3 }, { status: 429 }, { content: 'finally' }]);
    const started = Date.now();
    const reply = await new LlmClient(settings()).chat({ messages: [{ role: 'user', content: 'hi' }] });
    expect(reply.content).toBe('finally');
    expect(reply.attempts).toBe(3);
    // 300 ms from Retry-After, then about 2 x 50 ms of exponential backoff.
    expect(Date.now() - started).toBeGreaterThanOrEqual(300 + 70);
  });

  it('retries 500, 502 and 503, and a body that is not JSON', async () => {
    server.setScript([{ status: 500 }, { status: 502 }, { garbage: '<html>bad gateway</html>' }, { content: 'ok' }]);
    const reply = await new LlmClient(settings()).chat({ messages: [{ role: 'user', content: 'hi' }] });
    expect(reply.content).toBe('ok');
    expect(reply.attempts).toBe(4);
  });

  it('gives up after the last attempt with a clear, key-free error', async () => {
    server.setScript([{ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }]);
    const err = (await new LlmClient(settings())
      .chat({ messages: [{ role: 'user', content: 'hi' }] })
      .catch((e) => e)) as LlmError;
    expect(err).toBeInstanceOf(LlmError);
    expect(err.kind).toBe('server_error');
    expect(err.attempts).toBe(4);
    expect(err.message).toMatch(/503/);
    expect(err.message).not.toContain('sk-canary');
  });

  it('times out a reply that never comes, and retries it', async () => {
    server.setScript([{ delayMs: 1500, then: { content: 'late' } }, { content: 'on time' }]);
    const reply = await new LlmClient({ ...settings(), timeoutMs: 500 }).chat({
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(reply.content).toBe('on time');
    expect(reply.attempts).toBe(2);
  });

  it('says which variable to set when the key is missing, and how to fix an unreachable endpoint', async () => {
    expect(() => new LlmClient({ ...settings(), apiKeyEnv: 'VIBESERVE_NO_SUCH_KEY_VAR' })).toThrow(
      /VIBESERVE_NO_SUCH_KEY_VAR is not set/,
    );
    const err = (await new LlmClient({ ...settings(), baseURL: 'http://127.0.0.1:9/v1', maxAttempts: 2 })
      .chat({ messages: [{ role: 'user', content: 'hi' }] })
      .catch((e) => e)) as LlmError;
    expect(err.kind).toBe('unreachable');
    expect(err.message).toMatch(/--llm-base-url/);
  });
});

describe('helpers', () => {
  it('extracts a JSON object from fenced or chatty replies', () => {
    expect(extractJsonObject('{"a":1}')).toEqual({ a: 1 });
    expect(extractJsonObject('Sure!\n```json\n{"a": [1, 2]}\n```\nDone.')).toEqual({ a: [1, 2] });
    expect(extractJsonObject('Here: {"b": true} as requested')).toEqual({ b: true });
    expect(() => extractJsonObject('I cannot do that')).toThrow(/not a JSON object/);
  });

  it('redacts keys and bearer tokens', () => {
    expect(redact('key sk-abcdef123 and Bearer xyzxyzxyzxyz1', ['sk-abcdef123'])).toBe(
      'key [redacted] and Bearer [redacted]',
    );
  });
});
