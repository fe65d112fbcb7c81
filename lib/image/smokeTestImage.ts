// Runs a built image and checks it serves: GET /health, then one /v1/completions request.
// Builders without a container runtime (rootless CI sandboxes, remote build services) can build
// but not run; that is reported as its own error so the user knows the image itself may be fine.
import type Docker from 'dockerode';

export class ContainerRunError extends Error {}
export class SmokeTestError extends Error {}

export interface SmokeTestOptions {
  /** Time allowed for the model to load and /health to answer. */
  readyTimeoutMs?: number;
  apiKey?: string;
  gpus?: boolean;
  onLog?: (line: string) => void;
}

export interface SmokeTestResult {
  url: string;
  health: unknown;
  completion: { text: string; usage: unknown };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function smokeTestImage(
  docker: Docker,
  image: string,
  opts: SmokeTestOptions = {},
): Promise<SmokeTestResult> {
  const log = opts.onLog ?? ((l: string) => process.stderr.write(l + '\n'));
  let container: Docker.Container;
  try {
    container = await docker.createContainer({
      Image: image,
      Env: opts.apiKey ? [`VIBESERVE_API_KEY=${opts.apiKey}`] : [],
      ExposedPorts: { '8000/tcp': {} },
      HostConfig: {
        PortBindings: { '8000/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] }, // a free host port
        ...(opts.gpus ? { DeviceRequests: [{ Driver: 'nvidia', Count: -1, Capabilities: [['gpu']] }] } : {}),
      },
    });
    await container.start();
  } catch (err) {
    throw new ContainerRunError(`the engine built the image but cannot run containers here: ${firstLine(err)}`);
  }
  try {
    const info = await container.inspect();
    const hostPort = info.NetworkSettings?.Ports?.['8000/tcp']?.[0]?.HostPort;
    if (!hostPort) throw new ContainerRunError('the container started but its port 8000 is not published');
    const url = `http://127.0.0.1:${hostPort}`;
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (opts.apiKey) headers.Authorization = `Bearer ${opts.apiKey}`;
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 300_000);
    let health: unknown = null;
    while (health === null) {
      const state = (await container.inspect()).State;
      if (!state?.Running)
        throw new SmokeTestError(
          `the container exited with code ${state?.ExitCode} before /health answered:\n${await logsTail(container)}`,
        );
      health = await fetch(`${url}/health`).then(
        (r) => (r.ok ? r.json().catch(() => ({})) : null),
        () => null,
      );
      if (health === null) {
        if (Date.now() > deadline)
          throw new SmokeTestError(
            `/health did not answer within ${(opts.readyTimeoutMs ?? 300_000) / 1000}s:\n${await logsTail(container)}`,
          );
        await sleep(1000);
      }
    }
    log(`smoke test: ${url}/health answered`);
    const models = (await (await fetch(`${url}/v1/models`, { headers })).json()) as { data?: { id: string }[] };
    const model = models.data?.[0]?.id;
    const res = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model, prompt: 'Hello', max_tokens: 8 }),
    });
    const body = (await res.json()) as { choices?: { text: string }[]; usage?: unknown };
    if (!res.ok || !body.choices?.length)
      throw new SmokeTestError(`/v1/completions answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
    log(`smoke test: /v1/completions returned ${JSON.stringify(body.usage)}`);
    return { url, health, completion: { text: body.choices[0].text, usage: body.usage } };
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
}

function firstLine(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string };
  return String(e.json?.message ?? e.message ?? err).split('\n')[0];
}

async function logsTail(container: Docker.Container): Promise<string> {
  const buf = (await container.logs({ stdout: true, stderr: true, tail: 20 }).catch(() => Buffer.from(''))) as Buffer;
  // Multiplexed stream frames carry an 8-byte header; strip non-printable bytes for display.
  // eslint-disable-next-line no-control-regex -- stripping control characters is the point
  return buf.toString('utf8').replace(/[\x00-\x08\x0e-\x1f]/g, '');
}
