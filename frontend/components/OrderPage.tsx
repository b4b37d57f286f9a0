'use client';
import Link from 'next/link';
import { useEffect, useState } from 'react';
import { describe, prepare, send, type Answer, type PreparedCall } from '@/lib/api';
import { money, time } from '@/lib/format';
import { replaceKey, storedKey } from '@/lib/idem';
import { usePoll } from '@/lib/hooks';
import type { Order, OutboxEvent, Page, Product } from '@/lib/types';
import { ErrorNote, Loading, StatusBadge, StoreNav } from '@/components/ui';

const TOKENS = [
  ['tok_visa', 'tok_visa — authorizes'],
  ['tok_decline', 'tok_decline — declined by the provider'],
] as const;

interface Attempt {
  n: number;
  at: string;
  key: string;
  call: PreparedCall;
  answer: Answer<Order>;
  // The first attempt with the same key, and whether this answer's status and bytes equal its.
  sameKeyAs: { n: number; identical: boolean } | null;
}

function answerSummary(a: Answer<Order>): string {
  if (a.ok && a.data) return `${a.status} — order ${a.data.status}, path ${a.data.checkout_path ?? '—'}`;
  return describe(a);
}

function AttemptLog({ attempts }: { attempts: Attempt[] }) {
  if (attempts.length === 0) return null;
  return (
    <ol className="log" aria-label="Checkout requests">
      {[...attempts].reverse().map((t) => (
        <li key={t.n} data-testid="checkout-attempt">
          <div className="spread">
            <strong>
              #{t.n} {t.call.method} …/checkout
            </strong>
            <span className="muted small">{time(t.at)}</span>
          </div>
          <div className="row small" style={{ marginTop: '0.3rem' }}>
            <span
              data-testid="attempt-status"
              className={`badge ${t.answer.ok ? 'status-done' : t.answer.status >= 500 || t.answer.status === 0 ? 'status-dead' : 'status-warning'}`}
            >
              {t.answer.status || 'no answer'}
            </span>
            {t.answer.replayed ? (
              <span className="badge status-async" data-testid="replayed">
                Idempotent-Replayed: true
              </span>
            ) : (
              <span className="badge">new answer</span>
            )}
            {t.sameKeyAs?.identical ? (
              <span className="badge status-confirmed" data-testid="identical">
                identical to #{t.sameKeyAs.n}, byte for byte
              </span>
            ) : t.sameKeyAs ? (
              <span className="badge status-warning" data-testid="different">
                differs from #{t.sameKeyAs.n}
              </span>
            ) : null}
          </div>
          <div style={{ marginTop: '0.3rem' }}>{answerSummary(t.answer)}</div>
          <div className="muted small">
            key <code>{t.key}</code>
            {t.answer.requestId ? (
              <>
                {' '}
                · request <code>{t.answer.requestId}</code>
              </>
            ) : null}
            {t.answer.traceId ? (
              <>
                {' '}
                · trace <code>{t.answer.traceId}</code>
              </>
            ) : null}
          </div>
        </li>
      ))}
    </ol>
  );
}

