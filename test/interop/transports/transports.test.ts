// Two real UserAgents in one process over loopback: OPTIONS and full calls over every transport
// (UDP, TCP, TLS, WS, WSS, IPv6 UDP/TCP), several listeners on one UA, the RFC 3261 §18.1.1
// UDP→TCP switch, 513 for an oversize request, hold, and RFC 3581 rport.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { UserAgent, type UserAgentOptions } from '../../../src/roles/user-agent/index.js';
import type { Call } from '../../../src/roles/user-agent/index.js';
import type { TraceEvent, TransportKind } from '../../../src/transport/index.js';
import { type SipRequest, type SipResponse, parseMessage } from '../../../src/sip/index.js';
import { makeTestCert } from '../../harness/tls-cert.js';
import { freePortBoth } from '../../harness/processes.js';

const started: UserAgent[] = [];
after(async () => {
  await Promise.all(started.map((u) => u.stop()));
});

interface Probe {
  ua: UserAgent;
  requests: SipRequest[];
  responses: SipResponse[];
  traces: TraceEvent[];
}

let certCache: { key: Buffer; cert: Buffer } | undefined;
function tlsOpts() {
  certCache ??= makeTestCert();
  return { key: certCache.key, cert: certCache.cert, ca: certCache.cert, rejectUnauthorized: true };
}

/** Starts a UA and records every request/response its transport delivers upward, and every trace. */
async function startUa(listen: string[], extra: Omit<UserAgentOptions, 'listen' | 'onTrace'> = {}): Promise<Probe> {
  const traces: TraceEvent[] = [];
  const transport = { ...(extra.transport ?? {}) };
  // Every UA trusts the test CA, so it can also connect to TLS/WSS peers without listening on them.
  if (!transport.tls) transport.tls = tlsOpts();
  const ua = await UserAgent.start({ ...extra, listen, transport, onTrace: (ev) => traces.push(ev) });
  started.push(ua);
  const requests: SipRequest[] = [];
  const responses: SipResponse[] = [];
  const t = ua.transport;
  const onReq = t.onRequest;
  t.onRequest = (req, info) => {
    requests.push(req);
    onReq(req, info);
  };
  const onRes = t.onResponse;
  t.onResponse = (res, info) => {
    responses.push(res);
    onRes(res, info);
  };
  return { ua, requests, responses, traces };
}

function listener(p: Probe, kind: TransportKind) {
  const l = p.ua.transport.boundListeners.find((x) => x.kind === kind);
  assert.ok(l, `UA has no ${kind} listener`);
  return l;
}

/** A SIP URI for a UA's listener of a kind (IPv6 bracketed, transport= for non-UDP). */
function uriOf(p: Probe, kind: TransportKind, user = 'bob', withParam = true): string {
  const l = listener(p, kind);
  const host = l.address.includes(':') ? `[${l.address}]` : l.address;
  return `sip:${user}@${host}:${l.port}${withParam && kind !== 'udp' ? `;transport=${kind}` : ''}`;
}

async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const reqs = (p: Probe, method: string) => p.requests.filter((r) => r.method === method);

function assertArrivedOver(p: Probe, method: string, kind: TransportKind): SipRequest[] {
  const list = reqs(p, method);
  assert.ok(list.length > 0, `no ${method} received`);
  for (const r of list) {
    assert.equal(r.source?.transport, kind, `${method} source transport`);
    assert.equal(r.topVia.transport, kind.toUpperCase(), `${method} top Via transport token`);
  }
  return list;
}

/**
 * Full call A → B over `kind` (INVITE/100/180/200/ACK, BYE/200) with transport checks; for
 * connection-oriented transports every message of the call travels on one connection.
 */
