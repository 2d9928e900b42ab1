// A call's page (`/calls/<Call-ID>`): its summary, the ladder of every leg's messages, and the
// raw text of the message clicked.

import { Fragment, type ComponentChild } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { getJson, HttpError } from './api.js';
import { clock, duration, party, talkTime } from './format.js';
import { useEvent, useNow } from './hooks.js';
import { Ladder, LEG_NAMES, legIndex } from './ladder.js';
import { callHref, Link } from './router.js';
import type { CallMessages, CallSummary, MessageView } from './types.js';

function bySeq(a: MessageView, b: MessageView): number {
  return a.seq - b.seq;
}

/** Merge messages by seq; a message that already has its raw text keeps it. */
function merge(list: MessageView[], more: MessageView[]): MessageView[] {
  const map = new Map(list.map((m) => [m.seq, m]));
  for (const m of more) {
    const old = map.get(m.seq);
    map.set(m.seq, old && m.raw === undefined ? { ...m, raw: old.raw } : m);
  }
  return [...map.values()].sort(bySeq);
}

export function CallPage({ callId }: { callId: string }) {
  const [call, setCall] = useState<CallSummary | undefined>();
  const [legs, setLegs] = useState<string[]>([callId]);
  const [messages, setMessages] = useState<MessageView[]>([]);
  const [error, setError] = useState('');
  const [missing, setMissing] = useState(false);
  const [selected, setSelected] = useState<number | undefined>();
  const now = useNow(1000);
  const enc = encodeURIComponent(callId);

  const loadMessages = (): Promise<void> =>
    getJson<CallMessages>(`/api/calls/${enc}/messages`).then((r) => {
      if (r.legs.length > 0) setLegs(r.legs);
      setMessages((cur) => merge(cur, r.messages));
    });

  useEffect(() => {
    getJson<CallSummary>(`/api/calls/${enc}`).then(
      (c) => {
        setCall(c);
        if (c.legs.length > 0) setLegs(c.legs);
      },
      (e: Error) => (e instanceof HttpError && e.status === 404 ? setMissing(true) : setError(e.message)),
    );
    loadMessages().catch((e: Error) => !(e instanceof HttpError && e.status === 404) && setError(e.message));
  }, [callId]);

  useEvent<CallSummary>('call', (c) => {
    if (c.callId === callId) {
      setCall(c);
      setMissing(false);
      if (c.legs.length > 0) setLegs(c.legs);
    } else if (c.legs.includes(callId)) {
      setLegs(c.legs);
    }
  });
  useEvent<MessageView>('message', (m) => setMessages((cur) => merge(cur, [m])));

  const current = messages.find((m) => m.seq === selected);
  // A message that came with an event has no raw text yet: ask for the messages again.
  useEffect(() => {
    if (current && current.raw === undefined) loadMessages().catch((e: Error) => setError(e.message));
  }, [selected, current?.raw === undefined]);

  if (missing && !call && messages.length === 0) {
    return (
      <section>
        <p>
          <Link href="/">← All calls</Link>
        </p>
        <p class="error">No call with Call-ID {callId} (it may have left the buffer).</p>
      </section>
    );
  }

  return (
    <>
      <p class="crumbs">
        <Link href="/">← All calls</Link>
      </p>
      {error && <p class="error">{error}</p>}
      <Summary callId={callId} call={call} now={now} />
      <div class="flow">
        <section class="ladder-box">
          <h2>
            Call flow <span class="count">{messages.length} messages</span>
          </h2>
          <Legend legs={legs} callId={callId} />
          {messages.length > 0 ? (
            <div class="ladder-scroll">
              <Ladder messages={messages} legs={legs} role={call?.role ?? 'server'} selected={selected} onSelect={setSelected} />
            </div>
          ) : (
            <p class="empty">No messages of this call are buffered.</p>
          )}
        </section>
        <aside class="raw-box">
          {current ? (
            <>
              <h2>
                Message #{current.seq} <span class="count">{current.direction}</span>
              </h2>
              <p class="raw-meta">
                {current.time} · {current.transport.toUpperCase()} · {current.src} → {current.dst} · {current.size} bytes
              </p>
              <pre data-testid="raw" class="raw">
                {current.raw ?? current.startLine + '\n…'}
              </pre>
            </>
          ) : (
            <p class="hint">Click an arrow to see its message.</p>
          )}
        </aside>
      </div>
    </>
  );
}

function Summary({ callId, call, now }: { callId: string; call: CallSummary | undefined; now: number }) {
  const talk = call && talkTime(call, now);
  const rows: Array<[string, ComponentChild]> = call
    ? [
        ['From', <span class="sip">{party(call.from)}</span>],
        ['To', <span class="sip">{party(call.to)}</span>],
        ['State', <span class={`state ${call.state}`}>{call.state}</span>],
        ['Role', call.role],
        ['Status', call.status !== undefined ? `${call.status}${call.reason ? ` ${call.reason}` : ''}` : '—'],
        ['Start', clock(call.start)],
        ['Answer', call.answer ? clock(call.answer) : '—'],
        ['End', call.end ? clock(call.end) : '—'],
        ['Duration', talk !== undefined ? duration(talk, true) : '—'],
        ['Messages', String(call.messages)],
      ]
    : [];
  return (
    <section class="summary">
      <h1 class="sip">{callId}</h1>
      <dl>
        {rows.map(([k, v]) => (
          <Fragment key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </Fragment>
        ))}
      </dl>
    </section>
  );
}

function Legend({ legs, callId }: { legs: string[]; callId: string }) {
  if (legs.length < 2) return null;
  return (
    <ul class="legend">
      {legs.map((l) => {
        const i = legIndex(legs, l);
        return (
          <li key={l}>
            <span class={`swatch leg${i % LEG_NAMES.length}`} />
            leg {LEG_NAMES[i] ?? i + 1}{' '}
            {l === callId ? <span class="sip">{l}</span> : <Link href={callHref(l)} class="sip">{l}</Link>}
          </li>
        );
      })}
    </ul>
  );
}
