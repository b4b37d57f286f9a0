// A page that fails its test on any console error or uncaught exception, and can save a
// screenshot for the docs (TERMINUS_UI_SHOTS=dir).
import { test as base, expect, type Page } from '@playwright/test';
import path from 'node:path';

export const test = base.extend<{ page: Page }>({
  page: async ({ page }, use) => {
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
    await use(page);
    expect(errors, 'the browser console stayed clean').toEqual([]);
  },
});
export { expect };

export async function shot(page: Page, name: string) {
  const dir = process.env.TERMINUS_UI_SHOTS;
  if (dir) await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}
