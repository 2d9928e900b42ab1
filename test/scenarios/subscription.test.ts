// Event subscriptions (RFC 6665) on virtual time, between user agents and the presence role's
// event server on a virtual network: refreshes that keep a subscription alive for ten virtual
// minutes, the notifier's final NOTIFY at expiry when the subscriber stops refreshing, Timer N
// when a notifier answers 200 and never NOTIFYs, and a presentity's registration seen by a
// watcher as closed → open → closed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePidf } from '../../src/content/index.js';
import { PresenceRole } from '../../src/roles/presence/index.js';
import { UserAgent } from '../../src/roles/user-agent/index.js';
import { buildRequest, parseMessage } from '../../src/sip/index.js';
import { MemoryEventStore, MemoryLocationStore, MemoryUserStore } from '../../src/store/index.js';
import { TransportLayer, VirtualNetwork, parseListenSpec } from '../../src/transport/index.js';
import { SipElement } from '../../src/tu/index.js';
import type { SubscriptionNotify } from '../../src/usage/index.js';
import { VirtualClock } from '../../src/util/clock.js';
import { drive } from '../harness/virtual-time.js';

const timers = { T1: 500, T2: 4000, T4: 5000 };
const limits = { defaultExpires: 3600, minExpires: 60, maxExpires: 86_400 };

async function setup(seed: number) {
  const clock = new VirtualClock();
  const net = new VirtualNetwork(clock, {}, seed);
  const wire: Array<{ who: string; line: string; state?: string; at: number; cseq: number }> = [];
  const trace = (who: string) => (ev: { direction: string; bytes: Buffer }) => {
    if (ev.direction !== 'Sent') return;
    const m = parseMessage(ev.bytes);
    wire.push({ who, line: m.kind === 'request' ? `${m.method} ${m.header('Expires') ?? ''}`.trim() : `${m.status} ${m.cseq.method}`, state: m.header('Subscription-State'), at: clock.now(), cseq: m.cseq.seq });
  };
  const transport = new TransportLayer({ listen: [parseListenSpec('udp:10.0.0.3:5060')], network: net });
  transport.onTrace = trace('S');
  await transport.start();
  const now = () => clock.now();
  const location = new MemoryLocationStore({ now, sweepIntervalMs: 0 });
  const users = new MemoryUserStore();
  await users.add('alice', 'example.com', 'a');
  await users.add('bob', 'example.com', 'b');
  let presence!: PresenceRole;
  new SipElement({
    transport, clock, timers,
    users: (el) => {
      presence = new PresenceRole({ element: el, domains: ['example.com'], users, location, store: new MemoryEventStore(now), log: () => {}, now }, {
        authenticate: false, policy: 'domain', rules: {}, subscriptions: limits, publications: limits, messages: { enabled: false, limit: 10, expires: 3600 },
      });
      return { presence: presence.server };
    },
    routes: [{ tu: 'presence' }],
  });
  const common = { clock, timers, transport: { network: net }, hosts: { 'example.com': [{ address: '10.0.0.3', port: 5060 }] } };
  const bob = await UserAgent.start({ ...common, listen: ['udp:10.0.0.2:5060'], from: 'sip:bob@example.com', onTrace: trace('B') });
  return { clock, net, bob, location, presence, wire, stop: async () => void (await Promise.all([bob.stop(), transport.stop()])) };
}

