// The presence role of `switchboard serve` (default roles registrar, proxy, presence; digest on
// SUBSCRIBE and PUBLISH with the config's `users:`) against linphonec 5.1.65 (apt linphone-cli),
// headless, driven through a FIFO on its stdin, on loopback with free ports.
//
//  (a) linphonec as WATCHER: bob's linphonec registers, then `friend add "Alice"
//      sip:alice@127.0.0.1`; it SUBSCRIBEs to alice's presence (digest 401 → 200) and prints
//      `Friend "Alice" <sip:alice@127.0.0.1> is <status>` for each NOTIFY. alice is a Switchboard
//      UserAgent. linphone's view must follow:
//        nothing → Offline; alice REGISTERs → Online; PUBLISH open + <rpid:busy/> → Busy;
//        modify (SIP-If-Match) to away → Away; to on-the-phone → On the phone;
//        publication removed → Online; un-REGISTER → Offline
//      and the NOTIFYs serve sent (its --trace, parsePidf) must say the same; linphone answers
//      each one 200.
//  (b) linphonec as PUBLISHER: carol's linphonerc has `publish=1` in [proxy_0]. On registering,
//      linphone PUBLISHes its own PIDF (basic open, a `<pidfonline:online/>` extension element,
//      `<contact priority="0.8">`, a timestamp; 401 → 200 + SIP-ETag). bob, a Switchboard UA,
//      watches carol: closed → … → open with linphone's tuple (its contact and timestamp kept).
//      At `quit` linphone removes the publication (PUBLISH Expires 0, authenticated) and
//      un-REGISTERs: bob ends with the registration tuple, closed.
//
// What linphone 5.1.65 cannot do here (checked: `linphone-daemon --dump-commands-help`,
// linphonec `help`, `help advanced`, `help friend`, strings of /usr/bin/linphonec):
//  - linphone-daemon has no friend / presence / subscribe / publish command at all, so the
//    watcher is linphonec (its `friend` command); with the daemon only the linphonerc
//    `publish=1` would remain (the same liblinphone setting as (b); not run with the daemon).
//  - `friend list` shows only `name:` and `address:` (no presence status); the status is read
//    from linphonec's `Friend … is …` lines, printed on each NOTIFY.
//  - linphonec has no command to change its own presence (the old online/busy/away commands
//    are gone): as a publisher it only publishes "open" while registered (publish=1) and
//    removes it at exit, so busy/away cannot be published by linphone.

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

const haveLinphonec = spawnSync('sh', ['-c', 'command -v linphonec'], { encoding: 'utf8' }).status === 0;
const skip = !haveLinphonec && 'linphonec not installed (apt linphone-cli; node scripts/ensure-peers.mjs)';

const TEST_TIMEOUT_MS = 40_000;

let server: PresenceServer | undefined;

before(async () => {
  if (skip) return;
  server = await startPresenceServe({ users: ['alice', 'bob', 'carol'] });
});

after(async () => {
  await server?.stop();
});

interface Linphone extends FifoClient {
  sipPort: number;
}

/** linphonec for NAME (password NAMEpw) registered through serve; `publish` = [proxy_0] publish. */
async function startLinphonec(user: string, publish: boolean): Promise<Linphone> {
  const [sipPort, rtpPort] = (await freeSipPorts(2)) as [number, number];
  const srvPort = server!.port;
  const c = await startFifoClient(`linphonec-presence-${user}`, 'linphonec', (dir) => ['-c', join(dir, 'linphonerc'), '-d', '0'], {
    prepare: (dir) => {
      // liblinphone keeps its sqlite db under ~/.local/share/linphone (HOME = dir).
      mkdirSync(join(dir, '.local', 'share', 'linphone'), { recursive: true });
      writeFileSync(join(dir, 'linphonerc'), [
        '[sip]', `sip_port=${sipPort}`, 'sip_tcp_port=-1', 'sip_tls_port=-1', 'bind_address=127.0.0.1', 'ipv6_enabled=0', 'guess_hostname=0',
        `contact="${user}" <sip:${user}@127.0.0.1>`, 'default_proxy=0', 'register_only_when_network_is_up=0', '',
        '[proxy_0]', `reg_proxy=<sip:127.0.0.1:${srvPort};transport=udp>`, `reg_route=<sip:127.0.0.1:${srvPort};transport=udp;lr>`,
        `reg_identity="${user}" <sip:${user}@127.0.0.1>`, 'reg_expires=600', 'reg_sendregister=1', `publish=${publish ? 1 : 0}`, '',
        '[auth_info_0]', `username=${user}`, `passwd=${user}pw`, 'domain=127.0.0.1', '',
        '[rtp]', `audio_rtp_port=${rtpPort}-${rtpPort + 1}`, 'video_rtp_port=-1', '',
        '[video]', 'enabled=0', 'capture=0', 'display=0', '',
      ].join('\n'));
    },
    readyPattern: /linphonec> /,
    timeoutMs: 10_000,
    maxLifetimeMs: 38_000,
  });
  return Object.assign(c, { sipPort });
}

