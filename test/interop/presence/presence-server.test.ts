// The presence role end to end on loopback sockets (RFC 6665 events, RFC 3856 presence, RFC 3903
// PUBLISH, RFC 3857/3858 watcher information, RFC 3428 offline MESSAGE): `createServer` with its
// default roles (registrar, proxy, presence) and user agents for alice, bob, carol and dave.
// Every NOTIFY and PUBLISH body is read with parsePidf / parseWatcherinfo, never by string
// matching. Each test has its own server on a free port, stopped (with its user agents) in
// `finally`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type RunningServer } from '../../../src/index.js';
import { UserAgent, type IncomingRequest } from '../../../src/roles/user-agent/index.js';
import { type PresenceDocument, buildPidf, parsePidf, parseWatcherinfo } from '../../../src/content/index.js';
import { SipRequest, SipResponse, parseMessage } from '../../../src/sip/index.js';
import type { ClientSubscription, SubscriptionNotify } from '../../../src/usage/index.js';
import { freePorts } from '../callflows/callflow-harness.js';

const DOMAIN = 'example.com';
const USERS = [
  { user: 'alice', password: 'alice-pw' },
  { user: 'bob', password: 'bob-pw' },
  { user: 'carol', password: 'carol-pw' },
  { user: 'dave', password: 'dave-pw' },
];
const pw = (name: string) => USERS.find((u) => u.user === name)!.password;
const aor = (name: string) => `sip:${name}@${DOMAIN}`;
const ALICE = aor('alice');

type Stops = Array<() => Promise<void>>;

