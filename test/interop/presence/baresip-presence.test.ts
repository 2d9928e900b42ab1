// The presence role of `switchboard serve` (default roles registrar, proxy, presence; digest on
// SUBSCRIBE and PUBLISH with the `users:` of the config) against an independent presence client:
// a headless baresip 1.0.0 (apt baresip-core) and its `presence` module, on loopback.
//
//  (a) baresip as WATCHER: bob's contacts file has `"Alice" <sip:alice@127.0.0.1>;presence=p2p`,
//      so baresip SUBSCRIBEs (Event: presence, digest 401 → 200) to alice's presence through
//      serve (its outbound proxy). alice is a Node UserAgent. baresip's view of alice (the
//      ctrl_tcp `contacts` command lists Online / Offline / Busy / Unknown) must follow:
//        nothing  → Offline  (registration tuple closed)
//        alice REGISTERs → Online  (registration tuple open)
//        alice PUBLISHes open + RPID busy → Busy  (baresip 1.0.0 looks for `<rpid:busy/>`)
//        alice removes the publication (PUBLISH Expires 0) → Online; un-REGISTERs → Offline
//      and each NOTIFY serve sent to baresip (its --trace) is read with parsePidf.
//  (b) baresip as PUBLISHER: carol's account line has `;pubint=60` (and auth_user/auth_pass) and
//      regint=0: not registered, baresip's own status is closed, and it PUBLISHes that at start
//      (401 → 200, SIP-ETag). bob, a Node UserAgent, subscribes to carol (ua.subscribe with
//      credentials): NOTIFY closed (baresip's tuple, not the registration tuple);
//      `presence_online` → PUBLISH with SIP-If-Match, basic open → NOTIFY open;
//      `presence_offline` → PUBLISH closed → NOTIFY closed; `presence_online` → open again. One
//      publication all along (every PUBLISH after the first carried SIP-If-Match).
//      Not asserted: the removal at exit. baresip sends PUBLISH Expires 0 (SIP-If-Match) when it
//      quits; unregistered, it exits before answering the 401 (seen by hand: the 401 is the last
//      message), so the publication stays until it expires. Registered, it waits for its
//      un-REGISTER and the authenticated removal goes through ("removed publication").
//      Why not registered: with regint=600 baresip 1.0.0 sometimes sends two initial PUBLISHes
//      (closed at start, open on REGISTER OK) before the first has its ETag, neither with
//      SIP-If-Match; the server then rightly keeps two publications (closed + open) until the
//      stale one expires, which makes the composed state depend on that race.
//
// What baresip 1.0.0 has (baresip -h, strings of presence.so, /usr/share/doc/baresip): the
// commands presence_online / presence_offline (no "busy" / "away" publication: it publishes
// basic open/closed only, with an empty <rpid:activities/>); as a watcher it reads the first
// <basic> and, by substring, <rpid:away/> (→ Offline), <rpid:busy/> or <rpid:on-the-phone/>
// (→ Busy); a NOTIFY whose Content-Type is not exactly application/pidf+xml gets 415. A
// contact's status is read with the `contacts` command, and each change is also logged as
// `<sip:alice@127.0.0.1> changed status from Online to Busy` (a contact starts Offline, so the
// first, closed NOTIFY changes nothing there: that one is checked in serve's trace).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, isListening, startProcess, stopAll, type Managed } from '../../harness/processes.js';
import { freeSipPorts, sleep } from '../clients/interop-helpers.js';
import { freePorts, parseTrace, startServe, writeConfig, type TempConfig, type TracedProcess, type TraceMsg } from '../callflows/callflow-harness.js';
import { buildPidf, parsePidf, type PresenceDocument } from '../../../src/content/index.js';
import { SipRequest, parseMessage } from '../../../src/sip/index.js';
import { UserAgent } from '../../../src/roles/user-agent/index.js';

after(stopAll);

const haveBaresip = spawnSync('sh', ['-c', 'command -v baresip'], { encoding: 'utf8' }).status === 0;
const skip = !haveBaresip && 'baresip not installed (apt baresip-core; node scripts/ensure-peers.mjs)';

const TEST_TIMEOUT_MS = 38_000;
const strip = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');

// ---------------------------------------------------------------------------------------------
// serve

let server: { port: number; proc: TracedProcess; cfg: TempConfig } | undefined;

const serveLog = (): string => server?.proc.output().stderr.split('\n').filter((l) => l.startsWith('switchboard: ')).join('\n') ?? '';

