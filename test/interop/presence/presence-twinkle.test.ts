// The presence role of `switchboard serve` (default roles registrar, proxy, presence; digest on
// SUBSCRIBE and PUBLISH with the config's `users:`) against twinkle-console 1.10.2 (apt
// twinkle-console), headless (ALSA `null` devices), driven through a FIFO on its stdin, with
// free ports. twinkle binds its SIP port on 0.0.0.0 (it has no bind-address setting) but only
// talks to serve on 127.0.0.1.
//
//  (a) twinkle as PUBLISHER, not registered (register_at_startup=no, pres_publish_startup=no,
//      pres_publication_time=120): bob, a Switchboard UA, watches erin: closed (registration
//      tuple) → `presence -b online` → open (twinkle's tuple; PUBLISH 401 → 200 + SIP-ETag) →
//      `presence -b offline` → closed (same tuple; PUBLISH with SIP-If-Match = that ETag) →
//      `presence -b online` → open. One publication all along.
//      Not asserted: the removal at exit. Unregistered, twinkle sends PUBLISH Expires 0
//      (SIP-If-Match) at `quit`, gets the 401 and exits without answering it (seen by hand), so
//      the publication stays until it expires (120 s).
//  (b) twinkle registered with pres_publish_startup=yes (user frank): twinkle PUBLISHes "online"
//      once registered → bob sees twinkle's tuple open; `presence -b offline` → closed although
//      frank is registered (a publication outranks the registration); at `quit` twinkle
//      removes the publication (401 → authenticated PUBLISH Expires 0 → 200, it waits because
//      it also de-REGISTERs) → bob ends with the registration tuple, closed.
//  (c) twinkle as WATCHER, as far as the console shows it: a buddy list file (~/.twinkle/
//      erin.bud, `Alice|sip:alice@127.0.0.1|y`) makes the registered twinkle SUBSCRIBE to alice
//      (401 → 200); the NOTIFYs serve sends it (read with parsePidf from serve's --trace) go
//      closed → open (alice REGISTERs) → open+busy (PUBLISH) → open (removed) → closed
//      (un-REGISTER), twinkle answers each 200, and at `quit` it un-SUBSCRIBEs (Expires 0).
//      twinkle-console itself cannot show a buddy's state: its CLI has no buddy command
//      (`help`: only `presence -b online|offline` for presence) and neither its stdout nor
//      ~/.twinkle/twinkle.log say anything about the buddy's status (the "Presence state
//      changed" text is the Qt GUI's), so its *view* of alice is not checked.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopAll } from '../../harness/processes.js';
import { freeSipPorts } from '../clients/interop-helpers.js';
import { buildPidf, parsePidf } from '../../../src/content/index.js';
import { UserAgent } from '../../../src/roles/user-agent/index.js';
import {
  header, notifiesTo, responsesTo, show, startFifoClient, startPresenceServe, startWatcher, until,
  type FifoClient, type PresenceServer, type Watcher,
} from './presence-client-helpers.js';

after(stopAll);

const haveTwinkle = spawnSync('sh', ['-c', 'command -v twinkle-console'], { encoding: 'utf8' }).status === 0;
const skip = !haveTwinkle && 'twinkle-console not installed (apt twinkle-console; node scripts/ensure-peers.mjs)';

const TEST_TIMEOUT_MS = 40_000;

let server: PresenceServer | undefined;

before(async () => {
  if (skip) return;
  server = await startPresenceServe({ users: ['alice', 'bob', 'erin', 'frank'] });
});

after(async () => {
  await server?.stop();
});

interface Twinkle extends FifoClient {
  sipPort: number;
}

/**
 * twinkle-console for NAME (password NAMEpw) with serve as outbound proxy. twinkle-console takes
 * any argument as a profile name, so it starts without one (`start_user_profile` in twinkle.sys).
 * Its local-IP detection fails here ("Local IP: 255.255.255.255"), hence the NAT address
 * 127.0.0.1; `outbound_proxy` is host:port without `sip:`.
 */
