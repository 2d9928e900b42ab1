// The presence role of `switchboard serve` (roles default to registrar, proxy, presence) at its
// protocol edges, as SIPp checks them: each scenario of scenarios/presence-*.xml fails SIPp's
// call when a status code, or a header it checks with <ereg check_it="true">, is not the one
// RFC 6665 / RFC 3856 / RFC 3903 want. `presence: {authenticate: false}`, so SIPp needs no
// digest (the watcher / publisher is the From AOR); users alice and bob come from `users:`.
// The NOTIFY bodies are read from SIPp's own message log and parsed as PIDF (parsePidf).
//
//  (a) SUBSCRIBE Event: presence, Expires 600 → 200 (Expires ≤ 600) → NOTIFY active;expires≤600,
//      application/pidf+xml (answered 200) — alice registered by a Node UA, so the PIDF is
//      `open` with her contact; a refresh in the dialog (Request-URI = the 200's Contact, To tag,
//      route set, CSeq 2) → 200, NOTIFY; unsubscribe (Expires 0) → 200, NOTIFY terminated.
//  (b) expiry: with presence.subscriptions.minExpires 1, a 2 s subscription that is not
//      refreshed ends with NOTIFY `terminated;reason=timeout` about 2 s after the first NOTIFY.
//  (c) unknown event packages and watcher info: a SUBSCRIBE naming Event: foo within a presence
//      dialog → 489 with Allow-Events (listing presence and presence.winfo); bob subscribing to alice's
//      presence.winfo → 403, alice to her own → 200 + NOTIFY application/watcherinfo+xml.
//      PUBLISH Event: foo for alice → 489 from the domain's state agent (RFC 3903 §6 step 2):
//      every PUBLISH for a served domain goes to the presence role.
//  (d) PUBLISH entity-tags: SIP-If-Match of a replaced, a never-issued and a removed ETag → 412.
//  (e) default minimum 60 s: SUBSCRIBE Expires 10 → 423 Min-Expires: 60; PUBLISH Expires 10 → 423
//      Min-Expires: 60.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { stopAll } from '../../harness/processes.js';
import { SCENARIO_DIR, describeSipp, runSipp, type SippResult } from './sipp.js';
import { freePorts, startServe, writeConfig, type TempConfig, type TracedProcess } from '../callflows/callflow-harness.js';
import { parsePidf } from '../../../src/content/index.js';
import { UserAgent } from '../../../src/roles/user-agent/index.js';

after(stopAll);

const TEST_TIMEOUT_MS = 35_000;

// ---------------------------------------------------------------------------------------------
// serve

interface Server {
  port: number;
  proc: TracedProcess;
  cfg: TempConfig;
  /** `switchboard: …` log lines (stderr). */
  log(): string[];
  stop(): Promise<void>;
}