async function fullCall(a: Probe, b: Probe, kind: TransportKind, target = uriOf(b, kind)): Promise<void> {
  let bCall: Call | undefined;
  b.ua.once('invite', (inv) => {
    inv.progress(180);
    bCall = inv.accept();
  });
  const provisional: number[] = [];
  const call = await a.ua.invite(target, { transport: kind, onProvisional: (r) => provisional.push(r.status) });
  assert.equal(call.finalResponse?.status, 200, `INVITE over ${kind}: ${call.finalResponse?.status} ${call.finalResponse?.reason ?? ''}`);
  assert.ok(call.established);
  assert.ok(provisional.includes(180), `180 seen: ${provisional.join(',')}`);
  await waitFor(() => reqs(b, 'ACK').length > 0, `ACK over ${kind}`);
  assert.ok(bCall?.established);
  const bye = await call.bye();
  assert.equal(bye?.status, 200);
  assert.equal(await bCall!.ended, 'remote-bye');

  const invites = assertArrivedOver(b, 'INVITE', kind);
  const acks = assertArrivedOver(b, 'ACK', kind);
  const byes = assertArrivedOver(b, 'BYE', kind);
  const aResponses = a.responses.filter((r) => r.callId === call.invite!.callId);
  assert.deepEqual(
    aResponses.map((r) => `${r.status} ${r.cseq.method}`).filter((s) => s !== '100 INVITE'),
    ['180 INVITE', '200 INVITE', '200 BYE'],
  );
  for (const r of aResponses) assert.equal(r.source?.transport, kind, `response ${r.status} over ${kind}`);

  if (kind !== 'udp') {
    // B: INVITE, ACK and BYE came in on one connection …
    const conn = invites[0]!.source!.connectionId;
    assert.ok(conn !== undefined, 'INVITE has a connection id');
    for (const r of [...invites, ...acks, ...byes]) assert.equal(r.source!.connectionId, conn, `${r.method} on the INVITE's connection`);
    // … and A received every response on one connection (its own end of it).
    const aConn = aResponses[0]!.source!.connectionId;
    assert.ok(aConn !== undefined);
    for (const r of aResponses) assert.equal(r.source!.connectionId, aConn, `${r.status} ${r.cseq.method} on one connection`);
    // Traces: B sent its responses to the very address:port the INVITE came from, which is the
    // local end of A's connection.
    const invFrom = `${invites[0]!.source!.address.includes(':') ? `[${invites[0]!.source!.address}]` : invites[0]!.source!.address}:${invites[0]!.source!.port}`;
    const callIdLine = `Call-ID: ${call.invite!.callId}\r\n`;
    const bSent = b.traces.filter((t) => t.direction === 'Sent' && t.bytes.toString('latin1').startsWith('SIP/2.0') && t.bytes.toString('latin1').includes(callIdLine));
    assert.ok(bSent.length >= 3, 'B sent responses');
    for (const t of bSent) assert.equal(t.remote, invFrom, 'response sent back to the request source');
    const aSentInvite = a.traces.find((t) => t.direction === 'Sent' && t.bytes.toString('latin1').startsWith('INVITE ') && t.bytes.toString('latin1').includes(callIdLine));
    assert.equal(aSentInvite?.local.split(':').pop(), String(invites[0]!.source!.port), "A's connection end is where B saw the INVITE come from");
    assert.equal(aSentInvite?.kind, kind);
  }
}

async function options(a: Probe, b: Probe, kind: TransportKind): Promise<void> {
  const res = await a.ua.options(uriOf(b, kind), { transport: kind });
  assert.equal(res.status, 200, `OPTIONS over ${kind}`);
  assert.match(res.header('Allow') ?? '', /INVITE/);
  assert.equal(res.source?.transport, kind);
  const got = assertArrivedOver(b, 'OPTIONS', kind);
  if (kind !== 'udp') {
    assert.ok(got.at(-1)!.source!.connectionId !== undefined);
    assert.ok(res.source!.connectionId !== undefined);
  }
}

const KINDS: TransportKind[] = ['udp', 'tcp', 'tls', 'ws', 'wss'];

for (const kind of KINDS) {
  test(`${kind}: OPTIONS and a full call between two UAs`, async () => {
    const a = await startUa([`${kind}:127.0.0.1:0`]);
    const b = await startUa([`${kind}:127.0.0.1:0`]);
    await options(a, b, kind);
    await fullCall(a, b, kind);
    // The callee can end a call too, over the same connection the INVITE came on.
    let bCall: Call | undefined;
    b.ua.once('invite', (inv) => { bCall = inv.accept(); });
    const call = await a.ua.invite(uriOf(b, kind), { transport: kind });
    assert.ok(call.established);
    await waitFor(() => reqs(b, 'ACK').length >= 2, 'second ACK');
    const bye = await bCall!.bye();
    assert.equal(bye?.status, 200);
    assert.equal(await call.ended, 'remote-bye');
    const aByes = assertArrivedOver(a, 'BYE', kind);
    if (kind !== 'udp') {
      const inviteConn = reqs(b, 'INVITE').at(-1)!.source!.connectionId;
      const byeRes = b.responses.find((r) => r.cseq.method === 'BYE');
      assert.equal(byeRes?.source?.connectionId, inviteConn, 'B sent its BYE on the connection the INVITE came on');
      assert.equal(aByes[0]!.source!.connectionId, call.finalResponse!.source!.connectionId, 'A got the BYE on its own connection');
    }
  });
}