/** Runs `body` with a list of cleanups that always run (reverse order), even when it throws. */
async function withCleanup(body: (stops: Stops) => Promise<void>): Promise<void> {
  const stops: Stops = [];
  try {
    await body(stops);
  } finally {
    for (const s of stops.reverse()) await s().catch(() => {});
  }
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Srv {
  server: RunningServer;
  port: number;
  logs: string[];
}

async function startSrv(stops: Stops, port: number, extra: Record<string, unknown> = {}): Promise<Srv> {
  const logs: string[] = [];
  const server = await createServer({ listen: [`udp:127.0.0.1:${port}`], domains: [DOMAIN], store: 'memory', users: USERS, ...extra }, { log: (l) => logs.push(l) });
  // stop() is idempotent: the restart tests stop a server before the test ends.
  stops.push(() => server.stop());
  return { server, port, logs };
}

interface Party {
  ua: UserAgent;
  /** Every SIP message this user agent sent or received, parsed. */
  trace: Array<{ dir: 'Sent' | 'Received'; msg: SipRequest | SipResponse }>;
}

async function party(stops: Stops, serverPort: number, name: string, opts: { credentials?: boolean } = {}): Promise<Party> {
  const trace: Party['trace'] = [];
  const ua = await UserAgent.start({
    listen: ['udp:127.0.0.1:0'],
    from: aor(name),
    credentials: opts.credentials === false ? undefined : { username: name, password: pw(name) },
    outboundProxy: `sip:127.0.0.1:${serverPort}`,
    timers: { T1: 100 },
    onTrace: (ev) => {
      try {
        trace.push({ dir: ev.direction, msg: parseMessage(ev.bytes) });
      } catch {
        /* keep-alive or garbage: not a message */
      }
    },
  });
  stops.push(() => ua.stop());
  return { ua, trace };
}

/** The NOTIFYs a subscription reports, as they come. */
function notifies(sub: ClientSubscription): SubscriptionNotify[] {
  const list: SubscriptionNotify[] = [];
  sub.on('notify', (n: SubscriptionNotify) => list.push(n));
  return list;
}

const pidf = (n: SubscriptionNotify): PresenceDocument => parsePidf(n.body);
/** The presentity is reachable: at least one tuple open. */
const isOpen = (d: PresenceDocument) => d.tuples.some((t) => t.basic === 'open');

function assertActive(n: SubscriptionNotify, granted: number): void {
  assert.equal(n.state, 'active', `Subscription-State ${n.request.header('Subscription-State')}`);
  assert.ok(n.expires !== undefined && n.expires > 0 && n.expires <= granted, `Subscription-State expires: ${n.request.header('Subscription-State')}`);
  assert.equal(n.contentType, 'application/pidf+xml');
}

async function subscribeRaw(p: Party, target: string, event: string, expires: number): Promise<SipResponse> {
  return p.ua.request('SUBSCRIBE', target, { headers: [['Event', event], ['Expires', String(expires)]] });
}

// ---------------------------------------------------------------------------------------------

test('presence follows registration: closed → open on REGISTER → closed on un-REGISTER, each NOTIFY active with expires', { timeout: 30_000 }, () => withCleanup(async (stops) => {
  const [port] = (await freePorts(1)) as [number];
  const { logs } = await startSrv(stops, port);
  const alice = await party(stops, port, 'alice');
  const bob = await party(stops, port, 'bob');

  const sub = await bob.ua.subscribe(ALICE, 'presence', { expires: 600 });
  const seen = notifies(sub);
  // Accepted (2xx): `subscribing` until the first NOTIFY says `active` (RFC 6665 §4.1.2.1).
  assert.notEqual(sub.state, 'terminated', logs.join('\n'));
  assert.ok(sub.expires !== undefined && sub.expires > 0 && sub.expires <= 600, `granted ${sub.expires}`);
  await until('the first NOTIFY', () => seen.length >= 1);
  assert.equal(sub.state, 'active');
  assert.equal(pidf(seen[0]!).entity, ALICE);
  assert.equal(isOpen(pidf(seen[0]!)), false, 'not registered: closed');

  const reg = await alice.ua.register(`sip:${DOMAIN}`, { aor: ALICE, expires: 300 });
  assert.equal(reg.status, 200);
  await until('a NOTIFY open', () => seen.some((n) => isOpen(pidf(n))));
  const open = pidf(seen.find((n) => isOpen(pidf(n)))!);
  // The registration's tuple names the contact alice registered.
  const contact = reg.header('Contact') ?? '';
  assert.ok(open.tuples.some((t) => t.basic === 'open' && t.contact !== undefined && contact.includes(t.contact)), `tuples ${JSON.stringify(open.tuples)} vs Contact ${contact}`);

  const unreg = await alice.ua.register(`sip:${DOMAIN}`, { aor: ALICE, expires: 0 });
  assert.equal(unreg.status, 200);
  const openAt = seen.findIndex((n) => isOpen(pidf(n)));
  await until('a NOTIFY closed after the open one', () => seen.slice(openAt + 1).some((n) => !isOpen(pidf(n))));
  await sleep(200); // nothing more is due

  const states = seen.map((n) => (isOpen(pidf(n)) ? 'open' : 'closed'));
  assert.deepEqual(states, ['closed', 'open', 'closed']);
  for (const n of seen) assertActive(n, 600);
  await sub.unsubscribe();
}));

test('PUBLISH: initial, modify with SIP-If-Match (new ETag, the old one 412), refresh, remove; 400/415/403/423', { timeout: 30_000 }, () => withCleanup(async (stops) => {
  const [port] = (await freePorts(1)) as [number];
  const { logs } = await startSrv(stops, port);
  const alice = await party(stops, port, 'alice');
  const bob = await party(stops, port, 'bob');
  const reg = await alice.ua.register(`sip:${DOMAIN}`, { aor: ALICE, expires: 300 });
  assert.equal(reg.status, 200);
  const sub = await bob.ua.subscribe(ALICE, 'presence', { expires: 600 });
  const seen = notifies(sub);
  await until('the first NOTIFY', () => seen.length >= 1);
  assert.equal(isOpen(pidf(seen[0]!)), true, 'registered: open');

  const PC = 'sip:alice@pc.example.com';
  const doc = (activities: string[], notes: string[]) => buildPidf({ entity: ALICE, tuples: [{ id: 'pc', basic: 'open', contact: PC, note: 'desk phone' }], activities, notes });
  const latest = () => pidf(seen[seen.length - 1]!);

  // Initial.
  const p1 = await alice.ua.publish(ALICE, { body: doc(['busy'], ['in a meeting']), expires: 120 });
  assert.equal(p1.status, 200, logs.join('\n'));
  const e1 = p1.header('SIP-ETag');
  assert.ok(e1, 'SIP-ETag');
  assert.equal(p1.header('Expires'), '120');
  await until('a NOTIFY with the activity', () => latest().activities.includes('busy'));
  let d = latest();
  assert.deepEqual(d.activities, ['busy']);
  assert.ok(d.notes.includes('in a meeting'), JSON.stringify(d.notes));
  const published = d.tuples.find((t) => t.contact === PC);
  assert.ok(published, `the published tuple: ${JSON.stringify(d.tuples)}`);
  assert.equal(published.basic, 'open');
  assert.equal(published.note, 'desk phone');

  // Modify: a new ETag; the old one is gone.
  const p2 = await alice.ua.publish(ALICE, { body: doc(['away'], []), etag: e1, expires: 120 });
  assert.equal(p2.status, 200);
  const e2 = p2.header('SIP-ETag');
  assert.ok(e2 && e2 !== e1, `new ETag ${e2} after ${e1}`);
  await until('a NOTIFY with the new activity', () => latest().activities.includes('away'));
  assert.deepEqual(latest().activities, ['away']);
  assert.ok(!latest().notes.includes('in a meeting'));
  const stale = await alice.ua.publish(ALICE, { body: doc(['busy'], []), etag: e1, expires: 120 });
  assert.equal(stale.status, 412, 'the replaced ETag');

  // Refresh (no body): a new ETag, the same state.
  const before = seen.length;
  const p3 = await alice.ua.publish(ALICE, { etag: e2, expires: 120 });
  assert.equal(p3.status, 200);
  const e3 = p3.header('SIP-ETag');
  assert.ok(e3 && e3 !== e2 && e3 !== e1, `new ETag ${e3}`);
  assert.equal((await alice.ua.publish(ALICE, { etag: e2, expires: 120 })).status, 412, 'the refreshed ETag');
  const fetch = await bob.ua.subscribe(ALICE, 'presence', { expires: 0 });
  const fetched = notifies(fetch);
  await until('the fetch NOTIFY', () => fetched.length >= 1);
  assert.deepEqual(pidf(fetched[0]!).activities, ['away'], 'the refresh kept the state');
  assert.ok(pidf(fetched[0]!).tuples.some((t) => t.contact === PC));
  for (const n of seen.slice(before)) assert.deepEqual(pidf(n).activities, ['away'], 'a refresh changes nothing watchers see');

  // Remove: back to the registration's tuple.
  const p4 = await alice.ua.publish(ALICE, { etag: e3, expires: 0 });
  assert.equal(p4.status, 200);
  await until('a NOTIFY without the publication', () => !latest().tuples.some((t) => t.contact === PC));
  d = latest();
  assert.deepEqual(d.activities, []);
  assert.equal(d.tuples.length, 1, JSON.stringify(d.tuples));
  assert.equal(d.tuples[0]!.basic, 'open');
  assert.ok((reg.header('Contact') ?? '').includes(d.tuples[0]!.contact ?? '<none>'), `registration tuple ${JSON.stringify(d.tuples[0])}`);
  assert.equal((await alice.ua.publish(ALICE, { etag: e3, expires: 120 })).status, 412, 'the removed ETag');

  // Refused.
  const noBody = await alice.ua.publish(ALICE, { expires: 120 });
  assert.equal(noBody.status, 400, 'initial PUBLISH without a body');
  const notPidf = await alice.ua.publish(ALICE, { body: '<?xml version="1.0"?><status xmlns="urn:example:not-pidf"><basic>open</basic></status>', expires: 120 });
  assert.equal(notPidf.status, 400, 'XML that is not PIDF');
  const notXml = await alice.ua.publish(ALICE, { body: 'open, busy', expires: 120 });
  assert.equal(notXml.status, 400, 'application/pidf+xml that is not XML');
  const textPlain = await alice.ua.publish(ALICE, { body: 'open', contentType: 'text/plain', expires: 120 });
  assert.equal(textPlain.status, 415, 'a body type other than PIDF (RFC 3903 §6 step 6)');
  assert.equal(textPlain.header('Accept'), 'application/pidf+xml');
  const byBob = await bob.ua.publish(ALICE, { body: doc(['busy'], []), expires: 120 });
  assert.equal(byBob.status, 403, 'bob publishing alice');
  const short = await alice.ua.publish(ALICE, { body: doc(['busy'], []), expires: 10 });
  assert.equal(short.status, 423);
  assert.equal(short.header('Min-Expires'), '60');
  await sleep(200);
  assert.deepEqual(latest().activities, [], 'no refused PUBLISH changed the state');
  await sub.unsubscribe();
}));

test('SUBSCRIBE edges: 401 then 200, 423, unknown package (489 from the notifier), fetch, unsubscribe, block 403, polite-block', { timeout: 30_000 }, () => withCleanup(async (stops) => {
  const [port] = (await freePorts(1)) as [number];
  const { logs } = await startSrv(stops, port, {
    presence: { rules: { [ALICE]: { block: [aor('carol')], politeBlock: [aor('dave')] } } },
  });
  const alice = await party(stops, port, 'alice');
  const bob = await party(stops, port, 'bob');
  const carol = await party(stops, port, 'carol');
  const dave = await party(stops, port, 'dave');
  const anon = await party(stops, port, 'bob', { credentials: false });

  // Without credentials: 401 with a challenge; the UA answers it when it has credentials.
  const noAuth = await subscribeRaw(anon, ALICE, 'presence', 600);
  assert.equal(noAuth.status, 401);
  assert.match(noAuth.header('WWW-Authenticate') ?? '', /^Digest /);
  const authed = await anon.ua.subscribe(ALICE, 'presence', { expires: 600, credentials: { username: 'bob', password: pw('bob') } });
  assert.notEqual(authed.state, 'terminated', logs.join('\n'));
  const answers = anon.trace.filter((t) => t.dir === 'Received' && t.msg instanceof SipResponse && t.msg.callId === authed.callId).map((t) => (t.msg as SipResponse).status);
  assert.deepEqual(answers, [401, 200], 'the challenge, then the subscription');
  await authed.unsubscribe();

  // Too short.
  const short = await subscribeRaw(bob, ALICE, 'presence', 10);
  assert.equal(short.status, 423);
  assert.equal(short.header('Min-Expires'), '60');

  // Alice is registered from here on.
  assert.equal((await alice.ua.register(`sip:${DOMAIN}`, { aor: ALICE, expires: 300 })).status, 200);

  // An unknown package is not the presence server's: the proxy routes it to alice's device (which
  // does not do SUBSCRIBE: 405). Within a presence subscription's dialog the notifier itself
  // answers 489 Bad Event with Allow-Events (RFC 6665 §8.2.2).
  const foo = await subscribeRaw(bob, ALICE, 'foo', 600);
  assert.ok(alice.trace.some((t) => t.dir === 'Received' && t.msg instanceof SipRequest && t.msg.method === 'SUBSCRIBE' && t.msg.header('Event') === 'foo'), 'the proxy forwarded it to alice');
  assert.equal(foo.status, 405, "alice's device's answer");
  const sub = await bob.ua.subscribe(ALICE, 'presence', { expires: 600 });
  const seen = notifies(sub);
  await until('the first NOTIFY', () => seen.length >= 1);
  const bad = await inDialogSubscribe(port, sub, seen[0]!.remoteTag, 'foo');
  assert.equal(bad.status, 489);
  const allow = (bad.header('Allow-Events') ?? '').split(',').map((s) => s.trim());
  assert.ok(allow.includes('presence') && allow.includes('presence.winfo') && !allow.includes('foo'), `Allow-Events: ${allow.join(', ')}`);

  // Fetch (Expires 0): one NOTIFY, terminated;reason=timeout, with the state.
  const fetch = await bob.ua.subscribe(ALICE, 'presence', { expires: 0 });
  const fetched = notifies(fetch);
  await until('the fetch NOTIFY', () => fetched.length >= 1);
  await sleep(300);
  assert.equal(fetched.length, 1);
  assert.equal(fetched[0]!.state, 'terminated');
  assert.equal(fetched[0]!.reason, 'timeout');
  assert.equal(pidf(fetched[0]!).entity, ALICE);
  assert.equal(isOpen(pidf(fetched[0]!)), true, 'the state: registered');
  assert.equal(fetch.state, 'terminated');

  // Unsubscribe: the notifier's final NOTIFY, terminated, with the state, ends the subscription.
  const unsub = await sub.unsubscribe();
  assert.equal(unsub?.status, 200);
  await until('the final NOTIFY', () => finalNotify(bob, sub.callId) !== undefined);
  await until('the subscription ended by it', () => sub.state === 'terminated');
  const final = finalNotify(bob, sub.callId)!;
  assert.match(final.header('Subscription-State') ?? '', /^terminated\b/);
  assert.equal(isOpen(parsePidf(final.body)), true);

  // Blocked watcher: 403.
  const blocked = await subscribeRaw(carol, ALICE, 'presence', 600);
  assert.equal(blocked.status, 403);

  // Polite-blocked watcher: accepted, and alice is always closed to dave.
  const politely = await dave.ua.subscribe(ALICE, 'presence', { expires: 600 });
  const daveSeen = notifies(politely);
  assert.notEqual(politely.state, 'terminated');
  await until("dave's first NOTIFY", () => daveSeen.length >= 1);
  assert.equal(politely.state, 'active');
  const watch = await bob.ua.subscribe(ALICE, 'presence', { expires: 600 });
  const bobSeen = notifies(watch);
  await until("bob's first NOTIFY", () => bobSeen.length >= 1);
  const n0 = daveSeen.length;
  const pub = await alice.ua.publish(ALICE, { body: buildPidf({ entity: ALICE, tuples: [{ id: 'pc', basic: 'open' }], activities: ['busy'], notes: ['here'] }), expires: 120 });
  assert.equal(pub.status, 200);
  await until('bob sees the publication', () => bobSeen.some((n) => pidf(n).activities.includes('busy')));
  await until('dave gets a NOTIFY for the publication', () => daveSeen.length > n0);
  for (const n of daveSeen) {
    assertActive(n, 600);
    const d = pidf(n);
    assert.equal(isOpen(d), false, `dave sees ${JSON.stringify(d)}`);
    assert.deepEqual(d.activities, []);
    assert.deepEqual(d.notes, []);
  }
  assert.equal(isOpen(pidf(bobSeen[0]!)), true, 'bob (allowed) sees her open');
  await politely.unsubscribe();
  await watch.unsubscribe();
}));

/** A SUBSCRIBE within `sub`'s dialog with another Event, sent raw over UDP; resolves with the answer. */
async function inDialogSubscribe(serverPort: number, sub: ClientSubscription, remoteTag: string, event: string): Promise<SipResponse> {
  const sock = dgram.createSocket('udp4');
  try {
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const me = sock.address().port;
    const branch = `z9hG4bK${Math.random().toString(36).slice(2)}`;
    const msg = [
      `SUBSCRIBE sip:alice@${DOMAIN} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${me};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <${aor('bob')}>;tag=${sub.fromTag}`,
      `To: <${ALICE}>;tag=${remoteTag}`,
      `Call-ID: ${sub.callId}`,
      'CSeq: 900000 SUBSCRIBE',
      `Event: ${event}`,
      'Expires: 600',
      `Contact: <sip:bob@127.0.0.1:${me}>`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    const answer = new Promise<SipResponse>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no answer to the in-dialog SUBSCRIBE')), 5000);
      sock.on('message', (b) => {
        const m = parseMessage(b);
        if (m instanceof SipResponse && m.status >= 200) {
          clearTimeout(t);
          resolve(m);
        }
      });
    });
    sock.send(msg, serverPort, '127.0.0.1');
    return await answer;
  } finally {
    sock.close();
  }
}

