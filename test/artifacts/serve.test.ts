// `vibeserve serve` on the best stack of the real CPU search fixture (tiny random-weight Llama,
// with the runtime code it was verified with), exported and really started as a server,
// spoken to by the official `openai` npm client — completions and chat, streamed and not — and
// the API key keeping strangers out.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportStack } from '../../lib/export/exportStack.js';
import { serveArtifact, type RunningServer } from '../../lib/export/serveArtifact.js';
import { projectRoot } from '../../lib/paths.js';

const FIXTURE = path.resolve(import.meta.dirname, '..', 'fixtures', 'search-artifacts');
const SEARCH = 'vibeserve-cpu-demo-fixture';
const serveVerb = path.join(projectRoot, 'python-runtime', 'vibeserve_runtime', 'cli', 'serve_cmd.py');
const ready = existsSync(serveVerb);
if (!ready) console.warn(`serve tests skipped: the runtime has no serve verb yet (${serveVerb})`);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

describe.skipIf(!ready)('vibeserve serve', () => {
  let root: string;
  let artifact: string;
  let server: RunningServer;
  let client: OpenAI;
  let model: string;
  const apiKey = 'sk-test-serve-key';

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-serve-'));
    cpSync(FIXTURE, root, { recursive: true });
    artifact = exportStack(SEARCH, { artifactsRoot: root, outDir: path.join(root, 'artifact') }).outDir;
    server = await serveArtifact(artifact, {
      port: await freePort(),
      apiKey,
      readyTimeoutMs: 120_000,
      onLog: () => undefined,
    });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey, maxRetries: 0, timeout: 60_000 });
  }, 150_000);

  afterAll(async () => {
    await server?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('lists the stack as the model', async () => {
    const models = await client.models.list();
    model = models.data[0].id;
    expect(model).toBe(JSON.parse(readFileSync(path.join(artifact, 'stack', 'stack.json'), 'utf8')).name);
  });

  it('answers a completion and a chat completion with usage counts', async () => {
    const c = await client.completions.create({ model, prompt: 'The quick brown fox', max_tokens: 8, temperature: 0 });
    expect(c.choices).toHaveLength(1);
    expect(c.usage?.completion_tokens).toBeGreaterThan(0);
    expect(c.usage?.completion_tokens).toBeLessThanOrEqual(8);
    expect(c.usage?.prompt_tokens).toBeGreaterThan(0);

    const chat = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Hello there' }],
      max_tokens: 6,
    });
    expect(chat.choices[0].message.role).toBe('assistant');
    expect(typeof chat.choices[0].message.content).toBe('string');
    expect(chat.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('streams chat and completion tokens incrementally', async () => {
    // Random weights may pick EOS at any step; ignore_eos (a vLLM extension the server accepts)
    // makes the token count deterministic.
    const chat = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Count' }],
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
      ignore_eos: true,
    } as OpenAI.ChatCompletionCreateParamsStreaming);
    // A chunk per engine step the reader keeps up with; steps that arrive while it is behind come
    // merged into one chunk, as vLLM's server does. A chunk's content may be empty: random weights
    // pick byte tokens whose UTF-8 only decodes together with later ones, held back till then.
    let deltaChunks = 0;
    let content = '';
    let usage: { completion_tokens: number } | null = null;
    for await (const chunk of chat) {
      const delta = chunk.choices[0]?.delta;
      if (delta && typeof delta.content === 'string') deltaChunks++;
      content += delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(deltaChunks).toBeGreaterThan(2); // the role chunk, the first token before the rest, then the rest
    expect(content.length).toBeGreaterThan(0);
    expect(usage?.completion_tokens).toBe(8);

    const comp = await client.completions.create({
      model,
      prompt: 'abc',
      max_tokens: 6,
      stream: true,
      ignore_eos: true,
    } as OpenAI.CompletionCreateParamsStreaming);
    let finish: string | null = null;
    let chunks = 0;
    for await (const chunk of comp) {
      chunks++;
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(chunks).toBeGreaterThan(1);
    expect(finish).toBe('length');
  });

  it('rejects a client without the API key', async () => {
    const stranger = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'wrong-key', maxRetries: 0 });
    await expect(stranger.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('stops cleanly, and says so when the directory is not an artifact', async () => {
    const code = await server.stop();
    expect([0, 130, 143]).toContain(code);
    await expect(serveArtifact(root)).rejects.toThrow(/neither an exported artifact .* nor a stack directory/);
  });
});