const serveLog = (): string => server!.log().slice(-3000);

// ---------------------------------------------------------------------------------------------

test('(a) linphonec watches alice (friend add, digest): Offline → Online (REGISTER) → Busy → Away → On the phone (PUBLISH, modify) → Online (removed) → Offline (un-REGISTER)', { skip, timeout: TEST_TIMEOUT_MS }, async () => {
  const srv = server!;
  let bob: Linphone | undefined;
  let alice: UserAgent | undefined;
  try {
    bob = await startLinphonec('bob', false);
    const b = bob;
    const ctx = (): string => {
      const n = notifiesTo(srv, b.sipPort).map((x) => `NOTIFY ${x.state} ${show(x.doc, true)}`).join('\n');
      return `\n--- NOTIFYs to linphonec ---\n${n}\n--- serve log ---\n${serveLog()}\n--- linphonec output ---\n${b.out().slice(-3000)}`;
    };
    const statuses = (): string[] => [...b.out().matchAll(/^(?:linphonec> )*Friend "Alice" <sip:alice@127\.0\.0\.1> is (.+?)\s*$/gm)].map((m) => m[1]!);
    const status = (): string => statuses().at(-1) ?? '(none yet)';

    // linphonec registers first (401 → 200), then gets its friend.
    await until(() => responsesTo(srv, b.sipPort, 'REGISTER').some((m) => m.status === 200), true, 'linphonec REGISTER', 8000, ctx);
    b.send('friend add "Alice" sip:alice@127.0.0.1');
    await until(() => /events: sip:bob@127\.0\.0\.1 watches sip:alice@127\.0\.0\.1 \(presence, active, \d+ s\)/.test(srv.log()), true, 'subscription', 8000, ctx);
    assert.deepEqual(responsesTo(srv, b.sipPort, 'SUBSCRIBE').map((m) => m.status).slice(0, 2), [401, 200], `SUBSCRIBE responses${ctx()}`);

    // 1. nobody registered: closed → Offline.
    await until(status, 'Offline', 'alice, nobody registered', 5000, ctx);
    const first = notifiesTo(srv, b.sipPort)[0]!;
    assert.equal(show(first.doc, true), 'closed[registration]', ctx());
    assert.match(first.state, /^active;expires=\d+$/, ctx());
    assert.equal(first.contentType, 'application/pidf+xml', ctx());

    // 2. alice registers: open → Online.
    alice = await UserAgent.start({ listen: ['udp:127.0.0.1:0'], from: 'sip:alice@127.0.0.1', credentials: { username: 'alice', password: 'alicepw' }, outboundProxy: `sip:127.0.0.1:${srv.port}` });
    const a = alice;
    const reg = await a.register(`sip:127.0.0.1:${srv.port}`, { aor: 'sip:alice@127.0.0.1', expires: 300 });
    assert.equal(reg.status, 200, ctx());
    await until(status, 'Online', 'alice registered', 5000, ctx);

    // 3. alice publishes busy, then modifies to away and on-the-phone (one publication).
    const doc = (activity: string): string => buildPidf({ entity: 'sip:alice@127.0.0.1', tuples: [{ id: 'pc', basic: 'open' }], activities: [activity], notes: [] });
    const pub = await a.publish('sip:alice@127.0.0.1', { body: doc('busy'), expires: 300 });
    assert.equal(pub.status, 200, ctx());
    await until(status, 'Busy', 'alice published busy', 5000, ctx);
    let etag = pub.header('SIP-ETag')!;
    for (const [activity, shown] of [['away', 'Away'], ['on-the-phone', 'On the phone']] as const) {
      const mod = await a.publish('sip:alice@127.0.0.1', { body: doc(activity), etag, expires: 300 });
      assert.equal(mod.status, 200, ctx());
      etag = mod.header('SIP-ETag')!;
      await until(status, shown, `alice modified to ${activity}`, 5000, ctx);
    }

    // 4. publication removed → Online (registration); un-REGISTER → Offline.
    const rm = await a.publish('sip:alice@127.0.0.1', { etag, expires: 0 });
    assert.equal(rm.status, 200, ctx());
    await until(status, 'Online', 'publication removed', 5000, ctx);
    const unreg = await a.register(`sip:127.0.0.1:${srv.port}`, { aor: 'sip:alice@127.0.0.1', expires: 0 });
    assert.equal(unreg.status, 200, ctx());
    await until(status, 'Offline', 'alice un-registered', 5000, ctx);

    // The NOTIFYs serve sent, read with parsePidf, and linphone's answer to each.
    assert.deepEqual(notifiesTo(srv, b.sipPort).map((x) => show(x.doc)), ['closed', 'open', 'open+busy', 'open+away', 'open+on-the-phone', 'open', 'closed'], `NOTIFYs to linphonec${ctx()}`);
    assert.deepEqual(statuses(), ['Offline', 'Online', 'Busy', 'Away', 'On the phone', 'Online', 'Offline'], `linphonec's "Friend … is …" lines${ctx()}`);
    const answers = () => srv.trace().filter((m) => m.dir === 'Received' && m.kind === 'response' && m.cseqMethod === 'NOTIFY' && m.remotePort === b.sipPort);
    await until(() => answers().length >= notifiesTo(srv, b.sipPort).length, true, 'an answer to each NOTIFY', 3000, ctx);
    assert.deepEqual([...new Set(answers().map((m) => m.status))], [200], `linphonec's answers to NOTIFY${ctx()}`);

    // `friend list` (5.1.65) lists the friend, without any status.
    b.send('friend list');
    await until(() => /name: Alice\s+address: sip:alice@127\.0\.0\.1/.test(b.out()), true, 'friend list', 3000, ctx);
    console.log(`(a) linphonec's view of alice: ${statuses().join(' → ')}`);
  } finally {
    await alice?.stop();
    await bob?.stop('quit', 5000);
  }
});