function finalNotify(p: Party, callId: string): SipRequest | undefined {
  const t = p.trace.find((x) => x.dir === 'Received' && x.msg instanceof SipRequest && x.msg.method === 'NOTIFY' && x.msg.callId === callId && /^terminated\b/.test(x.msg.header('Subscription-State') ?? ''));
  return t?.msg as SipRequest | undefined;
}

test('presence.winfo: alice sees bob come and go; carol may not watch alice\'s watchers (403)', { timeout: 30_000 }, () => withCleanup(async (stops) => {
  const [port] = (await freePorts(1)) as [number];
  const { logs } = await startSrv(stops, port);
  const alice = await party(stops, port, 'alice');
  const bob = await party(stops, port, 'bob');
  const carol = await party(stops, port, 'carol');

  const winfo = await alice.ua.subscribe(ALICE, 'presence.winfo', { expires: 600 });
  const seen = notifies(winfo);
  assert.notEqual(winfo.state, 'terminated', logs.join('\n'));
  await until('the first watcherinfo NOTIFY', () => seen.length >= 1);
  const read = (n: SubscriptionNotify) => {
    assert.equal(n.contentType, 'application/watcherinfo+xml');
    const doc = parseWatcherinfo(n.body);
    assert.equal(doc.lists.length, 1);
    assert.equal(doc.lists[0]!.resource, ALICE);
    assert.equal(doc.lists[0]!.pkg, 'presence');
    return { version: doc.version, watchers: doc.lists[0]!.watchers };
  };
  assert.deepEqual(read(seen[0]!).watchers, [], 'nobody watches alice yet');
  assert.equal(seen[0]!.state, 'active');

  const sub = await bob.ua.subscribe(ALICE, 'presence', { expires: 600 });
  assert.notEqual(sub.state, 'terminated');
  await until('a watcherinfo NOTIFY with bob', () => seen.some((n) => read(n).watchers.some((w) => w.uri === aor('bob'))));
  const withBob = read(seen.find((n) => read(n).watchers.some((w) => w.uri === aor('bob')))!);
  assert.equal(withBob.watchers.length, 1);
  assert.equal(withBob.watchers[0]!.status, 'active');

  const at = seen.length;
  await sub.unsubscribe();
  await until('a watcherinfo NOTIFY without bob', () => seen.length > at && !read(seen[seen.length - 1]!).watchers.some((w) => w.uri === aor('bob')));
  assert.deepEqual(read(seen[seen.length - 1]!).watchers, []);
  // RFC 3858 §4: each document a higher version than the previous one.
  const versions = seen.map((n) => read(n).version);
  for (let i = 1; i < versions.length; i++) assert.ok(versions[i]! > versions[i - 1]!, `versions ${versions.join(',')}`);

  const nosy = await subscribeRaw(carol, ALICE, 'presence.winfo', 600);
  assert.equal(nosy.status, 403);
  await winfo.unsubscribe();
}));