test('refreshes keep a subscription alive for ten virtual minutes; an unsubscribe gets the final NOTIFY', async () => {
  const t = await setup(1);
  try {
    const sub = await drive(t.clock, t.bob.subscribe('sip:alice@example.com', 'presence', { expires: 120 }));
    assert.equal(sub.expires, 120);
    let endedEarly: string | undefined;
    sub.once('terminated', (why: string) => (endedEarly ??= `${why} at ${t.clock.now()} ms`));
    await drive(t.clock, new Promise((r) => t.clock.setTimer(600_000, () => r(undefined))), 700_000);
    assert.equal(endedEarly, undefined, 'the subscription is still up after ten minutes');
    // Refreshed at 60 s, 120 s … (granted 120: halfway), each a SUBSCRIBE in the dialog answered 200.
    const refreshes = t.wire.filter((w) => w.who === 'B' && w.line === 'SUBSCRIBE 120');
    assert.ok(refreshes.length >= 10, `${refreshes.length} SUBSCRIBEs in 10 minutes`);
    // The dialog was made by the first NOTIFY (it overtakes the 200): the refreshes still count
    // on from the initial SUBSCRIBE's CSeq (RFC 3261 §12.2.1.1), one by one.
    assert.deepEqual(refreshes.map((w) => w.cseq - refreshes[0]!.cseq), refreshes.map((_, i) => i));
    assert.equal(t.presence.server.subscriptions().length, 1);
    const ended = new Promise<string>((r) => sub.once('terminated', r));
    await drive(t.clock, sub.unsubscribe());
    assert.equal(await drive(t.clock, ended), 'timeout', 'ended by the notifier\'s final NOTIFY (its reason), not at once');
    assert.match(t.wire.filter((w) => w.who === 'S' && w.line.startsWith('NOTIFY')).at(-1)!.state ?? '', /^terminated;reason=timeout/);
    await drive(t.clock, new Promise((r) => t.clock.setTimer(1000, () => r(undefined))));
    assert.equal(t.presence.server.subscriptions().length, 0);
  } finally {
    await t.stop();
  }
});

test('a subscription that is not refreshed ends at its expiry with NOTIFY terminated;reason=timeout (RFC 6665 §4.2.2)', async () => {
  const t = await setup(2);
  try {
    const sub = await drive(t.clock, t.bob.subscribe('sip:alice@example.com', 'presence', { expires: 60, refresh: false }));
    const notifies: SubscriptionNotify[] = [];
    sub.on('notify', (n: SubscriptionNotify) => notifies.push(n));
    const start = t.clock.now();
    const reason = await drive(t.clock, new Promise<string>((r) => sub.once('terminated', r)));
    assert.equal(reason, 'timeout');
    const final = notifies.at(-1)!;
    assert.equal(final.state, 'terminated');
    assert.ok(t.clock.now() - start >= 59_000 && t.clock.now() - start <= 61_000, `ended after ${t.clock.now() - start} ms`);
    // The notifier forgets it once its final NOTIFY is answered.
    await drive(t.clock, new Promise((r) => t.clock.setTimer(1000, () => r(undefined))));
    assert.equal(t.presence.server.subscriptions().length, 0);
  } finally {
    await t.stop();
  }
});

test('Timer N: a notifier that answers 200 and never sends a NOTIFY ends the subscription after 64·T1 (RFC 6665 §4.1.2.4)', async () => {
  const t = await setup(3);
  // A notifier that accepts every SUBSCRIBE (200, a dialog) and never sends a NOTIFY.
  const carolTransport = new TransportLayer({ listen: [parseListenSpec('udp:10.0.0.4:5060')], network: t.net });
  await carolTransport.start();
  const carol = { stop: () => carolTransport.stop() };
  new SipElement({
    transport: carolTransport, clock: t.clock, timers,
    users: (el) => ({ silent: { uas: { allow: ['SUBSCRIBE'], supported: [], accept: [] }, receiveRequest: (req, tx) => void el.uas.respond(tx, req, 200, { headers: [['Expires', '600'], ['Contact', '<sip:carol@10.0.0.4:5060>']] }) } }),
    routes: [{ tu: 'silent' }],
  });
  try {
    const sub = await drive(t.clock, t.bob.subscribe('sip:carol@10.0.0.4:5060', 'presence', { expires: 600 }));
    assert.equal(sub.state, 'subscribing');
    const start = t.clock.now();
    const reason = await drive(t.clock, new Promise<string>((r) => sub.once('terminated', r)));
    assert.equal(reason, 'timer-n');
    assert.equal(t.clock.now() - start, 64 * timers.T1);
  } finally {
    await carol.stop();
    await t.stop();
  }
});

