'use client';
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, type Answer } from '@/lib/api';
import * as cart from '@/lib/cart';

/**
 * GETs path now and every intervalMs (the next poll starts when the last answer is in, so a slow
 * API is never asked twice at once). `refresh` polls at once, e.g. after a change; so does a new
 * value of `changed` (say, the order's updated_at for a list of that order's events). Only the
 * answer to the latest request is applied: an older one arriving late never overwrites it.
 */
export function usePoll<T>(path: string | null, intervalMs: number, changed?: unknown) {
  const [answer, setAnswer] = useState<{ path: string; answer: Answer<T> } | null>(null);
  // The last good answer stays on screen while a poll fails (a 503 for a moment must not wipe
  // the page); the failing answer is shown beside it.
  const [good, setGood] = useState<{ path: string; data: T } | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const latest = useRef(0); // the number of the latest request (or invalidation)
  const mounted = useRef(false);
  const pathRef = useRef(path);
  pathRef.current = path;

  const tick = useCallback(async (): Promise<void> => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = null;
    const p = pathRef.current;
    if (p === null || !mounted.current) return;
    const mine = ++latest.current;
    const a = await api<T>(p);
    if (mine !== latest.current) return; // superseded or unmounted: the newer request rules
    setAnswer({ path: p, answer: a });
    if (a.ok && a.data !== null) setGood({ path: p, data: a.data });
    timer.current = setTimeout(tick, intervalMs);
  }, [intervalMs]);

  useEffect(() => {
    mounted.current = true;
    void tick();
    return () => {
      mounted.current = false;
      latest.current++; // what is in flight now is for a path or a page that is gone
      if (timer.current) clearTimeout(timer.current);
    };
  }, [tick, path, changed]);

  const data = good !== null && good.path === path ? good.data : null;
  const current = answer !== null && answer.path === path ? answer.answer : null;
  return { answer: current, data, refresh: tick };
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