test('unsubscribe: the subscriber answers the final NOTIFY 200 and reports it', {
  timeout: 30_000 }, () => withCleanup(async (stops) => {
  const [port] = (await freePorts(1)) as [number];
  await startSrv(stops, port);
  const bob = await party(stops, port, 'bob');
  const sub = await bob.ua.subscribe(ALICE, 'presence', { expires: 600 });
  const seen = notifies(sub);
  await until('the first NOTIFY', () => seen.length >= 1);
  await sub.unsubscribe();
  await until('the final NOTIFY', () => finalNotify(bob, sub.callId) !== undefined);
  await sleep(200);
  const answers = bob.trace.filter((t) => t.dir === 'Sent' && t.msg instanceof SipResponse && t.msg.callId === sub.callId && t.msg.cseq.method === 'NOTIFY').map((t) => (t.msg as SipResponse).status);
  assert.deepEqual(answers, [200, 200], 'the first NOTIFY and the final one');
  assert.ok(seen.some((n) => n.state === 'terminated'), 'the final NOTIFY reported');
}));

test('presence.winfo versions are per subscription: 0 first, then one more per document (RFC 3858 §4)', {
  timeout: 30_000 }, () => withCleanup(async (stops) => {
  const [port] = (await freePorts(1)) as [number];
  await startSrv(stops, port);
  const alice = await party(stops, port, 'alice');
  const bob = await party(stops, port, 'bob');
  const carol = await party(stops, port, 'carol');
  const other = await carol.ua.subscribe(aor('carol'), 'presence.winfo', { expires: 600 });
  const otherSeen = notifies(other);
  await until("carol's watcherinfo", () => otherSeen.length >= 1);
  const winfo = await alice.ua.subscribe(ALICE, 'presence.winfo', { expires: 600 });
  const seen = notifies(winfo);
  await until("alice's first watcherinfo", () => seen.length >= 1);
  const sub = await bob.ua.subscribe(ALICE, 'presence', { expires: 600 });
  await until('a second watcherinfo', () => seen.length >= 2);
  const versions = seen.map((n) => parseWatcherinfo(n.body).version);
  assert.deepEqual(versions.slice(0, 2), [0, 1]);
  await sub.unsubscribe();
}));