test('(b) linphonec publishes (publish=1): bob\'s NOTIFYs of carol show linphone\'s own tuple, open; at quit the publication is removed and carol un-registers: closed', { skip, timeout: TEST_TIMEOUT_MS }, async () => {
  const srv = server!;
  let bob: Watcher | undefined;
  let carol: Linphone | undefined;
  try {
    bob = await startWatcher(srv.port, 'bob', 'sip:carol@127.0.0.1');
    const w = bob;
    assert.notEqual(w.sub.state, 'terminated', `bob's SUBSCRIBE refused\n${srv.log()}`);
    const ctxBase = (): string => `\n--- bob's NOTIFYs ---\n${w.notifies.map((n) => `${n.header('Subscription-State')} ${n.body.length ? show(parsePidf(n.body), true) : ''}`).join('\n')}\n--- serve log ---\n${serveLog()}`;
    await until(() => show(w.docs().at(-1), true), 'closed[registration]', 'first NOTIFY', 5000, ctxBase);

    carol = await startLinphonec('carol', true);
    const c = carol;
    const ctx = (): string => `${ctxBase()}\n--- linphonec output ---\n${c.out().slice(-2000)}`;
    const linphoneTuple = (): boolean => {
      const d = w.docs().at(-1);
      return !!d && d.tuples.length === 1 && d.tuples[0]!.id !== 'registration' && d.tuples[0]!.basic === 'open';
    };

    // linphone's PUBLISH: challenged, then 200 with an entity-tag; bob sees linphone's tuple.
    await until(() => /presence: sip:carol@127\.0\.0\.1 published [0-9a-f]+ \(open, 600 s\)/.test(srv.log()), true, 'linphone PUBLISH', 8000, ctx);
    const pubRes = responsesTo(srv, c.sipPort, 'PUBLISH');
    assert.deepEqual(pubRes.map((m) => m.status).slice(0, 2), [401, 200], `PUBLISH responses${ctx()}`);
    const etag = header(pubRes[1]!, 'SIP-ETag');
    assert.ok(etag, `200 without SIP-ETag${ctx()}`);
    const pubReq = srv.trace().find((m) => m.dir === 'Received' && m.method === 'PUBLISH' && m.remotePort === c.sipPort)!;
    assert.equal(header(pubReq, 'Content-Type'), 'application/pidf+xml', ctx());
    await until(linphoneTuple, true, "linphone's tuple in bob's NOTIFY", 5000, ctx);
    const t = w.docs().at(-1)!.tuples[0]!;
    assert.equal(t.contact, 'sip:carol@127.0.0.1', ctx());
    assert.match(t.timestamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, ctx());
    assert.equal(w.docs().at(-1)!.entity, 'sip:carol@127.0.0.1', ctx());

    // quit: linphone removes its publication (authenticated) and un-registers.
    await c.stop('quit', 8000);
    carol = undefined;
    await until(() => show(w.docs().at(-1), true), 'closed[registration]', 'after linphonec quit', 8000, ctx);
    assert.match(srv.log(), new RegExp(`presence: sip:carol@127\\.0\\.0\\.1 removed presence publication ${etag}`), ctx());
    assert.equal((srv.log().match(/presence: sip:carol@127\.0\.0\.1 published /g) ?? []).length, 1, `one publication${ctx()}`);
    assert.ok(w.notifies.every((n) => n.header('Content-Type') === 'application/pidf+xml'), ctx());
    console.log(`(b) bob's NOTIFYs of carol: ${w.docs().map((d) => show(d, true)).join(' → ')}`);
  } finally {
    await carol?.stop('quit', 5000);
    await bob?.stop();
  }
});
