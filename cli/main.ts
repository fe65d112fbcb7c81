// The `vibeserve` command line: `vibeserve <command> [options]`.
import { ScenarioError } from '../lib/scenario.js';
import { UsageError } from './args.js';
import { closeClient } from './client.js';
import { commands } from './commands/index.js';

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'vibeserve — searches for a bespoke LLM serving stack, durably on Temporal',
    '',
    'usage: vibeserve <command> [options]',
    '',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Temporal: the embedded dev server (`vibeserve up`), or TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE /',
    'TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY / TEMPORAL_TLS_CA / TEMPORAL_API_KEY for an existing cluster.',
  ].join('\n');
}

/** Bad input (exit 2, README "Exit codes"): our usage and scenario errors, and node's option parser's. */
function isUsageError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    err instanceof UsageError ||
    err instanceof ScenarioError ||
    (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
  );
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    console.log(help());
    return name ? 0 : 2;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`vibeserve: unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`usage: ${command.usage}\n\n${command.summary}`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`vibeserve ${name}: ${message}`);
    return isUsageError(err) ? 2 : 1;
  } finally {
    await closeClient();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`vibeserve: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