// ---- restart (SQLite) ---------------------------------------------------------------------

interface RestartRun {
  /** The NOTIFYs the server sent bob on his subscription's dialog after the restart, as they came. */
  afterRestart: SipRequest[];
  /** What bob's subscription object reported after the restart. */
  reported: SubscriptionNotify[];
  /** bob's answers to those NOTIFYs. */
  answers: number[];
}

/**
 * bob subscribes to alice (closed) on a SQLite-backed server — optionally refreshing once — then
 * the server stops and a new one starts on the same port and file; alice registers.
 */
async function restartScenario(stops: Stops, refreshFirst: boolean): Promise<RestartRun> {
  const [port] = (await freePorts(1)) as [number];
  const dir = mkdtempSync(join(tmpdir(), 'sb-presence-'));
  stops.push(async () => rmSync(dir, { recursive: true, force: true }));
  const config = { store: 'sqlite', db: join(dir, 'switchboard.db') };
  const first = await startSrv(stops, port, config);
  const alice = await party(stops, port, 'alice');
  const bob = await party(stops, port, 'bob');
  const sub = await bob.ua.subscribe(ALICE, 'presence', { expires: 600 });
  const seen = notifies(sub);
  await until('the first NOTIFY', () => seen.length >= 1);
  assert.equal(isOpen(pidf(seen[0]!)), false);
  if (refreshFirst) {
    assert.equal((await sub.refresh(600))?.status, 200);
    await until('the NOTIFY of the refresh', () => seen.length >= 2);
  }
  await first.server.stop();
  const mark = bob.trace.length;
  const reportedFrom = seen.length;
  const second = await startSrv(stops, port, config);
  assert.ok(second.logs.some((l) => /1 subscriptions restored/.test(l)), second.logs.join('\n'));
  assert.equal((await alice.ua.register(`sip:${DOMAIN}`, { aor: ALICE, expires: 300 })).status, 200);
  const mine = (m: SipRequest | SipResponse): m is SipRequest => m instanceof SipRequest && m.method === 'NOTIFY' && m.callId === sub.callId;
  const afterRestart = () => bob.trace.slice(mark).filter((t) => t.dir === 'Received').map((t) => t.msg).filter(mine);
  await until('a NOTIFY open on the restored dialog', () => afterRestart().some((m) => isOpen(parsePidf(m.body))));
  await sleep(200);
  const answers = bob.trace.slice(mark).filter((t) => t.dir === 'Sent' && t.msg instanceof SipResponse && t.msg.callId === sub.callId && t.msg.cseq.method === 'NOTIFY').map((t) => (t.msg as SipResponse).status);
  return { afterRestart: afterRestart(), reported: seen.slice(reportedFrom), answers };
}

