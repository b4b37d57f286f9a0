import { describe, expect, it } from 'vitest';
import { accessFor, requestAllowed } from '@/lib/policy';

const headers = (h: Record<string, string>) => new Headers(h);

describe('accessFor', () => {
  it('forwards the storefront routes without a key', () => {
    expect(accessFor('GET', '/v1/stores')).toBe('public');
    expect(accessFor('GET', '/v1/stores/demo-coffee/products')).toBe('public');
    expect(accessFor('POST', '/v1/stores/demo-coffee/orders')).toBe('public');
    expect(accessFor('POST', '/v1/stores/demo-coffee/orders/0b2c5c3e-7a0e-4c43-9b0a-1f0f1f0f1f0f/checkout')).toBe('public');
    expect(accessFor('GET', '/v1/stores/demo-coffee/orders/0b2c5c3e-7a0e-4c43-9b0a-1f0f1f0f1f0f')).toBe('public');
  });
  it('signs only the admin and operator routes', () => {
    expect(accessFor('GET', '/v1/stores/demo-coffee/orders')).toBe('admin');
    expect(accessFor('PUT', '/v1/stores/demo-coffee/flags/checkout.async_enabled')).toBe('admin');
    expect(accessFor('GET', '/v1/stores/demo-coffee/flags/chaos.worker_slow/history')).toBe('admin');
    expect(accessFor('GET', '/v1/ops/outbox')).toBe('admin');
    expect(accessFor('GET', '/v1/ops/workers')).toBe('admin');
    expect(accessFor('POST', '/v1/ops/dead-letters/abc/retry')).toBe('admin');
  });
  it('refuses what the UI does not use', () => {
    expect(accessFor('POST', '/v1/stores')).toBeNull(); // creating stores: not the demo's business
    expect(accessFor('POST', '/v1/stores/demo-coffee/products')).toBeNull();
    expect(accessFor('DELETE', '/v1/stores/demo-coffee/orders/x')).toBeNull();
    expect(accessFor('GET', '/metrics')).toBeNull();
    expect(accessFor('GET', '/v1/ops/outbox/')).toBeNull();
    expect(accessFor('GET', '/v1/stores/demo-coffee/../../ops/outbox')).toBeNull();
    expect(accessFor('GET', '/v1/stores/demo%2Fcoffee/products')).toBeNull();
    expect(accessFor('GET', '/v1/stores//products')).toBeNull();
    expect(accessFor('GET', '/v1/stores/DEMO/products')).toBeNull();
    expect(accessFor('PUT', '/v1/stores/demo-coffee/flags/.')).toBeNull();
    expect(accessFor('PUT', '/v1/stores/demo-coffee/flags/.hidden')).toBeNull();
    expect(accessFor('GET', '/v1/stores/demo-coffee/products/')).toBeNull();
  });
});

describe('requestAllowed', () => {
  it('lets the UI own pages through', () => {
    expect(requestAllowed(headers({ host: '127.0.0.1:3000', 'sec-fetch-site': 'same-origin' }), []).ok).toBe(true);
    expect(requestAllowed(headers({ host: 'localhost:3000', origin: 'http://localhost:3000' }), []).ok).toBe(true);
    expect(requestAllowed(headers({ host: '[::1]:3000' }), []).ok).toBe(true);
  });
  it('refuses other sites and other host names', () => {
    expect(requestAllowed(headers({ host: '127.0.0.1:3000', 'sec-fetch-site': 'cross-site' }), []).ok).toBe(false);
    expect(requestAllowed(headers({ host: '127.0.0.1:3000', origin: 'http://evil.example' }), []).ok).toBe(false);
    expect(requestAllowed(headers({ host: 'rebound.example:3000' }), []).ok).toBe(false);
    expect(requestAllowed(headers({ host: 'shop.internal:3000' }), ['shop.internal']).ok).toBe(true);
    expect(requestAllowed(headers({ host: '127.0.0.1:3000', origin: 'null' }), []).ok).toBe(false);
    expect(requestAllowed(headers({}), []).ok).toBe(false);
  });
});
