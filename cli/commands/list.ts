// `vibeserve list`: searches known to Temporal, newest first, found by their search attributes.
import { bestMetricAttribute, roundAttribute, scenarioAttribute, statusAttribute } from '../../workflows/searchAttributes.js';
import { parse } from '../args.js';
import { getClient } from '../client.js';
import type { Command } from '../command.js';

const usage = 'vibeserve list [--scenario NAME] [--limit N]';

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
      const sa = w.typedSearchAttributes;
      const best = sa.get(bestMetricAttribute);
      console.log(
        [
          w.workflowId.padEnd(40),
          (sa.get(statusAttribute) ?? w.status.name.toLowerCase()).padEnd(9),
          `round ${sa.get(roundAttribute) ?? 0}`.padEnd(9),
          `best ${best ?? '—'}`.padEnd(16),
          w.startTime.toISOString(),
        ].join('  '),
      );
      if (++n >= Number(values.limit)) break;
    }
    if (n === 0) console.log('no searches yet: start one with `vibeserve search scenarios/cpu-demo.yaml`');
    return 0;
  },
};
