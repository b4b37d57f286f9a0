import { describe, expect, it } from 'vitest';
import * as cart from '@/lib/cart';
import { newKey, randomUuid, replaceKey, storedKey, validKey } from '@/lib/idem';

class MemoryStorage {
  private m = new Map<string, string>();
  get length() {
    return this.m.size;
  }
  clear() {
    this.m.clear();
  }
  getItem(k: string) {
    return this.m.get(k) ?? null;
  }
  key(i: number) {
    return [...this.m.keys()][i] ?? null;
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
  setItem(k: string, v: string) {
    this.m.set(k, v);
  }
}

describe('idempotency keys', () => {
  it('are valid for the API and new each time', () => {
    const a = newKey();
    expect(validKey(a)).toBe(true);
    expect(a).toMatch(/^ui-[0-9a-f-]{36}$/);
    expect(newKey()).not.toBe(a);
    expect(validKey('')).toBe(false);
    expect(validKey('has space')).toBe(false);
    expect(validKey('x'.repeat(256))).toBe(false);
    expect(() => newKey('bad prefix')).toThrow();
  });
  it('are made of version 4 UUIDs', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const u = randomUuid();
      expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      seen.add(u);
    }
    expect(seen.size).toBe(1000);
  });
  it('stay the same for one purpose until replaced', () => {
    const s = new MemoryStorage() as unknown as Storage;
    const k = storedKey(s, 'checkout.o1');
    expect(storedKey(s, 'checkout.o1')).toBe(k);
    expect(storedKey(s, 'checkout.o2')).not.toBe(k);
    const k2 = replaceKey(s, 'checkout.o1');
    expect(k2).not.toBe(k);
    expect(storedKey(s, 'checkout.o1')).toBe(k2);
    s.setItem('terminus.key.checkout.o3', 'bad key');
    expect(validKey(storedKey(s, 'checkout.o3'))).toBe(true);
  });
});

describe('cart', () => {
  const mug = { product_id: 'p1', sku: 'MUG', name: 'Mug', unit_price_cents: 1800, currency: 'EUR' };
  const kit = { product_id: 'p2', sku: 'KIT', name: 'Kit', unit_price_cents: 4900, currency: 'EUR' };
  it('adds, counts and totals', () => {
    const c = cart.add(cart.add(cart.add([], mug), mug), kit);
    expect(cart.count(c)).toBe(3);
    expect(cart.total(c)).toBe(2 * 1800 + 4900);
    expect(cart.orderBody(c, 'a@b.co')).toEqual({
      items: [
        { product_id: 'p1', quantity: 2 },
        { product_id: 'p2', quantity: 1 },
      ],
      customer_email: 'a@b.co',
    });
  });
  it('keeps quantities within what the API accepts', () => {
    let c = cart.add([], mug);
    c = cart.setQuantity(c, 'p1', 99999);
    expect(c[0]!.quantity).toBe(cart.MAX_QUANTITY);
    expect(cart.setQuantity(c, 'p1', 0)).toEqual([]);
    expect(cart.setQuantity(c, 'p1', Number.NaN)).toEqual([]);
    expect(cart.remove(c, 'p1')).toEqual([]);
  });
  it('reads back only well-formed stored lines', () => {
    const c = cart.add([], mug);
    expect(cart.parse(JSON.stringify(c))).toEqual(c);
    expect(cart.parse('not json')).toEqual([]);
    expect(cart.parse('{"a":1}')).toEqual([]);
    expect(cart.parse(JSON.stringify([{ ...c[0], quantity: 0 }, { foo: 1 }]))).toEqual([]);
    expect(cart.parse(null)).toEqual([]);
  });
});
