// Regenerates the README's results table (between <!-- results:start --> and <!-- results:end -->)
// and the figures under docs/images/ from bench/results/*.json.
//   npx tsx scripts/results-table.ts [--results bench/results] [--readme README.md] [--images docs/images] [--no-png]
// PNGs are rendered by headless Chromium (lib/report/rasterizeSvg.ts); without it the SVGs are still written.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { launchChromium } from '../lib/report/headlessChromium.js';
import { rasterizeSvg } from '../lib/report/rasterizeSvg.js';
import { resultsPlots } from '../lib/results/resultsPlots.js';
import { loadResults, renderResultsMarkdown, spliceReadme } from '../lib/results/resultsTable.js';

const { values } = parseArgs({
  options: {
    results: { type: 'string', default: 'bench/results' },
    readme: { type: 'string', default: 'README.md' },
    images: { type: 'string', default: 'docs/images' },
    'no-png': { type: 'boolean', default: false },
  },
});

const set = loadResults(values.results!);
const imagesRel = path.relative(path.dirname(path.resolve(values.readme!)), path.resolve(values.images!)) || '.';
const body = renderResultsMarkdown(set, imagesRel.split(path.sep).join('/'));
// Read right before writing: the README is shared.
writeFileSync(values.readme!, spliceReadme(readFileSync(values.readme!, 'utf8'), body));
console.log(
  `results-table: ${set.scenarios.length} scenario file(s), ${set.others.length} other file(s) → ${values.readme}`,
);

if (set.scenarios.length > 0) {
  mkdirSync(values.images!, { recursive: true });
  const plots = resultsPlots(set);
  for (const p of plots) writeFileSync(path.join(values.images!, `${p.name}.svg`), p.svg);
  if (!values['no-png']) {
    try {
      const browser = await launchChromium({ deviceScaleFactor: 2 });
      try {
        for (const p of plots)
          writeFileSync(path.join(values.images!, `${p.name}.png`), await rasterizeSvg(browser.context, p.svg));
      } finally {
        await browser.close();
      }
    } catch (err) {
      console.error(
        `results-table: PNGs not rendered (${(err as Error).message.split('\n')[0]}); the SVGs are written`,
      );
      process.exitCode = 1;
    }
  }
  console.log(`results-table: ${plots.map((p) => `${values.images}/${p.name}.{svg,png}`).join(', ')}`);
}
