// RFC 3261 §10.3 registrar rules against a running `switchboard serve`, with raw UDP datagrams
// built by the test and digests computed by the test (node:crypto), independent of src/auth.
//
// Server A: digest authentication on, configured with `auth.algorithms: [SHA-256, MD5]` (the
// default offers MD5 only; SHA-256 stays available by configuration), auth.nonceLifetime 10 s,
// registrar.maxContacts 3, minExpires 60 (default). Server C: the default configuration (no
// config file): its 401 offers MD5 only. Server B: authentication off, for AORs whose user part
// cannot be a digest user name (NUL, CR LF), on SQLite and on Redis.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePortBoth, stopAll, type Managed } from '../../harness/processes.js';
import { startRedis, type RedisInstance } from '../redis/redis-server.js';
import {
  authorization,
  challenges,
  cli,
  header,
  locationList,
  newCallId,
  registerText,
  responseContacts,
  startServe,
  tempDir,
  TestUA,
  UdpSipClient,
  writeConfig,
  type Challenge,
  type SipResponse,
} from './registrar-helpers.js';

const DOMAIN = '127.0.0.1';
const dir = tempDir('registrar-rules');

after(async () => {
  await stopAll();
  if (process.env.KEEP_TMP !== '1') rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function show(r: SipResponse): string {
  return r.raw;
}

/** Contacts of a 200 as uri → expires. */
function contactExpiries(r: SipResponse): Map<string, number> {
  return new Map(responseContacts(r).map((c) => [c.uri, Number(c.params.get('expires'))]));
}

describe('registrar rules with digest authentication (server A)', () => {
  const db = join(dir, 'a.db');
  const store = ['--db', db];
  let server: Managed;
  let port: number;
  let client: UdpSipClient;
  const users = [
    'u-contact', 'u-expires', 'u-nonce', 'u-stale', 'u-replay', 'u-423', 'u-foreign', 'u-max', 'u-star', 'u-cseq',
    'u-list', 'u-q', 'u-outbound', 'u-wrong', 'u-md5', 'u-stateless', 'u-retrans',
  ];
  const pw = (u: string) => `${u}-secret`;
  const ua = (u: string, password = pw(u)) => new TestUA(client, port, u, password);
  // Fetched in before(): its lifetime (10 s) runs out while the other tests run.
  let staleUa: TestUA;
  let staleLiar: TestUA;
  let staleChallengeAt = 0;

  before(async () => {
    const csv = join(dir, 'a-users.csv');
    writeFileSync(csv, users.map((u) => `${u},${pw(u)}\n`).join(''));
    await cli(['user', 'import', csv, '--domain', DOMAIN, ...store]);
    // SHA-256 is not in the default challenge (baresip 1.0 and SIPp 3.6 answer only the topmost
    // WWW-Authenticate and know only MD5) but stays available by configuration: server A offers
    // SHA-256 first, then MD5, so the tests below cover both algorithms.
    const config = writeConfig(dir, 'a.yaml', 'auth:\n  algorithms: [SHA-256, MD5]\n  nonceLifetime: 10\nregistrar:\n  maxContacts: 3\n  minExpires: 60\n');
    port = await freePortBoth();
    server = await startServe({ port, db, config, domain: DOMAIN });
    client = await UdpSipClient.open();
    staleUa = ua('u-stale');
    const r = await staleUa.sendOnce({ contacts: [`<sip:u-stale@127.0.0.1:${client.port}>`], expires: '600' });
    assert.equal(r.status, 401, show(r));
    staleChallengeAt = Date.now();
    staleLiar = ua('u-stale', 'wrong-password');
    const r2 = await staleLiar.sendOnce({ contacts: [`<sip:u-stale@127.0.0.1:${client.port}>`], expires: '600' });
    assert.equal(r2.status, 401, show(r2));
  });

  after(async () => {
    client?.close();
    const st = await server?.stop(10_000);
    assert.deepEqual(st, { code: 0, signal: null }, server ? server.output().stderr : '');
  });

  test('401 offers SHA-256 then MD5 (as configured) with one nonce and qop=auth; either algorithm registers', async () => {
    const a = ua('u-md5');
    const r = await a.sendOnce({ contacts: [`<sip:u-md5@127.0.0.1:${client.port}>`] });
    assert.equal(r.status, 401, show(r));
    const ch = challenges(r);
    assert.deepEqual(ch.map((c) => c.algorithm), ['SHA-256', 'MD5'], show(r));
    assert.equal(ch[0]!.nonce, ch[1]!.nonce);
    assert.equal(ch[0]!.realm, DOMAIN);
    for (const c of ch) assert.match(c.qop ?? '', /\bauth\b/);
    a.prefer = 'MD5';
    a.learn(r);
    assert.equal(a.challenge!.algorithm, 'MD5');
    const ok = await a.sendOnce({ contacts: [`<sip:u-md5@127.0.0.1:${client.port}>`] });
    assert.equal(ok.status, 200, show(ok));
    const sha = ua('u-md5'); // default: answers the first (SHA-256)
    const ok2 = await sha.register({ contacts: [`<sip:u-md5@127.0.0.1:${client.port}>`] });
    assert.equal(ok2.status, 200, show(ok2));
    assert.equal(sha.challenge!.algorithm, 'SHA-256');
  });

  test('malformed Contact → 400 whose reason names Contact', async () => {
    const a = ua('u-contact');
    const r = await a.register({ contacts: [`<sip:u-contact@127.0.0.1:${client.port}`] });
    assert.equal(r.status, 400, show(r));
    assert.match(r.reason, /Contact/, show(r));
    assert.deepEqual(await locationList(store, 'sip:u-contact@127.0.0.1'), []);
  });

  test('Expires: abc → 400 whose reason names Expires', async () => {
    const a = ua('u-expires');
    const r = await a.register({ contacts: [`<sip:u-expires@127.0.0.1:${client.port}>`], expires: 'abc' });
    assert.equal(r.status, 400, show(r));
    assert.match(r.reason, /Expires/, show(r));
    assert.deepEqual(await locationList(store, 'sip:u-expires@127.0.0.1'), []);
  });

  test('a forged nonce → 401 with a fresh challenge (which then works)', async () => {
    const a = ua('u-nonce');
    const forged = randomBytes(32).toString('base64url');
    const fake: Challenge = { realm: DOMAIN, nonce: forged, algorithm: 'SHA-256', qop: 'auth' };
    a.challenge = fake;
    const r = await a.sendOnce({ contacts: [`<sip:u-nonce@127.0.0.1:${client.port}>`] });
    assert.equal(r.status, 401, show(r));
    const ch = challenges(r);
    assert.ok(ch.length >= 1, show(r));
    assert.notEqual(ch[0]!.nonce, forged);
    assert.equal(ch[0]!.stale, undefined, 'a forged nonce is not "stale"');
    const ok = await a.sendOnce({ contacts: [`<sip:u-nonce@127.0.0.1:${client.port}>`] });
    assert.equal(ok.status, 200, show(ok));
  });

  test('no credentials: challenged statelessly (RFC 3261 §8.2.7) — a retransmission gets a fresh nonce under the same To tag', async () => {
    const branch = UdpSipClient.branch();
    const text = registerText({
      ruri: `sip:${DOMAIN}`, aorUri: `sip:u-stateless@${DOMAIN}`, callId: newCallId(), cseq: 1,
      contacts: [`<sip:u-stateless@127.0.0.1:${client.port}>`], localPort: client.port, branch,
    });
    const first = await client.send(port, text, branch);
    await sleep(20);
    const again = await client.send(port, text, branch);
    assert.equal(first.status, 401, show(first));
    assert.equal(again.status, 401, show(again));
    const tag = (r: SipResponse) => /;tag=([^;\s]+)/.exec(header(r, 'to') ?? '')?.[1];
    assert.ok(tag(first), show(first));
    assert.equal(tag(again), tag(first), 'the same To tag for every retransmission (§8.2.6.2)');
    // A server transaction would have resent its 401 byte for byte; the stateless answer is new.
    assert.notEqual(challenges(again)[0]!.nonce, challenges(first)[0]!.nonce);
  });

  test('with credentials: handled by a server transaction — a retransmission gets the same 200, not a replay 401', async () => {
    const a = ua('u-retrans');
    const contacts = [`<sip:u-retrans@127.0.0.1:${client.port}>`];
    assert.equal((await a.sendOnce({ contacts })).status, 401);
    const branch = UdpSipClient.branch();
    const text = registerText({
      ruri: a.ruri, aorUri: a.aorUri, callId: a.callId, cseq: ++a.cseq, contacts, localPort: client.port, branch,
      authorization: authorization({ username: a.user, password: a.password, method: 'REGISTER', uri: a.ruri, challenge: a.challenge!, nc: ++a.nc }),
    });
    const ok = await client.send(port, text, branch);
    assert.equal(ok.status, 200, show(ok));
    const again = await client.send(port, text, branch);
    assert.equal(again.raw, ok.raw, 'the NIST resends its final response (RFC 3261 §17.2.2)');
  });

  test('a replayed nonce count → 401', async () => {
    const a = ua('u-replay');
    const ok = await a.register({ contacts: [`<sip:u-replay@127.0.0.1:${client.port}>`] });
    assert.equal(ok.status, 200, show(ok));
    const nonce = a.challenge!.nonce;
    a.nc = 0; // send nc=00000001 again with the same nonce
    const r = await a.sendOnce({ contacts: [`<sip:u-replay@127.0.0.1:${client.port}>`] });
    assert.equal(r.status, 401, show(r));
    assert.equal(challenges(r)[0]!.stale, undefined, show(r));
    // A higher nc on the original nonce is still fine.
    a.challenge = { realm: DOMAIN, nonce, algorithm: 'SHA-256', qop: 'auth' };
    a.nc = 5;
    const again = await a.sendOnce({ contacts: [`<sip:u-replay@127.0.0.1:${client.port}>`] });
    assert.equal(again.status, 200, show(again));
  });

  test('Expires 30 (< minExpires 60) → 423 with Min-Expires: 60', async () => {
    const a = ua('u-423');
    const r = await a.register({ contacts: [`<sip:u-423@127.0.0.1:${client.port}>`], expires: '30' });
    assert.equal(r.status, 423, show(r));
    assert.equal(header(r, 'Min-Expires'), '60', show(r));
    const r2 = await a.register({ contacts: [`<sip:u-423@127.0.0.1:${client.port}>;expires=59`] });
    assert.equal(r2.status, 423, show(r2));
    assert.deepEqual(await locationList(store, 'sip:u-423@127.0.0.1'), []);
    const ok = await a.register({ contacts: [`<sip:u-423@127.0.0.1:${client.port}>`], expires: '60' });
    assert.equal(ok.status, 200, show(ok));
  });

  test('REGISTER for a foreign domain → 403', async () => {
    // Request-URI and To in a domain we do not serve.
    const a = new TestUA(client, port, 'u-foreign', pw('u-foreign'), 'example.com');
    const r = await a.sendOnce({ contacts: [`<sip:u-foreign@127.0.0.1:${client.port}>`] });
    assert.equal(r.status, 403, show(r));
    // Our Request-URI, foreign To.
    const b = new TestUA(client, port, 'u-foreign', pw('u-foreign'), DOMAIN, 'sip:u-foreign@example.com');
    const r2 = await b.sendOnce({ contacts: [`<sip:u-foreign@127.0.0.1:${client.port}>`] });
    assert.equal(r2.status, 403, show(r2));
    assert.deepEqual((await locationList(store)).filter((x) => x.aor.includes('u-foreign')), []);
  });

  test('more Contacts than registrar.maxContacts (3) → 403, nothing stored', async () => {
    const a = ua('u-max');
    const four = [1, 2, 3, 4].map((i) => `<sip:u-max@127.0.0.1:${6000 + i}>`);
    const r = await a.register({ contacts: four });
    assert.equal(r.status, 403, show(r));
    assert.match(r.reason, /Contact/i, show(r));
    assert.deepEqual(await locationList(store, 'sip:u-max@127.0.0.1'), []);
    const ok = await a.register({ contacts: four.slice(0, 3) });
    assert.equal(ok.status, 200, show(ok));
    const r2 = await a.register({ contacts: [four[3]!] });
    assert.equal(r2.status, 403, show(r2));
    assert.equal((await locationList(store, 'sip:u-max@127.0.0.1')).length, 3);
  });

  test('Contact: * with Expires: 0 removes every binding (and needs Expires: 0)', async () => {
    const a = ua('u-star');
    const ok = await a.register({ contacts: ['<sip:u-star@127.0.0.1:6101>', '<sip:u-star@127.0.0.1:6102>'] });
    assert.equal(ok.status, 200, show(ok));
    assert.equal((await locationList(store, 'sip:u-star@127.0.0.1')).length, 2);
    const bad = await a.register({ contacts: ['*'], expires: '60' });
    assert.equal(bad.status, 400, show(bad));
    assert.equal((await locationList(store, 'sip:u-star@127.0.0.1')).length, 2);
    const r = await a.register({ contacts: ['*'], expires: '0' });
    assert.equal(r.status, 200, show(r));
    assert.deepEqual(responseContacts(r), [], show(r));
    assert.deepEqual(await locationList(store, 'sip:u-star@127.0.0.1'), []);
  });

  test('an older CSeq for the same Call-ID → 500, bindings unchanged', async () => {
    const a = ua('u-cseq');
    const ok = await a.register({ contacts: ['<sip:u-cseq@127.0.0.1:6201>'] });
    assert.equal(ok.status, 200, show(ok));
    const ok10 = await a.sendOnce({ contacts: ['<sip:u-cseq@127.0.0.1:6201>'], cseq: 10 });
    assert.equal(ok10.status, 200, show(ok10));
    const before = await locationList(store, 'sip:u-cseq@127.0.0.1');
    assert.equal(before.length, 1);
    assert.equal(before[0]!.cseq, 10);
    const old = await a.sendOnce({ contacts: ['<sip:u-cseq@127.0.0.1:6202>', '<sip:u-cseq@127.0.0.1:6201>'], expires: '100', cseq: 5 });
    assert.equal(old.status, 500, show(old));
    const same = await a.sendOnce({ contacts: ['<sip:u-cseq@127.0.0.1:6201>'], expires: '100', cseq: 10 });
    assert.equal(same.status, 500, `an equal CSeq is out of order too\n${show(same)}`);
    const after = await locationList(store, 'sip:u-cseq@127.0.0.1');
    assert.deepEqual(after.map((b) => [b.contact, b.cseq, b.callId]), before.map((b) => [b.contact, b.cseq, b.callId]));
    assert.ok(Math.abs(after[0]!.expires - before[0]!.expires) <= 2);
  });

  test('the 200 lists every current binding with its remaining expiry', async () => {
    const a = ua('u-list');
    const r1 = await a.register({ contacts: ['<sip:u-list@127.0.0.1:6301>'], expires: '3600' });
    assert.equal(r1.status, 200, show(r1));
    const r2 = await a.register({ contacts: ['<sip:u-list@127.0.0.1:6302>'], expires: '120' });
    assert.equal(r2.status, 200, show(r2));
    let m = contactExpiries(r2);
    assert.equal(m.size, 2, show(r2));
    assert.ok(m.get('sip:u-list@127.0.0.1:6301')! >= 3598 && m.get('sip:u-list@127.0.0.1:6301')! <= 3600, show(r2));
    assert.ok(m.get('sip:u-list@127.0.0.1:6302')! >= 119 && m.get('sip:u-list@127.0.0.1:6302')! <= 120, show(r2));
    assert.match(header(r2, 'Date') ?? '', /GMT$/, 'Date header (§10.3 step 8)');
    // A query (no Contact) lists them too, and changes nothing.
    await sleep(1100);
    const q = await a.register({ contacts: [] });
    assert.equal(q.status, 200, show(q));
    m = contactExpiries(q);
    assert.equal(m.size, 2, show(q));
    assert.ok(m.get('sip:u-list@127.0.0.1:6301')! < 3600 && m.get('sip:u-list@127.0.0.1:6301')! >= 3596, show(q));
    assert.ok(m.get('sip:u-list@127.0.0.1:6302')! < 120 && m.get('sip:u-list@127.0.0.1:6302')! >= 116, show(q));
    // Expires above maxExpires (7200) is cut down.
    const big = await a.register({ contacts: ['<sip:u-list@127.0.0.1:6303>;expires=999999'] });
    assert.equal(big.status, 200, show(big));
    assert.equal(contactExpiries(big).get('sip:u-list@127.0.0.1:6303'), 7200, show(big));
    // Removing one with expires=0.
    const rm = await a.register({ contacts: ['<sip:u-list@127.0.0.1:6303>;expires=0'] });
    assert.equal(rm.status, 200, show(rm));
    assert.deepEqual([...contactExpiries(rm).keys()].sort(), ['sip:u-list@127.0.0.1:6301', 'sip:u-list@127.0.0.1:6302'], show(rm));
  });

  test('location list AOR orders bindings by q-value', async () => {
    const a = ua('u-q');
    const r = await a.register({
      contacts: ['<sip:u-q@127.0.0.1:6401>;q=0.1', '<sip:u-q@127.0.0.1:6402>', '<sip:u-q@127.0.0.1:6403>;q=0.5'],
    });
    assert.equal(r.status, 200, show(r));
    const listed = await locationList(store, 'sip:u-q@127.0.0.1');
    assert.deepEqual(listed.map((b) => [b.contact, b.q]), [
      ['sip:u-q@127.0.0.1:6402', 1],
      ['sip:u-q@127.0.0.1:6403', 0.5],
      ['sip:u-q@127.0.0.1:6401', 0.1],
    ]);
    const text = await cli(['location', 'list', 'sip:u-q@127.0.0.1', ...store]);
    const lines = text.stdout.trim().split('\n');
    assert.deepEqual(lines.map((l) => l.split('\t')[1]), ['sip:u-q@127.0.0.1:6402', 'sip:u-q@127.0.0.1:6403', 'sip:u-q@127.0.0.1:6401'], text.stdout);
    assert.match(lines[2]!, /\tq=0\.1\b/);
  });

  test('RFC 5626: same +sip.instance and reg-id from a new contact replaces the old binding', async () => {
    const inst = '<urn:uuid:00000000-0000-1000-8000-000A95A0E128>';
    const first = ua('u-outbound');
    const r1 = await first.register({ contacts: [`<sip:u-outbound@127.0.0.1:6501;ob>;+sip.instance="${inst}";reg-id=1`], extraHeaders: ['Supported: outbound, path'] });
    assert.equal(r1.status, 200, show(r1));
    // Another flow (say after a reboot): new Call-ID, new contact, same instance and reg-id.
    const second = ua('u-outbound');
    const r2 = await second.register({ contacts: [`<sip:u-outbound@127.0.0.1:6502;ob>;+sip.instance="${inst}";reg-id=1`], extraHeaders: ['Supported: outbound, path'] });
    assert.equal(r2.status, 200, show(r2));
    assert.deepEqual(responseContacts(r2).map((c) => c.uri), ['sip:u-outbound@127.0.0.1:6502;ob'], show(r2));
    const listed = await locationList(store, 'sip:u-outbound@127.0.0.1');
    assert.equal(listed.length, 1, JSON.stringify(listed));
    assert.equal(listed[0]!.contact, 'sip:u-outbound@127.0.0.1:6502;ob');
    assert.equal(listed[0]!.instanceId, inst);
    assert.equal(listed[0]!.regId, 1);
    // A different reg-id of the same instance is a second flow: kept next to it.
    const r3 = await second.register({ contacts: [`<sip:u-outbound@127.0.0.1:6503;ob>;+sip.instance="${inst}";reg-id=2`], extraHeaders: ['Supported: outbound, path'] });
    assert.equal(r3.status, 200, show(r3));
    assert.equal((await locationList(store, 'sip:u-outbound@127.0.0.1')).length, 2);
  });

  test('wrong credentials: 401, 401, then 403 on the third try of one Call-ID', async () => {
    const a = ua('u-wrong', 'not-the-password');
    const contacts = [`<sip:u-wrong@127.0.0.1:${client.port}>`];
    const first = await a.sendOnce({ contacts });
    assert.equal(first.status, 401, show(first));
    const t1 = await a.sendOnce({ contacts });
    assert.equal(t1.status, 401, show(t1));
    const t2 = await a.sendOnce({ contacts });
    assert.equal(t2.status, 401, show(t2));
    const t3 = await a.sendOnce({ contacts });
    assert.equal(t3.status, 403, show(t3));
    assert.deepEqual(await locationList(store, 'sip:u-wrong@127.0.0.1'), []);
  });

  test('a nonce older than auth.nonceLifetime (10 s) → 401 with stale=true', { timeout: 30_000 }, async () => {
    const wait = staleChallengeAt + 11_000 - Date.now();
    if (wait > 0) await sleep(wait);
    const r = await staleUa.sendOnce({ contacts: [`<sip:u-stale@127.0.0.1:${client.port}>`], expires: '600' });
    assert.equal(r.status, 401, show(r));
    const ch = challenges(r);
    assert.ok(ch.length > 0, show(r));
    for (const c of ch) assert.equal(c.stale?.toLowerCase(), 'true', show(r));
    // The fresh nonce of that challenge works.
    const ok = await staleUa.sendOnce({ contacts: [`<sip:u-stale@127.0.0.1:${client.port}>`], expires: '600' });
    assert.equal(ok.status, 200, show(ok));
    // A wrong password with an equally old nonce is NOT reported stale (RFC 7616 §3.3).
    const lie = await staleLiar.sendOnce({ contacts: [`<sip:u-stale@127.0.0.1:${client.port}>`], expires: '600' });
    assert.equal(lie.status, 401, show(lie));
    for (const c of challenges(lie)) assert.notEqual(c.stale?.toLowerCase(), 'true', show(lie));
  });
});

// -----------------------------------------------------------------------------------------------

describe('the default configuration challenges with MD5 only (server C)', () => {
  const db = join(dir, 'c.db');
  const store = ['--db', db];
  let server: Managed;
  let port: number;
  let client: UdpSipClient;

  before(async () => {
    await cli(['user', 'add', 'u-default', '--password', 'u-default-secret', '--domain', DOMAIN, ...store]);
    port = await freePortBoth();
    server = await startServe({ port, db, domain: DOMAIN }); // no --config: every setting is the default
    client = await UdpSipClient.open();
  });

  after(async () => {
    client?.close();
    const st = await server?.stop(10_000);
    assert.deepEqual(st, { code: 0, signal: null }, server ? server.output().stderr : '');
  });

  // baresip 1.0 and SIPp 3.6 take only the topmost WWW-Authenticate and compute only MD5: the
  // default challenge must be one MD5 challenge, not a list that starts with SHA-256.
  test('401 to an unauthenticated REGISTER has exactly one WWW-Authenticate, algorithm=MD5; an MD5 digest registers', async () => {
    const a = new TestUA(client, port, 'u-default', 'u-default-secret');
    const contact = `<sip:u-default@127.0.0.1:${client.port}>`;
    const r = await a.sendOnce({ contacts: [contact] });
    assert.equal(r.status, 401, show(r));
    assert.equal(r.raw.split('\r\n').filter((l) => /^WWW-Authenticate\s*:/i.test(l)).length, 1, show(r));
    const ch = challenges(r);
    assert.equal(ch.length, 1, show(r));
    assert.equal(ch[0]!.algorithm, 'MD5', show(r));
    assert.match(header(r, 'WWW-Authenticate') ?? '', /\balgorithm=MD5\b/, show(r));
    assert.equal(ch[0]!.realm, DOMAIN);
    assert.match(ch[0]!.qop ?? '', /\bauth\b/);
    assert.doesNotMatch(r.raw, /SHA-256/i, show(r));
    // Answered with an MD5 digest (computed by the test): 200, and the binding is stored.
    assert.equal(a.challenge?.algorithm, 'MD5');
    const ok = await a.sendOnce({ contacts: [contact] });
    assert.equal(ok.status, 200, show(ok));
    assert.deepEqual((await locationList(store, 'sip:u-default@127.0.0.1')).map((b) => b.contact), [`sip:u-default@127.0.0.1:${client.port}`]);
  });
});

// -----------------------------------------------------------------------------------------------

/** AOR user parts (as escaped in the URI) and what the canonical AOR must hold (RFC 3261 §10.3 step 5: unescaped). */
const NASTY: Array<{ name: string; escaped: string; decoded: string; contact: string }> = [
  {
    name: 'quotes',
    escaped: `%22double%22'single'`,
    decoded: `"double"'single'`,
    contact: `sip:%22q%22'x'@127.0.0.1:7001;transport=udp`,
  },
  {
    name: 'NUL byte',
    escaped: 'nul%00byte',
    decoded: 'nul\u0000byte',
    contact: 'sip:nul%00byte@127.0.0.1:7002',
  },
  {
    name: 'SQL injection',
    escaped: `'%3B%20DROP%20TABLE%20bindings%3B%20--`,
    decoded: `'; DROP TABLE bindings; --`,
    contact: `sip:'%3B%20DROP%20TABLE%20bindings%3B%20--@127.0.0.1:7003;x='--`,
  },
  {
    name: 'Redis protocol',
    escaped: '*3%0D%0A$3%0D%0ADEL%0D%0A$1%0D%0A*%0D%0A',
    decoded: '*3\r\n$3\r\nDEL\r\n$1\r\n*\r\n',
    contact: 'sip:*1%0D%0A$8%0D%0AFLUSHALL%0D%0A@127.0.0.1:7004',
  },
];

for (const kind of ['sqlite', 'redis'] as const) {
  describe(`odd AORs and contacts are stored and listed byte-exact (${kind}, no authentication)`, () => {
    let server: Managed;
    let redis: RedisInstance | undefined;
    let port: number;
    let client: UdpSipClient;
    let store: string[];

    before(async () => {
      if (kind === 'redis') {
        redis = await startRedis();
        store = ['--store', redis.url];
      } else {
        store = ['--db', join(dir, 'b.db')];
      }
      const config = writeConfig(dir, `b-${kind}.yaml`, 'registrar:\n  authenticate: false\n');
      port = await freePortBoth();
      server = await startServe({ port, config, domain: DOMAIN, ...(kind === 'redis' ? { store: redis!.url } : { db: join(dir, 'b.db') }) });
      client = await UdpSipClient.open();
    });

    after(async () => {
      client?.close();
      const st = await server?.stop(10_000);
      assert.deepEqual(st, { code: 0, signal: null }, server ? server.output().stderr : '');
      await redis?.proc.stop();
    });

    test('quotes, %00, SQL and Redis syntax round-trip through REGISTER and location list --json', async () => {
      for (const n of NASTY) {
        const a = new TestUA(client, port, n.decoded, 'x', DOMAIN, `sip:${n.escaped}@${DOMAIN}`);
        const r = await a.register({ contacts: [`<${n.contact}>`], expires: '600' });
        assert.equal(r.status, 200, `${n.name}\n${show(r)}`);
        assert.deepEqual(responseContacts(r).map((c) => c.uri), [n.contact], `${n.name}: the 200 echoes the contact\n${show(r)}`);
      }
      const all = await locationList(store);
      assert.equal(all.length, NASTY.length, JSON.stringify(all));
      for (const n of NASTY) {
        const want = `sip:${n.decoded}@${DOMAIN}`;
        const b = all.find((x) => x.aor === want);
        assert.ok(b, `${n.name}: AOR ${JSON.stringify(want)} not in ${JSON.stringify(all.map((x) => x.aor))}`);
        assert.equal(b.contact, n.contact, `${n.name}: contact byte-exact`);
        assert.ok(b.expires > 590 && b.expires <= 600);
      }
      // Look-up by AOR (argv cannot carry NUL, so not for that one).
      for (const n of NASTY.filter((x) => !x.decoded.includes('\u0000'))) {
        const one = await locationList(store, `sip:${n.decoded}@${DOMAIN}`);
        assert.deepEqual(one.map((b) => b.contact), [n.contact], n.name);
      }
      // The store is intact: a normal registration still works and is listed next to them.
      const plain = new TestUA(client, port, 'plain', 'x');
      const ok = await plain.register({ contacts: ['<sip:plain@127.0.0.1:7005>'] });
      assert.equal(ok.status, 200, show(ok));
      assert.equal((await locationList(store)).length, NASTY.length + 1);
      // Removal by the odd AOR (location rm) works too.
      const sql = NASTY.find((x) => x.name === 'SQL injection')!;
      const rm = await cli(['location', 'rm', `sip:${sql.decoded}@${DOMAIN}`, ...store]);
      assert.match(rm.stdout, /removed 1 binding/);
      assert.equal((await locationList(store)).length, NASTY.length);
    });
  });
}
