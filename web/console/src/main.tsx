// The operator's console: the app shell (stats header, token form, routes) and its one event stream.

import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { connectEvents, getJson, getToken, onUnauthorized, setToken, type StreamState } from './api.js';
import { CallPage } from './call.js';
import { bytes, duration } from './format.js';
import { Home } from './home.js';
import { useEvent, useNow } from './hooks.js';
import { Link, useRoute } from './router.js';
import type { Stats } from './types.js';

function App() {
  const route = useRoute();
  const [needToken, setNeedToken] = useState(false);
  // Bumped when a new token is saved: every view is mounted again and fetches again.
  const [generation, setGeneration] = useState(0);
  const [stream, setStream] = useState<StreamState>('connecting');
  const callId = route.page === 'call' ? route.callId : undefined;

  useEffect(() => onUnauthorized(() => setNeedToken(true)), []);
  useEffect(() => (needToken ? undefined : connectEvents(callId, setStream)), [callId, generation, needToken]);

  useEffect(() => {
    document.title = callId !== undefined ? `${callId} · Switchboard` : 'Switchboard console';
  }, [callId]);

  if (needToken) {
    return (
      <TokenForm
        refused={getToken() !== ''}
        onSave={(token) => {
          setToken(token);
          setNeedToken(false);
          setGeneration((g) => g + 1);
        }}
      />
    );
  }
  return (
    <>
      <Header key={generation} stream={stream} />
      <main key={`${generation} ${callId ?? ''}`}>
        {route.page === 'home' && <Home />}
        {route.page === 'call' && <CallPage callId={route.callId} />}
        {route.page === 'missing' && (
          <p class="error">
            Nothing at {route.path}. <Link href="/">Home</Link>
          </p>
        )}
      </main>
    </>
  );
}

function Header({ stream }: { stream: StreamState }) {
  const [stats, setStats] = useState<{ s: Stats; at: number } | undefined>();
  const now = useNow(1000);

  useEffect(() => {
    getJson<Stats>('/api/stats').then(
      (s) => setStats((cur) => cur ?? { s, at: Date.now() }),
      () => undefined,
    );
  }, []);
  useEvent<Stats>('stats', (s) => setStats({ s, at: Date.now() }));
  // Between the server's periodic stats: the registration count from the list, and the call
  // counts asked again (once) after calls changed.
  useEvent<{ registrations: unknown[] }>('registrations', (d) =>
    setStats((cur) => cur && { s: { ...cur.s, registrations: d.registrations.length }, at: cur.at }),
  );
  const refresh = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(refresh.current), []);
  useEvent('call', () => {
    clearTimeout(refresh.current);
    refresh.current = setTimeout(() => {
      getJson<Stats>('/api/stats').then((s) => setStats({ s, at: Date.now() }), () => undefined);
    }, 300);
  });

  const s = stats?.s;
  return (
    <header class="top">
      <Link href="/" class="brand">
        Switchboard
      </Link>
      {s && (
        <dl class="stats">
          <dt>version</dt>
          <dd>{s.version}</dd>
          <dt>up</dt>
          <dd>{duration(s.uptime + (now - stats.at) / 1000)}</dd>
          <dt>roles</dt>
          <dd>{s.roles.join(', ')}</dd>
          <dt>listening</dt>
          <dd class="sip">{s.listeners.join(' ')}</dd>
          <dt>registrations</dt>
          <dd>{s.registrations}</dd>
          <dt>calls</dt>
          <dd>
            {s.calls.active} active / {s.calls.total}
          </dd>
          <dt>messages</dt>
          <dd>
            {s.messages.buffered} ({bytes(s.messages.bytes)})
          </dd>
        </dl>
      )}
      <span class={`stream ${stream}`} title={`event stream: ${stream}`}>
        {stream === 'live' ? 'live' : stream === 'connecting' ? 'connecting…' : 'offline'}
      </span>
    </header>
  );
}

function TokenForm({ refused, onSave }: { refused: boolean; onSave: (token: string) => void }) {
  const [token, setTokenText] = useState('');
  return (
    <form
      class="token"
      onSubmit={(e) => {
        e.preventDefault();
        if (token.trim()) onSave(token.trim());
      }}
    >
      <h1>Switchboard</h1>
      <p>{refused ? 'The server refused the saved token.' : 'This server wants an admin token.'}</p>
      <label>
        Token{' '}
        <input type="password" name="token" autocomplete="current-password" value={token} onInput={(e) => setTokenText(e.currentTarget.value)} autofocus />
      </label>{' '}
      <button type="submit">Connect</button>
    </form>
  );
}

render(<App />, document.getElementById('app')!);
