// One exit-code convention across the CLI (README, "Exit codes"): 0 done, 1 the work failed,
// 2 bad usage or input (nothing was started).
import { describe, expect, it } from 'vitest';
import { vibeserve } from '../workflow/cli.js';

const env = { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' };

describe('vibeserve exit codes', () => {
  it('exits 2 for bad usage, whichever command', async () => {
    for (const args of [
      ['serve'],
      ['export'],
      ['report'],
      ['build-image'],
      ['serve', 'x', '--bogus'],
      ['status'],
      ['nonsense'],
    ]) {
      const r = await vibeserve(args, env);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
    }
  });

  it('exits 1 when the work itself fails', async () => {
    const r = await vibeserve(['export', 'vibeserve-no-such-search', '--artifacts', '/nonexistent'], env);
    expect(r.code).toBe(1);
  });
});
