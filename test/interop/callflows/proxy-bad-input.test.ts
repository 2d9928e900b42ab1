// A proxy server (`serve`, roles registrar + proxy) fed hand-made requests and responses over raw
// UDP: Max-Forwards 0, a loop, stray responses with a missing or garbled Via, CANCEL for an
// unknown transaction, an open-relay attempt and an unsupported Proxy-Require.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RawUdp, freePorts, rand, rawRegister, startServe, writeConfig, type RawMsg, type TempConfig, type TracedProcess } from './callflow-harness.js';

let server: TracedProcess;
let cfg: TempConfig;
let proxyPort: number;
let loopPort: number;
let sock: RawUdp;

before(async () => {
  [proxyPort, loopPort] = await freePorts(2) as [number, number];
  // "proxy": a plain registrar + proxy for 127.0.0.1. "looper": a proxy whose defaultRoute is its
  // own address, so a request for any user there comes back to it unchanged (a loop).
  cfg = writeConfig(`store: memory
servers:
  - name: proxy
    listen: [udp:127.0.0.1:${proxyPort}]
    domains: [127.0.0.1]
    roles: [registrar, proxy]
    registrar: { authenticate: false }
    proxy: { authenticate: false, recordRoute: true }
  - name: looper
    listen: [udp:127.0.0.1:${loopPort}]
    domains: [loop.example]
    roles: [proxy]
    proxy: { authenticate: false, recordRoute: false, defaultRoute: "sip:127.0.0.1:${loopPort}" }
`);
  server = await startServe(cfg.path, { udpPorts: [proxyPort, loopPort] });
  sock = await RawUdp.open();
});

after(async () => {
  sock?.close();
  await server?.stop();
  cfg?.cleanup();
});

interface Req {
  text: string;
  callId: string;
  branch: string;
  fromTag: string;
  cseq: number;
}

