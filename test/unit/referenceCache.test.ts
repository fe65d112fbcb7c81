// The verify activity's `check` arguments: a trusted check shares the search's reference cache
// (inside the search's artifact directory, the same for every candidate and retry); a sandboxed
// check of an LLM-built stack is never told where it is.
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkArgs } from '../../activities/verify.js';
import { candidateDir, referenceCacheDir, searchDir } from '../../lib/artifactStore.js';
import type { VerifyInput } from '../../lib/searchTypes.js';

const base: VerifyInput = { searchId: 's-1', candidateId: 'r0-c0', stackDir: '/x/stack', device: 'cpu', timeoutS: 60 };

describe('reference cache of a search', () => {
  const saved = process.env.VIBESERVE_HOME;
  beforeEach(() => {
    process.env.VIBESERVE_HOME = '/tmp/vibeserve-home-test';
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.VIBESERVE_HOME;
    else process.env.VIBESERVE_HOME = saved;
  });

  it('lives in the search directory, beside (not inside) the candidates', () => {
    expect(referenceCacheDir('s-1')).toBe(path.join(searchDir('s-1'), 'reference-cache'));
    expect(referenceCacheDir('s-1').startsWith(candidateDir('s-1', 'r0-c0'))).toBe(false);
    expect(() => referenceCacheDir('../x')).toThrow(/not a valid artifact id/);
  });

  it('is passed to every trusted check of the search, whatever the candidate', () => {
    const a = checkArgs(base, '/r/check.json');
    const b = checkArgs({ ...base, candidateId: 'r3-c2', stackDir: '/y/stack' });
    expect(a).toEqual([
      '--stack',
      '/x/stack',
      '--device',
      'cpu',
      '--report',
      '/r/check.json',
      '--reference-cache',
      referenceCacheDir('s-1'),
    ]);
    expect(b.slice(-2)).toEqual(['--reference-cache', referenceCacheDir('s-1')]);
  });

  it('is not given to a sandboxed check (its checker and candidate share a user)', () => {
    const args = checkArgs({ ...base, untrusted: { workspace: '/w', protectedEntries: [], expectedHashes: {} } });
    expect(args).toEqual(['--stack', '/x/stack', '--device', 'cpu']);
    expect(args.join(' ')).not.toContain('reference-cache');
  });
});
