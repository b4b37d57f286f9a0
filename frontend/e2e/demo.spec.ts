// The demo walked as a user: browse, cart, order, checkout and its replay, the async flag, a
// decline, a sold-out item, injected capture failures with their dead letter and compensation,
// the operations page, analytics, and a phone-width window. One story on one system, in order.
import type { Page } from '@playwright/test';
import { expect, shot, test } from './fixtures';

const STORE = 'demo-coffee';

test.describe.configure({ mode: 'serial' });

async function stockOf(page: Page, sku: string): Promise<number> {
  const text = await page.getByTestId(`product-${sku}`).getByTestId('stock').innerText();
  if (/sold out/i.test(text)) return 0;
  return Number(/(\d+) in stock/.exec(text)![1]);
}

/** Catalog → Add to cart (quantity times) → Cart → Place order; returns the order page's URL. */
async function placeOrder(page: Page, sku: string, quantity = 1): Promise<string> {
  await page.goto(`/stores/${STORE}`);
  const card = page.getByTestId(`product-${sku}`);
  await card.getByRole('button', { name: 'Add to cart' }).click();
  await page.getByTestId('cart-link').click();
  await expect(page).toHaveURL(new RegExp(`/stores/${STORE}/cart$`));
  if (quantity !== 1) await page.getByRole('spinbutton', { name: /^Quantity of/ }).fill(String(quantity));
  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page).toHaveURL(new RegExp(`/stores/${STORE}/orders/[0-9a-f-]{36}$`));
  await expect(page.getByTestId('order-status')).toHaveText('pending');
  return page.url();
}

async function setFlag(page: Page, key: string, enabled: boolean, rollout = 100) {
  await page.goto(`/stores/${STORE}/flags`);
  const card = page.getByTestId(`flag-${key}`);
  const rolloutBox = page.getByRole('spinbutton', { name: `Rollout % of ${key}` });
  await expect(rolloutBox).toBeVisible();
  if ((await rolloutBox.inputValue()) !== String(rollout)) {
    await rolloutBox.fill(String(rollout));
    await page.getByRole('button', { name: `Apply rollout of ${key}` }).click();
    await expect(rolloutBox).toHaveValue(String(rollout));
  }
  const sw = page.getByRole('switch', { name: key });
  if ((await sw.getAttribute('aria-checked')) !== String(enabled)) await sw.click();
  await expect(sw).toHaveAttribute('aria-checked', String(enabled));
  await expect(card.getByTestId('flag-source')).toHaveText('store');
}

test('stores lead to a catalog with live stock', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Stores' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Demo Books' })).toBeVisible();
  await shot(page, 'stores');
  await page.getByRole('link', { name: 'Demo Coffee Roasters' }).click();
  await expect(page).toHaveURL(new RegExp(`/stores/${STORE}$`));
  await expect(page.getByTestId('product-BEAN-ETH-250')).toBeVisible();
  expect(await stockOf(page, 'BEAN-ETH-250')).toBeGreaterThan(0);
  await shot(page, 'catalog');
});

test('checkout confirms through the worker, and sending again with the same key is a replay', async ({ page }) => {
  await page.goto(`/stores/${STORE}`);
  const before = await stockOf(page, 'BEAN-ETH-250');
  const orderUrl = await placeOrder(page, 'BEAN-ETH-250', 2);

  // The key is shown before anything is sent.
  await expect(page.getByTestId('idempotency-key')).toHaveText(/^ui-[0-9a-f-]{36}$/);
  const key = await page.getByTestId('idempotency-key').innerText();
  await page.getByRole('button', { name: 'Check out' }).click();
  const first = page.getByTestId('checkout-attempt').first();
  await expect(first.getByTestId('attempt-status')).toHaveText('202');
  await expect(first).toContainText('path async');
  // The worker captures the payment: the page follows it by itself.
  await expect(page.getByTestId('order-status')).toHaveText('confirmed');
  await expect(page.getByTestId('order-path')).toHaveText('async');
  await expect(page.getByTestId('payment')).toContainText('captured');
  await expect(page.getByTestId('timeline')).toContainText('payment captured');
  await expect(page.getByTestId('trace-id').first()).toHaveText(/^[0-9a-f]{32}$/);

  await page.getByRole('button', { name: 'Send again with the same key' }).click();
  const replay = page.getByTestId('checkout-attempt').first();
  await expect(replay).toContainText('#2');
  await expect(replay.getByTestId('replayed')).toHaveText('Idempotent-Replayed: true');
  await expect(replay.getByTestId('identical')).toHaveText('identical to #1, byte for byte');
  await expect(replay).toContainText(key);
  await shot(page, 'order');

  // Two units were taken once, not twice.
  await page.goto(`/stores/${STORE}`);
  await expect.poll(() => stockOf(page, 'BEAN-ETH-250')).toBe(before - 2);

  // The order is past checkout: the page offers no new one.
  await page.goto(orderUrl);
  await expect(page.getByTestId('order-status')).toHaveText('confirmed');
  await expect(page.getByRole('button', { name: 'Check out' })).toBeDisabled();
});

