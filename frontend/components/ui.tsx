'use client';
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import type { ReactNode } from 'react';
import { describe, type Answer } from '@/lib/api';

export function StatusBadge({ status, testId }: { status: string; testId?: string }) {
  return (
    <span className={`badge status-${status}`} data-testid={testId}>
      {status}
    </span>
  );
}

export function ErrorNote({ answer }: { answer: Answer<unknown> | null }) {
  if (answer === null || answer.ok) return null;
  return (
    <div className="note note-error" role="alert">
      <strong>{answer.status || 'no answer'}</strong> {describe(answer)}
      {answer.error?.request_id ? <span className="muted"> · request {answer.error.request_id}</span> : null}
    </div>
  );
}

/** Children once there is data; the latest failed answer beside it (or instead, when none yet). */
export function Loading({
  answer,
  data,
  children,
}: {
  answer: Answer<unknown> | null;
  data: unknown;
  children: ReactNode;
}) {
  if (data === null || data === undefined) {
    if (answer === null || answer.ok) return <p className="muted">Loading…</p>;
    return <ErrorNote answer={answer} />;
  }
  return (
    <>
      {answer !== null && !answer.ok ? <ErrorNote answer={answer} /> : null}
      {children}
    </>
  );
}

export function StoreNav({ slug }: { slug: string }) {
  const path = usePathname();
  const tabs: [string, string][] = [
    [`/stores/${slug}`, 'Catalog'],
    [`/stores/${slug}/cart`, 'Cart'],
    [`/stores/${slug}/orders`, 'Orders'],
    [`/stores/${slug}/flags`, 'Flags'],
    [`/stores/${slug}/analytics`, 'Analytics'],
  ];
  return (
    <nav className="tabs" aria-label="Store">
      <span className="tabs-store">{slug}</span>
      {tabs.map(([href, label]) => (
        <Link key={href} href={href} className={path === href ? 'tab active' : 'tab'}>
          {label}
        </Link>
      ))}
    </nav>
  );
}

export function Stat({ label, value, hint }: { label: string; value: ReactNode; hint?: string }) {
  return (
    <div className="stat">
      <div className="stat-value">{value}</div>
      <div className="stat-label">{label}</div>
      {hint ? <div className="stat-hint">{hint}</div> : null}
    </div>
  );
}
