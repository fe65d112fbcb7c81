// Connecting to a Docker-API engine (Docker, or Podman's `podman system service`) with dockerode:
// DOCKER_HOST when set (unix://, tcp://, http://), else the default socket.
import Docker from 'dockerode';

export const DEFAULT_SOCKET = '/var/run/docker.sock';

export class EngineUnreachableError extends Error {}

export function engineAddress(dockerHost = process.env.DOCKER_HOST): string {
  return dockerHost && dockerHost.length > 0 ? dockerHost : `unix://${DEFAULT_SOCKET}`;
}

export function dockerClient(dockerHost = process.env.DOCKER_HOST): Docker {
  const address = engineAddress(dockerHost);
  if (address.startsWith('unix://')) return new Docker({ socketPath: address.slice('unix://'.length) });
  const url = new URL(address.replace(/^tcp:/, 'http:'));
  return new Docker({
    protocol: url.protocol === 'https:' ? 'https' : 'http',
    host: url.hostname,
    port: Number(url.port || 2375),
  });
}

export interface Engine {
  docker: Docker;
  address: string;
  /** e.g. "Podman Engine 4.3.1" or "Engine 28.2.2". */
  version: string;
  podman: boolean;
  /** Podman's own API (same socket, /v<version>/libpod/...): its build honours --isolation. */
  libpod: Docker | null;
}

/** Pings the engine; throws one actionable line when nothing answers there. */
export async function connectEngine(dockerHost = process.env.DOCKER_HOST): Promise<Engine> {
  const address = engineAddress(dockerHost);
  const docker = dockerClient(dockerHost);
  try {
    await docker.ping();
    const v = (await docker.version()) as { Version?: string; Components?: { Name: string; Version?: string }[] };
    const name = v.Components?.[0]?.Name ?? 'Engine';
    const podman = /podman/i.test(name);
    const m = docker.modem as unknown as {
      socketPath?: string;
      host?: string;
      port?: number;
      protocol?: 'http' | 'https';
    };
    const libpod = podman
      ? new Docker({
          socketPath: m.socketPath,
          host: m.host,
          port: m.port,
          protocol: m.protocol,
          version: `v${v.Version ?? '4.0.0'}/libpod`,
        })
      : null;
    return { docker, address, version: `${name} ${v.Version ?? '?'}`, podman, libpod };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new EngineUnreachableError(
      `no Docker-API engine reachable at ${address} (${code}): start Docker, or point DOCKER_HOST at one ` +
        `(e.g. \`podman system service --time=0 unix:///tmp/podman.sock\` and DOCKER_HOST=unix:///tmp/podman.sock)`,
    );
  }
}