test('restart (SQLite): the stored subscription gets NOTIFYs on its dialog — open once alice registers', { timeout: 30_000 }, () => withCleanup(async (stops) => {
  const run = await restartScenario(stops, false);
  for (const m of run.afterRestart) {
    assert.match(m.header('Subscription-State') ?? '', /^active;expires=\d+/);
    assert.equal(parsePidf(m.body).entity, ALICE);
  }
  assert.equal(isOpen(parsePidf(run.afterRestart[run.afterRestart.length - 1]!.body)), true);
}));

test('restart (SQLite): bob\'s subscription object receives the open NOTIFY (the notifier\'s CSeq goes on)', {
  timeout: 30_000 }, () => withCleanup(async (stops) => {
  const run = await restartScenario(stops, true);
  assert.ok(run.answers.every((s) => s === 200), `bob answered ${run.answers.join(', ')}`);
  assert.ok(run.reported.some((n) => n.state === 'active' && isOpen(pidf(n))), `reported ${run.reported.length} NOTIFYs`);
}));

test('restart (SQLite): a publication survives — a new watcher sees its activity', { timeout: 30_000 }, () => withCleanup(async (stops) => {
  const [port] = (await freePorts(1)) as [number];
  const dir = mkdtempSync(join(tmpdir(), 'sb-presence-'));
  stops.push(async () => rmSync(dir, { recursive: true, force: true }));
  const config = { store: 'sqlite', db: join(dir, 'switchboard.db') };
  const first = await startSrv(stops, port, config);
  const alice = await party(stops, port, 'alice');
  const bob = await party(stops, port, 'bob');
  const pub = await alice.ua.publish(ALICE, { body: buildPidf({ entity: ALICE, tuples: [{ id: 'pc', basic: 'open', contact: 'sip:alice@pc.example.com' }], activities: ['vacation'], notes: ['back monday'] }), expires: 600 });
  assert.equal(pub.status, 200, first.logs.join('\n'));
  const etag = pub.header('SIP-ETag')!;
  await first.server.stop();
  const second = await startSrv(stops, port, config);

  const sub = await bob.ua.subscribe(ALICE, 'presence', { expires: 600 });
  const seen = notifies(sub);
  assert.notEqual(sub.state, 'terminated', second.logs.join('\n'));
  await until('the first NOTIFY', () => seen.length >= 1);
  const d = pidf(seen[0]!);
  assert.deepEqual(d.activities, ['vacation']);
  assert.ok(d.notes.includes('back monday'));
  assert.ok(d.tuples.some((t) => t.basic === 'open' && t.contact === 'sip:alice@pc.example.com'), JSON.stringify(d.tuples));
  // Its ETag too: a refresh of it is accepted.
  const refresh = await alice.ua.publish(ALICE, { etag, expires: 600 });
  assert.equal(refresh.status, 200);
  await sub.unsubscribe();
}));

