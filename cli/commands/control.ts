// `vibeserve steer|pause|resume|stop <id>`: updates to a running search; each prints what it did.
import { readFileSync } from 'node:fs';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { hintNote } from '../../lib/architect/hintNote.js';
import { loadDesignSpace } from '../../lib/designSpace.js';
import { designSpacePath } from '../../lib/paths.js';
import { searchInputOf } from '../../lib/searchInputOf.js';
import { pauseUpdate, resumeUpdate, steerUpdate, stopUpdate, type ControlAck } from '../../workflows/messages.js';
import { parse, searchIdArg, UsageError } from '../args.js';
import { getClient } from '../client.js';
import type { Command } from '../command.js';

async function sendUpdate(
  id: string,
  send: (h: ReturnType<Awaited<ReturnType<typeof getClient>>['workflow']['getHandle']>) => Promise<ControlAck>,
): Promise<number> {
  const client = await getClient();
  const handle = client.workflow.getHandle(id);
  const d = await handle.describe();
  if (d.status.name !== 'RUNNING') throw new Error(`search ${id} is ${d.status.name.toLowerCase()}, not running`);
  try {
    const ack = await send(handle);
    console.log(`${id}: ${ack.message} (status ${ack.status})`);
    return 0;
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError)
      throw new Error(`search ${id} refused: ${err.cause?.message ?? err.message}`);
    throw err;
  }
}

const steerUsage = 'vibeserve steer <search-id> ["hint text"] [--constraint dimension=choice1,choice2]...';

/** `--constraint attention=sdpa,triton_paged`, checked against the design space. */
export function parseConstraint(text: string): [string, string[]] {
  const [dim, list] = text.split('=');
  const dims = (
    JSON.parse(readFileSync(designSpacePath(), 'utf8')) as {
      dimensions: Record<string, { choices: Record<string, unknown> }>;
    }
  ).dimensions;
  if (!dim || !list) throw new UsageError(`--constraint '${text}' must look like dimension=choice1,choice2`);
  if (!dims[dim])
    throw new UsageError(`--constraint: '${dim}' is not a design dimension (known: ${Object.keys(dims).join(', ')})`);
  const choices = list.split(',').filter(Boolean);
  const known = Object.keys(dims[dim].choices);
  const unknown = choices.filter((c) => !known.includes(c));
  if (unknown.length || choices.length === 0)
    throw new UsageError(`--constraint: ${dim} has no choice '${unknown.join(', ')}' (choices: ${known.join(', ')})`);
  return [dim, choices];
}

export const steer: Command = {
  name: 'steer',
  summary: "send a hint or a constraint to a running search's next plan",
  usage: steerUsage,
  async run(argv) {
    const { values, positionals } = parse(argv, { constraint: { type: 'string', multiple: true } }, steerUsage);
    const id = searchIdArg(positionals, steerUsage);
    const hint = positionals.slice(1).join(' ').trim() || undefined;
    const constraints = Object.fromEntries((values.constraint ?? []).map(parseConstraint));
    if (!hint && Object.keys(constraints).length === 0)
      throw new UsageError(`give a hint or --constraint\nusage: ${steerUsage}`);
    const code = await sendUpdate(id, (h) => h.executeUpdate(steerUpdate, { args: [{ hint, constraints }] }));
    const input = hint ? await searchInputOf(await getClient(), id).catch(() => null) : null;
    const note = input && hint ? hintNote(loadDesignSpace(), hint, input) : null;
    if (note) console.log(`${id}: note: ${note}`);
    return code;
  },
};

function simple(name: 'pause' | 'resume' | 'stop', summary: string, update: typeof pauseUpdate): Command {
  const usage = `vibeserve ${name} <search-id>`;
  return {
    name,
    summary,
    usage,
    async run(argv) {
      const { positionals } = parse(argv, {}, usage);
      return sendUpdate(searchIdArg(positionals, usage), (h) => h.executeUpdate(update));
    },
  };
}

export const pause = simple('pause', 'start no new candidates until resumed (running ones finish)', pauseUpdate);
export const resume = simple('resume', 'resume a paused search', resumeUpdate);
export const stop = simple('stop', 'stop and finish: running candidates finish, then results are written', stopUpdate);