function request(method: string, uri: string, opts: { maxForwards?: number; from?: string; to?: string; headers?: string[]; callId?: string; branch?: string; cseq?: number; cseqMethod?: string } = {}): Req {
  const callId = opts.callId ?? `${rand()}@127.0.0.1`;
  const branch = opts.branch ?? `z9hG4bK${rand()}`;
  const fromTag = rand(4);
  const cseq = opts.cseq ?? 1;
  const text = [
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${sock.port};branch=${branch};rport`,
    `Max-Forwards: ${opts.maxForwards ?? 70}`,
    `From: <${opts.from ?? 'sip:alice@127.0.0.1'}>;tag=${fromTag}`,
    `To: <${opts.to ?? uri}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} ${opts.cseqMethod ?? method}`,
    `Contact: <sip:alice@127.0.0.1:${sock.port}>`,
    ...(opts.headers ?? []),
    'Content-Length: 0',
    '',
    '',
  ].join('\n');
  return { text, callId, branch, fromTag, cseq };
}

/** Sends r to port and waits for its final response (a 1xx is skipped). */
async function finalFor(r: Req, port: number, timeoutMs = 5000): Promise<RawMsg> {
  const since = sock.received.length;
  await sock.send(r.text, port);
  return sock.wait((m) => m.header('Call-ID') === r.callId && (m.status ?? 0) >= 200, timeoutMs, since);
}

/** ACK for a non-2xx final response to an INVITE (same branch, To with the response's tag). */
async function ackFor(r: Req, res: RawMsg, uri: string, port: number): Promise<void> {
  const lines = r.text.split('\n').filter((l) => !/^(Contact|Content-Length|Proxy-Require):/.test(l) && l !== '');
  const ack = lines
    .map((l, i) => (i === 0 ? `ACK ${uri} SIP/2.0` : l.startsWith('To:') ? `To: ${res.header('To')}` : l.startsWith('CSeq:') ? `CSeq: ${r.cseq} ACK` : l))
    .concat(['Content-Length: 0', '', ''])
    .join('\n');
  await sock.send(ack, port);
}

async function assertAlive(): Promise<void> {
  assert.equal(server.exitStatus(), null, `the server is still running\n${server.output().stderr.slice(-3000)}`);
  const ping = request('OPTIONS', `sip:127.0.0.1:${proxyPort}`);
  const res = await finalFor(ping, proxyPort);
  assert.equal(res.status, 200, res.text);
}

test('INVITE with Max-Forwards: 0 → 483 Too Many Hops', { timeout: 20_000 }, async () => {
  const uri = `sip:bob@127.0.0.1:${proxyPort}`;
  const r = request('INVITE', uri, { maxForwards: 0 });
  const res = await finalFor(r, proxyPort);
  assert.equal(res.status, 483, res.text);
  await ackFor(r, res, uri, proxyPort);
});

test('OPTIONS with Max-Forwards: 0 addressed to the proxy itself → 200 (answered, not forwarded)', { timeout: 20_000 }, async () => {
  const r = request('OPTIONS', `sip:127.0.0.1:${proxyPort}`, { maxForwards: 0 });
  const res = await finalFor(r, proxyPort);
  assert.equal(res.status, 200, res.text);
});

test('a request looping back to the same proxy unchanged → 482 Loop Detected', { timeout: 30_000 }, async () => {
  // sip:someone@127.0.0.1:LOOP has no binding at "looper"; its defaultRoute is its own address, so
  // the request is forwarded to itself with the same Request-URI: the second pass is a loop
  // (same Request-URI, tags, Call-ID, CSeq), not a spiral.
  const r = request('OPTIONS', `sip:someone@127.0.0.1:${loopPort}`, { from: 'sip:alice@loop.example', maxForwards: 70 });
  const res = await finalFor(r, loopPort, 20_000);
  const looperIn = server.trace().filter((m) => m.hop === 'looper' && m.dir === 'Received' && m.callId === r.callId && m.kind === 'request');
  assert.equal(res.status, 482, `${res.text}\nlooper received the request ${looperIn.length} times`);
  // Caught on the first return, not after Max-Forwards ran out.
  assert.ok(looperIn.length <= 3, `looper received the request ${looperIn.length} times`);
});

test('responses with a missing or garbled Via are dropped; the proxy keeps working', { timeout: 20_000 }, async () => {
  const base = (via: string | undefined) =>
    [
      'SIP/2.0 200 OK',
      ...(via === undefined ? [] : [`Via: ${via}`]),
      'From: <sip:alice@127.0.0.1>;tag=abc',
      'To: <sip:bob@127.0.0.1>;tag=def',
      `Call-ID: ${rand()}@127.0.0.1`,
      'CSeq: 1 INVITE',
      'Content-Length: 0',
      '',
      '',
    ].join('\n');
  const since = sock.received.length;
  await sock.send(base(undefined), proxyPort);
  await sock.send(base('garbage;;;;'), proxyPort);
  await sock.send(base('SIP/2.0/UDP'), proxyPort);
  await sock.send(base(`SIP/2.0/UDP 127.0.0.1:${proxyPort};branch=z9hG4bKsbdeadbeef.1`), proxyPort); // our own Via, nothing below
  await sock.send(base(`SIP/2.0/UDP 127.0.0.1:${proxyPort};branch=z9hG4bKsbdeadbeef.1, SIP/2.0/UDP [::1:bad;branch=x`), proxyPort);
  await sock.sendBytes(Buffer.from('SIP/2.0 200 OK\r\nVia: \x00\xff\xfe\r\n\r\n', 'latin1'), proxyPort);
  await new Promise((res) => setTimeout(res, 500));
  assert.deepEqual(sock.received.slice(since).map((m) => m.firstLine), [], 'nothing is sent back for a stray response');
  await assertAlive();
});

test('CANCEL for an unknown transaction → 481', { timeout: 20_000 }, async () => {
  const r = request('CANCEL', `sip:bob@127.0.0.1:${proxyPort}`);
  const res = await finalFor(r, proxyPort);
  assert.equal(res.status, 481, res.text);
});

test('foreign domain to foreign domain (not a trusted peer) → 403, no relaying', { timeout: 20_000 }, async () => {
  const uri = 'sip:bob@foreign.example';
  const r = request('INVITE', uri, { from: 'sip:eve@elsewhere.example' });
  const res = await finalFor(r, proxyPort);
  assert.equal(res.status, 403, res.text);
  await ackFor(r, res, uri, proxyPort);
  const sentOn = server.trace().filter((m) => m.hop === 'proxy' && m.dir === 'Sent' && m.callId === r.callId && m.kind === 'request');
  assert.deepEqual(sentOn.map((m) => m.method), [], 'nothing is forwarded');
});

test('Proxy-Require: foo → 420 Bad Extension with Unsupported: foo', { timeout: 20_000 }, async () => {
  const r = request('OPTIONS', `sip:bob@127.0.0.1:${proxyPort}`, { headers: ['Proxy-Require: foo'] });
  const res = await finalFor(r, proxyPort);
  assert.equal(res.status, 420, res.text);
  assert.equal(res.header('Unsupported'), 'foo', res.text);
  await assertAlive();
});

test('the server advertises only what it implements: Supported path, outbound; Require: gruu → 420 (RFC 3261 §8.2.2.3)', async () => {
  const o = await finalFor(request('OPTIONS', `sip:127.0.0.1:${proxyPort}`), proxyPort);
  assert.equal(o.status, 200);
  assert.deepEqual((o.header('Supported') ?? '').split(',').map((t) => t.trim()), ['path', 'outbound']);
  for (const tag of ['gruu', '100rel', 'timer', 'replaces']) {
    const r = await finalFor(request('OPTIONS', `sip:127.0.0.1:${proxyPort}`, { headers: [`Require: ${tag}`] }), proxyPort);
    assert.equal(r.status, 420, `Require: ${tag}`);
    assert.equal(r.header('Unsupported'), tag);
  }
});

test('a response the proxy makes itself (next hop not resolvable) keeps the client\'s Via and has a To tag (§16.7, §8.2.6.2)', async () => {
  const q = request('OPTIONS', 'sip:bob@example.com', { headers: ['Route: <sip:nowhere.invalid;lr>'] });
  const r = await finalFor(q, proxyPort);
  assert.equal(r.status, 404);
  assert.ok((r.header('Via') ?? '').startsWith(`SIP/2.0/UDP 127.0.0.1:${sock.port};branch=${q.branch};`), r.header('Via'));
  assert.match(r.header('To') ?? '', /;tag=/);
});

test('CANCEL before any provisional of a branch: the proxy sends it downstream when the provisional arrives (§9.1, §16.10), not before', { timeout: 20_000 }, async () => {
  const callee = await RawUdp.open();
  try {
    const reg = await rawRegister(callee, proxyPort, 'sip:carol@127.0.0.1', `sip:carol@127.0.0.1:${callee.port}`);
    assert.equal(reg.status, 200, reg.text);
    const uri = 'sip:carol@127.0.0.1';
    const r = request('INVITE', uri);
    await sock.send(r.text, proxyPort);
    const inv = await callee.wait((m) => m.method === 'INVITE' && m.header('Call-ID') === r.callId, 5000);
    // The caller gives up before the callee said anything.
    const cancel = r.text.split('\n').map((l, i) => (i === 0 ? `CANCEL ${uri} SIP/2.0` : l.startsWith('CSeq:') ? `CSeq: ${r.cseq} CANCEL` : l)).filter((l) => !l.startsWith('Contact:')).join('\n');
    await sock.send(cancel, proxyPort);
    const ok = await sock.wait((m) => m.status === 200 && m.header('CSeq') === `${r.cseq} CANCEL`, 5000);
    assert.equal(ok.status, 200);
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(callee.received.filter((m) => m.method === 'CANCEL').length, 0, 'no CANCEL before a provisional (§9.1)');
    // The callee rings: the CANCEL follows.
    const ringing = ['SIP/2.0 180 Ringing', ...inv.text.split('\n').filter((l) => /^(Via|From|Call-ID|CSeq):/i.test(l)), `To: ${inv.header('To')};tag=c1`, 'Content-Length: 0', '', ''].join('\n');
    const sinceCancel = callee.received.length;
    await callee.send(ringing, proxyPort);
    const down = await callee.wait((m) => m.method === 'CANCEL' && m.header('Call-ID') === inv.header('Call-ID'), 5000, sinceCancel);
    assert.match(down.header('Via') ?? '', /branch=z9hG4bK/);
  } finally {
    callee.close();
  }
});

test('a pre-loaded Route to another hop is no way around the relay check: foreign user → 403, our user → forwarded (§16.4)', { timeout: 20_000 }, async () => {
  const sink = await RawUdp.open();
  try {
    const route = [`Route: <sip:127.0.0.1:${sink.port};lr>`];
    const foreign = request('MESSAGE', 'sip:victim@example.net', { from: 'sip:spammer@example.org', headers: route });
    const refused = await finalFor(foreign, proxyPort);
    assert.equal(refused.status, 403, refused.text);
    assert.equal(sink.received.length, 0, 'nothing relayed');
    const ours = request('MESSAGE', 'sip:friend@example.net', { from: 'sip:alice@127.0.0.1', headers: route });
    await sock.send(ours.text, proxyPort);
    const relayed = await sink.wait((m) => m.method === 'MESSAGE' && m.header('Call-ID') === ours.callId, 5000);
    assert.equal(relayed.firstLine, 'MESSAGE sip:friend@example.net SIP/2.0');
  } finally {
    sink.close();
  }
});