async function startTwinkle(user: string, o: { register: boolean; publishAtStartup: boolean; buddies?: string }): Promise<Twinkle> {
  const [sipPort, rtpPort] = (await freeSipPorts(2)) as [number, number];
  const c = await startFifoClient(`twinkle-presence-${user}`, 'twinkle-console', () => [], {
    prepare: (dir) => {
      const tw = join(dir, '.twinkle');
      mkdirSync(tw, { recursive: true });
      writeFileSync(join(tw, 'twinkle.sys'), [
        `sip_port=${sipPort}`, `rtp_port=${rtpPort}`, 'dev_ringtone=alsa:null', 'dev_speaker=alsa:null', 'dev_mic=alsa:null',
        'validate_audio_dev=no', `start_user_profile=${user}`, '',
      ].join('\n'));
      writeFileSync(join(tw, `${user}.cfg`), [
        `user_name=${user}`, 'user_domain=127.0.0.1', `user_display=${user}`, 'auth_realm=', `auth_name=${user}`, `auth_pass=${user}pw`,
        `outbound_proxy=127.0.0.1:${server!.port}`, 'use_outbound_proxy=yes', 'all_requests_to_proxy=yes', 'registrar=',
        `register_at_startup=${o.register ? 'yes' : 'no'}`, 'registration_time=600', 'sip_transport=udp', 'codecs=g711u,g711a',
        'use_nat_public_ip=yes', 'nat_public_ip=127.0.0.1',
        `pres_publish_startup=${o.publishAtStartup ? 'yes' : 'no'}`, 'pres_publication_time=120', 'pres_subscription_time=600', '',
      ].join('\n'));
      if (o.buddies) writeFileSync(join(tw, `${user}.bud`), `${o.buddies}\n`);
    },
    readyPattern: /Twinkle> /,
    timeoutMs: 10_000,
    maxLifetimeMs: 38_000,
  });
  return Object.assign(c, { sipPort });
}

const serveLog = (): string => server!.log().slice(-3000);

function watcherCtx(w: Watcher, t: () => Twinkle | undefined): () => string {
  return () =>
    `\n--- bob's NOTIFYs ---\n${w.notifies.map((n) => `${n.header('Subscription-State')} ${n.body.length ? show(parsePidf(n.body), true) : ''}`).join('\n')}` +
    `\n--- serve log ---\n${serveLog()}\n--- twinkle output ---\n${t()?.out().slice(-2000) ?? ''}`;
}

/** The PUBLISH requests serve received from a port. */
const publishesFrom = (port: number) => server!.trace().filter((m) => m.dir === 'Received' && m.kind === 'request' && m.method === 'PUBLISH' && m.remotePort === port);

// ---------------------------------------------------------------------------------------------

test('(a) twinkle publishes (presence -b, not registered): bob\'s NOTIFYs of erin go closed → open → closed → open, one publication', { skip, timeout: TEST_TIMEOUT_MS }, async () => {
  const srv = server!;
  let bob: Watcher | undefined;
  let erin: Twinkle | undefined;
  try {
    bob = await startWatcher(srv.port, 'bob', 'sip:erin@127.0.0.1');
    const w = bob;
    assert.notEqual(w.sub.state, 'terminated', `bob's SUBSCRIBE refused\n${srv.log()}`);
    const ctx = watcherCtx(w, () => erin);
    const last = (): string => show(w.docs().at(-1), true);
    await until(last, 'closed[registration]', 'first NOTIFY', 5000, ctx);

    erin = await startTwinkle('erin', { register: false, publishAtStartup: false });
    const t = erin;
    const twinkleTuple = (basic: string) => (): boolean => {
      const d = w.docs().at(-1);
      return !!d && d.tuples.length === 1 && d.tuples[0]!.id !== 'registration' && d.tuples[0]!.basic === basic;
    };

    // online: the initial PUBLISH, challenged, then 200 with an entity-tag.
    t.send('presence -b online');
    await until(twinkleTuple('open'), true, 'presence -b online', 8000, ctx);
    const pubRes = responsesTo(srv, t.sipPort, 'PUBLISH');
    assert.deepEqual(pubRes.map((m) => m.status).slice(0, 2), [401, 200], `PUBLISH responses${ctx()}`);
    const etag1 = header(pubRes[1]!, 'SIP-ETag');
    assert.ok(etag1, `200 without SIP-ETag${ctx()}`);
    assert.equal(header(publishesFrom(t.sipPort)[0]!, 'Content-Type'), 'application/pidf+xml', ctx());
    assert.match(srv.log(), new RegExp(`presence: sip:erin@127\\.0\\.0\\.1 published ${etag1} \\(open, 120 s\\)`), ctx());
    const tupleId = w.docs().at(-1)!.tuples[0]!.id;

    // offline: a modification of the same publication (SIP-If-Match = the ETag just given).
    t.send('presence -b offline');
    await until(twinkleTuple('closed'), true, 'presence -b offline', 8000, ctx);
    assert.equal(w.docs().at(-1)!.tuples[0]!.id, tupleId, ctx());
    const modified = publishesFrom(t.sipPort).filter((m) => header(m, 'SIP-If-Match') !== undefined);
    assert.equal(header(modified[0]!, 'SIP-If-Match'), etag1, ctx());
    assert.match(srv.log(), /presence: sip:erin@127\.0\.0\.1 modified [0-9a-f]+ \(closed, 120 s\)/, ctx());

    // online again.
    t.send('presence -b online');
    await until(twinkleTuple('open'), true, 'presence -b online again', 8000, ctx);
    assert.equal(w.docs().at(-1)!.tuples[0]!.id, tupleId, ctx());
    assert.equal((srv.log().match(/presence: sip:erin@127\.0\.0\.1 published /g) ?? []).length, 1, `one publication${ctx()}`);
    assert.deepEqual([...new Set(responsesTo(srv, t.sipPort, 'PUBLISH').map((m) => m.status))].sort(), [200, 401], ctx());
    assert.deepEqual(w.docs().map((d) => show(d)), ['closed', 'open', 'closed', 'open'], `bob's NOTIFYs${ctx()}`);
    assert.ok(w.notifies.every((n) => n.header('Content-Type') === 'application/pidf+xml'), ctx());
    console.log(`(a) bob's NOTIFYs of erin: ${w.docs().map((d) => show(d, true)).join(' → ')}`);
  } finally {
    await erin?.stop('quit', 5000);
    await bob?.stop();
  }
});

