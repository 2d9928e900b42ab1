// The presence role of `switchboard serve` (default roles registrar, proxy, presence; digest on
// SUBSCRIBE and PUBLISH with the config's `users:`) against SIP.js 0.21.2 (the devDependency in
// node_modules) running in this Node process over WebSocket (`ws:127.0.0.1:PORT` listener;
// `globalThis.WebSocket` = the `ws` package). All on loopback, free ports.
//
//  (a) SIP.js Subscriber (bob) watches alice: its NOTIFY bodies (read with parsePidf) go
//      closed (nobody registered) → open (alice, a Switchboard UserAgent, REGISTERs over UDP)
//      → closed (alice un-REGISTERs); SIP.js's own subscription state goes NotifyWait →
//      Subscribed, and Terminated after unsubscribe() (final NOTIFY `terminated`). The SUBSCRIBE
//      is challenged (401) and accepted (200) over WS.
//  (b) SIP.js Publisher (bob, also registered with a SIP.js Registerer) watched by carol, a
//      Switchboard UserAgent (ua.subscribe): closed → open (registration tuple) → open + busy
//      (PUBLISH of a hand-written PIDF with <rpid:busy/> and a note: 401 → 200 + SIP-ETag) →
//      open + on-the-phone (a second publish(): SIP-If-Match + body, the same publication, its
//      own `r:` prefix for RPID) → open without activities (unpublish(): Expires 0, back to the
//      registration tuple) → closed (un-REGISTER).
//
// SIP.js runs with its defaults: its Via and Contact carry a random `<random>.invalid` host (RFC
// 7118 §5), which resolves to nothing — serve's NOTIFYs go back on the WebSocket connection the
// SUBSCRIBE came on, never through the Contact's host (src/usage/subscription/server-subscription.ts).
// The 200 to the removing PUBLISH carries the removed entity's SIP-ETag (RFC 3903 §6); SIP.js
// warns when it is missing — the test checks that it did not warn.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import {
  Publisher, PublisherState, Registerer, RegistererState, Subscriber, SubscriptionState,
  UserAgent as SipJsUserAgent, type LogLevel,
} from 'sip.js';
import { stopAll } from '../../harness/processes.js';
import { parsePidf, type PresenceDocument } from '../../../src/content/index.js';
import { UserAgent } from '../../../src/roles/user-agent/index.js';
import {
  header, notifiesTo, responsesTo, show, startPresenceServe, startWatcher, until, type PresenceServer, type Watcher,
} from './presence-client-helpers.js';

// SIP.js is written for browsers: it takes the WebSocket constructor from the global scope.
(globalThis as unknown as { WebSocket: unknown }).WebSocket = WebSocket;

after(stopAll);

const TEST_TIMEOUT_MS = 40_000;

let server: PresenceServer | undefined;

before(async () => {
  server = await startPresenceServe({ users: ['alice', 'bob', 'carol'], ws: true });
});

after(async () => {
  await server?.stop();
});

interface SipJs {
  ua: SipJsUserAgent;
  logs: string[];
}

/** A SIP.js UserAgent for NAME (digest NAME / NAMEpw) on serve's WS listener; connected. */
async function startSipJs(user: string): Promise<SipJs> {
  const logs: string[] = [];
  const ua = new SipJsUserAgent({
    uri: SipJsUserAgent.makeURI(`sip:${user}@127.0.0.1`),
    authorizationUsername: user,
    authorizationPassword: `${user}pw`,
    transportOptions: { server: `ws://127.0.0.1:${server!.wsPort}` },
    logBuiltinEnabled: false,
    logLevel: 'warn',
    logConnector: (level: LogLevel, category: string, _label: string | undefined, content: string) => {
      if (level === 'warn' || level === 'error') logs.push(`${level} ${category}: ${content}`);
    },
  });
  await ua.start();
  return { ua, logs };
}

const ctxOf = (extra: () => string) => (): string =>
  `${extra()}\n--- serve log ---\n${server!.log().slice(-3000)}`;

// ---------------------------------------------------------------------------------------------

