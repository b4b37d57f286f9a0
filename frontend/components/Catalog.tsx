'use client';
import Link from 'next/link';
import { useState } from 'react';
import * as cart from '@/lib/cart';
import { money } from '@/lib/format';
import { useCart, usePoll } from '@/lib/hooks';
import type { Page, Product } from '@/lib/types';
import { Loading, StoreNav } from '@/components/ui';

function Stock({ n }: { n: number }) {
  if (n === 0) return <span className="stock stock-out">Sold out</span>;
  return <span className={n <= 5 ? 'stock stock-low' : 'stock muted'}>{n} in stock</span>;
}

export default function Catalog({ slug }: { slug: string }) {
  // Live stock: the catalog is read again every second.
  const { answer, data } = usePoll<Page<Product>>(`/v1/stores/${slug}/products?limit=100`, 1000);
  const { lines, update } = useCart(slug);
  const [added, setAdded] = useState<string | null>(null);
  const inCart = (id: string) => lines.find((l) => l.product_id === id)?.quantity ?? 0;

  return (
    <>
      <StoreNav slug={slug} />
      <div className="spread">
        <h1>Catalog</h1>
        <Link href={`/stores/${slug}/cart`} className="button" data-testid="cart-link">
          Cart ({cart.count(lines)}) · {lines.length ? money(cart.total(lines), lines[0]!.currency) : 'empty'}
        </Link>
      </div>
      <p className="muted small">Stock is live: it is read from the API every second.</p>
      <Loading answer={answer} data={data}>
        <div className="grid">
          {data?.data.map((p) => (
            <div className="card" key={p.id} data-testid={`product-${p.sku}`}>
              <h3>{p.name}</h3>
              <p className="muted small">{p.description}</p>
              <div className="spread">
                <span className="price">{money(p.price_cents, p.currency)}</span>
                <span data-testid="stock">
                  <Stock n={p.available} />
                </span>
              </div>
              <div className="spread" style={{ marginTop: '0.7rem' }}>
                <button
                  aria-label="Add to cart"
                  disabled={p.available === 0}
                  onClick={() => {
                    update((c) =>
                      cart.add(c, {
                        product_id: p.id,
                        sku: p.sku,
                        name: p.name,
                        unit_price_cents: p.price_cents,
                        currency: p.currency,
                      }),
                    );
                    setAdded(p.id);
                  }}
                >
                  Add to cart
                </button>
                {inCart(p.id) > 0 ? (
                  <span className="small muted">
                    {inCart(p.id)} in cart{added === p.id ? ' ✓' : ''}
                  </span>
                ) : null}
              </div>
            </div>
          ))}
        </div>
      </Loading>
    </>
  );
}
