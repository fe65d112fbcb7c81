// docker/compose.yaml and docker/Dockerfile.workers cannot be run here (no engine can start
// containers), so their wiring is checked against the code they must agree with.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../lib/paths.js';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../../workflows/searchAttributes.js';

// Compose files use YAML merge keys (<<: *worker).
const compose = YAML.parse(readFileSync(path.join(projectRoot, 'docker', 'compose.yaml'), 'utf8'), { merge: true });

describe('docker/compose.yaml', () => {
  it('registers every search attribute the workflows set', () => {
    const args: string[] = compose.services.temporal.command;
    for (const [name, type] of SEARCH_ATTRIBUTE_REGISTRATIONS)
      expect(args).toContain(`--search-attribute=${name}=${type}`);
  });

  it('runs the control and runtime workers against the Temporal service, the GPU worker with a GPU reservation', () => {
    for (const svc of ['control', 'runtime-gpu', 'runtime-cpu']) {
      const s = compose.services[svc];
      expect(s.environment.TEMPORAL_ADDRESS, svc).toBe('temporal:7233');
      expect(existsSync(path.join(projectRoot, s.command[s.command.length - 1])), svc).toBe(true);
    }
    expect(compose.services['runtime-gpu'].deploy.resources.reservations.devices[0]).toMatchObject({
      driver: 'nvidia',
      capabilities: ['gpu'],
    });
    expect(compose.services['runtime-cpu'].deploy).toBeUndefined();
  });

  it('builds from a Dockerfile whose COPY sources exist', () => {
    const build = compose.services.control.build;
    const dockerfile = readFileSync(path.join(projectRoot, 'docker', build.context, build.dockerfile), 'utf8');
    const sources = [...dockerfile.matchAll(/^COPY (.+) \S+$/gm)].flatMap((m) => m[1].split(/\s+/));
    expect(sources.length).toBeGreaterThan(3);
    for (const src of sources) expect(existsSync(path.join(projectRoot, 'docker', build.context, src)), src).toBe(true);
  });
});