test('the transport= URI parameter alone picks the transport', async () => {
  const a = await startUa(['udp:127.0.0.1:0', 'tcp:127.0.0.1:0']);
  const b = await startUa(['udp:127.0.0.1:0', 'tcp:127.0.0.1:0']);
  const res = await a.ua.options(uriOf(b, 'tcp'));
  assert.equal(res.status, 200);
  assertArrivedOver(b, 'OPTIONS', 'tcp');
});

function canBindIpv6(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket({ type: 'udp6', ipv6Only: true });
    s.once('error', (err) => {
      s.close();
      resolve(err.message);
    });
    s.bind(0, '::1', () => s.close(() => resolve(undefined)));
  });
}

for (const kind of ['udp', 'tcp'] as const) {
  test(`IPv6 ${kind}: OPTIONS and a full call over [::1]`, async (t) => {
    const why = await canBindIpv6();
    if (why) {
      t.skip(`::1 cannot be bound on this machine (${why})`);
      return;
    }
    const a = await startUa([`${kind}:[::1]:0`]);
    const b = await startUa([`${kind}:[::1]:0`]);
    assert.equal(listener(b, kind).address, '::1');
    await options(a, b, kind);
    await fullCall(a, b, kind);
    const inv = reqs(b, 'INVITE')[0]!;
    assert.equal(inv.source!.address, '::1');
    assert.equal(inv.topVia.host, `[::1]`);
    assert.match(inv.contact[0]!.uriText, /^sip:switchboard@\[::1\]:\d+/);
  });
}

test('several listeners on one UA: each transport answers, Via tokens match', async () => {
  const all = ['udp:127.0.0.1:0', 'tcp:127.0.0.1:0', 'tls:127.0.0.1:0', 'ws:127.0.0.1:0', 'wss:127.0.0.1:0'];
  const a = await startUa(all);
  const b = await startUa(all);
  assert.deepEqual(b.ua.transport.boundListeners.map((l) => l.kind).sort(), [...KINDS].sort());
  for (const l of b.ua.transport.boundListeners) assert.ok(l.port > 0);
  for (const kind of KINDS) {
    const before = b.requests.length;
    const res = await a.ua.options(uriOf(b, kind), { transport: kind });
    assert.equal(res.status, 200, kind);
    const got = b.requests.slice(before).filter((r) => r.method === 'OPTIONS');
    assert.equal(got.length, 1, `${kind}: one OPTIONS`);
    assert.equal(got[0]!.source!.transport, kind);
    assert.equal(got[0]!.topVia.transport, kind.toUpperCase());
    // A names its own listener of that kind in Via sent-by.
    assert.equal(got[0]!.topVia.port, listener(a, kind).port, `${kind}: Via sent-by port is A's ${kind} listener`);
  }
  // And a call over TLS while the others stay up.
  await fullCall(a, b, 'tls');
});

test('RFC 3261 §18.1.1: a large MESSAGE to a udp: target goes over TCP; small ones and switch-off stay UDP', async () => {
  const port = await freePortBoth();
  const b = await startUa([`udp:127.0.0.1:${port}`, `tcp:127.0.0.1:${port}`]);
  const a = await startUa(['udp:127.0.0.1:0', 'tcp:127.0.0.1:0']);
  const target = `sip:bob@127.0.0.1:${port}`;
  const big = 'x'.repeat(2000);

  assert.equal((await a.ua.message(target, 'hello')).status, 200);
  let got = reqs(b, 'MESSAGE').at(-1)!;
  assert.equal(got.source!.transport, 'udp', 'small MESSAGE over UDP');
  assert.equal(got.topVia.transport, 'UDP');

  const res = await a.ua.message(target, big);
  assert.equal(res.status, 200);
  assert.equal(res.source?.transport, 'tcp', 'the response comes back over the TCP connection');
  got = reqs(b, 'MESSAGE').at(-1)!;
  assert.equal(got.body.length, 2000);
  assert.equal(got.source!.transport, 'tcp', 'large MESSAGE switched to TCP');
  assert.equal(got.topVia.transport, 'TCP', 'top Via rewritten to TCP');
  assert.equal(got.topVia.port, listener(a, 'tcp').port, 'Via sent-by names the TCP listener');

  const off = await startUa(['udp:127.0.0.1:0', 'tcp:127.0.0.1:0'], { transport: { udpToTcpSwitch: false } });
  assert.equal((await off.ua.message(target, big)).status, 200);
  got = reqs(b, 'MESSAGE').at(-1)!;
  assert.equal(got.body.length, 2000);
  assert.equal(got.source!.transport, 'udp', 'switch off: stays on UDP');
  assert.equal(got.topVia.transport, 'UDP');

  // Without a TCP listener of its own the UA cannot switch either.
  const udpOnly = await startUa(['udp:127.0.0.1:0']);
  assert.equal((await udpOnly.ua.message(target, big)).status, 200);
  assert.equal(reqs(b, 'MESSAGE').at(-1)!.source!.transport, 'udp');
});