async function startServer(presence: string): Promise<Server> {
  const [port] = (await freePorts(1)) as [number];
  const cfg = writeConfig(
    [
      `listen: [udp:127.0.0.1:${port}]`,
      'domains: [127.0.0.1]',
      'store: memory',
      'users:',
      '  - {user: alice, password: alicepw}',
      '  - {user: bob, password: bobpw}',
      `presence: ${presence}`,
      '',
    ].join('\n'),
  );
  let proc: TracedProcess;
  try {
    proc = await startServe(cfg.path, { udpPorts: [port], maxLifetimeMs: 90_000 });
  } catch (e) {
    cfg.cleanup();
    throw e;
  }
  return {
    port,
    proc,
    cfg,
    log: () => proc.output().stderr.split('\n').filter((l) => l.startsWith('switchboard: ')),
    async stop() {
      await proc.stop();
      cfg.cleanup();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// SIPp and its message log

/** One message of SIPp's -trace_msg log. */
interface LoggedMsg {
  at: number;
  dir: 'sent' | 'received';
  firstLine: string;
  /** Request method, or `` for a response. */
  method: string;
  status?: number;
  header(name: string): string | undefined;
  body: Buffer;
}

const LOG_SEP = /^-{10,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\r?$/m;

/** Parses SIPp's message log (`----- DATE TIME` / `UDP message sent|received …` / blank / message). */
function parseMessageLog(text: string): LoggedMsg[] {
  const parts = text.split(LOG_SEP);
  const out: LoggedMsg[] = [];
  for (let i = 1; i + 1 < parts.length; i += 2) {
    const at = Date.parse(parts[i]!.replace(' ', 'T').replace(/(\.\d{3})\d*/, '$1'));
    const block = parts[i + 1]!.replace(/^\r?\n/, '');
    const nl = block.indexOf('\n');
    const kindLine = block.slice(0, nl);
    const dir = /message sent/.test(kindLine) ? 'sent' : /message received/.test(kindLine) ? 'received' : undefined;
    if (!dir) continue;
    const msg = block.slice(nl + 1).replace(/^(\r?\n)+/, '');
    const headEnd = msg.search(/\r?\n\r?\n/);
    const head = (headEnd < 0 ? msg : msg.slice(0, headEnd)).split(/\r?\n/);
    const rest = headEnd < 0 ? '' : msg.slice(headEnd).replace(/^\r?\n\r?\n/, '');
    const headers: Array<[string, string]> = [];
    for (const l of head.slice(1)) {
      const c = l.indexOf(':');
      if (c > 0) headers.push([l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).trim()]);
    }
    const header = (n: string): string | undefined => headers.find(([k]) => k === n.toLowerCase())?.[1];
    const len = Number(header('content-length') ?? header('l') ?? 0);
    const first = head[0] ?? '';
    const st = /^SIP\/2\.0 (\d{3})/.exec(first);
    out.push({
      at, dir, firstLine: first, method: st ? '' : first.split(' ')[0]!, status: st ? Number(st[1]) : undefined, header,
      body: Buffer.from(rest, 'utf8').subarray(0, len),
    });
  }
  return out;
}

interface ScenarioRun {
  result: SippResult;
  msgs: LoggedMsg[];
  /** Assertion context: SIPp's summary, errors and the message log. */
  ctx: string;
}

/** Runs scenarios/NAME against the server, one call, and reads its message log. */
async function scenario(name: string, server: Server, timeoutS = 15): Promise<ScenarioRun> {
  const [localPort] = (await freePorts(1)) as [number];
  const result = await runSipp({
    scenario: join(SCENARIO_DIR, name),
    target: `127.0.0.1:${server.port}`,
    localPort,
    calls: 1,
    timeoutS,
    trace: true,
    keepFiles: true,
  });
  let log = '';
  try {
    log = readFileSync(result.files.messages!, 'utf8');
  } catch {
    /* nothing exchanged */
  }
  rmSync(result.files.dir, { recursive: true, force: true });
  const msgs = parseMessageLog(log);
  const ctx = `\n--- ${name} ---\n${describeSipp(result)}\n--- SIPp message log ---\n${log.slice(-8000)}` +
    `\n--- serve log ---\n${server.log().join('\n').slice(-3000)}`;
  return { result, msgs, ctx };
}

/** SIPp counted the one call as successful (exit 0): every status and checked header was right. */
function assertPassed(run: ScenarioRun): void {
  assert.equal(run.result.code, 0, `SIPp exit code${run.ctx}`);
  assert.equal(run.result.successful, 1, `SIPp successful calls${run.ctx}`);
  assert.equal(run.result.failed, 0, `SIPp failed calls${run.ctx}`);
}

const received = (run: ScenarioRun, method: string): LoggedMsg[] => run.msgs.filter((m) => m.dir === 'received' && m.method === method);
const responses = (run: ScenarioRun, cseqMethod: string): LoggedMsg[] =>
  run.msgs.filter((m) => m.dir === 'received' && m.status !== undefined && m.status >= 200 && (m.header('cseq') ?? '').endsWith(` ${cseqMethod}`));

// ---------------------------------------------------------------------------------------------

let server: Server;
let alice: UserAgent | undefined;

before(async () => {
  server = await startServer('{authenticate: false}');
});

after(async () => {
  await alice?.stop();
  await server?.stop();
});

test('(a) SUBSCRIBE presence Expires 600 → 200 + NOTIFY active (PIDF open); refresh in the dialog → 200 + NOTIFY; unsubscribe → 200 + NOTIFY terminated', { timeout: TEST_TIMEOUT_MS }, async () => {
  // alice registers (digest: the registrar still authenticates), so her presence is open.
  alice = await UserAgent.start({ listen: ['udp:127.0.0.1:0'], from: 'sip:alice@127.0.0.1', credentials: { username: 'alice', password: 'alicepw' } });
  const reg = await alice.register(`sip:127.0.0.1:${server.port}`, { aor: 'sip:alice@127.0.0.1', expires: 300 });
  assert.equal(reg.status, 200, `alice's REGISTER: ${reg.status}`);
  const contact = (reg.header('Contact') ?? '').replace(/^.*<([^>]+)>.*$/, '$1');

  const run = await scenario('presence-subscribe-refresh.xml', server);
  assertPassed(run);

  const oks = responses(run, 'SUBSCRIBE');
  assert.deepEqual(oks.map((m) => m.status), [200, 200, 200], `SUBSCRIBE responses${run.ctx}`);
  assert.deepEqual(oks.map((m) => Number(m.header('expires'))), [600, 300, 0], `granted Expires (asked 600, 300, 0)${run.ctx}`);

  const notifies = received(run, 'NOTIFY');
  assert.equal(notifies.length, 3, `NOTIFYs${run.ctx}`);
  assert.deepEqual(notifies.map((m) => (m.header('subscription-state') ?? '').split(';')[0]), ['active', 'active', 'terminated'], `Subscription-State${run.ctx}`);
  const exp = notifies.slice(0, 2).map((m) => Number(/expires=(\d+)/.exec(m.header('subscription-state') ?? '')?.[1]));
  assert.ok(exp[0]! > 590 && exp[0]! <= 600 && exp[1]! > 290 && exp[1]! <= 300, `NOTIFY expires= ${exp}${run.ctx}`);
  // The NOTIFYs belong to the dialog: its Call-ID, bob's tag in To, the 200's tag in From.
  const totag = /tag=([^;>\s]+)/.exec(oks[0]!.header('to') ?? '')?.[1];
  for (const n of notifies) {
    assert.equal(n.header('call-id'), oks[0]!.header('call-id'), `NOTIFY Call-ID${run.ctx}`);
    assert.equal(/tag=([^;>\s]+)/.exec(n.header('from') ?? '')?.[1], totag, `NOTIFY From tag = the 200's To tag${run.ctx}`);
  }
  const cseqs = notifies.map((n) => Number((n.header('cseq') ?? '').split(' ')[0]));
  assert.ok(cseqs[0]! < cseqs[1]! && cseqs[1]! < cseqs[2]!, `NOTIFY CSeqs increase: ${cseqs}${run.ctx}`);

  // The bodies, as PIDF: alice, one tuple, open, her registered contact.
  for (const n of notifies.filter((m) => m.body.length > 0)) {
    assert.equal(n.header('content-type'), 'application/pidf+xml', run.ctx);
    const doc = parsePidf(n.body);
    assert.equal(doc.entity, 'sip:alice@127.0.0.1', `PIDF entity${run.ctx}`);
    assert.deepEqual(doc.tuples.map((t) => t.basic), ['open'], `PIDF basic (alice is registered)${run.ctx}`);
    assert.equal(doc.tuples[0]!.contact, contact, `PIDF contact = alice's binding${run.ctx}`);
  }
  assert.ok(notifies[0]!.body.length > 0 && notifies[1]!.body.length > 0, `the active NOTIFYs carry PIDF${run.ctx}`);
  assert.ok(server.log().some((l) => /events: sip:bob@127\.0\.0\.1 watches sip:alice@127\.0\.0\.1 \(presence, active, 600 s\)/.test(l)), `serve log${run.ctx}`);

  const unreg = await alice.register(`sip:127.0.0.1:${server.port}`, { aor: 'sip:alice@127.0.0.1', expires: 0 });
  assert.equal(unreg.status, 200);
});

test('(b) expiry: minExpires 1, SUBSCRIBE Expires 2 → 200 Expires 2, NOTIFY active, ~2 s later NOTIFY terminated;reason=timeout', { timeout: TEST_TIMEOUT_MS }, async () => {
  const s = await startServer('{authenticate: false, subscriptions: {minExpires: 1, defaultExpires: 3600, maxExpires: 86400}}');
  try {
    const run = await scenario('presence-subscribe-expiry.xml', s);
    assertPassed(run);
    const notifies = received(run, 'NOTIFY');
    assert.deepEqual(notifies.map((m) => m.header('subscription-state')?.replace(/;expires=\d+/, '')), ['active', 'terminated;reason=timeout'], run.ctx);
    assert.equal(Number(responses(run, 'SUBSCRIBE')[0]?.header('expires')), 2, `granted Expires${run.ctx}`);
    const gapMs = notifies[1]!.at - notifies[0]!.at;
    assert.ok(gapMs >= 1500 && gapMs <= 4000, `the timeout NOTIFY came ${gapMs} ms after the first (expected ≈ 2000)${run.ctx}`);
    // The final NOTIFY still carries the state (RFC 6665 §4.2.2), as PIDF.
    assert.equal(parsePidf(notifies[1]!.body).entity, 'sip:alice@127.0.0.1', run.ctx);
    // The server logs the end once the final NOTIFY's 200 is in: give its stderr a moment.
    const ended = (l: string) => /events: sip:bob@127\.0\.0\.1's presence subscription to sip:alice@127\.0\.0\.1 ended \(timeout\)/.test(l);
    for (let i = 0; i < 40 && !s.log().some(ended); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(s.log().some(ended), `serve log${run.ctx}`);
  } finally {
    await s.stop();
  }
});

test('(c) SUBSCRIBE Event: foo within a presence dialog → 489 with Allow-Events: presence, presence.winfo; the subscription then ends normally', { timeout: TEST_TIMEOUT_MS }, async () => {
  const run = await scenario('presence-subscribe-bad-event-in-dialog.xml', server);
  assertPassed(run);
  const r489 = responses(run, 'SUBSCRIBE').find((m) => m.status === 489);
  const allow = (r489?.header('allow-events') ?? '').split(',').map((s) => s.trim());
  // Other packages may be listed too (the server grows them); these two must be.
  for (const pkg of ['presence', 'presence.winfo']) assert.ok(allow.includes(pkg), `Allow-Events lacks ${pkg}: ${allow.join(', ')}${run.ctx}`);
  assert.ok(!allow.includes('foo'), `Allow-Events lists foo${run.ctx}`);
});

test('(c) SUBSCRIBE presence.winfo: bob to alice\'s → 403; alice to her own → 200 + NOTIFY application/watcherinfo+xml', { timeout: TEST_TIMEOUT_MS }, async () => {
  const run = await scenario('presence-winfo-403.xml', server);
  assertPassed(run);
  assert.deepEqual(responses(run, 'SUBSCRIBE').map((m) => m.status), [403], run.ctx);
  assert.equal(received(run, 'NOTIFY').length, 0, `no NOTIFY after a 403${run.ctx}`);
  assert.ok(server.log().some((l) => /SUBSCRIBE presence\.winfo to sip:alice@127\.0\.0\.1 from sip:bob@127\.0\.0\.1: blocked/.test(l)), `serve log${run.ctx}`);

  const own = await scenario('presence-winfo-own.xml', server);
  assertPassed(own);
  assert.deepEqual(received(own, 'NOTIFY').map((m) => m.header('subscription-state')?.split(';')[0]), ['active', 'terminated'], own.ctx);
});

test('(c) PUBLISH Event: foo for a user of the served domain → 489 with Allow-Events', { timeout: TEST_TIMEOUT_MS }, async () => {
  const run = await scenario('presence-publish-bad-event.xml', server);
  const final = responses(run, 'PUBLISH').map((m) => `${m.status} ${m.header('allow-events') ?? ''}`.trim());
  assert.equal(run.result.code, 0, `final responses: ${final.join(' | ')}${run.ctx}`);
  assertPassed(run);
});

test('(d) PUBLISH SIP-If-Match: a replaced, an unknown, a removed ETag → 412 each (a valid one → 200, new ETag)', { timeout: TEST_TIMEOUT_MS }, async () => {
  const run = await scenario('presence-publish-412.xml', server);
  assertPassed(run);
  const res = responses(run, 'PUBLISH');
  assert.deepEqual(res.map((m) => m.status), [200, 200, 412, 412, 200, 412], run.ctx);
  const [e1, e2] = [res[0]!.header('sip-etag'), res[1]!.header('sip-etag')];
  assert.ok(e1 && e2 && e1 !== e2, `a modification gets a new ETag: ${e1} → ${e2}${run.ctx}`);
});

test('(e) default minimum 60 s: SUBSCRIBE Expires 10 → 423 Min-Expires: 60; PUBLISH Expires 10 → 423 Min-Expires: 60', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sub = await scenario('presence-subscribe-423.xml', server);
  assertPassed(sub);
  assert.deepEqual(responses(sub, 'SUBSCRIBE').map((m) => `${m.status} ${m.header('min-expires')}`), ['423 60'], sub.ctx);
  assert.equal(received(sub, 'NOTIFY').length, 0, sub.ctx);

  const pub = await scenario('presence-publish-423.xml', server);
  assertPassed(pub);
  assert.deepEqual(responses(pub, 'PUBLISH').map((m) => `${m.status} ${m.header('min-expires')}`), ['423 60'], pub.ctx);
});
