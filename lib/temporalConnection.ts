// How every VibeServe process reaches Temporal: the embedded dev server by default, or any
// cluster named by the environment (Temporal Cloud needs mTLS certificates or an API key).
import { readFileSync } from 'node:fs';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';

export const DEFAULT_ADDRESS = 'localhost:7233';
export const CONTROL_QUEUE = 'vibeserve-control';

export interface TemporalTarget {
  address: string;
  namespace: string;
  /** Whether the address came from TEMPORAL_ADDRESS (an existing cluster) rather than the default. */
  external: boolean;
  tls?: { clientCertPair?: { crt: Buffer; key: Buffer }; serverRootCACertificate?: Buffer };
  apiKey?: string;
}

function readPem(env: NodeJS.ProcessEnv, name: string): Buffer | undefined {
  const file = env[name];
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (e) {
    throw new Error(`${name}=${file} cannot be read (${(e as NodeJS.ErrnoException).code}); point it at a PEM file`);
  }
}

export function temporalTarget(env: NodeJS.ProcessEnv = process.env): TemporalTarget {
  const crt = readPem(env, 'TEMPORAL_TLS_CERT');
  const key = readPem(env, 'TEMPORAL_TLS_KEY');
  const ca = readPem(env, 'TEMPORAL_TLS_CA');
  if (Boolean(crt) !== Boolean(key))
    throw new Error('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together (mTLS client certificate and key)');
  const apiKey = env.TEMPORAL_API_KEY || undefined;
  const wantsTls = Boolean(crt || ca || apiKey || env.TEMPORAL_TLS === '1' || env.TEMPORAL_TLS === 'true');
  return {
    address: env.TEMPORAL_ADDRESS || DEFAULT_ADDRESS,
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    external: Boolean(env.TEMPORAL_ADDRESS),
    tls: wantsTls ? { clientCertPair: crt && key ? { crt, key } : undefined, serverRootCACertificate: ca } : undefined,
    apiKey,
  };
}

function describeTarget(t: TemporalTarget): string {
  return `${t.address} (namespace ${t.namespace}${t.tls ? ', TLS' : ''}${t.apiKey ? ', API key' : ''})`;
}

export function clientConnectionOptions(t: TemporalTarget): ConnectionOptions {
  return { address: t.address, tls: t.tls, apiKey: t.apiKey, connectTimeout: '5s' };
}

export function workerConnectionOptions(t: TemporalTarget): NativeConnectionOptions {
  return { address: t.address, tls: t.tls, apiKey: t.apiKey };
}

export async function connectClient(t: TemporalTarget = temporalTarget()): Promise<Client> {
  let connection: Connection;
  try {
    connection = await Connection.connect(clientConnectionOptions(t));
  } catch (e) {
    throw new Error(
      `cannot reach Temporal at ${describeTarget(t)}: ${(e as Error).message}. Run \`vibeserve up\` or set TEMPORAL_ADDRESS.`,
    );
  }
  return new Client({ connection, namespace: t.namespace });
}

export async function connectWorker(t: TemporalTarget = temporalTarget()): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect(workerConnectionOptions(t));
  } catch (e) {
    throw new Error(`cannot reach Temporal at ${describeTarget(t)}: ${(e as Error).message}`);
  }
}

/** The Temporal UI page of a workflow (the dev server's UI, or TEMPORAL_UI_URL for a cluster). */
export function uiLink(workflowId: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = (env.TEMPORAL_UI_URL || 'http://localhost:8233').replace(/\/$/, '');
  const ns = env.TEMPORAL_NAMESPACE || 'default';
  return `${base}/namespaces/${encodeURIComponent(ns)}/workflows/${encodeURIComponent(workflowId)}`;
}