function Checkout({ slug, order, onAnswer }: { slug: string; order: Order; onAnswer: () => void }) {
  const slot = `checkout.${order.id}`;
  const [key, setKey] = useState<string | null>(null);
  const [token, setToken] = useState<string>('tok_visa');
  const [attempts, setAttempts] = useState<Attempt[]>([]);
  const [busy, setBusy] = useState(false);

  useEffect(() => setKey(storedKey(sessionStorage, slot)), [slot]);

  async function run(call: PreparedCall) {
    setBusy(true);
    const answer = await send<Order>(call);
    setBusy(false);
    setAttempts((old) => {
      const first = old.find((t) => t.key === call.idempotencyKey);
      const sameKeyAs = first
        ? { n: first.n, identical: first.answer.status === answer.status && first.answer.raw === answer.raw }
        : null;
      return [...old, { n: old.length + 1, at: new Date().toISOString(), key: call.idempotencyKey!, call, answer, sameKeyAs }];
    });
    onAnswer();
  }

  const last = [...attempts].reverse().find((t) => t.key === key);
  const checkout = () =>
    run(
      prepare(`/v1/stores/${slug}/orders/${order.id}/checkout`, {
        body: { payment_token: token },
        idempotencyKey: key!,
      }),
    );

  return (
    <div className="card">
      <h3>Checkout</h3>
      <p className="muted small">
        Every checkout carries an <code>Idempotency-Key</code>. Sending the same request with the same key again
        gets the stored answer back — never a second payment or a second stock decrement.
      </p>
      <div className="row">
        <label>
          Payment token
          <select value={token} onChange={(e) => setToken(e.target.value)} aria-label="Payment token">
            {TOKENS.map(([v, label]) => (
              <option key={v} value={v}>
                {label}
              </option>
            ))}
          </select>
        </label>
      </div>
      <p className="small" style={{ marginBottom: '0.3rem' }}>
        Idempotency key it will send:
      </p>
      <code className="key" data-testid="idempotency-key">
        {key ?? '…'}
      </code>
      <div className="row" style={{ marginTop: '0.8rem' }}>
        <button onClick={checkout} disabled={busy || key === null || order.status !== 'pending'}>
          Check out
        </button>
        <button className="secondary" onClick={() => last && run(last.call)} disabled={busy || last === undefined}>
          Send again with the same key
        </button>
        <button className="secondary" onClick={() => setKey(replaceKey(sessionStorage, slot))} disabled={busy}>
          New key
        </button>
      </div>
      {last !== undefined && last.call.body !== JSON.stringify({ payment_token: token }) ? (
        <p className="note note-warn small" data-testid="key-warning">
          This key was sent with another payment token: “Check out” now is a different request under the same
          key, which the API refuses (422 <code>idempotency_key_reused</code>). Press “New key” for a new request.
        </p>
      ) : null}
      {order.status !== 'pending' && last === undefined ? (
        <p className="muted small">The order is past checkout; “Check out” is for pending orders.</p>
      ) : null}
      <AttemptLog attempts={attempts} />
    </div>
  );
}

function Cancel({ slug, order, onAnswer }: { slug: string; order: Order; onAnswer: () => void }) {
  const [answer, setAnswer] = useState<Answer<Order> | null>(null);
  const [busy, setBusy] = useState(false);
  const done = ['cancelled', 'refunded', 'payment_failed'].includes(order.status);
  async function cancel() {
    setBusy(true);
    const key = storedKey(sessionStorage, `cancel.${order.id}`);
    const a = await send<Order>(
      prepare(`/v1/stores/${slug}/orders/${order.id}/cancel`, { body: { reason: 'cancelled in the demo UI' }, idempotencyKey: key }),
    );
    setBusy(false);
    setAnswer(a);
    onAnswer();
  }
  return (
    <div className="card">
      <h3>Cancel (store admin)</h3>
      <p className="muted small">Voids or refunds the payment and gives the stock back.</p>
      <button className="danger" onClick={cancel} disabled={busy || done}>
        Cancel order
      </button>
      {answer?.ok ? <div className="note note-ok">{answer.status}: order {answer.data?.status}</div> : <ErrorNote answer={answer} />}
    </div>
  );
}

