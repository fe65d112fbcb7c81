// The Temporal client the CLI commands share.
import type { Client } from '@temporalio/client';
import { applyLocalAddress } from '../lib/localStack.js';
import { connectClient } from '../lib/temporalConnection.js';

let client: Client | undefined;

export async function getClient(): Promise<Client> {
  if (!client) {
    applyLocalAddress();
    client = await connectClient();
  }
  return client;
}

export async function closeClient(): Promise<void> {
  await client?.connection.close().catch(() => undefined);
  client = undefined;
}
