// Idempotency keys as the demo shows them: readable, unique, 1-255 visible ASCII (what the API
// accepts). One key per checkout attempt; "New key" makes another.

const VISIBLE_ASCII = /^[\x21-\x7e]{1,255}$/;

export function validKey(key: string): boolean {
  return VISIBLE_ASCII.test(key);
}

/**
 * A random UUID (version 4) from crypto.getRandomValues, which, unlike crypto.randomUUID, browsers
 * also offer on a page that is not a secure context (the UI served under a non-loopback name).
 */
export function randomUuid(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function newKey(prefix = 'ui', random: () => string = randomUuid): string {
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
