// vibeserve serve <artifactDir> [--port 8000] [--host 127.0.0.1] [--api-key <key>] [--device cpu|cuda]
import { parseArgs } from 'node:util';
import { serveArtifact } from '../../lib/export/serveArtifact.js';
import type { Command } from '../command.js';

const USAGE = 'vibeserve serve <artifactDir> [--port 8000] [--host 127.0.0.1] [--api-key <key>] [--device cpu|cuda]';
const summary = 'run an exported stack locally as an OpenAI-compatible server';

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'api-key': { type: 'string' },
      device: { type: 'string' },
    },
  });
  if (positionals.length !== 1) {
    console.error(`usage: ${USAGE}`);
    return 2;
  }
  const port = values.port === undefined ? 8000 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`vibeserve serve: --port must be a port number, got "${values.port}"`);
    return 2;
  }
  if (values.device !== undefined && values.device !== 'cpu' && values.device !== 'cuda') {
    console.error(`vibeserve serve: --device must be cpu or cuda, got "${values.device}"`);
    return 2;
  }
  try {
    const server = await serveArtifact(positionals[0], {
      port,
      host: values.host,
      apiKey: values['api-key'] ?? process.env.VIBESERVE_API_KEY,
      device: values.device as 'cpu' | 'cuda' | undefined,
    });
    console.log(`serving ${server.stackDir}`);
    console.log(`OpenAI-compatible API at ${server.url}/v1 (Ctrl-C stops it)`);
    const forward = (sig: NodeJS.Signals) => void server.stop(sig);
    process.once('SIGINT', forward);
    process.once('SIGTERM', forward);
    const code = await server.exited;
    return code === 0 || code === 130 || code === 143 ? 0 : code;
  } catch (err) {
    console.error(`vibeserve serve: ${(err as Error).message}`);
    return 1;
  }
}

export const serveCommand: Command = {
  name: 'serve',
  summary,
  usage: USAGE,
  run,
};
