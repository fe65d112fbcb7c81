// The exported Dockerfile built by a real builder (Debian's podman, chroot isolation) from a base
// image assembled here (no registry is reachable), and `vibeserve build-image`'s dockerode code
// against a real Docker-API endpoint (`podman system service`). Running containers needs kernel
// features this sandbox may lack; the smoke test must then say exactly that.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildImageCommand } from '../../cli/commands/build-image.js';
import { exportStack } from '../../lib/export/exportStack.js';
import { buildImage, ImageBuildError } from '../../lib/image/buildImage.js';
import { connectEngine, EngineUnreachableError, type Engine } from '../../lib/image/dockerEngine.js';
import { ContainerRunError, smokeTestImage } from '../../lib/image/smokeTestImage.js';
import { projectRoot } from '../../lib/paths.js';

const FIXTURE = path.resolve(import.meta.dirname, '..', 'fixtures', 'search-artifacts');
const SEARCH = 'cpu-demo-synthetic';
const hasPodman = spawnSync('podman', ['--version']).status === 0;
if (!hasPodman) console.warn('image build tests skipped: podman is not installed (run scripts/ci-container-tools.sh)');

const suffix = `${process.pid}-${Date.now()}`;
const cliTag = `localhost/vibeserve-test-cli:${suffix}`;
const apiTag = `localhost/vibeserve-test-api:${suffix}`;

