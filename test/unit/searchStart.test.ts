import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { devServerArgs } from '../../lib/devServer.js';
import { projectRoot } from '../../lib/paths.js';
import { parseScenario } from '../../lib/scenario.js';
import type { Client } from '@temporalio/client';
import {
  BudgetConflict,
  buildSearchInput,
  parseBudget,
  refuseBudgetChange,
  searchDetails,
  searchSummaryLine,
  searchWorkflowId,
  startSearch,
} from '../../lib/searchStart.js';
import { temporalTarget, uiLink } from '../../lib/temporalConnection.js';

const demo = parseScenario(readFileSync(path.join(projectRoot, 'scenarios', 'cpu-demo.yaml'), 'utf8'), 'cpu-demo.yaml');

describe('starting a search', () => {
  it('derives the workflow id from scenario and name', () => {
    expect(searchWorkflowId('cpu-demo', 'demo')).toBe('vibeserve-cpu-demo-demo');
    expect(() => searchWorkflowId('cpu-demo', 'My Run')).toThrow("--name 'My Run' must match [a-z0-9-]+");
  });

  it('applies budget overrides and routes to the runtime queue of the hardware kind', () => {
    const { workflowId, input } = buildSearchInput({
      scenario: demo,
      name: 'x',
      budget: parseBudget('rounds=5,candidates=7,minutes=2'),
    });
    expect(workflowId).toBe('vibeserve-cpu-demo-x');
    expect(input.budget).toEqual({ rounds: 5, maxCandidates: 7, wallTimeMs: 120_000 });
    expect(input.options.runtimeQueue).toBe('vibeserve-runtime-cpu');
    expect(input.hardware).toEqual({ kind: 'cpu', device: 'cpu', gpuCount: 0 });
    const gpu = buildSearchInput({ scenario: { ...demo, hardware: { kind: 'h100', gpus: 1 } }, name: 'x' });
    expect(gpu.input.options.runtimeQueue).toBe('vibeserve-runtime-h100');
    expect(gpu.input.hardware).toMatchObject({ device: 'cuda', computeCapability: 9 });
    expect(() => parseBudget('hours=3')).toThrow("--budget 'hours=3' is not understood");
  });

  it('takes whole numbers where whole numbers are meant', () => {
    expect(() => parseBudget('rounds=1.5')).toThrow("--budget 'rounds=1.5': rounds must be a whole number");
    expect(() => parseBudget('candidates=2.5')).toThrow('candidates must be a whole number');
    expect(() => parseBudget('rounds=')).toThrow('is not understood');
    expect(() => parseBudget('rounds=2=3')).toThrow('is not understood');
    expect(parseBudget('rounds=3,minutes=0.5')).toEqual({ rounds: 3, minutes: 0.5 });
  });

  it('refuses a --budget that differs from the running search', async () => {
    const existingSearch = (status: string, budget = { rounds: 2, maxCandidates: 6, wallTimeMs: 1_200_000 }) =>
      ({
        workflow: {
          getHandle: () => ({ describe: async () => ({ status: { name: status } }), query: async () => ({ budget }) }),
        },
      }) as unknown as Client;
    const same = { rounds: 2, maxCandidates: 6, wallTimeMs: 1_200_000 };
    await expect(refuseBudgetChange(existingSearch('RUNNING'), 'vibeserve-x-main', same)).resolves.toBeUndefined();
    const other = refuseBudgetChange(existingSearch('RUNNING'), 'vibeserve-x-main', { ...same, rounds: 3 });
    await expect(other).rejects.toBeInstanceOf(BudgetConflict);
    await expect(other).rejects.toThrow(
      'search vibeserve-x-main is already running with budget rounds=2,candidates=6,minutes=20; --budget asks rounds=3,candidates=6,minutes=20',
    );
    await expect(
      refuseBudgetChange(existingSearch('COMPLETED'), 'vibeserve-x-main', { ...same, rounds: 3 }),
    ).resolves.toBeUndefined();
  });

  it('keeps only the NAME of the LLM key variable in what starting a search returns and sends', async () => {
    // A real-looking key in the variable: the input, and everything handed to Temporal, carry the
    // variable's name and never its value.
    const variable = 'VIBESERVE_TEST_LLM_KEY';
    const secret = `sk-test-${randomUUID().replaceAll('-', '')}`;
    const before = process.env[variable];
    process.env[variable] = secret;
    try {
      const llm = { model: 'm', baseURL: 'http://127.0.0.1:9/v1', apiKeyEnv: variable };
      const { workflowId, input } = buildSearchInput({ scenario: demo, name: 'x', llm });
      expect(input.scenario.search.architect).toBe('llm');
      expect(input.llm).toStrictEqual(llm); // the variable's name, and no field that holds a key
      // startSearch's call to Temporal: the workflow's argument, summary, details, memo and attributes
      const sent: unknown[] = [];
      const client = {
        workflow: {
          getHandle: () => ({ describe: () => Promise.reject(new Error('not found')) }),
          start: (_workflow: string, options: unknown) => {
            sent.push(options);
            return Promise.resolve({ workflowId });
          },
        },
      } as unknown as Client;
      await expect(startSearch(client, workflowId, input)).resolves.toMatchObject({ kind: 'started' });
      expect(sent).toHaveLength(1);
      const written = [JSON.stringify(input), JSON.stringify(sent), searchSummaryLine(input), searchDetails(input)];
      for (const text of written) expect(text).not.toContain(secret);
      expect(JSON.stringify(sent)).toContain(`"apiKeyEnv":"${variable}"`);
    } finally {
      if (before === undefined) delete process.env[variable];
      else process.env[variable] = before;
    }
  });

  it('registers the typed search attributes with the dev server', () => {
    const args = devServerArgs({ port: 7999, dbFile: '/tmp/x.db', logFile: '/tmp/x.log' });
    expect(args).toEqual(expect.arrayContaining(['--port', '7999', '--ui-port', '8999', '--db-filename', '/tmp/x.db']));
    expect(args.filter((a) => a.startsWith('VibeServe'))).toEqual([
      'VibeServeScenario=Keyword',
      'VibeServeStatus=Keyword',
      'VibeServeRound=Int',
      'VibeServeBestMetric=Double',
    ]);
  });

  it('reads the cluster, namespace, TLS files and API key from the environment', () => {
    expect(temporalTarget({})).toMatchObject({
      address: 'localhost:7233',
      namespace: 'default',
      external: false,
      tls: undefined,
    });
    const cloud = temporalTarget({
      TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'ns.acct',
      TEMPORAL_API_KEY: 'k',
    });
    expect(cloud).toMatchObject({ external: true, namespace: 'ns.acct', apiKey: 'k', tls: {} });
    expect(() => temporalTarget({ TEMPORAL_TLS_CERT: '/nonexistent.pem' })).toThrow(
      'TEMPORAL_TLS_CERT=/nonexistent.pem cannot be read (ENOENT)',
    );
    expect(uiLink('vibeserve-cpu-demo-demo', {})).toBe(
      'http://localhost:8233/namespaces/default/workflows/vibeserve-cpu-demo-demo',
    );
  });
});