// ---- offline MESSAGE (RFC 3428 §7) ------------------------------------------------------

interface Inbox {
  received: SipRequest[];
}

function inbox(p: Party): Inbox {
  const received: SipRequest[] = [];
  p.ua.on('request', (r: IncomingRequest) => {
    if (r.request.method === 'MESSAGE') received.push(r.request);
    r.respond(200);
  });
  return { received };
}

const TEXT1 = Buffer.from('héllo 你好', 'utf8');
const TEXT2 = Buffer.from('second — ünïcödé ✓', 'utf8');
const TYPE = 'text/plain;charset=UTF-8';

test('offline MESSAGE: 202, delivered byte-exact and in order when carol registers; 404 for no such user; the limit → 480', { timeout: 30_000 }, () => withCleanup(async (stops) => {
  const [port] = (await freePorts(1)) as [number];
  const { server, logs } = await startSrv(stops, port, { presence: { messages: { limit: 2 } } });
  const bob = await party(stops, port, 'bob');
  const carol = await party(stops, port, 'carol');
  const box = inbox(carol);

  const m1 = await bob.ua.request('MESSAGE', aor('carol'), { body: TEXT1, contentType: TYPE });
  assert.equal(m1.status, 202, logs.join('\n'));
  const m2 = await bob.ua.request('MESSAGE', aor('carol'), { body: TEXT2, contentType: TYPE });
  assert.equal(m2.status, 202);
  const m3 = await bob.ua.request('MESSAGE', aor('carol'), { body: 'one too many', contentType: 'text/plain' });
  assert.equal(m3.status, 480, 'messages.limit 2');

  const nobody = await bob.ua.request('MESSAGE', aor('nobody'), { body: TEXT1, contentType: TYPE });
  assert.equal(nobody.status, 404);
  const waiting = await server.stores.events.countMessages();
  assert.deepEqual([...waiting.entries()], [[aor('carol'), 2]], 'nothing kept for nobody');
  assert.equal(box.received.length, 0, 'carol is not registered');

  assert.equal((await carol.ua.register(`sip:${DOMAIN}`, { aor: aor('carol'), expires: 300 })).status, 200);
  await until('both messages delivered', () => box.received.length >= 2);
  await sleep(200);
  assert.equal(box.received.length, 2, 'the refused one was not kept');
  const [r1, r2] = box.received as [SipRequest, SipRequest];
  assert.ok(r1.body.equals(TEXT1), `first body ${r1.body.toString('hex')}`);
  assert.ok(r2.body.equals(TEXT2), `second body ${r2.body.toString('hex')}`);
  for (const r of [r1, r2]) {
    assert.equal(r.header('Content-Type'), TYPE);
    assert.equal(r.from.uriText, aor('bob'));
    assert.equal(r.to.uriText, aor('carol'));
  }
  assert.equal((await server.stores.events.countMessages()).size, 0, 'delivered messages are gone from the store');
}));

