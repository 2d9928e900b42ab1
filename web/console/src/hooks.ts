// Hooks shared by the views.

import { useEffect, useRef, useState } from 'preact/hooks';
import { subscribe, type EventName } from './api.js';

/** Date.now(), refreshed every `ms` (for countdowns and running durations). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** Handle one kind of event of the page's stream (the latest `fn` is always the one called). */
export function useEvent<T>(name: EventName, fn: (data: T) => void): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => subscribe(name, (d) => ref.current(d as T)), [name]);
}

/** `value`, once it has not changed for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}