test('(b) twinkle registered with pres_publish_startup: open (its tuple) → presence -b offline: closed while registered → quit: publication removed, de-registered: closed', { skip, timeout: TEST_TIMEOUT_MS }, async () => {
  const srv = server!;
  let bob: Watcher | undefined;
  let frank: Twinkle | undefined;
  try {
    bob = await startWatcher(srv.port, 'bob', 'sip:frank@127.0.0.1');
    const w = bob;
    assert.notEqual(w.sub.state, 'terminated', `bob's SUBSCRIBE refused\n${srv.log()}`);
    const ctx = watcherCtx(w, () => frank);
    const last = (): string => show(w.docs().at(-1), true);
    await until(last, 'closed[registration]', 'first NOTIFY', 5000, ctx);

    frank = await startTwinkle('frank', { register: true, publishAtStartup: true });
    const t = frank;
    await until(() => /registration succeeded/.test(t.out()), true, 'twinkle registered', 8000, ctx);
    await until(() => /presence: sip:frank@127\.0\.0\.1 published [0-9a-f]+ \(open, 120 s\)/.test(srv.log()), true, 'PUBLISH at startup', 8000, ctx);
    const twinkleTuple = (basic: string) => (): boolean => {
      const d = w.docs().at(-1);
      return !!d && d.tuples.length === 1 && d.tuples[0]!.id !== 'registration' && d.tuples[0]!.basic === basic;
    };
    await until(twinkleTuple('open'), true, "twinkle's tuple, open", 5000, ctx);
    assert.ok(responsesTo(srv, t.sipPort, 'REGISTER').some((m) => m.status === 200), ctx());

    // Offline while registered: the publication, not the registration, decides.
    t.send('presence -b offline');
    await until(twinkleTuple('closed'), true, 'presence -b offline', 8000, ctx);

    // quit: twinkle removes its publication (authenticated) and de-registers.
    await t.stop('quit', 8000);
    frank = undefined;
    await until(last, 'closed[registration]', 'after twinkle quit', 8000, ctx);
    assert.match(srv.log(), /presence: sip:frank@127\.0\.0\.1 removed presence publication [0-9a-f]+/, ctx());
    assert.equal((srv.log().match(/presence: sip:frank@127\.0\.0\.1 published /g) ?? []).length, 1, `one publication${ctx()}`);
    const seq = w.docs().map((d) => show(d));
    assert.equal(seq[0], 'closed', ctx());
    assert.ok(seq.includes('open') && seq.at(-1) === 'closed', ctx());
    console.log(`(b) bob's NOTIFYs of frank: ${w.docs().map((d) => show(d, true)).join(' → ')}`);
  } finally {
    await frank?.stop('quit', 5000);
    await bob?.stop();
  }
});

