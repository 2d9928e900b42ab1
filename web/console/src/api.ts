// Talking to the admin API: the bearer token (kept in localStorage), JSON requests, and the one
// Server-Sent Events stream, whose events are handed to whoever subscribed to them.

const TOKEN_KEY = 'switchboard.token';

export function getToken(): string {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function setToken(token: string): void {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: the token lives until the page is closed */
  }
}

/** Thrown (and announced to onUnauthorized listeners) when the server answers 401. */
export class Unauthorized extends Error {
  constructor() {
    super('the admin API wants a token');
  }
}

export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const unauthorizedListeners = new Set<() => void>();

/** Called whenever a request is refused with 401 (the app then asks for a token). */
export function onUnauthorized(fn: () => void): () => void {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

function unauthorized(): never {
  for (const fn of unauthorizedListeners) fn();
  throw new Unauthorized();
}

/** GET a JSON route of the admin API. */
export async function getJson<T>(path: string): Promise<T> {
  const token = getToken();
  const res = await fetch(path, {
    headers: token ? { Accept: 'application/json', Authorization: `Bearer ${token}` } : { Accept: 'application/json' },
  });
  if (res.status === 401) unauthorized();
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { error?: string };
      if (body.error) message = body.error;
    } catch {
      /* not JSON */
    }
    throw new HttpError(res.status, message);
  }
  return (await res.json()) as T;
}

// ---------------------------------------------------------------------------------------------
// Server-Sent Events

export type EventName = 'registrations' | 'call' | 'stats' | 'message';
type Handler = (data: unknown) => void;

const handlers = new Map<EventName, Set<Handler>>();

/** Subscribe to one kind of event of the current stream; returns the unsubscribe function. */
export function subscribe(name: EventName, fn: Handler): () => void {
  let set = handlers.get(name);
  if (!set) handlers.set(name, (set = new Set()));
  set.add(fn);
  return () => set!.delete(fn);
}

export type StreamState = 'connecting' | 'live' | 'down';

/**
 * Open /api/events (with `?callId=` on a call's page) and dispatch its events. EventSource
 * reconnects by itself after a network error; when the server refuses the stream (it is then
 * closed for good) a plain request tells a 401 from an outage, and the stream is reopened later.
 * Returns the function that closes it.
 */
export function connectEvents(callId: string | undefined, onState: (s: StreamState) => void): () => void {
  let source: EventSource | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const open = (): void => {
    const params = new URLSearchParams();
    if (callId !== undefined) params.set('callId', callId);
    const token = getToken();
    if (token) params.set('token', token);
    const qs = params.toString();
    onState('connecting');
    const es = new EventSource(`/api/events${qs ? `?${qs}` : ''}`);
    source = es;
    es.onopen = () => onState('live');
    for (const name of ['registrations', 'call', 'stats', 'message'] as const) {
      es.addEventListener(name, (ev) => {
        let data: unknown;
        try {
          data = JSON.parse((ev as MessageEvent<string>).data);
        } catch {
          return;
        }
        for (const fn of handlers.get(name) ?? []) fn(data);
      });
    }
    es.onerror = () => {
      if (closed) return;
      if (es.readyState !== EventSource.CLOSED) {
        onState('connecting');
        return;
      }
      onState('down');
      // Refused: a 401 shows the token field (and the app reconnects with the new token).
      getJson('/api/stats').then(
        () => schedule(),
        (err) => {
          if (!(err instanceof Unauthorized)) schedule();
        },
      );
    };
  };
  const schedule = (): void => {
    if (!closed) retry = setTimeout(open, 3000);
  };

  open();
  return () => {
    closed = true;
    if (retry) clearTimeout(retry);
    source?.close();
  };
}
