// Browser tests of the demo UI: Debian's Chromium (/usr/bin/chromium, or CHROMIUM), headless,
// never a browser download. The system under test (PostgreSQL, API, worker, UI) is started by
// tests/ui/itest_ui.sh, which passes the UI's URL in TERMINUS_UI_URL.
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: 'e2e',
  fullyParallel: false,
  workers: 1, // one system, one story: the tests share its stores and flags, in order
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: {
    baseURL: process.env.TERMINUS_UI_URL || 'http://127.0.0.1:3000',
    viewport: { width: 1280, height: 900 },
    trace: 'off',
    launchOptions: {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      // Root in a container needs --no-sandbox; the rest keeps Chromium off the network it
      // would otherwise try to reach (updates, sync, field trials).
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-dev-shm-usage',
      ],
    },
  },
});
