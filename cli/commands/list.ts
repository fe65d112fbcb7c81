// `vibeserve list`: searches known to Temporal, newest first, found by their search attributes.
import { formatMetric } from '../../lib/workflowSafe/uiText.js';
import {
  bestMetricAttribute,
  roundAttribute,
  scenarioAttribute,
  statusAttribute,
} from '../../workflows/searchAttributes.js';
import { parse } from '../args.js';
import { getClient } from '../client.js';
import type { Command } from '../command.js';

const usage = 'vibeserve list [--scenario NAME] [--limit N]';

const WIDTHS = [40, 9, 9, 34] as const;

/** One row, columns padded to WIDTHS; the last column (start time) is not padded. */
function row(cells: string[]): string {
  return cells.map((c, i) => (i < WIDTHS.length ? c.padEnd(WIDTHS[i]) : c)).join('  ');
}

export const list: Command = {
  name: 'list',
  summary: 'list searches (id, status, round, best metric)',
  usage,
  async run(argv) {
    const { values } = parse(argv, { scenario: { type: 'string' }, limit: { type: 'string', default: '20' } }, usage);
    const client = await getClient();
    let query = `WorkflowType = "searchWorkflow"`;
    if (values.scenario) query += ` AND ${scenarioAttribute.name} = "${values.scenario.replace(/"/g, '')}"`;
    let n = 0;
    for await (const w of client.workflow.list({ query })) {
      if (n === 0) console.log(row(['SEARCH', 'STATUS', 'ROUND', 'BEST', 'STARTED']));
      const sa = w.typedSearchAttributes;
      const best = sa.get(bestMetricAttribute);
      // Searches started before the objective was kept in the memo show the bare number.
      const objective = typeof w.memo?.objective === 'string' ? w.memo.objective : '';
      const bestText =
        best === undefined
          ? '—'
          : objective
            ? `${formatMetric(objective, best)} (${objective})`
            : formatMetric('', best);
      console.log(
        row([
          w.workflowId,
          sa.get(statusAttribute) ?? w.status.name.toLowerCase(),
          `round ${sa.get(roundAttribute) ?? 0}`,
          bestText,
          w.startTime.toISOString(),
        ]),
      );
      if (++n >= Number(values.limit)) break;
    }
    if (n === 0) console.log('no searches yet: start one with `vibeserve search scenarios/cpu-demo.yaml`');
    return 0;
  },
};
