'use client';
import Link from 'next/link';
import { money, dateTime } from '@/lib/format';
import { usePoll } from '@/lib/hooks';
import type { Order, Page } from '@/lib/types';
import { Loading, StatusBadge, StoreNav } from '@/components/ui';

export default function Orders({ slug }: { slug: string }) {
  const { answer, data } = usePoll<Page<Order>>(`/v1/stores/${slug}/orders?limit=50`, 2000);
  return (
    <>
      <StoreNav slug={slug} />
      <h1>Orders</h1>
      <p className="muted small">The store&apos;s latest 50 orders (a store admin route, called by the UI server).</p>
      <Loading answer={answer} data={data}>
        <div className="card table-wrap">
          <table>
            <thead>
              <tr>
                <th>Order</th>
                <th>Status</th>
                <th className="hide-narrow">Path</th>
                <th className="num">Total</th>
                <th className="hide-narrow">Created</th>
              </tr>
            </thead>
            <tbody>
              {data?.data.map((o) => (
                <tr key={o.id}>
                  <td>
                    <Link href={`/stores/${slug}/orders/${o.id}`} className="mono">
                      {o.id.slice(0, 8)}
                    </Link>
                  </td>
                  <td>
                    <StatusBadge status={o.status} />
                  </td>
                  <td className="hide-narrow">{o.checkout_path ?? '—'}</td>
                  <td className="num">{money(o.total_cents, o.currency)}</td>
                  <td className="hide-narrow">{dateTime(o.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {data?.data.length === 0 ? <p className="muted">No orders yet.</p> : null}
        </div>
      </Loading>
    </>
  );
}