function Events({ slug, orderId, updatedAt }: { slug: string; orderId: string; updatedAt: string }) {
  // Read again every second, and at once when the order changed.
  const { answer, data } = usePoll<Page<OutboxEvent>>(`/v1/stores/${slug}/events?limit=100`, 1000, updatedAt);
  const mine = data?.data.filter((e) => e.aggregate_id === orderId) ?? [];
  return (
    <div className="card table-wrap">
      <h3>Outbox events of this order</h3>
      <p className="muted small">
        What the worker does for this order: attempts, retries with backoff, and the dead letter if every attempt
        fails. <Link href="/ops">Operations</Link> can send a dead event back.
      </p>
      <Loading answer={answer} data={data}>
        {mine.length === 0 ? (
          <p className="muted small">None yet (or not among the store&apos;s latest 100 events).</p>
        ) : (
          <table data-testid="order-events">
            <thead>
              <tr>
                <th>Type</th>
                <th>Status</th>
                <th className="num">Attempts</th>
                <th>Last error</th>
              </tr>
            </thead>
            <tbody>
              {mine.map((e) => (
                <tr key={e.id}>
                  <td>{e.type}</td>
                  <td>
                    <StatusBadge status={e.in_flight ? 'in flight' : e.status} />
                    {e.status === 'pending' && !e.in_flight && new Date(e.available_at) > new Date() ? (
                      <div className="muted small">retry at {time(e.available_at)}</div>
                    ) : null}
                  </td>
                  <td className="num">{e.attempts}</td>
                  <td className="small">{e.last_error ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loading>
    </div>
  );
}

export default function OrderPage({ slug, id }: { slug: string; id: string }) {
  // The order is read again every 500 ms, so a change by the worker shows within a second.
  const { answer, data: order, refresh } = usePoll<Order>(`/v1/stores/${slug}/orders/${id}`, 500);
  const { data: products } = usePoll<Page<Product>>(`/v1/stores/${slug}/products?limit=100`, 1000);
  const stock = new Map(products?.data.map((p) => [p.id, p.available]) ?? []);

  return (
    <>
      <StoreNav slug={slug} />
      <Loading answer={answer} data={order}>
        {order ? (
          <>
            <div className="spread">
              <div>
                <h1>Order</h1>
                <div className="muted mono">{order.id}</div>
              </div>
              <div className="row big-status">
                <StatusBadge status={order.status} testId="order-status" />
                <span className="small muted">path</span>
                <span data-testid="order-path">
                  <StatusBadge status={order.checkout_path ?? 'not checked out'} />
                </span>
              </div>
            </div>
            <div className="cols" style={{ marginTop: '1rem' }}>
              <div>
                <div className="card table-wrap">
                  <h3>Items</h3>
                  <table>
                    <thead>
                      <tr>
                        <th>Product</th>
                        <th className="num">Qty</th>
                        <th className="num">Line</th>
                        <th className="num">Stock now</th>
                      </tr>
                    </thead>
                    <tbody>
                      {order.items.map((i) => (
                        <tr key={i.product_id}>
                          <td>{i.name}</td>
                          <td className="num">{i.quantity}</td>
                          <td className="num">{money(i.line_total_cents, order.currency)}</td>
                          <td className="num" data-testid={`stock-${i.sku}`}>
                            {stock.get(i.product_id) ?? '…'}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                  <div className="spread" style={{ marginTop: '0.6rem' }}>
                    <span className="muted small">{order.customer_email}</span>
                    <span className="price">{money(order.total_cents, order.currency)}</span>
                  </div>
                </div>
                <div className="card">
                  <h3>Payment</h3>
                  {order.payment ? (
                    <div className="row" data-testid="payment">
                      <StatusBadge status={order.payment.status} />
                      <span>{money(order.payment.amount_cents, order.payment.currency)}</span>
                      <code className="muted">{order.payment.id}</code>
                    </div>
                  ) : (
                    <p className="muted small">None yet: a payment is authorized at checkout.</p>
                  )}
                </div>
                <div className="card">
                  <h3>Timeline</h3>
                  <ol className="timeline" data-testid="timeline">
                    {order.timeline.map((t, i) => (
                      <li key={i}>
                        <span className="mono muted">{time(t.at)}</span>
                        <span>
                          {t.from ? (
                            <>
                              <StatusBadge status={t.from} /> →{' '}
                            </>
                          ) : null}
                          <StatusBadge status={t.to} /> <span className="small">{t.reason}</span>
                          <span className="muted small" style={{ display: 'block' }}>
                            trace <code data-testid="trace-id">{t.trace_id ?? '—'}</code>
                          </span>
                        </span>
                      </li>
                    ))}
                  </ol>
                </div>
                <Events slug={slug} orderId={order.id} updatedAt={order.updated_at} />
              </div>
              <div>
                <Checkout slug={slug} order={order} onAnswer={() => void refresh()} />
                <Cancel slug={slug} order={order} onAnswer={() => void refresh()} />
              </div>
            </div>
          </>
        ) : null}
      </Loading>
    </>
  );
}
