// Home (`/`): the search box, the registrations and the calls, kept live by the event stream.

import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson } from './api.js';
import { clock, duration, party, talkTime } from './format.js';
import { useDebounced, useEvent, useNow } from './hooks.js';
import { callHref, Link, navigate } from './router.js';
import type { CallSummary, Registration } from './types.js';

const CALL_LIMIT = 200;

export function Home() {
  const [query, setQuery] = useState(() => new URLSearchParams(location.search).get('q') ?? '');
  const q = useDebounced(query.trim(), 250);
  const now = useNow(1000);

  // Keep the search in the address (?q=), so a reload or a link shows the same lists.
  useEffect(() => {
    const href = q ? `/?q=${encodeURIComponent(q)}` : '/';
    if (location.pathname === '/' && location.pathname + location.search !== href) history.replaceState(null, '', href);
  }, [q]);

  return (
    <>
      <div class="search">
        <input
          type="search"
          placeholder="Search by user, AOR, contact or Call-ID"
          value={query}
          onInput={(e) => setQuery(e.currentTarget.value)}
          aria-label="Search"
          autofocus
        />
      </div>
      <Registrations filter={q} now={now} />
      <Calls q={q} now={now} />
    </>
  );
}

// ---------------------------------------------------------------------------------------------

interface RegList {
  list: Registration[];
  /** When the list was received (Date.now()): `expires` counts down from there. */
  at: number;
}

function Registrations({ filter, now }: { filter: string; now: number }) {
  const [regs, setRegs] = useState<RegList | undefined>();
  const [error, setError] = useState('');

  useEffect(() => {
    getJson<{ registrations: Registration[] }>('/api/registrations').then(
      (r) => setRegs((cur) => cur ?? { list: r.registrations, at: Date.now() }),
      (e: Error) => setError(e.message),
    );
  }, []);
  useEvent<{ registrations: Registration[] }>('registrations', (d) => {
    setRegs({ list: d.registrations, at: Date.now() });
    setError('');
  });

  const f = filter.toLowerCase();
  const shown = (regs?.list ?? []).filter((r) => !f || r.aor.toLowerCase().includes(f) || r.contact.toLowerCase().includes(f));

  return (
    <section>
      <h2>
        Registrations <span class="count">{regs ? (shown.length === regs.list.length ? shown.length : `${shown.length} of ${regs.list.length}`) : ''}</span>
      </h2>
      {error && <p class="error">{error}</p>}
      <table class="list">
        <thead>
          <tr>
            <th>AOR</th>
            <th>Contact</th>
            <th>Transport / received</th>
            <th class="num">q</th>
            <th class="num">Expires</th>
            <th>User agent</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((r) => {
            const left = r.expires - (now - regs!.at) / 1000;
            return (
              <tr data-testid="registration" data-aor={r.aor} key={`${r.aor} ${r.contact}`}>
                <td class="sip">{r.aor}</td>
                <td class="sip">{r.contact}</td>
                <td class="sip">
                  {r.transport ?? ''}
                  {r.received ? <span class="muted"> {receivedFrom(r)}</span> : ''}
                </td>
                <td class="num">{r.q}</td>
                <td class={`num${left < 60 ? ' warn' : ''}`} title={r.expiresAt}>
                  {left > 0 ? duration(left) : 'expired'}
                </td>
                <td class="muted">{r.userAgent ?? ''}</td>
              </tr>
            );
          })}
          {regs && shown.length === 0 && (
            <tr>
              <td colSpan={6} class="empty">
                {regs.list.length === 0 ? 'No registrations.' : 'No registration matches the search.'}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

/** Where the REGISTER came from, without the transport when it repeats it (`udp:1.2.3.4:5060` → `1.2.3.4:5060`). */
function receivedFrom(r: Registration): string {
  const received = r.received ?? '';
  return r.transport && received.startsWith(`${r.transport}:`) ? received.slice(r.transport.length + 1) : received;
}

// ---------------------------------------------------------------------------------------------

function matches(c: CallSummary, q: string): boolean {
  const f = q.toLowerCase();
  return !f || c.callId.toLowerCase().includes(f) || c.from.toLowerCase().includes(f) || c.to.toLowerCase().includes(f);
}

function newestFirst(a: CallSummary, b: CallSummary): number {
  return Date.parse(b.start) - Date.parse(a.start);
}

function upsert(list: CallSummary[], c: CallSummary): CallSummary[] {
  const i = list.findIndex((x) => x.callId === c.callId);
  const next = i >= 0 ? list.map((x, j) => (j === i ? c : x)) : [c, ...list];
  return next.sort(newestFirst).slice(0, CALL_LIMIT);
}

function Calls({ q, now }: { q: string; now: number }) {
  const [calls, setCalls] = useState<CallSummary[] | undefined>();
  const [error, setError] = useState('');
  // Changes that arrive while a search is under way are applied on top of its answer.
  const pending = useRef(new Map<string, CallSummary>());

  useEffect(() => {
    let current = true;
    pending.current.clear();
    getJson<{ calls: CallSummary[] }>(`/api/calls?${new URLSearchParams({ q, limit: String(CALL_LIMIT) })}`).then(
      (r) => {
        if (!current) return;
        let list = r.calls.slice().sort(newestFirst);
        for (const c of pending.current.values()) list = upsert(list, c);
        pending.current.clear();
        setCalls(list);
        setError('');
      },
      (e: Error) => current && setError(e.message),
    );
    return () => {
      current = false;
    };
  }, [q]);

  useEvent<CallSummary>('call', (c) => {
    if (!matches(c, q)) return;
    if (calls === undefined) pending.current.set(c.callId, c);
    else setCalls((list) => upsert(list ?? [], c));
  });

  const active = (calls ?? []).filter((c) => c.state !== 'ended' && c.state !== 'failed').length;

  return (
    <section>
      <h2>
        Calls <span class="count">{calls ? `${calls.length}${active ? `, ${active} active` : ''}` : ''}</span>
      </h2>
      {error && <p class="error">{error}</p>}
      <table class="list calls">
        <thead>
          <tr>
            <th>Start</th>
            <th>From</th>
            <th>To</th>
            <th>State</th>
            <th>Role</th>
            <th>Status</th>
            <th class="num">Duration</th>
            <th class="num">Legs</th>
            <th>Call-ID</th>
          </tr>
        </thead>
        <tbody>
          {(calls ?? []).map((c) => {
            const href = callHref(c.callId);
            const talk = talkTime(c, now);
            return (
              <tr data-testid="call" data-call-id={c.callId} key={c.callId} class="clickable" onClick={() => navigate(href)}>
                <td>
                  <Link href={href} title={c.start}>
                    {clock(c.start)}
                  </Link>
                </td>
                <td class="sip">{party(c.from)}</td>
                <td class="sip">{party(c.to)}</td>
                <td>
                  <span class={`state ${c.state}`}>{c.state}</span>
                </td>
                <td>{c.role}</td>
                <td>{c.status !== undefined ? `${c.status}${c.reason ? ` ${c.reason}` : ''}` : ''}</td>
                <td class="num">{talk !== undefined ? duration(talk, true) : ''}</td>
                <td class="num">{c.legs.length}</td>
                <td class="sip callid" title={c.callId}>
                  {c.callId}
                </td>
              </tr>
            );
          })}
          {calls && calls.length === 0 && (
            <tr>
              <td colSpan={9} class="empty">
                {q ? 'No call matches the search.' : 'No calls yet.'}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
