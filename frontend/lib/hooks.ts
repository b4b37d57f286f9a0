'use client';
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, type Answer } from '@/lib/api';
import * as cart from '@/lib/cart';

/**
 * GETs path now and every intervalMs (the next poll starts when the last answer is in, so a slow
 * API is never asked twice at once). `refresh` polls at once, e.g. after a change; so does a new
 * value of `changed` (say, the order's updated_at for a list of that order's events).
 */
export function usePoll<T>(path: string | null, intervalMs: number, changed?: unknown) {
  const [answer, setAnswer] = useState<Answer<T> | null>(null);
  // The last good answer stays on screen while a poll fails (a 503 for a moment must not wipe
  // the page); the failing answer is shown beside it.
  const [good, setGood] = useState<{ path: string; data: T } | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const alive = useRef(true);
  const pathRef = useRef(path);
  pathRef.current = path;

  const tick = useCallback(async () => {
    if (timer.current) clearTimeout(timer.current);
    const p = pathRef.current;
    if (p === null) return;
    const a = await api<T>(p);
    if (!alive.current || pathRef.current !== p) return;
    setAnswer(a);
    if (a.ok && a.data !== null) setGood({ path: p, data: a.data });
    timer.current = setTimeout(tick, intervalMs);
  }, [intervalMs]);

  useEffect(() => {
    alive.current = true;
    void tick();
    return () => {
      alive.current = false;
      if (timer.current) clearTimeout(timer.current);
    };
  }, [tick, path, changed]);

  const data = good !== null && good.path === path ? good.data : null;
  return { answer, data, refresh: tick };
}

/** The store's cart, in localStorage (empty until the page has mounted: no hydration mismatch). */
export function useCart(slug: string) {
  const name = `terminus.cart.${slug}`;
  const [lines, setLines] = useState<cart.Cart>([]);
  const [loaded, setLoaded] = useState(false);

  useEffect(() => {
    setLines(cart.parse(localStorage.getItem(name)));
    setLoaded(true);
    const onStorage = (e: StorageEvent) => {
      if (e.key === name) setLines(cart.parse(e.newValue));
    };
    window.addEventListener('storage', onStorage);
    return () => window.removeEventListener('storage', onStorage);
  }, [name]);

  const update = useCallback(
    (f: (c: cart.Cart) => cart.Cart) => {
      setLines((old) => {
        const next = f(old);
        localStorage.setItem(name, JSON.stringify(next));
        return next;
      });
    },
    [name],
  );
  return { lines, loaded, update };
}