before(async () => {
  if (skip) return;
  const [port] = (await freePorts(1)) as [number];
  const cfg = writeConfig(
    [
      `listen: [udp:127.0.0.1:${port}]`,
      'domains: [127.0.0.1]',
      'store: memory',
      'users:',
      '  - {user: alice, password: alicepw}',
      '  - {user: bob, password: bobpw}',
      '  - {user: carol, password: carolpw}',
      '',
    ].join('\n'),
  );
  try {
    server = { port, cfg, proc: await startServe(cfg.path, { udpPorts: [port], maxLifetimeMs: 100_000 }) };
  } catch (e) {
    cfg.cleanup();
    throw e;
  }
});

after(async () => {
  await server?.proc.stop();
  server?.cfg.cleanup();
});

/** Body of a traced message (after the blank line). */
function traceBody(m: TraceMsg): string {
  const i = m.text.search(/\r?\n\r?\n/);
  return i < 0 ? '' : m.text.slice(i).replace(/^\r?\n\r?\n/, '');
}

/** NOTIFYs serve sent to a port, with their PIDF read. */
function notifiesTo(port: number): Array<{ state: string; doc: PresenceDocument | undefined; msg: TraceMsg }> {
  return parseTrace(server!.proc.output().stderr)
    .filter((m) => m.dir === 'Sent' && m.kind === 'request' && m.method === 'NOTIFY' && m.remotePort === port)
    .map((msg) => {
      const body = traceBody(msg).trim();
      return { msg, state: msg.headers.find(([k]) => k.toLowerCase() === 'subscription-state')?.[1] ?? '', doc: body ? parsePidf(body) : undefined };
    });
}

const basics = (d: PresenceDocument | undefined): string => d?.tuples.map((t) => t.basic).join('/') ?? '(no body)';

// ---------------------------------------------------------------------------------------------
// baresip, with our own account and contact lines (test/interop/baresip/baresip-ua.ts cannot set
// pubint, auth_user or a contact's display name)

interface Baresip {
  proc: Managed;
  dir: string;
  sipPort: number;
  ctrlPort: number;
  /** One ctrl_tcp command; resolves with its `data` (ANSI colours removed); rejects on ok=false. */
  command(cmd: string, params?: string): Promise<string>;
  log(): string;
  stop(): Promise<void>;
}