function podman(args: string[], timeoutMs = 240_000) {
  return spawnSync('podman', args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
}

describe.skipIf(!hasPodman)('container image of an exported stack', () => {
  let root: string;
  let artifact: string;
  let service: ChildProcess | null = null;
  let socket: string;
  let engine: Engine;
  let BASE: string;

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'vibeserve-image-'));
    cpSync(FIXTURE, path.join(root, 'store'), { recursive: true });
    artifact = exportStack(SEARCH, {
      artifactsRoot: path.join(root, 'store'),
      outDir: path.join(root, 'artifact'),
    }).outDir;
    // Stand-in for the CUDA PyTorch image: this host's Python plus the pinned requirements. Tagged
    // by the requirements' hash, so a later run reuses it and changed pins make a new one.
    const reqHash = createHash('sha256')
      .update(readFileSync(path.join(artifact, 'requirements.txt')))
      .digest('hex')
      .slice(0, 12);
    BASE = `localhost/vibeserve-test-base:${reqHash}`;
    const base = spawnSync(
      'bash',
      [
        path.join(projectRoot, 'docker', 'test-base', 'make-base-image.sh'),
        path.join(artifact, 'requirements.txt'),
        BASE,
      ],
      {
        encoding: 'utf8',
        timeout: 240_000,
      },
    );
    if (base.status !== 0) throw new Error(`making the base image failed:\n${base.stdout}\n${base.stderr}`);

    socket = path.join(root, 'podman.sock');
    service = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], {
      env: { ...process.env, BUILDAH_ISOLATION: 'chroot' },
      stdio: 'ignore',
      detached: true,
    });
    for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 100));
    engine = await connectEngine(`unix://${socket}`);
  }, 300_000);

  afterAll(() => {
    if (service?.pid) {
      try {
        process.kill(-service.pid, 'SIGTERM');
      } catch {
        /* already stopped */
      }
    }
    podman(['rmi', '-f', cliTag, apiTag], 60_000);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('builds with `podman build --isolation chroot` from the local base image', () => {
    const r = podman([
      'build',
      '--isolation',
      'chroot',
      '--format',
      'docker',
      '--build-arg',
      `BASE_IMAGE=${BASE}`,
      '-t',
      cliTag,
      artifact,
    ]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    // pip found every pinned requirement already installed (the build had no network to fetch from).
    expect(r.stdout).toMatch(/Requirement already satisfied: transformers==/);
    const inspected = JSON.parse(podman(['image', 'inspect', cliTag]).stdout)[0];
    const config = inspected.Config;
    expect(inspected.Healthcheck.Test.join(' ')).toContain('/health');
    expect(config.Entrypoint).toEqual([
      'python3',
      '-m',
      'vibeserve_runtime',
      'serve',
      '--stack',
      '/opt/vibeserve/stack',
      '--host',
      '0.0.0.0',
    ]);
    expect(Object.keys(config.ExposedPorts)).toEqual(['8000/tcp']);
    expect(config.Env).toContain('PYTHONPATH=/opt/vibeserve/stack');
  }, 240_000);

  it("builds through dockerode against podman's Docker API, and the smoke test runs or says it cannot", async () => {
    expect(engine.podman).toBe(true);
    const lines: string[] = [];
    const image = await buildImage(engine, artifact, {
      tag: apiTag,
      buildArgs: { BASE_IMAGE: BASE },
      isolation: 'chroot',
      onOutput: (l) => lines.push(l),
    });
    expect(image.id).toMatch(/^(sha256:)?[0-9a-f]{64}$/);
    expect(lines.some((l) => l.includes('jsonschema.Draft7Validator'))).toBe(true); // the build-time spec check ran
    const info = await engine.docker.getImage(apiTag).inspect();
    expect(info.Config.Entrypoint).toContain('vibeserve_runtime');
    expect(Object.keys(info.Config.ExposedPorts ?? {})).toEqual(['8000/tcp']);
    // Podman's Docker-API inspect omits Healthcheck; its own inspect shows the image kept it.
    expect(JSON.parse(podman(['image', 'inspect', apiTag]).stdout)[0].Healthcheck.Test.join(' ')).toContain('/health');

    try {
      const smoke = await smokeTestImage(engine.docker, apiTag, { readyTimeoutMs: 120_000, onLog: () => undefined });
      console.log(`smoke test ran: ${smoke.url}, completion usage ${JSON.stringify(smoke.completion.usage)}`);
      expect(smoke.completion.text).toBeTypeOf('string');
    } catch (err) {
      // Expected in sandboxes without cgroup/rlimit rights: the message says so in one line.
      expect(err).toBeInstanceOf(ContainerRunError);
      expect((err as Error).message).toMatch(/^the engine built the image but cannot run containers here: \S/);
      console.log(`smoke test not possible here: ${(err as Error).message}`);
    }
  }, 240_000);

  it("surfaces the builder's error when the stack spec is broken", async () => {
    const broken = path.join(root, 'broken');
    cpSync(artifact, broken, { recursive: true });
    const specFile = path.join(broken, 'stack', 'stack.json');
    const spec = JSON.parse(readFileSync(specFile, 'utf8'));
    delete spec.params;
    writeFileSync(specFile, JSON.stringify(spec));
    const err = await buildImage(engine, broken, {
      tag: `${apiTag}-broken`,
      buildArgs: { BASE_IMAGE: BASE },
      isolation: 'chroot',
      onOutput: () => undefined,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(ImageBuildError);
    expect(err.message).toMatch(/^image build failed: .*RUN python3 -c/);
    expect(err.message).toContain("stack.json does not match the runtime schema at /: 'params' is a required property");
  }, 240_000);

  it('`vibeserve build-image` says in one line that no engine is reachable, and how to fix it', async () => {
    await expect(connectEngine(`unix://${path.join(root, 'no-such.sock')}`)).rejects.toBeInstanceOf(
      EngineUnreachableError,
    );
    const errors: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    const old = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = `unix://${path.join(root, 'no-such.sock')}`;
    try {
      expect(await buildImageCommand.run([artifact])).toBe(1);
    } finally {
      process.env.DOCKER_HOST = old;
      if (old === undefined) delete process.env.DOCKER_HOST;
      spy.mockRestore();
    }
    expect(errors).toHaveLength(1);
    expect(errors[0].split('\n')).toHaveLength(1);
    expect(errors[0]).toMatch(
      /no Docker-API engine reachable at unix:\/\/.*no-such\.sock \(ENOENT\): start Docker, or point DOCKER_HOST at one/,
    );
  });
});
