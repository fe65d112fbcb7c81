// vibeserve build-image <artifactDir> [--tag <image>] [--build-arg K=V ...] [--isolation chroot] [--no-run] [--gpus] [--api-key <key>]
// Builds through the Docker API (DOCKER_HOST or the default socket), then runs the image and
// smoke-tests /health and one completion unless --no-run.
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildImage, ImageBuildError } from '../../lib/image/buildImage.js';
import { connectEngine, EngineUnreachableError } from '../../lib/image/dockerEngine.js';
import { ContainerRunError, smokeTestImage } from '../../lib/image/smokeTestImage.js';
import type { Command } from '../command.js';

const USAGE =
  'vibeserve build-image <artifactDir> [--tag <image>] [--build-arg KEY=VALUE ...] [--isolation chroot] [--no-run] [--gpus]';
const summary = "build an exported artifact's container image with the Docker API and smoke-test it";

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      tag: { type: 'string' },
      'build-arg': { type: 'string', multiple: true },
      'no-run': { type: 'boolean' },
      gpus: { type: 'boolean' },
      'api-key': { type: 'string' },
      isolation: { type: 'string' },
    },
  });
  if (positionals.length !== 1) {
    console.error(`usage: ${USAGE}`);
    return 2;
  }
  const dir = path.resolve(positionals[0]);
  if (!existsSync(path.join(dir, 'Dockerfile'))) {
    console.error(
      `vibeserve build-image: ${dir} has no Dockerfile; create the artifact with \`vibeserve export <searchId>\``,
    );
    return 2;
  }
  const manifest = existsSync(path.join(dir, 'artifact.json'))
    ? JSON.parse(readFileSync(path.join(dir, 'artifact.json'), 'utf8'))
    : {};
  const tag = values.tag ?? manifest.imageTag ?? `vibeserve/${path.basename(dir).toLowerCase()}:latest`;
  const buildArgs: Record<string, string> = {};
  for (const kv of values['build-arg'] ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) {
      console.error(`vibeserve build-image: --build-arg expects KEY=VALUE, got "${kv}"`);
      return 2;
    }
    buildArgs[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  try {
    const engine = await connectEngine();
    console.log(`building ${tag} from ${dir} on ${engine.version} at ${engine.address}`);
    const image = await buildImage(engine, dir, {
      tag,
      buildArgs,
      isolation: values.isolation ?? process.env.VIBESERVE_BUILD_ISOLATION,
      onOutput: (l) => console.log(`  ${l}`),
    });
    console.log(`built ${image.tag} (${image.id.slice(0, 19)})`);
    if (values['no-run']) return 0;
    const smoke = await smokeTestImage(engine.docker, image.tag, {
      gpus: values.gpus ?? manifest.device === 'cuda',
      apiKey: values['api-key'],
    });
    console.log(`smoke test passed at ${smoke.url}: /health ok, completion ${JSON.stringify(smoke.completion.text)}`);
    return 0;
  } catch (err) {
    const e = err as Error;
    if (e instanceof EngineUnreachableError) console.error(`vibeserve build-image: ${e.message}`);
    else if (e instanceof ContainerRunError)
      console.error(
        `vibeserve build-image: ${e.message} (the image is built; run it where containers can run, or pass --no-run)`,
      );
    else if (e instanceof ImageBuildError) console.error(`vibeserve build-image: ${e.message}`);
    else console.error(`vibeserve build-image: ${e.message}`);
    return e instanceof ContainerRunError ? 2 : 1;
  }
}

export const buildImageCommand: Command = {
  name: 'build-image',
  summary,
  usage: USAGE,
  run,
};
