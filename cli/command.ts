// The shape of one CLI command; each lives in cli/commands/<name>.ts and is listed in index.ts.
export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Returns the process exit code. Throwing prints one line and exits non-zero. */
  run(argv: string[]): Promise<number>;
}