test('(a) SIP.js Subscriber over WS watches alice: closed → open (alice REGISTERs over UDP) → closed (un-REGISTER) → terminated (unsubscribe)', { timeout: TEST_TIMEOUT_MS }, async () => {
  const srv = server!;
  let bob: SipJs | undefined;
  let alice: UserAgent | undefined;
  try {
    bob = await startSipJs('bob');
    const b = bob;
    const seen: Array<{ state: string; contentType: string; doc: PresenceDocument | undefined }> = [];
    const states: string[] = [];
    const sub = new Subscriber(b.ua, SipJsUserAgent.makeURI('sip:alice@127.0.0.1')!, 'presence', { expires: 300 });
    sub.stateChange.addListener((s) => void states.push(s));
    sub.delegate = {
      onNotify: (n) => {
        const body = n.request.body;
        seen.push({ state: n.request.getHeader('Subscription-State') ?? '', contentType: n.request.getHeader('Content-Type') ?? '', doc: body ? parsePidf(body) : undefined });
        void n.accept();
      },
    };
    const ctx = ctxOf(() => `\n--- SIP.js NOTIFYs ---\n${seen.map((x) => `${x.state} ${show(x.doc, true)}`).join('\n')}\n--- SIP.js states --- ${states.join(' → ')}\n--- SIP.js log ---\n${b.logs.join('\n')}`);
    const last = (): string => show(seen.at(-1)?.doc, true);

    await sub.subscribe();
    // 1. nobody registered: the registration tuple, closed.
    await until(last, 'closed[registration]', 'first NOTIFY to SIP.js', 5000, ctx);
    assert.match(seen[0]!.state, /^active;expires=\d+$/, ctx());
    assert.equal(seen[0]!.contentType, 'application/pidf+xml', ctx());
    assert.equal(seen[0]!.doc!.entity, 'sip:alice@127.0.0.1', ctx());
    assert.equal(sub.state, SubscriptionState.Subscribed, ctx());
    assert.match(srv.log(), /events: sip:bob@127\.0\.0\.1 watches sip:alice@127\.0\.0\.1 \(presence, active, 300 s\)/, ctx());
    // Over WS, challenged then accepted.
    const subRes = srv.trace().filter((m) => m.dir === 'Sent' && m.kind === 'response' && m.cseqMethod === 'SUBSCRIBE' && m.transport === 'WS');
    assert.deepEqual(subRes.map((m) => m.status).slice(0, 2), [401, 200], ctx());

    // 2. alice registers over UDP: open, with her contact.
    alice = await UserAgent.start({ listen: ['udp:127.0.0.1:0'], from: 'sip:alice@127.0.0.1', credentials: { username: 'alice', password: 'alicepw' }, outboundProxy: `sip:127.0.0.1:${srv.port}` });
    const a = alice;
    const reg = await a.register(`sip:127.0.0.1:${srv.port}`, { aor: 'sip:alice@127.0.0.1', expires: 300 });
    assert.equal(reg.status, 200, ctx());
    await until(last, 'open[registration]', 'alice registered', 5000, ctx);
    const aliceContact = a.element.uac.contactUri('udp');
    assert.equal(seen.at(-1)!.doc!.tuples[0]!.contact, aliceContact, ctx());

    // 3. alice un-registers: closed.
    const unreg = await a.register(`sip:127.0.0.1:${srv.port}`, { aor: 'sip:alice@127.0.0.1', expires: 0 });
    assert.equal(unreg.status, 200, ctx());
    await until(last, 'closed[registration]', 'alice un-registered', 5000, ctx);

    // 4. SIP.js unsubscribes (SUBSCRIBE Expires 0): its subscription is Terminated at once (SIP.js
    // does not hand the final NOTIFY to the delegate any more); serve's final NOTIFY, over the same
    // WS connection, says terminated and SIP.js answers it 200.
    await sub.unsubscribe();
    await until(() => sub.state, SubscriptionState.Terminated, 'SIP.js subscription state', 5000, ctx);
    const wsPeer = subRes[0]!.remotePort;
    const finalNotify = (): boolean => notifiesTo(srv, wsPeer).some((n) => /^terminated\b/.test(n.state));
    await until(finalNotify, true, 'final NOTIFY sent to SIP.js', 5000, ctx);
    const fin = notifiesTo(srv, wsPeer).find((n) => /^terminated\b/.test(n.state))!;
    assert.equal(show(fin.doc), 'closed', ctx());
    const answered = (): number | undefined => srv.trace().find((m) => m.dir === 'Received' && m.kind === 'response' && m.cseqMethod === 'NOTIFY' && m.callId === fin.msg.callId && m.cseq === fin.msg.cseq)?.status;
    await until(answered, 200, "SIP.js's answer to the final NOTIFY", 5000, ctx);
    assert.match(srv.log(), /events: sip:bob@127\.0\.0\.1's presence subscription to sip:alice@127\.0\.0\.1 ended/, ctx());

    assert.deepEqual(seen.map((x) => show(x.doc)), ['closed', 'open', 'closed'], ctx());
    assert.deepEqual(notifiesTo(srv, wsPeer).map((n) => `${n.state.split(';')[0]} ${show(n.doc)}`), ['active closed', 'active open', 'active closed', 'terminated closed'], ctx());
    assert.deepEqual(states, [SubscriptionState.NotifyWait, SubscriptionState.Subscribed, SubscriptionState.Terminated], ctx());
    assert.ok(seen.every((x) => x.contentType === 'application/pidf+xml'), ctx());
    console.log(`(a) SIP.js Subscriber saw: ${seen.map((x) => `${x.state.split(';')[0]} ${show(x.doc)}`).join(' → ')}, then terminated`);
  } finally {
    await alice?.stop();
    await bob?.ua.stop();
  }
});

test('(b) SIP.js Publisher over WS (PIDF with <rpid:busy/>) seen by a Switchboard watcher: closed → open → open+busy → open+on-the-phone (modify) → open (unpublish) → closed', { timeout: TEST_TIMEOUT_MS }, async () => {
  const srv = server!;
  let bob: SipJs | undefined;
  let carol: Watcher | undefined;
  try {
    carol = await startWatcher(srv.port, 'carol', 'sip:bob@127.0.0.1');
    const c = carol;
    assert.notEqual(c.sub.state, 'terminated', `carol's SUBSCRIBE refused\n${srv.log()}`);
    bob = await startSipJs('bob');
    const b = bob;
    const ctx = ctxOf(() => `\n--- carol's NOTIFYs ---\n${c.notifies.map((n) => `${n.header('Subscription-State')} ${n.body.length ? show(parsePidf(n.body), true) : ''}`).join('\n')}\n--- SIP.js log ---\n${b.logs.join('\n')}`);
    const last = (): string => show(c.docs().at(-1), true);

    // 1. nothing about bob: closed.
    await until(last, 'closed[registration]', 'first NOTIFY to carol', 5000, ctx);

    // 2. SIP.js registers bob over WS: open (the registration tuple).
    const registerer = new Registerer(b.ua, { expires: 300 });
    await registerer.register();
    await until(() => registerer.state, RegistererState.Registered, 'SIP.js Registerer', 5000, ctx);
    await until(last, 'open[registration]', 'bob registered', 5000, ctx);
    assert.match(c.docs().at(-1)!.tuples[0]!.contact ?? '', /^sip:[^@]+@[a-z0-9]+\.invalid;transport=ws$/, ctx());

    // 3. SIP.js publishes open + busy: 401 → 200 with SIP-ETag, carol sees busy with the note.
    const pidf = (activity: string): string =>
      [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"',
        ...(activity === 'busy' ? ['    xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"'] : ['    xmlns:r="urn:ietf:params:xml:ns:pidf:rpid"']),
        '    entity="sip:bob@127.0.0.1">',
        '  <tuple id="sipjs"><status><basic>open</basic></status><contact>sip:bob@127.0.0.1</contact></tuple>',
        activity === 'busy'
          ? '  <dm:person id="p1"><rpid:activities><rpid:busy/></rpid:activities><dm:note>in a meeting</dm:note></dm:person>'
          : `  <dm:person id="p1"><r:activities><r:${activity}/></r:activities></dm:person>`,
        '</presence>',
      ].join('\n');
    const publisher = new Publisher(b.ua, SipJsUserAgent.makeURI('sip:bob@127.0.0.1')!, 'presence', { expires: 120, contentType: 'application/pidf+xml' });
    const pubStates: string[] = [];
    publisher.stateChange.addListener((s) => void pubStates.push(s));
    await publisher.publish(pidf('busy'));
    await until(() => publisher.state, PublisherState.Published, 'SIP.js Publisher', 5000, ctx);
    await until(last, 'open[d0-sipjs]+busy', 'published busy', 5000, ctx);
    const busy = c.docs().at(-1)!;
    assert.deepEqual(busy.notes, ['in a meeting'], ctx());
    assert.equal(busy.tuples[0]!.contact, 'sip:bob@127.0.0.1', ctx());
    const pubRes = srv.trace().filter((m) => m.dir === 'Sent' && m.kind === 'response' && m.cseqMethod === 'PUBLISH' && m.transport === 'WS');
    assert.deepEqual(pubRes.map((m) => m.status).slice(0, 2), [401, 200], ctx());
    const etag1 = header(pubRes[1]!, 'SIP-ETag');
    assert.ok(etag1, `200 to PUBLISH without SIP-ETag${ctx()}`);
    assert.match(srv.log(), new RegExp(`presence: sip:bob@127\\.0\\.0\\.1 published ${etag1} \\(open, busy, 120 s\\)`), ctx());

    // 4. publish() again: SIP.js sends SIP-If-Match + the new body (a modification, another prefix).
    await publisher.publish(pidf('on-the-phone'));
    await until(last, 'open[d0-sipjs]+on-the-phone', 'modified to on-the-phone', 5000, ctx);
    const modReq = srv.trace().filter((m) => m.dir === 'Received' && m.kind === 'request' && m.method === 'PUBLISH' && m.transport === 'WS' && header(m, 'SIP-If-Match') !== undefined);
    assert.equal(header(modReq[0]!, 'SIP-If-Match'), etag1, ctx());
    assert.match(srv.log(), /presence: sip:bob@127\.0\.0\.1 modified [0-9a-f]+ \(open, on-the-phone, 120 s\)/, ctx());
    assert.equal((srv.log().match(/presence: sip:bob@127\.0\.0\.1 published /g) ?? []).length, 1, `one publication${ctx()}`);

    // 5. unpublish(): Expires 0 → back to the registration tuple, open, no activity.
    await publisher.unpublish();
    await until(() => publisher.state, PublisherState.Unpublished, 'SIP.js Publisher after unpublish', 5000, ctx);
    await until(last, 'open[registration]', 'unpublished', 5000, ctx);
    assert.match(srv.log(), /presence: sip:bob@127\.0\.0\.1 removed presence publication [0-9a-f]+/, ctx());
    assert.ok(!b.logs.some((l) => /SIP-ETag header missing/.test(l)), `the removal's 200 carries a SIP-ETag${ctx()}`);

    // 6. un-REGISTER: closed.
    await registerer.unregister();
    await until(last, 'closed[registration]', 'bob un-registered', 5000, ctx);

    assert.deepEqual(c.docs().map((d) => show(d)), ['closed', 'open', 'open+busy', 'open+on-the-phone', 'open', 'closed'], ctx());
    assert.deepEqual(pubStates, [PublisherState.Published, PublisherState.Unpublished], ctx());
    assert.ok(c.notifies.every((n) => n.header('Content-Type') === 'application/pidf+xml'), ctx());
    // Every PUBLISH over WS was answered 401 or 200, nothing else.
    assert.deepEqual([...new Set(responsesTo(srv, pubRes[0]!.remotePort, 'PUBLISH').map((m) => m.status))].sort(), [200, 401], ctx());
    console.log(`(b) carol's NOTIFYs of bob: ${c.docs().map((d) => show(d)).join(' → ')}`);
  } finally {
    await carol?.stop();
    await bob?.ua.stop();
  }
});
