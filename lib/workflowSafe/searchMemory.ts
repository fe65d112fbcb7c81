// The architect's memory before anything was explored. Here, apart from the rest of
// lib/architect/memory.ts (which reads the design space from disk), so the search workflow can
// hand a first plan the same empty memory the architect itself starts from.
import type { LlmUsage, SearchMemory } from '../architect/types.js';

export function emptyUsage(): LlmUsage {
  return { promptTokens: 0, completionTokens: 0, costUsd: 0, calls: 0 };
}

export function emptyMemory(): SearchMemory {
  return { explored: [], outcomes: [], failedRegions: [], regionStats: {}, notes: [], llmUsage: emptyUsage() };
}