test('offline MESSAGE survives a restart (SQLite): delivered when carol registers with the new server', { timeout: 30_000 }, () => withCleanup(async (stops) => {
  const [port] = (await freePorts(1)) as [number];
  const dir = mkdtempSync(join(tmpdir(), 'sb-presence-'));
  stops.push(async () => rmSync(dir, { recursive: true, force: true }));
  const config = { store: 'sqlite', db: join(dir, 'switchboard.db') };
  const first = await startSrv(stops, port, config);
  const bob = await party(stops, port, 'bob');
  const carol = await party(stops, port, 'carol');
  const box = inbox(carol);
  const m1 = await bob.ua.request('MESSAGE', aor('carol'), { body: TEXT1, contentType: TYPE });
  assert.equal(m1.status, 202, first.logs.join('\n'));
  await first.server.stop();

  const second = await startSrv(stops, port, config);
  assert.equal(box.received.length, 0);
  assert.equal((await carol.ua.register(`sip:${DOMAIN}`, { aor: aor('carol'), expires: 300 })).status, 200);
  await until('the message delivered', () => box.received.length >= 1);
  await sleep(200);
  assert.equal(box.received.length, 1, second.logs.join('\n'));
  assert.ok(box.received[0]!.body.equals(TEXT1));
  assert.equal(box.received[0]!.header('Content-Type'), TYPE);
  assert.equal(box.received[0]!.from.uriText, aor('bob'));
}));
