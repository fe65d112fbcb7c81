// `vibeserve build-image`: builds an exported artifact's Dockerfile through the Docker API
// (dockerode), streaming the build output and surfacing the builder's own error message.
import type { Engine } from './dockerEngine.js';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

export class ImageBuildError extends Error {}

export interface BuildOptions {
  tag: string;
  buildArgs?: Record<string, string>;
  /** The builder's isolation, e.g. "chroot" for Podman where no OCI runtime can start containers. */
  isolation?: string;
  /** Receives each line of build output. */
  onOutput?: (line: string) => void;
}

export interface BuiltImage {
  tag: string;
  id: string;
}

interface BuildEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

/** Context files, minus caches (the artifact's .dockerignore says the same for `docker build`). */
function contextFiles(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (name === '__pycache__' || name.endsWith('.pyc')) return [];
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? contextFiles(p, base) : [path.relative(base, p)];
  });
}

export async function buildImage(engine: Engine, contextDir: string, opts: BuildOptions): Promise<BuiltImage> {
  const docker = engine.docker;
  // Podman's Docker-compatible /build ignores `isolation`; its own /libpod/build honours it and
  // streams the same JSON messages, so the same dockerode call is sent there.
  const builder = opts.isolation && engine.libpod ? engine.libpod : docker;
  const dir = path.resolve(contextDir);
  const files = contextFiles(dir);
  if (!files.includes('Dockerfile'))
    throw new ImageBuildError(`${dir} has no Dockerfile; create the artifact with \`vibeserve export <searchId>\``);
  const out = opts.onOutput ?? ((line: string) => process.stderr.write(line + '\n'));
  // dockerode tars the listed files of the context directory and streams them to the engine.
  const stream = await builder.buildImage(
    { context: dir, src: files },
    {
      t: opts.tag,
      buildargs: opts.buildArgs ?? {},
      rm: true,
      forcerm: true,
      ...(opts.isolation ? { isolation: opts.isolation } : {}),
      // Docker's image format keeps HEALTHCHECK (the OCI format has no field for it).
      ...(builder === engine.libpod ? { outputformat: 'application/vnd.docker.distribution.manifest.v2+json' } : {}),
    },
  );
  const tail: string[] = [];
  let imageId: string | null = null;
  const events: BuildEvent[] = await new Promise((resolve, reject) =>
    docker.modem.followProgress(
      stream,
      (err: Error | null, all: BuildEvent[]) => (err ? reject(err) : resolve(all)),
      (ev: BuildEvent) => {
        const text = ev.stream ?? ev.status;
        if (text) {
          for (const line of text.split('\n').filter((l) => l.trim())) {
            tail.push(line);
            if (tail.length > 80) tail.shift(); // enough for a Python traceback and its message
            out(line);
          }
        }
        if (ev.aux?.ID) imageId = ev.aux.ID;
      },
    ),
  );
  const failure = events.find((e) => e.error || e.errorDetail);
  if (failure) {
    const message = failure.errorDetail?.message ?? failure.error ?? 'unknown error';
    throw new ImageBuildError(`image build failed: ${message.trim()}\nlast build output:\n${tail.join('\n')}`);
  }
  const info = await docker
    .getImage(opts.tag)
    .inspect()
    .catch(() => null);
  if (!info)
    throw new ImageBuildError(
      `the engine reported success but has no image tagged ${opts.tag}; build output:\n${tail.join('\n')}`,
    );
  return { tag: opts.tag, id: info.Id ?? imageId ?? '?' };
}
