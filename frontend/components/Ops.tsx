'use client';
import Link from 'next/link';
import { useState } from 'react';
import { api, describe, type Answer } from '@/lib/api';
import { ago, dateTime, time } from '@/lib/format';
import { usePoll } from '@/lib/hooks';
import type { Fault, OutboxEvent, OutboxStats, Page, Worker } from '@/lib/types';
import { Loading, Stat, StatusBadge } from '@/components/ui';

function DeadLetters({ store, onRetry }: { store: string; onRetry: () => void }) {
  const { answer, data, refresh } = usePoll<Page<OutboxEvent>>(`/v1/stores/${store}/events?status=dead&limit=20`, 2000);
  const [result, setResult] = useState<Record<string, Answer<OutboxEvent>>>({});
  async function retry(id: string) {
    const a = await api<OutboxEvent>(`/v1/ops/dead-letters/${id}/retry`, { method: 'POST' });
    setResult((r) => ({ ...r, [id]: a }));
    void refresh();
    onRetry();
  }
  // Rows only (this renders inside a <tbody>): a failed read shows as one row.
  if (data === null)
    return answer && !answer.ok ? (
      <tr>
        <td colSpan={6}>{store}: {describe(answer)}</td>
      </tr>
    ) : null;
  return (
    <>
      {data.data.map((e) => (
        <tr key={e.id} data-testid="dead-letter">
          <td>
            <Link href={`/stores/${store}`}>{store}</Link>
          </td>
          <td>{e.type}</td>
          <td>
            <Link href={`/stores/${store}/orders/${e.aggregate_id}`} className="mono">
              {e.aggregate_id.slice(0, 8)}
            </Link>
          </td>
          <td className="num">{e.attempts}</td>
          <td className="small">{e.last_error ?? '—'}</td>
          <td>
            <button className="small" onClick={() => retry(e.id)} aria-label="Retry">
              Retry
            </button>
            {result[e.id] && !result[e.id]!.ok ? <div className="small">{describe(result[e.id]!)}</div> : null}
          </td>
        </tr>
      ))}
    </>
  );
}

export default function Ops() {
  const outbox = usePoll<OutboxStats>('/v1/ops/outbox', 1000);
  const faults = usePoll<Page<Fault>>('/v1/ops/faults?limit=20', 2000);
  const workers = usePoll<{ data: Worker[]; heartbeat_timeout_seconds: number }>('/v1/ops/workers', 2000);
  const o = outbox.data;
  const withDead = o?.stores.filter((s) => s.dead > 0) ?? [];

  return (
    <>
      <h1>Operations</h1>
      <p className="muted small">The outbox, dead letters, faults and workers across every store (operator routes).</p>
      <Loading answer={outbox.answer} data={o}>
        {o ? (
          <div className="stats" data-testid="outbox-totals">
            <Stat label="backlog" value={o.backlog} hint="due, waiting for a worker" />
            <Stat label="in flight" value={o.in_flight} hint="leased by a worker now" />
            <Stat label="scheduled" value={o.scheduled} hint="waiting for a retry" />
            <Stat label="dead" value={o.dead} hint="dead letters" />
            <Stat label="oldest due" value={ago(o.oldest_due_age_seconds)} hint="age of the oldest due event" />
          </div>
        ) : null}
        <h2>Outbox per store</h2>
        <div className="card table-wrap">
          {o?.stores.length ? (
            <table>
              <thead>
                <tr>
                  <th>Store</th>
                  <th className="num">Backlog</th>
                  <th className="num">In flight</th>
                  <th className="num">Scheduled</th>
                  <th className="num">Dead</th>
                  <th className="num">Oldest due</th>
                </tr>
              </thead>
              <tbody>
                {o.stores.map((s) => (
                  <tr key={s.store}>
                    <td>{s.store}</td>
                    <td className="num">{s.backlog}</td>
                    <td className="num">{s.in_flight}</td>
                    <td className="num">{s.scheduled}</td>
                    <td className="num">{s.dead}</td>
                    <td className="num">{ago(s.oldest_due_age_seconds)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p className="muted small">No pending or dead events: the outbox is drained.</p>
          )}
        </div>
        <h2>Dead letters</h2>
        <div className="card table-wrap">
          {withDead.length ? (
            <table>
              <thead>
                <tr>
                  <th>Store</th>
                  <th>Type</th>
                  <th>Order</th>
                  <th className="num">Attempts</th>
                  <th>Last error</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {withDead.map((s) => (
                  <DeadLetters key={s.store} store={s.store} onRetry={() => void outbox.refresh()} />
                ))}
              </tbody>
            </table>
          ) : (
            <p className="muted small">No dead letters.</p>
          )}
          <p className="muted small">
            Retry sends the event back to the queue with its attempts reset. Its compensation already ran when it
            died, so a retried capture finds its order failed and does nothing more.
          </p>
        </div>
      </Loading>

      <h2>Faults</h2>
      <div className="card table-wrap">
        <Loading answer={faults.answer} data={faults.data}>
          {faults.data?.data.length ? (
            <table>
              <thead>
                <tr>
                  <th>Status</th>
                  <th>Rule</th>
                  <th>Store</th>
                  <th>Summary</th>
                  <th className="hide-narrow">Opened</th>
                  <th>Runbook</th>
                </tr>
              </thead>
              <tbody>
                {faults.data.data.map((f) => (
                  <tr key={f.id} data-testid="fault">
                    <td>
                      <StatusBadge status={f.status} /> <StatusBadge status={f.severity} />
                    </td>
                    <td>
                      <code>{f.rule}</code>
                      {f.subject ? <div className="muted small">{f.subject}</div> : null}
                    </td>
                    <td>{f.store ?? 'platform'}</td>
                    <td className="small">{f.summary}</td>
                    <td className="hide-narrow small">{dateTime(f.opened_at)}</td>
                    <td>
                      <code>docs/runbooks/{f.rule}.md</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p className="muted small">No faults recorded.</p>
          )}
        </Loading>
      </div>

      <h2>Workers</h2>
      <div className="card table-wrap">
        <Loading answer={workers.answer} data={workers.data}>
          {workers.data?.data.length ? (
            <table>
              <thead>
                <tr>
                  <th>Worker</th>
                  <th>Status</th>
                  <th>Last heartbeat</th>
                  <th className="num">Events done</th>
                  <th className="hide-narrow">Started</th>
                </tr>
              </thead>
              <tbody>
                {workers.data.data.map((w) => (
                  <tr key={w.worker_id} data-testid="worker">
                    <td className="mono">{w.worker_id}</td>
                    <td>
                      <StatusBadge status={w.status} />
                    </td>
                    <td>
                      {ago(w.seen_seconds_ago)} ago <span className="muted small">({time(w.seen_at)})</span>
                    </td>
                    <td className="num">{w.events_done}</td>
                    <td className="hide-narrow small">{dateTime(w.started_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p className="muted small">No worker has a heartbeat: nothing is processing the outbox.</p>
          )}
          <p className="muted small">
            A worker is silent after {workers.data?.heartbeat_timeout_seconds ?? '…'} s without a heartbeat; its leased
            events are taken over by the others when their leases run out.
          </p>
        </Loading>
      </div>
    </>
  );
}
