'use client';
import Link from 'next/link';
import { usePoll } from '@/lib/hooks';
import type { Page, Store } from '@/lib/types';
import { Loading } from '@/components/ui';

export default function Stores() {
  const { answer, data } = usePoll<Page<Store>>('/v1/stores?limit=100', 5000);
  return (
    <>
      <h1>Stores</h1>
      <p className="muted">
        Pick a store, put something in the cart and check out. Then flip its flags and watch what the
        backend does differently, or open <Link href="/ops">Operations</Link> to see the outbox at work.
      </p>
      <Loading answer={answer} data={data}>
        <div className="grid">
          {data?.data.map((s) => (
            <div className="card" key={s.id}>
              <h3>
                <Link href={`/stores/${s.slug}`}>{s.name}</Link>
              </h3>
              <p className="muted small">
                <code>{s.slug}</code> · prices in {s.currency}
              </p>
              <div className="row small">
                <Link href={`/stores/${s.slug}`}>Catalog</Link>
                <Link href={`/stores/${s.slug}/flags`}>Flags</Link>
                <Link href={`/stores/${s.slug}/analytics`}>Analytics</Link>
              </div>
            </div>
          ))}
        </div>
        {data?.data.length === 0 ? (
          <p>
            No stores yet: <code>terminus-api seed-demo</code> makes two.
          </p>
        ) : null}
      </Loading>
      <h2>Things to try</h2>
      <div className="card">
        <ol className="small" style={{ margin: 0, paddingLeft: '1.2rem', lineHeight: 1.7 }}>
          <li>
            Open a catalog, <strong>Add to cart</strong>, then in the cart <strong>Place order</strong>.
          </li>
          <li>
            On the order page, <strong>Check out</strong>: the answer is 202 and the status moves to{' '}
            <code>confirmed</code> by itself when a worker has captured the payment.
          </li>
          <li>
            <strong>Send again with the same key</strong>: the answer comes back replayed, byte for byte, and nothing
            happens twice (look at the stock). <strong>New key</strong> starts a new request.
          </li>
          <li>
            On the store&apos;s <strong>Flags</strong>, switch <code>checkout.async_enabled</code> off: the next checkout
            is confirmed inside the request (path <code>sync</code>).
          </li>
          <li>
            Switch <code>chaos.payment_capture_fail</code> on and check out: watch the capture retry, die and give the
            stock back, then <strong>Retry</strong> the dead letter on Operations. (With the default retry settings
            dying takes a minute or two; <code>TERMINUS_RETRY_BASE_MS=100 TERMINUS_MAX_ATTEMPTS=3 make run</code>
            makes it a second.)
          </li>
          <li>
            Pay with <code>tok_decline</code>, or order more than is in stock, and see what the API answers.
          </li>
        </ol>
      </div>
    </>
  );
}
