// Idempotency keys as the demo shows them: readable, unique, 1-255 visible ASCII (what the API
// accepts). One key per checkout attempt; "New key" makes another.

const VISIBLE_ASCII = /^[\x21-\x7e]{1,255}$/;

export function validKey(key: string): boolean {
  return VISIBLE_ASCII.test(key);
}

export function newKey(prefix = 'ui', random: () => string = () => crypto.randomUUID()): string {
  const key = `${prefix}-${random()}`;
  if (!validKey(key)) throw new Error(`not a valid idempotency key: ${key}`);
  return key;
}

/** The key a page keeps for one purpose (an order's checkout, say) across reloads of the tab. */
export function storedKey(storage: Storage | null, slot: string, make: () => string = newKey): string {
  const name = `terminus.key.${slot}`;
  const existing = storage?.getItem(name);
  if (existing && validKey(existing)) return existing;
  const key = make();
  storage?.setItem(name, key);
  return key;
}

export function replaceKey(storage: Storage | null, slot: string, make: () => string = newKey): string {
  const key = make();
  storage?.setItem(`terminus.key.${slot}`, key);
  return key;
}
