#!/usr/bin/env node
// Launcher for the TypeScript CLI: registers tsx in this process, then runs cli/main.ts.
import { register } from 'tsx/esm/api';

register();
await import('../main.ts');