test('(c) twinkle watches alice (buddy list): SUBSCRIBE 401 → 200, NOTIFYs closed → open → open+busy → open → closed all answered 200, un-SUBSCRIBE at quit', { skip, timeout: TEST_TIMEOUT_MS }, async () => {
  const srv = server!;
  let erin: Twinkle | undefined;
  let alice: UserAgent | undefined;
  try {
    erin = await startTwinkle('erin', { register: true, publishAtStartup: false, buddies: 'Alice|sip:alice@127.0.0.1|y' });
    const t = erin;
    const ctx = (): string =>
      `\n--- NOTIFYs to twinkle ---\n${notifiesTo(srv, t.sipPort).map((x) => `NOTIFY ${x.state} ${show(x.doc, true)}`).join('\n')}` +
      `\n--- serve log ---\n${serveLog()}\n--- twinkle output ---\n${t.out().slice(-2000)}`;
    const last = (): string => show(notifiesTo(srv, t.sipPort).at(-1)?.doc, true);

    await until(() => /events: sip:erin@127\.0\.0\.1 watches sip:alice@127\.0\.0\.1 \(presence, active, 600 s\)/.test(srv.log()), true, 'twinkle SUBSCRIBE', 8000, ctx);
    assert.deepEqual(responsesTo(srv, t.sipPort, 'SUBSCRIBE').map((m) => m.status).slice(0, 2), [401, 200], ctx());
    await until(last, 'closed[registration]', 'first NOTIFY', 5000, ctx);

    alice = await UserAgent.start({ listen: ['udp:127.0.0.1:0'], from: 'sip:alice@127.0.0.1', credentials: { username: 'alice', password: 'alicepw' }, outboundProxy: `sip:127.0.0.1:${srv.port}` });
    const a = alice;
    assert.equal((await a.register(`sip:127.0.0.1:${srv.port}`, { aor: 'sip:alice@127.0.0.1', expires: 300 })).status, 200, ctx());
    await until(last, 'open[registration]', 'alice registered', 5000, ctx);
    const pub = await a.publish('sip:alice@127.0.0.1', { body: buildPidf({ entity: 'sip:alice@127.0.0.1', tuples: [{ id: 'pc', basic: 'open' }], activities: ['busy'], notes: [] }), expires: 300 });
    assert.equal(pub.status, 200, ctx());
    await until(last, 'open[d0-pc]+busy', 'alice published busy', 5000, ctx);
    assert.equal((await a.publish('sip:alice@127.0.0.1', { etag: pub.header('SIP-ETag'), expires: 0 })).status, 200, ctx());
    await until(last, 'open[registration]', 'publication removed', 5000, ctx);
    assert.equal((await a.register(`sip:127.0.0.1:${srv.port}`, { aor: 'sip:alice@127.0.0.1', expires: 0 })).status, 200, ctx());
    await until(last, 'closed[registration]', 'alice un-registered', 5000, ctx);

    const answers = () => srv.trace().filter((m) => m.dir === 'Received' && m.kind === 'response' && m.cseqMethod === 'NOTIFY' && m.remotePort === t.sipPort);
    await until(() => answers().length >= notifiesTo(srv, t.sipPort).length, true, 'an answer to each NOTIFY', 3000, ctx);
    assert.deepEqual([...new Set(answers().map((m) => m.status))], [200], `twinkle's answers to NOTIFY${ctx()}`);
    assert.deepEqual(notifiesTo(srv, t.sipPort).map((x) => show(x.doc)), ['closed', 'open', 'open+busy', 'open', 'closed'], ctx());

    // quit: twinkle un-SUBSCRIBEs (Expires 0), the subscription ends with a final NOTIFY.
    const n = notifiesTo(srv, t.sipPort).length;
    await t.stop('quit', 8000);
    erin = undefined;
    const unsub = srv.trace().filter((m) => m.dir === 'Received' && m.method === 'SUBSCRIBE' && m.remotePort === t.sipPort && header(m, 'Expires') === '0');
    assert.ok(unsub.length > 0, `no SUBSCRIBE Expires 0 at quit${ctx()}`);
    await until(() => /events: sip:erin@127\.0\.0\.1's presence subscription to sip:alice@127\.0\.0\.1 ended/.test(srv.log()), true, 'subscription ended', 5000, ctx);
    assert.ok(notifiesTo(srv, t.sipPort).slice(n).some((x) => /^terminated\b/.test(x.state)), ctx());
    console.log(`(c) NOTIFYs to twinkle: ${notifiesTo(srv, t.sipPort).map((x) => `${x.state.split(';')[0]} ${show(x.doc)}`).join(' → ')}`);
  } finally {
    await alice?.stop();
    await erin?.stop('quit', 5000);
  }
});
