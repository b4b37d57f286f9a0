// A cart is the browser's own until "Place order": lines kept in localStorage per store.
// Pure functions over an immutable Cart, so they are tested without a browser.

export interface CartLine {
  product_id: string;
  sku: string;
  name: string;
  unit_price_cents: number;
  currency: string;
  quantity: number;
}

export type Cart = readonly CartLine[];

export const MAX_QUANTITY = 10000; // the API's per-line limit

export function add(cart: Cart, p: Omit<CartLine, 'quantity'>, n = 1): Cart {
  const existing = cart.find((l) => l.product_id === p.product_id);
  if (existing) return setQuantity(cart, p.product_id, existing.quantity + n);
  return [...cart, { ...p, quantity: Math.min(Math.max(n, 1), MAX_QUANTITY) }];
}

export function setQuantity(cart: Cart, productId: string, quantity: number): Cart {
  if (!Number.isFinite(quantity) || quantity < 1) return cart.filter((l) => l.product_id !== productId);
  const q = Math.min(Math.floor(quantity), MAX_QUANTITY);
  return cart.map((l) => (l.product_id === productId ? { ...l, quantity: q } : l));
}

export function remove(cart: Cart, productId: string): Cart {
  return cart.filter((l) => l.product_id !== productId);
}

export function count(cart: Cart): number {
  return cart.reduce((n, l) => n + l.quantity, 0);
}

export function total(cart: Cart): number {
  return cart.reduce((n, l) => n + l.quantity * l.unit_price_cents, 0);
}

/** The body of POST /v1/stores/{store}/orders for this cart. */
export function orderBody(cart: Cart, email: string) {
  return {
    items: cart.map((l) => ({ product_id: l.product_id, quantity: l.quantity })),
    customer_email: email,
  };
}

/** Reads a stored cart, dropping anything that is not a well-formed line. */
export function parse(text: string | null): Cart {
  if (text === null) return [];
  try {
    const v: unknown = JSON.parse(text);
    if (!Array.isArray(v)) return [];
    return v.filter(
      (l): l is CartLine =>
        typeof l === 'object' &&
        l !== null &&
        typeof l.product_id === 'string' &&
        typeof l.name === 'string' &&
        typeof l.sku === 'string' &&
        typeof l.currency === 'string' &&
        Number.isInteger(l.unit_price_cents) &&
        Number.isInteger(l.quantity) &&
        l.quantity >= 1,
    );
  } catch {
    return [];
  }
}
