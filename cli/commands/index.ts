// Every `vibeserve` command, in the order `vibeserve help` lists them. A new command is a file in
// this folder plus one entry here.
import type { Command } from '../command.js';
import { pause, resume, steer, stop } from './control.js';
import { down } from './down.js';
import { list } from './list.js';
import { search } from './search.js';
import { status } from './status.js';
import { up } from './up.js';
import { watch } from './watch.js';
import { buildImageCommand } from './build-image.js';
import { exportCommand } from './export.js';
import { reportCommand } from './report.js';
import { serveCommand } from './serve.js';

export const commands: Command[] = [
  up,
  down,
  search,
  watch,
  status,
  list,
  steer,
  pause,
  resume,
  stop,
  reportCommand,
  exportCommand,
  buildImageCommand,
  serveCommand,
];
