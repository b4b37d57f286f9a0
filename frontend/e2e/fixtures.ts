// A page that fails its test on any console error or uncaught exception, and can save a
// screenshot for the docs (TERMINUS_UI_SHOTS=dir).
import { test as base, expect, type Page } from '@playwright/test';
import path from 'node:path';

// The operator key of the system under test (tests/run.sh exports it): no byte the browser
// receives may contain it.
const SECRET = process.env.TERMINUS_TEST_OPERATOR_KEY;

export const test = base.extend<{ page: Page }>({
  page: async ({ page }, use) => {
    const errors: string[] = [];
    const checks: Promise<void>[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console.error: ${m.text()} (${m.location().url})`);
    });
    page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
    if (SECRET) {
      page.on('response', (r) => {
        checks.push(
          (async () => {
            const headers = JSON.stringify(await r.allHeaders());
            const body = await r.body().catch(() => Buffer.alloc(0));
            if (headers.includes(SECRET) || body.includes(SECRET))
              errors.push(`the operator key reached the browser in ${r.url()}`);
          })(),
        );
      });
    }
    await use(page);
    await Promise.all(checks);
    expect(errors, 'the browser console stayed clean and saw no key').toEqual([]);
  },
});
export { expect };

export async function shot(page: Page, name: string) {
  const dir = process.env.TERMINUS_UI_SHOTS;
  if (dir) await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}