test('with checkout.async_enabled off the very next checkout is confirmed in the request', async ({ page }) => {
  await setFlag(page, 'checkout.async_enabled', false);
  await expect(page.getByRole('list', { name: 'History of checkout.async_enabled' })).toContainText('on 100% → off 100%');
  await shot(page, 'flags');

  await placeOrder(page, 'BEAN-COL-250');
  await page.getByRole('button', { name: 'Check out' }).click();
  const first = page.getByTestId('checkout-attempt').first();
  await expect(first).toContainText('200 — order confirmed, path sync');
  await expect(page.getByTestId('order-status')).toHaveText('confirmed');
  await expect(page.getByTestId('order-path')).toHaveText('sync');

  await setFlag(page, 'checkout.async_enabled', true);
});

test('a decline, then a new key and another token; a sold-out item', async ({ page }) => {
  await page.goto(`/stores/${STORE}`);
  const mugs = await stockOf(page, 'MUG-ENAMEL');
  const orderUrl = await placeOrder(page, 'MUG-ENAMEL');
  await page.getByRole('combobox', { name: 'Payment token' }).selectOption('tok_decline');
  await expect(page.getByTestId('idempotency-key')).toHaveText(/^ui-/);
  const declinedKey = await page.getByTestId('idempotency-key').innerText();
  await page.getByRole('button', { name: 'Check out' }).click();
  const declined = page.getByTestId('checkout-attempt').first();
  await expect(declined.getByTestId('attempt-status')).toHaveText('402');
  await expect(declined).toContainText('Payment declined');

  // The same key with another token would be another request: the page says so.
  await page.getByRole('combobox', { name: 'Payment token' }).selectOption('tok_visa');
  await expect(page.getByTestId('key-warning')).toContainText('idempotency_key_reused');
  // Read afresh: still pending, no stock taken.
  await page.goto(`/stores/${STORE}`);
  expect(await stockOf(page, 'MUG-ENAMEL')).toBe(mugs);
  await page.goto(orderUrl);
  await expect(page.getByTestId('order-status')).toHaveText('pending');

  // A new key is a new request: this one authorizes.
  await page.getByRole('button', { name: 'New key' }).click();
  await expect(page.getByTestId('idempotency-key')).toHaveText(/^ui-[0-9a-f-]{36}$/);
  await expect(page.getByTestId('idempotency-key')).not.toHaveText(declinedKey);
  await page.getByRole('button', { name: 'Check out' }).click();
  const paid = page.getByTestId('checkout-attempt').first();
  await expect(paid.getByTestId('attempt-status')).toHaveText('202');
  await expect(paid).toContainText('new answer');
  await expect(page.getByTestId('order-status')).toHaveText('confirmed');

  await page.goto(`/stores/${STORE}`);
  const left = await stockOf(page, 'DRIP-LIMITED');
  const soldOutUrl = await placeOrder(page, 'DRIP-LIMITED', left + 1);
  await page.getByRole('button', { name: 'Check out' }).click();
  const soldOut = page.getByTestId('checkout-attempt').first();
  await expect(soldOut.getByTestId('attempt-status')).toHaveText('409');
  await expect(soldOut).toContainText(`Sold out: ${left + 1} requested, ${left} available`);
  await page.goto(`/stores/${STORE}`);
  expect(await stockOf(page, 'DRIP-LIMITED')).toBe(left);
  await page.goto(soldOutUrl);
  await expect(page.getByTestId('order-status')).toHaveText('pending');
});

