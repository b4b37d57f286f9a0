import { describe, expect, it } from 'vitest';
import { api, describe as say, prepare, send, toAnswer } from '@/lib/api';

const h = (o: Record<string, string> = {}) => new Headers(o);
const envelope = (code: string, details: object = {}) =>
  JSON.stringify({ error: { code, message: code.replaceAll('_', ' '), request_id: 'r1', details } });

describe('toAnswer', () => {
  it('parses a 2xx and the demo headers', () => {
    const a = toAnswer<{ id: string }>(202, h({ 'idempotent-replayed': 'true', 'x-request-id': 'r', 'x-trace-id': 't' }), '{"id":"o"}');
    expect(a.ok).toBe(true);
    expect(a.data).toEqual({ id: 'o' });
    expect(a.replayed).toBe(true);
    expect([a.requestId, a.traceId]).toEqual(['r', 't']);
    expect(a.raw).toBe('{"id":"o"}');
  });
  it('keeps the error envelope and Retry-After', () => {
    const a = toAnswer(429, h({ 'retry-after': '2' }), envelope('rate_limited'));
    expect(a.ok).toBe(false);
    expect(a.error?.code).toBe('rate_limited');
    expect(a.retryAfterS).toBe(2);
    expect(a.replayed).toBe(false);
  });
  it('names an answer without an envelope', () => {
    expect(toAnswer(502, h(), '<html>').error?.code).toBe('unexpected_answer');
    expect(toAnswer(0, h(), '').error?.code).toBe('no_answer');
  });
});

describe('describe', () => {
  it('says what each refusal means', () => {
    expect(say(toAnswer(402, h(), envelope('payment_declined')))).toMatch(/declined.*no stock/);
    expect(say(toAnswer(409, h(), envelope('insufficient_inventory', { requested: 6, available: 5 })))).toBe(
      'Sold out: 6 requested, 5 available. No stock was taken.',
    );
    expect(say(toAnswer(429, h({ 'retry-after': '1' }), envelope('rate_limited')))).toBe(
      'Rate limited (429): too many requests. Retry after 1 s.',
    );
    expect(say(toAnswer(503, h({ 'retry-after': '1' }), envelope('database_unavailable')))).toMatch(
      /^Service unavailable \(503, database_unavailable\).*Retry after 1 s\.$/,
    );
    expect(say(toAnswer(409, h(), envelope('order_not_pending', { status: 'confirmed' })))).toMatch(/already confirmed/);
    expect(say(toAnswer(418, h(), envelope('teapot')))).toBe('418 teapot: teapot');
  });
});

describe('send', () => {
  it('sends the prepared request unchanged, so a replay is identical', async () => {
    const seen: { url: string; init: RequestInit }[] = [];
    const fetcher = (async (url: string, init: RequestInit) => {
      seen.push({ url, init });
      return new Response('{"ok":1}', { status: 200, headers: { 'idempotent-replayed': seen.length > 1 ? 'true' : 'false' } });
    }) as unknown as typeof fetch;
    const call = prepare('/v1/stores/s/orders/o/checkout', { body: { payment_token: 'tok_visa' }, idempotencyKey: 'k-1' });
    const first = await send(call, fetcher);
    const again = await send(call, fetcher);
    expect(seen[0]).toEqual(seen[1]);
    expect(seen[0]!.url).toBe('/api/terminus/v1/stores/s/orders/o/checkout');
    expect(seen[0]!.init.method).toBe('POST');
    expect(seen[0]!.init.headers).toEqual({ 'content-type': 'application/json', 'idempotency-key': 'k-1' });
    expect(seen[0]!.init.body).toBe('{"payment_token":"tok_visa"}');
    expect([first.replayed, again.replayed]).toEqual([false, true]);
    expect(again.raw).toBe(first.raw);
  });
  it('reads the API status the proxy passes on', async () => {
    const fetcher = (async () =>
      new Response(envelope('payment_declined'), { status: 200, headers: { 'x-terminus-status': '402' } })) as unknown as typeof fetch;
    const a = await api('/v1/stores/s/orders/o/checkout', { body: {}, fetcher });
    expect(a.status).toBe(402);
    expect(a.ok).toBe(false);
    expect(a.error?.code).toBe('payment_declined');
  });
  it('turns a network failure into an answer', async () => {
    const fetcher = (async () => {
      throw new TypeError('fetch failed');
    }) as unknown as typeof fetch;
    const a = await api('/v1/stores', { fetcher });
    expect(a.status).toBe(0);
    expect(a.error?.code).toBe('no_answer');
  });
});
