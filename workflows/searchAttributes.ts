// Typed search attributes that make searches findable in the Temporal UI and `vibeserve list`.
// The dev server registers them at start (lib/devServer.ts); a remote cluster needs
// `temporal operator search-attribute create` once (README).
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const scenarioAttribute = defineSearchAttributeKey('VibeServeScenario', SearchAttributeType.KEYWORD);
export const statusAttribute = defineSearchAttributeKey('VibeServeStatus', SearchAttributeType.KEYWORD);
export const roundAttribute = defineSearchAttributeKey('VibeServeRound', SearchAttributeType.INT);
export const bestMetricAttribute = defineSearchAttributeKey('VibeServeBestMetric', SearchAttributeType.DOUBLE);

/** Name → type as the `temporal` CLI spells it (`--search-attribute Name=Type`). */
export const SEARCH_ATTRIBUTE_REGISTRATIONS: Array<[string, 'Keyword' | 'Int' | 'Double']> = [
  [scenarioAttribute.name, 'Keyword'],
  [statusAttribute.name, 'Keyword'],
  [roundAttribute.name, 'Int'],
  [bestMetricAttribute.name, 'Double'],
];