async function startBaresip(o: { user: string; account: string; contacts?: string; lifetimeS: number }): Promise<Baresip> {
  const [sipPort] = (await freeSipPorts(1)) as [number];
  const ctrlPort = await freePort('tcp');
  const dir = mkdtempSync(join(tmpdir(), `baresip-presence-${o.user}-`));
  const rtp = 30000 + (sipPort % 1000) * 20;
  writeFileSync(join(dir, 'config'), [
    'poll_method epoll', `sip_listen 127.0.0.1:${sipPort}`, 'net_interface 127.0.0.1', 'dns_server 127.0.0.1:53',
    'audio_path /usr/share/baresip', 'audio_source ausine,440', 'audio_player none,none', 'audio_alert none,none',
    `rtp_ports ${rtp}-${rtp + 19}`, 'module_path /usr/lib/baresip/modules', 'module g711.so', 'module ausine.so',
    'module_tmp uuid.so', 'module_tmp account.so', 'module_app contact.so', 'module_app menu.so', 'module_app presence.so',
    'module_app ctrl_tcp.so', `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`, 'statmode_default off', 'ringback_disabled yes', '',
  ].join('\n'));
  writeFileSync(join(dir, 'accounts'), `${o.account}\n`);
  writeFileSync(join(dir, 'contacts'), o.contacts ? `${o.contacts}\n` : '');
  let proc: Managed;
  try {
    proc = await startProcess('baresip', ['-f', dir, '-t', String(o.lifetimeS)], {
      readyCheck: () => isListening('tcp', ctrlPort),
      timeoutMs: 10_000,
      maxLifetimeMs: (o.lifetimeS + 5) * 1000,
    });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  let token = 0;
  const command = (cmd: string, params = ''): Promise<string> =>
    new Promise((resolve, reject) => {
      const tok = `t${++token}`;
      const body = JSON.stringify({ command: cmd, params, token: tok });
      const s = net.connect({ host: '127.0.0.1', port: ctrlPort });
      let buf = Buffer.alloc(0);
      const t = setTimeout(() => done(new Error(`ctrl_tcp ${cmd}: no answer within 5 s`)), 5000);
      const done = (err: Error | undefined, data?: string): void => {
        clearTimeout(t);
        s.destroy();
        if (err) reject(err);
        else resolve(data ?? '');
      };
      s.on('error', (e) => done(e));
      s.on('connect', () => s.write(`${Buffer.byteLength(body)}:${body},`));
      s.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          const colon = buf.indexOf(0x3a);
          if (colon < 0) return;
          const len = Number(buf.subarray(0, colon).toString('ascii'));
          if (buf.length < colon + 2 + len) return;
          const msg = JSON.parse(buf.subarray(colon + 1, colon + 1 + len).toString('utf8')) as { response?: boolean; ok?: boolean; data?: string; token?: string };
          buf = buf.subarray(colon + 2 + len);
          if (msg.response && msg.token === tok) {
            if (msg.ok === false) done(new Error(`ctrl_tcp ${cmd} ${params}: ${msg.data ?? 'failed'}`));
            else done(undefined, strip(msg.data ?? ''));
            return;
          }
        }
      });
    });
  return {
    proc, dir, sipPort, ctrlPort, command,
    log: () => strip(proc.output().stdout + proc.output().stderr),
    async stop() {
      await proc.stop(4000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** baresip's status of one contact in the `contacts` listing (`>  Online Alice <sip:…>`). */
async function contactStatus(b: Baresip, uri: string): Promise<string> {
  const data = await b.command('contacts');
  const line = data.split('\n').find((l) => l.includes(`<${uri}>`));
  return /^\W*\s*(Online|Offline|Busy|Unknown|Away)\b/.exec(line?.replace(/^>/, '').trim() ?? '')?.[1] ?? `? (${data.trim()})`;
}

/** Polls until `read()` returns `want`; the values seen, in order (consecutive duplicates collapsed). */
async function until<T>(read: () => Promise<T> | T, want: T, what: string, timeoutMs: number, ctx: () => string): Promise<T[]> {
  const seen: T[] = [];
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (seen[seen.length - 1] !== v) seen.push(v);
    if (v === want) return seen;
    if (Date.now() > end) assert.fail(`${what}: wanted ${String(want)}, saw ${seen.map(String).join(' → ')} within ${timeoutMs} ms${ctx()}`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------

test('(a) baresip watches alice (presence=p2p, digest): Offline → Online (REGISTER) → Busy (PUBLISH busy) → Online (publication removed) → Offline (un-REGISTER)', { skip, timeout: TEST_TIMEOUT_MS }, async () => {
  const port = server!.port;
  let bob: Baresip | undefined;
  let alice: UserAgent | undefined;
  try {
    bob = await startBaresip({
      user: 'bob',
      account: `<sip:bob@127.0.0.1;transport=udp>;auth_user=bob;auth_pass=bobpw;outbound="sip:127.0.0.1:${port};transport=udp";regint=600;answermode=manual;audio_codecs=PCMU`,
      contacts: '"Alice" <sip:alice@127.0.0.1>;presence=p2p',
      lifetimeS: 34,
    });
    const b = bob;
    const ctx = (): string => {
      const n = notifiesTo(b.sipPort).map((x) => `NOTIFY ${x.state} ${basics(x.doc)} ${x.doc?.activities.join(',') ?? ''}`).join('\n');
      return `\n--- NOTIFYs to baresip ---\n${n}\n--- serve log ---\n${serveLog().slice(-3000)}\n--- baresip log ---\n${b.log().slice(-3000)}`;
    };
    const status = (): Promise<string> => contactStatus(b, 'sip:alice@127.0.0.1');

    // baresip's SUBSCRIBE: challenged, then accepted for the authenticated bob.
    await until(() => /events: sip:bob@127\.0\.0\.1 watches sip:alice@127\.0\.0\.1 \(presence, active, \d+ s\)/.test(serveLog()), true, 'subscription', 8000, ctx);
    const subs = parseTrace(server!.proc.output().stderr).filter((m) => m.remotePort === b.sipPort && m.cseqMethod === 'SUBSCRIBE' && m.dir === 'Sent' && m.kind === 'response');
    assert.deepEqual(subs.map((m) => m.status).slice(0, 2), [401, 200], `SUBSCRIBE responses${ctx()}`);

    // 1. alice unknown to the location service: closed.
    await until(status, 'Offline', 'alice, nobody registered', 5000, ctx);
    assert.equal(basics(notifiesTo(b.sipPort)[0]?.doc), 'closed', `first NOTIFY${ctx()}`);
    assert.match(notifiesTo(b.sipPort)[0]!.state, /^active;expires=\d+$/, ctx());

    // 2. alice registers: open.
    alice = await UserAgent.start({ listen: ['udp:127.0.0.1:0'], from: 'sip:alice@127.0.0.1', credentials: { username: 'alice', password: 'alicepw' }, outboundProxy: `sip:127.0.0.1:${port}` });
    const a = alice;
    const reg = await a.register(`sip:127.0.0.1:${port}`, { aor: 'sip:alice@127.0.0.1', expires: 300 });
    assert.equal(reg.status, 200, `alice REGISTER${ctx()}`);
    await until(status, 'Online', 'alice registered', 5000, ctx);
    const open = notifiesTo(b.sipPort).at(-1)!;
    assert.equal(basics(open.doc), 'open', ctx());
    assert.equal(open.doc!.tuples[0]!.id, 'registration', ctx());

    // 3. alice publishes open + busy (digest 401 → 200 answered by the UA).
    const pub = await a.publish('sip:alice@127.0.0.1', {
      body: buildPidf({ entity: 'sip:alice@127.0.0.1', tuples: [{ id: 'pc', basic: 'open' }], activities: ['busy'], notes: ['in a meeting'] }),
      expires: 300,
    });
    assert.equal(pub.status, 200, `alice PUBLISH${ctx()}`);
    const etag = pub.header('SIP-ETag');
    assert.ok(etag, `SIP-ETag${ctx()}`);
    await until(status, 'Busy', 'alice published busy', 5000, ctx);
    const busy = notifiesTo(b.sipPort).at(-1)!;
    assert.deepEqual(busy.doc?.activities, ['busy'], ctx());
    assert.deepEqual(busy.doc?.notes, ['in a meeting'], ctx());

    // 4. the publication removed: back to the registration (open); un-REGISTER: closed.
    const rm = await a.publish('sip:alice@127.0.0.1', { etag, expires: 0 });
    assert.equal(rm.status, 200, `alice PUBLISH Expires 0${ctx()}`);
    await until(status, 'Online', 'publication removed', 5000, ctx);
    const unreg = await a.register(`sip:127.0.0.1:${port}`, { aor: 'sip:alice@127.0.0.1', expires: 0 });
    assert.equal(unreg.status, 200, ctx());
    await until(status, 'Offline', 'alice un-registered', 5000, ctx);
    assert.equal(basics(notifiesTo(b.sipPort).at(-1)!.doc), 'closed', ctx());

    // baresip answered every NOTIFY 200 (never 415: our Content-Type is exactly application/pidf+xml).
    const answers = () => parseTrace(server!.proc.output().stderr).filter((m) => m.dir === 'Received' && m.kind === 'response' && m.cseqMethod === 'NOTIFY' && m.remotePort === b.sipPort);
    await until(() => answers().length >= notifiesTo(b.sipPort).length, true, 'an answer to each NOTIFY', 3000, ctx);
    assert.deepEqual([...new Set(answers().map((m) => m.status))], [200], `baresip's answers to NOTIFY${ctx()}`);
    assert.deepEqual(notifiesTo(b.sipPort).map((x) => `${basics(x.doc)}${x.doc?.activities.length ? `+${x.doc.activities.join(',')}` : ''}`),
      ['closed', 'open', 'open+busy', 'open', 'closed'], `NOTIFYs to baresip${ctx()}`);
    assert.deepEqual([...b.log().matchAll(/<sip:alice@127\.0\.0\.1> changed status from (\w+) to (\w+)/g)].map((m) => `${m[1]}>${m[2]}`),
      ['Offline>Online', 'Online>Busy', 'Busy>Online', 'Online>Offline'], `baresip's "changed status" log lines${ctx()}`);
    console.log(`(a) NOTIFYs to baresip: ${notifiesTo(b.sipPort).map((x) => `${basics(x.doc)}${x.doc?.activities.length ? `+${x.doc.activities.join(',')}` : ''}`).join(' → ')}`);
  } finally {
    await alice?.stop();
    await bob?.stop();
  }
});

test('(b) baresip publishes (pubint, digest): bob\'s NOTIFYs of carol go closed → open (presence_online) → closed (presence_offline) → open (presence_online)', { skip, timeout: TEST_TIMEOUT_MS }, async () => {
  const port = server!.port;
  let carol: Baresip | undefined;
  let bob: UserAgent | undefined;
  const notifies: SipRequest[] = [];
  try {
    carol = await startBaresip({
      user: 'carol',
      account: `<sip:carol@127.0.0.1;transport=udp>;auth_user=carol;auth_pass=carolpw;outbound="sip:127.0.0.1:${port};transport=udp";regint=0;pubint=60;answermode=manual;audio_codecs=PCMU`,
      lifetimeS: 34,
    });
    const c = carol;
    const docs = (): PresenceDocument[] => notifies.filter((n) => n.body.length > 0).map((n) => parsePidf(n.body));
    const ctx = (): string => `\n--- bob's NOTIFYs ---\n${notifies.map((n) => `${n.header('Subscription-State')} ${n.body.length ? basics(parsePidf(n.body)) : ''}`).join('\n')}` +
      `\n--- serve log ---\n${serveLog().slice(-3000)}\n--- baresip log ---\n${c.log().slice(-3000)}`;
    const published = (re: RegExp) => () => re.test(serveLog());

    // baresip's first PUBLISH (closed: not registered): challenged, then 200 with an entity-tag.
    await until(published(/presence: sip:carol@127\.0\.0\.1 published [0-9a-f]+ \(closed, 60 s\)/), true, 'baresip PUBLISH', 8000, ctx);
    const pubRes = parseTrace(server!.proc.output().stderr).filter((m) => m.remotePort === c.sipPort && m.cseqMethod === 'PUBLISH' && m.dir === 'Sent' && m.kind === 'response');
    assert.deepEqual(pubRes.map((m) => m.status).slice(0, 2), [401, 200], `PUBLISH responses${ctx()}`);
    assert.ok(pubRes[1]!.headers.some(([k, v]) => k.toLowerCase() === 'sip-etag' && v.length > 0), `200 without SIP-ETag${ctx()}`);

    // bob (Node UA) watches carol. NOTIFYs are taken from the UA's trace, so none is missed
    // before subscribe() resolves.
    bob = await UserAgent.start({
      listen: ['udp:127.0.0.1:0'], from: 'sip:bob@127.0.0.1', outboundProxy: `sip:127.0.0.1:${port}`,
      onTrace: (ev) => {
        if (ev.direction !== 'Received') return;
        try {
          const m = parseMessage(ev.bytes);
          if (m instanceof SipRequest && m.method === 'NOTIFY') notifies.push(m);
        } catch {
          /* not SIP */
        }
      },
    });
    const sub = await bob.subscribe('sip:carol@127.0.0.1', 'presence', { credentials: { username: 'bob', password: 'bobpw' }, expires: 600 });
    assert.notEqual(sub.state, 'terminated', `bob's SUBSCRIBE refused${ctx()}`);
    const lastBasic = (): string => basics(docs().at(-1));

    await until(lastBasic, 'closed', 'first NOTIFY', 5000, ctx);
    const first = docs().at(-1)!;
    assert.equal(first.entity, 'sip:carol@127.0.0.1', ctx());
    assert.ok(first.tuples.length === 1 && first.tuples[0]!.id !== 'registration', `the state is baresip's publication, not a registration${ctx()}`);

    await c.command('presence_online');
    await until(lastBasic, 'open', 'presence_online', 5000, ctx);
    assert.match(serveLog(), /presence: sip:carol@127\.0\.0\.1 modified [0-9a-f]+ \(open, 60 s\)/, ctx());

    await c.command('presence_offline');
    await until(lastBasic, 'closed', 'presence_offline', 5000, ctx);
    assert.match(serveLog(), /presence: sip:carol@127\.0\.0\.1 modified [0-9a-f]+ \(closed, 60 s\)/, ctx());
    assert.ok(docs().at(-1)!.tuples.every((t) => t.id !== 'registration'), ctx());

    await c.command('presence_online');
    await until(lastBasic, 'open', 'presence_online again', 5000, ctx);
    // Every PUBLISH after the first named its ETag: one publication all along.
    assert.equal((serveLog().match(/presence: sip:carol@127\.0\.0\.1 published /g) ?? []).length, 1, `initial PUBLISHes${ctx()}`);
    assert.ok(notifies.every((n) => n.header('Content-Type') === 'application/pidf+xml'), `NOTIFY Content-Type${ctx()}`);
    assert.deepEqual(docs().map(basics), ['closed', 'open', 'closed', 'open'], `bob's NOTIFYs${ctx()}`);
    console.log(`(b) bob's NOTIFYs of carol: ${docs().map(basics).join(' → ')}`);

    await sub.unsubscribe();
  } finally {
    await carol?.stop();
    await bob?.stop();
  }
});
