// A search's input as its current run was started (or continued as new) with, read from that run's
// first history event: answers what the search was configured with without asking its worker.
import type { Client } from '@temporalio/client';
import type { SearchInput } from './searchTypes.js';

export async function searchInputOf(client: Client, workflowId: string): Promise<SearchInput | null> {
  const page = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId },
    maximumPageSize: 1,
  });
  const payloads = page.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
  if (payloads.length === 0) return null;
  return client.options.loadedDataConverter.payloadConverter.fromPayload<SearchInput>(payloads[0]!);
}
