// Argument parsing for CLI commands: node:util parseArgs with errors that say how to fix them.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {}

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, usage: string) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message.split('\n')[0]}\nusage: ${usage}`);
  }
}

/** Search ids are `vibeserve-<scenario>-<name>`; accept `<scenario>-<name>` too. */
export function searchIdArg(positionals: string[], usage: string): string {
  const id = positionals[0];
  if (!id) throw new UsageError(`missing search id\nusage: ${usage}`);
  return id.startsWith('vibeserve-') ? id : `vibeserve-${id}`;
}
