'use client';
import { useEffect, useState, type ReactElement } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { money } from '@/lib/format';
import { usePoll } from '@/lib/hooks';
import type { Analytics } from '@/lib/types';
import { Loading, Stat, StoreNav } from '@/components/ui';

const hourLabel = (iso: string) => iso.slice(11, 16);

/** A card with one chart; charts measure their container, so they are drawn once mounted. */
function ChartCard({ title, testId, mounted, children }: { title: string; testId: string; mounted: boolean; children: ReactElement }) {
  return (
    <div className="card">
      <h3>{title}</h3>
      <div className="chart" data-testid={testId}>
        {mounted ? (
          <ResponsiveContainer width="100%" height="100%">
            {children}
          </ResponsiveContainer>
        ) : null}
      </div>
    </div>
  );
}

export default function AnalyticsPage({ slug }: { slug: string }) {
  // The last 24 hours (the API's default range), read again every 2 s: the counters trail the
  // orders by as long as the outbox does.
  const { answer, data } = usePoll<Analytics>(`/v1/stores/${slug}/analytics`, 2000);
  // Charts measure their container: draw them only in the browser, once mounted.
  const [mounted, setMounted] = useState(false);
  useEffect(() => setMounted(true), []);
  const t = data?.totals;
  const series = data?.hourly.map((h) => ({ ...h, label: hourLabel(h.hour), revenue: h.revenue_cents / 100 })) ?? [];

  return (
    <>
      <StoreNav slug={slug} />
      <h1>Analytics</h1>
      <p className="muted small">
        The last 24 hours, from counters the worker keeps from each order status change (counted once each, however
        often an event is delivered).
      </p>
      <Loading answer={answer} data={data}>
        {data && t ? (
          <>
            <div className="stats" data-testid="analytics-totals">
              <Stat label="revenue" value={money(t.revenue_cents, data.currency)} hint="confirmed minus refunded" />
              <Stat label="orders created" value={<span data-testid="orders-created">{t.orders_created}</span>} />
              <Stat label="confirmed" value={<span data-testid="orders-confirmed">{t.orders_confirmed}</span>} />
              <Stat label="failed" value={t.orders_failed} hint="capture failed for good" />
              <Stat
                label="conversion"
                value={t.conversion_rate === null ? '—' : `${(t.conversion_rate * 100).toFixed(1)} %`}
                hint="confirmed / created"
              />
              <Stat
                label="average order"
                value={t.average_order_value_cents === null ? '—' : money(t.average_order_value_cents, data.currency)}
              />
            </div>
            <div className="cols" style={{ marginTop: '1rem' }}>
              <ChartCard title={`Revenue per hour (${data.currency})`} testId="revenue-chart" mounted={mounted}>
                <BarChart data={series}>
                  <CartesianGrid strokeDasharray="3 3" vertical={false} />
                  <XAxis dataKey="label" fontSize={11} interval="preserveStartEnd" />
                  <YAxis fontSize={11} width={48} />
                  <Tooltip />
                  <Bar dataKey="revenue" name="revenue" fill="#4f46e5" isAnimationActive={false} />
                </BarChart>
              </ChartCard>
              <ChartCard title="Orders per hour" testId="orders-chart" mounted={mounted}>
                <BarChart data={series}>
                  <CartesianGrid strokeDasharray="3 3" vertical={false} />
                  <XAxis dataKey="label" fontSize={11} interval="preserveStartEnd" />
                  <YAxis fontSize={11} width={36} allowDecimals={false} />
                  <Tooltip />
                  <Legend />
                  <Bar dataKey="orders_created" name="created" fill="#0ea5e9" isAnimationActive={false} />
                  <Bar dataKey="orders_confirmed" name="confirmed" fill="#16a34a" isAnimationActive={false} />
                  <Bar dataKey="orders_failed" name="failed" fill="#dc2626" isAnimationActive={false} />
                </BarChart>
              </ChartCard>
            </div>
            <h2>Top products</h2>
            <div className="card table-wrap">
              {data.top_products.length ? (
                <table data-testid="top-products">
                  <thead>
                    <tr>
                      <th>Product</th>
                      <th className="num">Units</th>
                      <th className="num">Revenue</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.top_products.map((p) => (
                      <tr key={p.product_id}>
                        <td>
                          {p.name} <span className="muted small">{p.sku}</span>
                        </td>
                        <td className="num">{p.units}</td>
                        <td className="num">{money(p.revenue_cents, data.currency)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              ) : (
                <p className="muted small">No confirmed sales in the range yet.</p>
              )}
            </div>
          </>
        ) : null}
      </Loading>
    </>
  );
}