test('a watcher sees the presentity closed, open while it has a binding, closed again when it is removed', async () => {
  const t = await setup(4);
  try {
    const sub = await drive(t.clock, t.bob.subscribe('sip:alice@example.com', 'presence', { expires: 600 }));
    const basics: string[] = [];
    sub.on('notify', (n: SubscriptionNotify) => basics.push(parsePidf(n.body).tuples[0]!.basic));
    await drive(t.clock, new Promise((r) => t.clock.setTimer(100, () => r(undefined))));
    const binding = { aor: 'sip:alice@example.com', contact: 'sip:alice@10.0.0.9:5060', expires: t.clock.now() + 300_000, q: 1, callId: 'c1', cseq: 1, updated: t.clock.now() };
    await t.location.save(binding);
    await drive(t.clock, new Promise((r) => t.clock.setTimer(100, () => r(undefined))));
    await t.location.remove('sip:alice@example.com');
    await drive(t.clock, new Promise((r) => t.clock.setTimer(100, () => r(undefined))));
    assert.deepEqual(basics.slice(-2), ['open', 'closed']);
    assert.ok(t.wire.some((w) => w.who === 'S' && w.line.startsWith('NOTIFY')), 'NOTIFYs went on the wire');
  } finally {
    await t.stop();
  }
});

test('a SUBSCRIBE that forked: NOTIFYs from two notifiers make two dialogs (RFC 6665 §4.1.2.4, §4.5.2), each reported, each unsubscribed', async () => {
  const t = await setup(5);
  const transport = new TransportLayer({ listen: [parseListenSpec('udp:10.0.0.4:5060')], network: t.net });
  await transport.start();
  const unsubscribes: string[] = [];
  new SipElement({
    transport, clock: t.clock, timers,
    users: (el) => ({
      forked: {
        uas: { allow: ['SUBSCRIBE'], supported: [], accept: [] },
        hasDialog: (req) => req.to.tag !== undefined,
        receiveRequest: (req, tx) => {
          if (req.to.tag !== undefined) {
            unsubscribes.push(`${req.header('Expires')} to ${req.to.tag}`);
            el.uas.respond(tx, req, 200, { headers: [['Expires', req.header('Expires') ?? '0']] });
            return;
          }
          el.uas.respond(tx, req, 200, { toTag: 'n1', headers: [['Expires', '600'], ['Contact', '<sip:n1@10.0.0.4:5060>']] });
          // The first notifier's NOTIFY, then one from a second notifier the SUBSCRIBE forked to.
          for (const tag of ['n1', 'n2']) {
            const notify = () => buildRequest({
              method: 'NOTIFY', uri: 'sip:bob@10.0.0.2:5060',
              headers: [
                ['Via', el.uac.via('udp')], ['Max-Forwards', '70'], ['From', `<sip:carol@10.0.0.4>;tag=${tag}`], ['To', `${req.header('From')}`],
                ['Call-ID', req.callId], ['CSeq', '1 NOTIFY'], ['Contact', `<sip:${tag}@10.0.0.4:5060>`], ['Event', 'presence'], ['Subscription-State', 'active;expires=600'],
              ],
            });
            // A moment later, so that the test listens by then.
            el.clock.setTimer(100, () => void el.uac.resolve('sip:10.0.0.2:5060').then((targets) => el.uac.send(targets, notify)));
          }
        },
      },
    }),
    routes: [{ tu: 'forked' }],
  });
  try {
    const sub = await drive(t.clock, t.bob.subscribe('sip:carol@10.0.0.4:5060', 'presence', { expires: 600 }));
    const tags: string[] = [];
    sub.on('notify', (n: SubscriptionNotify) => tags.push(n.remoteTag));
    await drive(t.clock, new Promise((r) => t.clock.setTimer(500, () => r(undefined))));
    assert.deepEqual([...tags].sort(), ['n1', 'n2'], 'a NOTIFY from each notifier, each its own dialog');
    await drive(t.clock, sub.unsubscribe());
    assert.deepEqual([...unsubscribes].sort(), ['0 to n1', '0 to n2'], 'the unsubscribe goes in both dialogs');
  } finally {
    await transport.stop();
    await t.stop();
  }
});