test('failing captures retry, die, give the stock back, and the dead letter can be retried', async ({ page }) => {
  await setFlag(page, 'chaos.payment_capture_fail', true, 100);
  await page.goto(`/stores/${STORE}`);
  const before = await stockOf(page, 'MUG-ENAMEL');
  await placeOrder(page, 'MUG-ENAMEL');
  await page.getByRole('button', { name: 'Check out' }).click();
  await expect(page.getByTestId('checkout-attempt').first().getByTestId('attempt-status')).toHaveText('202');
  // The worker retries with backoff until the attempts run out, then compensates.
  await expect(page.getByTestId('order-status')).toHaveText('payment_failed', { timeout: 30_000 });
  await expect(page.getByTestId('payment')).toContainText('voided');
  await expect(page.getByTestId('stock-MUG-ENAMEL')).toHaveText(String(before));
  const events = page.getByTestId('order-events');
  await expect(events.getByRole('row').filter({ hasText: 'PaymentAuthorized' })).toContainText('dead');
  await expect(events).toContainText('chaos.payment_capture_fail');
  await shot(page, 'order-failed');
  const orderUrl = page.url();
  const orderId = orderUrl.split('/').pop()!;

  await setFlag(page, 'chaos.payment_capture_fail', false);
  await page.goto('/ops');
  const dead = page.getByTestId('dead-letter').filter({ hasText: orderId.slice(0, 8) });
  await expect(dead).toHaveCount(1);
  await expect(page.getByTestId('worker').first()).toContainText('alive');
  // The fault detector noticed the death, and the page names the rule's runbook.
  const fault = page.getByTestId('fault').filter({ hasText: 'dead_events' });
  await expect(fault.first()).toContainText('docs/runbooks/dead_events.md');
  await shot(page, 'ops');
  await dead.getByRole('button', { name: 'Retry' }).click();
  await expect(dead).toHaveCount(0);

  // The retried capture finds the order failed and completes without reviving it.
  await page.goto(orderUrl);
  const row = page.getByTestId('order-events').getByRole('row').filter({ hasText: 'PaymentAuthorized' });
  await expect(row).toContainText('done');
  await expect(page.getByTestId('order-status')).toHaveText('payment_failed');
  await expect(page.getByTestId('stock-MUG-ENAMEL')).toHaveText(String(before));
});

test('analytics shows the orders just made', async ({ page }) => {
  await page.goto(`/stores/${STORE}/analytics`);
  // Five orders were created above; three were confirmed (the counters trail the outbox).
  await expect.poll(async () => Number(await page.getByTestId('orders-created').innerText()), { timeout: 20_000 }).toBe(5);
  await expect.poll(async () => Number(await page.getByTestId('orders-confirmed').innerText()), { timeout: 20_000 }).toBe(3);
  await expect(page.getByTestId('top-products')).toContainText('Ethiopia Yirgacheffe');
  await expect(page.getByTestId('revenue-chart').locator('.recharts-bar-rectangle').first()).toBeVisible();
  await expect(page.getByTestId('orders-chart').locator('.recharts-bar-rectangle').first()).toBeVisible();
  await shot(page, 'analytics');
});

test('every page fits a phone-width window', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await placeOrder(page, 'BEAN-ETH-250'); // leaves the phone on an order page, with a cart before it
  const orderPath = new URL(page.url()).pathname;
  await page.goto(`/stores/${STORE}`);
  await page.getByTestId('product-MUG-ENAMEL').getByRole('button', { name: 'Add to cart' }).click();
  const pages = ['/', `/stores/${STORE}`, `/stores/${STORE}/cart`, orderPath, `/stores/${STORE}/orders`];
  for (const path of [...pages, `/stores/${STORE}/flags`, `/stores/${STORE}/analytics`, '/ops']) {
    await page.goto(path);
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    await expect(page.getByText('Loading…')).toHaveCount(0);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `${path} scrolls sideways`).toBeLessThanOrEqual(0);
  }
  await page.goto(`/stores/${STORE}`);
  await shot(page, 'catalog-phone');
});

test('the UI server forwards only its own routes, only for its own pages, and cannot be framed', async ({ request }) => {
  const page = await request.get('/');
  expect(page.headers()['x-frame-options']).toBe('DENY');
  expect(page.headers()['content-security-policy']).toContain("frame-ancestors 'none'");

  const notForwarded = await request.post('/api/terminus/v1/stores', { data: { slug: 'evil', name: 'x', currency: 'EUR' } });
  expect(notForwarded.status()).toBe(404);
  expect((await notForwarded.json()).error.code).toBe('ui_proxy_not_forwarded');

  const crossSite = await request.get('/api/terminus/v1/ops/outbox', { headers: { origin: 'http://evil.example' } });
  expect(crossSite.status()).toBe(403);
  expect((await crossSite.json()).error.code).toBe('ui_proxy_forbidden');

  const rebound = await request.get('/api/terminus/v1/ops/outbox', { headers: { host: 'rebound.example' } });
  expect(rebound.status()).toBe(403);

  // An API refusal is passed on as the API said it, with its status in X-Terminus-Status.
  const unknown = await request.get('/api/terminus/v1/stores/no-such-store/products');
  expect(unknown.status()).toBe(200);
  expect(unknown.headers()['x-terminus-status']).toBe('404');
  expect((await unknown.json()).error.code).toBe('not_found');
});