function rawMessage(opts: { transport: string; host: string; port: number; bodyLength: number; viaExtra?: string }): Buffer {
  const body = 'y'.repeat(opts.bodyLength);
  return Buffer.from(
    `MESSAGE sip:bob@127.0.0.1:${opts.port} SIP/2.0\r\n` +
      `Via: SIP/2.0/${opts.transport} ${opts.host};branch=z9hG4bK-big-${Math.random().toString(36).slice(2)}${opts.viaExtra ?? ''}\r\n` +
      'Max-Forwards: 70\r\n' +
      'From: <sip:tester@127.0.0.1>;tag=t1\r\n' +
      'To: <sip:bob@127.0.0.1>\r\n' +
      `Call-ID: big-${Math.random()}@test\r\n` +
      'CSeq: 1 MESSAGE\r\n' +
      'Content-Type: text/plain\r\n' +
      `Content-Length: ${body.length}\r\n\r\n` +
      body,
  );
}

/** Sends bytes on a fresh TCP connection and resolves with the first complete SIP response. */
function tcpExchange(port: number, bytes: Buffer): Promise<SipResponse> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no response on TCP within 5 s (got ${buf.length} bytes)`));
    }, 5000);
    s.on('connect', () => s.write(bytes));
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /content-length:\s*(\d+)/i.exec(buf.subarray(0, end).toString('latin1'));
      if (buf.length < end + 4 + Number(m?.[1] ?? 0)) return;
      clearTimeout(timer);
      s.destroy();
      resolve(parseMessage(buf.subarray(0, end + 4 + Number(m?.[1] ?? 0))) as SipResponse);
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      reject(new Error(`connection closed without a response (${buf.length} bytes received)`));
    });
  });
}

test('513: a UA with maxMessageSize 1500 answers a 3000-byte MESSAGE over TCP (and UDP) with 513', async () => {
  const b = await startUa(['udp:127.0.0.1:0', 'tcp:127.0.0.1:0'], { transport: { maxMessageSize: 1500 } });
  const tcpPort = listener(b, 'tcp').port;
  const res = await tcpExchange(tcpPort, rawMessage({ transport: 'TCP', host: '127.0.0.1:9', port: tcpPort, bodyLength: 3000 }));
  assert.equal(res.status, 513);
  assert.equal(res.cseq.method, 'MESSAGE');
  assert.equal(reqs(b, 'MESSAGE').length, 0, 'the oversize request never reached the UA core');

  // A message within the limit on a fresh connection is fine.
  const ok = await tcpExchange(tcpPort, rawMessage({ transport: 'TCP', host: '127.0.0.1:9', port: tcpPort, bodyLength: 100 }));
  assert.equal(ok.status, 200);

  // UDP: one 3000-byte datagram.
  const udpPort = listener(b, 'udp').port;
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  try {
    const reply = new Promise<SipResponse>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no UDP response')), 5000);
      sock.once('message', (m) => {
        clearTimeout(timer);
        resolve(parseMessage(m) as SipResponse);
      });
    });
    sock.send(rawMessage({ transport: 'UDP', host: '127.0.0.1', port: udpPort, bodyLength: 3000, viaExtra: ';rport' }), udpPort, '127.0.0.1');
    assert.equal((await reply).status, 513);
  } finally {
    sock.close();
  }
});

test('hold: call.hold() sends a sendonly re-INVITE, answered recvonly; unhold restores sendrecv', async () => {
  const a = await startUa(['udp:127.0.0.1:0']);
  const b = await startUa(['udp:127.0.0.1:0']);
  let bCall: Call | undefined;
  b.ua.once('invite', (inv) => { bCall = inv.accept(); });
  const call = await a.ua.invite(uriOf(b, 'udp'));
  assert.ok(call.established);
  await waitFor(() => reqs(b, 'ACK').length > 0, 'ACK');

  const res = await call.hold();
  assert.equal(res.status, 200);
  const reinvite = reqs(b, 'INVITE').at(-1)!;
  assert.ok(reinvite.to.tag, 're-INVITE is in-dialog');
  assert.match(reinvite.body.toString(), /a=sendonly/);
  assert.match(call.localSdp ?? '', /a=sendonly/);
  assert.match(call.remoteSdp ?? '', /a=recvonly/, 'answer to sendonly is recvonly');
  assert.match(bCall!.remoteSdp ?? '', /a=sendonly/);
  await waitFor(() => reqs(b, 'ACK').length >= 2, 'ACK for the re-INVITE');
  assert.equal(reqs(b, 'ACK').at(-1)!.cseq.seq, reinvite.cseq.seq, 'ACK reuses the re-INVITE CSeq');
  assert.ok(reinvite.cseq.seq > reqs(b, 'INVITE')[0]!.cseq.seq);

  const un = await call.unhold();
  assert.equal(un.status, 200);
  assert.match(call.remoteSdp ?? '', /a=sendrecv/);
  assert.equal((await call.bye())?.status, 200);
});

test('RFC 3581 rport: the response goes to the source port and Via carries received and rport', async () => {
  const b = await startUa(['udp:127.0.0.1:0']);
  const port = listener(b, 'udp').port;
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const myPort = sock.address().port;
  try {
    // sent-by names another host and port: without rport the answer would go to 192.0.2.1:9.
    const req =
      `OPTIONS sip:bob@127.0.0.1:${port} SIP/2.0\r\n` +
      'Via: SIP/2.0/UDP 192.0.2.1:9;branch=z9hG4bK-rport-1;rport\r\n' +
      'Max-Forwards: 70\r\n' +
      'From: <sip:tester@192.0.2.1>;tag=r1\r\n' +
      'To: <sip:bob@127.0.0.1>\r\n' +
      'Call-ID: rport-1@test\r\n' +
      'CSeq: 1 OPTIONS\r\n' +
      'Content-Length: 0\r\n\r\n';
    const reply = new Promise<{ res: SipResponse; from: dgram.RemoteInfo }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no response at our source port')), 5000);
      sock.once('message', (m, rinfo) => {
        clearTimeout(timer);
        resolve({ res: parseMessage(m) as SipResponse, from: rinfo });
      });
    });
    sock.send(req, port, '127.0.0.1');
    const { res, from } = await reply;
    assert.equal(res.status, 200);
    assert.equal(from.port, port, 'answered from the listener the request went to');
    const via = res.topVia;
    assert.equal(via.received, '127.0.0.1');
    assert.equal(via.rport, myPort);
    assert.equal(via.branch, 'z9hG4bK-rport-1');
    assert.equal(via.sentBy, '192.0.2.1:9', 'sent-by is kept');
  } finally {
    sock.close();
  }
});

test('WS/WSS carry a non-UTF-8 body byte for byte (RFC 7118 §5: binary frames)', async () => {
  const body = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  for (const kind of ['ws', 'wss'] as const) {
    const a = await startUa([`${kind}:127.0.0.1:0`]);
    const b = await startUa([`${kind}:127.0.0.1:0`]);
    const res = await a.ua.request('MESSAGE', uriOf(b, kind), { body, contentType: 'application/octet-stream', transport: kind });
    assert.equal(res.status, 200, kind);
    const got = reqs(b, 'MESSAGE').at(-1)!;
    assert.equal(got.source!.transport, kind);
    assert.ok(got.body.equals(body), `${kind}: body arrived unchanged (${got.body.length} bytes)`);
  }
});

test('TLS: a peer certificate that is not trusted fails the request (synthetic 503), a trusted one works', async () => {
  const b = await startUa(['tls:127.0.0.1:0']);
  const { key, cert } = makeTestCert();
  const untrusting = await startUa(['udp:127.0.0.1:0'], { transport: { tls: { key, cert, rejectUnauthorized: true } } });
  const res = await untrusting.ua.options(uriOf(b, 'tls'), { transport: 'tls' });
  assert.equal(res.status, 503, `untrusted certificate: ${res.status} ${res.reason}`);
  assert.equal(reqs(b, 'OPTIONS').length, 0);
  const trusting = await startUa(['udp:127.0.0.1:0']);
  assert.equal((await trusting.ua.options(uriOf(b, 'tls'), { transport: 'tls' })).status, 200);
});
