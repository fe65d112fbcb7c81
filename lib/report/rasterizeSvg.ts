// SVG → PNG through a headless Chromium screenshot, at the SVG's own size times the context's device scale factor.
import type { BrowserContext } from 'playwright-core';

function svgSize(svg: string): { width: number; height: number } {
  const width = Number(/\bwidth="(\d+(?:\.\d+)?)"/.exec(svg)?.[1] ?? 640);
  const height = Number(/\bheight="(\d+(?:\.\d+)?)"/.exec(svg)?.[1] ?? 400);
  return { width: Math.ceil(width), height: Math.ceil(height) };
}

export async function rasterizeSvg(context: BrowserContext, svg: string): Promise<Buffer> {
  const { width, height } = svgSize(svg);
  const page = await context.newPage();
  await page.setViewportSize({ width, height });
  try {
    await page.setContent(`<!doctype html><html><body style="margin:0;background:#fff">${svg}</body></html>`);
    return await page.locator('svg').first().screenshot({ type: 'png' });
  } finally {
    await page.close();
  }
}
