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
        {data?.data.length === 0 ? <p>No stores yet: `terminus-api seed-demo` makes two.</p> : null}
      </Loading>
    </>
  );
}
