// `vibeserve report`: search results → report.html + plots/*.svg (+ plots/*.png).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { launchChromium } from './headlessChromium.js';
import { loadSearchResults } from './loadSearchResults.js';
import { allPlots } from './plots.js';
import { rasterizeSvg } from './rasterizeSvg.js';
import { renderReport } from './renderReport.js';

export interface ReportOptions {
  outDir?: string;
  artifactsRoot?: string;
  png?: boolean;
}

export interface WrittenReport {
  html: string;
  svgs: string[];
  pngs: string[];
}

export async function writeReport(searchId: string, opts: ReportOptions = {}): Promise<WrittenReport> {
  const results = loadSearchResults(searchId, opts.artifactsRoot);
  const outDir = path.resolve(opts.outDir ?? path.join(results.searchDir, 'report'));
  const plotDir = path.join(outDir, 'plots');
  mkdirSync(plotDir, { recursive: true });
  const plots = allPlots(results);
  const html = path.join(outDir, 'report.html');
  writeFileSync(html, renderReport(results, plots));
  const svgs = plots.map((p) => {
    const file = path.join(plotDir, `${p.name}.svg`);
    writeFileSync(file, `<?xml version="1.0" encoding="UTF-8"?>\n${p.svg}\n`);
    return file;
  });
  const pngs: string[] = [];
  if (opts.png !== false) {
    const chromium = await launchChromium({ deviceScaleFactor: 2 }); // 2× for sharp text
    try {
      for (const p of plots) {
        const file = path.join(plotDir, `${p.name}.png`);
        writeFileSync(file, await rasterizeSvg(chromium.context, p.svg));
        pngs.push(file);
      }
    } finally {
      await chromium.close();
    }
  }
  return { html, svgs, pngs };
}
