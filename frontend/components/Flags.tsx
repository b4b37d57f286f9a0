'use client';
import { useState } from 'react';
import { api, type Answer } from '@/lib/api';
import { dateTime } from '@/lib/format';
import { usePoll } from '@/lib/hooks';
import type { Flag, FlagChange, Page } from '@/lib/types';
import { ErrorNote, Loading, StatusBadge, StoreNav } from '@/components/ui';

const WHAT: Record<string, string> = {
  'checkout.async_enabled':
    'On: checkout answers 202 and a worker captures the payment. Off: the same handler runs inside the request and checkout answers 200 confirmed.',
  'chaos.payment_capture_fail':
    'Makes this share of capture attempts fail: watch retries with backoff, the dead letter, and the payment voided with the stock given back (payment_failed).',
  'chaos.worker_slow': 'Makes the handler stall 500 ms first for this share of events: watch the backlog grow on Operations.',
};

function History({ slug, flagKey, version }: { slug: string; flagKey: string; version: number }) {
  const { answer, data } = usePoll<Page<FlagChange>>(`/v1/stores/${slug}/flags/${flagKey}/history?limit=10`, 5000, version);
  return (
    <Loading answer={answer} data={data}>
      {data?.data.length ? (
        <ul className="small" aria-label={`History of ${flagKey}`} style={{ paddingLeft: '1.1rem', margin: 0 }}>
          {data.data.map((c, i) => (
            <li key={i}>
              {dateTime(c.at)} · <code>{c.actor}</code>: {c.old.enabled ? 'on' : 'off'} {c.old.rollout_percent}% →{' '}
              <strong>
                {c.new.enabled ? 'on' : 'off'} {c.new.rollout_percent}%
              </strong>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted small">Never changed for this store.</p>
      )}
    </Loading>
  );
}

function FlagCard({ slug, flag, onChange }: { slug: string; flag: Flag; onChange: () => Promise<void> }) {
  const [rollout, setRollout] = useState<number | null>(null);
  const [failed, setFailed] = useState<Answer<Flag> | null>(null);
  const [busy, setBusy] = useState(false);
  const [version, setVersion] = useState(0);
  const shownRollout = rollout ?? flag.rollout_percent;

  async function put(enabled: boolean, rollout_percent: number) {
    setBusy(true);
    const a = await api<Flag>(`/v1/stores/${slug}/flags/${flag.key}`, {
      method: 'PUT',
      body: { enabled, rollout_percent },
    });
    setFailed(a.ok ? null : a);
    setVersion((v) => v + 1);
    await onChange(); // the list as it is now, before the switch can be used again
    if (a.ok) setRollout(null);
    setBusy(false);
  }

  return (
    <div className="card" data-testid={`flag-${flag.key}`}>
      <div className="spread">
        <div className="row">
          <button
            role="switch"
            className="switch"
            aria-checked={flag.enabled}
            aria-label={flag.key}
            disabled={busy}
            onClick={() => put(!flag.enabled, flag.rollout_percent)}
          />
          <code style={{ fontSize: '0.95rem' }}>{flag.key}</code>
        </div>
        <div className="row small">
          <StatusBadge status={flag.enabled ? 'on' : 'off'} />
          <span className="muted">source</span>
          <span className="badge" data-testid="flag-source">
            {flag.source}
          </span>
        </div>
      </div>
      <p className="small">{WHAT[flag.key] ?? flag.description}</p>
      <div className="row">
        <label>
          Rollout %
          <input
            type="number"
            min={0}
            max={100}
            aria-label={`Rollout % of ${flag.key}`}
            value={shownRollout}
            onChange={(e) => setRollout(Math.max(0, Math.min(100, Math.round(Number(e.target.value)))))}
          />
        </label>
        <button
          className="secondary small"
          style={{ alignSelf: 'flex-end' }}
          disabled={busy || rollout === null || rollout === flag.rollout_percent}
          onClick={() => put(flag.enabled, shownRollout)}
          aria-label={`Apply rollout of ${flag.key}`}
        >
          Apply
        </button>
      </div>
      <ErrorNote answer={failed} />
      <h3 style={{ marginTop: '0.8rem' }}>History</h3>
      <History slug={slug} flagKey={flag.key} version={version} />
    </div>
  );
}

export default function Flags({ slug }: { slug: string }) {
  const { answer, data, refresh } = usePoll<{ data: Flag[] }>(`/v1/stores/${slug}/flags`, 2000);
  return (
    <>
      <StoreNav slug={slug} />
      <h1>Feature flags</h1>
      <p className="muted small">
        Every process sees a change within a second; the API that served it at once. Changes are audited. The
        rollout share is decided by a stable hash of the flag and the order (or event).
      </p>
      <Loading answer={answer} data={data}>
        {data?.data.map((f) => (
          <FlagCard key={f.key} slug={slug} flag={f} onChange={refresh} />
        ))}
      </Loading>
    </>
  );
}
