'use client';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useEffect, useState } from 'react';
import { api, type Answer } from '@/lib/api';
import * as cart from '@/lib/cart';
import { money } from '@/lib/format';
import { useCart } from '@/lib/hooks';
import type { Order } from '@/lib/types';
import { ErrorNote, StoreNav } from '@/components/ui';

/**
 * A quantity field that lets the user clear it and type a new number: the cart changes only for a
 * whole number from 1 up; anything else is put back when the field loses focus. Lines are removed
 * with Remove, never by typing.
 */
function Quantity({ name, value, onCommit }: { name: string; value: number; onCommit: (q: number) => void }) {
  const [text, setText] = useState(String(value));
  useEffect(() => setText(String(value)), [value]);
  const valid = (t: string) => /^\d+$/.test(t) && Number(t) >= 1 && Number(t) <= cart.MAX_QUANTITY;
  return (
    <input
      type="number"
      min={1}
      max={cart.MAX_QUANTITY}
      aria-label={`Quantity of ${name}`}
      value={text}
      onChange={(e) => {
        setText(e.target.value);
        if (valid(e.target.value)) onCommit(Number(e.target.value));
      }}
      onBlur={() => setText(String(value))}
    />
  );
}

export default function CartPage({ slug }: { slug: string }) {
  const { lines, loaded, update } = useCart(slug);
  const [email, setEmail] = useState('ada@example.com');
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState<Answer<Order> | null>(null);
  const router = useRouter();

  async function place() {
    setBusy(true);
    setFailed(null);
    const a = await api<Order>(`/v1/stores/${slug}/orders`, { body: cart.orderBody(lines, email) });
    setBusy(false);
    if (a.ok && a.data) {
      update(() => []);
      router.push(`/stores/${slug}/orders/${a.data.id}`);
    } else {
      setFailed(a);
    }
  }

  return (
    <>
      <StoreNav slug={slug} />
      <h1>Cart</h1>
      {!loaded ? (
        <p className="muted">Loading…</p>
      ) : lines.length === 0 ? (
        <p>
          The cart is empty. <Link href={`/stores/${slug}`}>Browse the catalog</Link>.
        </p>
      ) : (
        <div className="cols">
          <div className="card table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Product</th>
                  <th className="num">Quantity</th>
                  <th className="num">Line</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {lines.map((l) => (
                  <tr key={l.product_id}>
                    <td>
                      {l.name}
                      <div className="muted small">
                        {l.sku} · {money(l.unit_price_cents, l.currency)}
                      </div>
                    </td>
                    <td className="num">
                      <Quantity
                        name={l.name}
                        value={l.quantity}
                        onCommit={(q) => update((c) => cart.setQuantity(c, l.product_id, q))}
                      />
                    </td>
                    <td className="num">{money(l.unit_price_cents * l.quantity, l.currency)}</td>
                    <td>
                      <button className="danger small" onClick={() => update((c) => cart.remove(c, l.product_id))}>
                        Remove
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div className="card">
            <h3>Order</h3>
            <p className="price">{money(cart.total(lines), lines[0]!.currency)}</p>
            <p className="muted small">
              Placing the order creates it <code>pending</code> with prices from the database; no stock is
              taken until checkout.
            </p>
            <div className="row">
              <label>
                Email
                <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} />
              </label>
            </div>
            <div className="row" style={{ marginTop: '0.8rem' }}>
              <button onClick={place} disabled={busy || email.length < 3}>
                Place order
              </button>
            </div>
            <ErrorNote answer={failed} />
          </div>
        </div>
      )}
    </>
  );
}
