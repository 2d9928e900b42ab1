// The receive-path boundary (issue 12): a message that makes a layer or role throw is answered
// where a response can still be built, counted, and reported with its source and Call-ID; it
// never reaches the socket's event handler. Real UDP and TCP sockets on 127.0.0.1.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { type SipResponse, parseMessage } from '../sip/index.js';
import { SipElement } from './element.js';
import { VirtualClock, guardedClock } from '../util/clock.js';
import { type FaultReport, describeFault, limitLines } from '../transport/fault.js';
import { TransportLayer } from '../transport/transport-layer.js';
import { parseListenSpec } from '../transport/transport.js';

const cleanup: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function layer(): Promise<{ t: TransportLayer; faults: FaultReport[]; udp: number; tcp: number }> {
  const t = new TransportLayer({ listen: [parseListenSpec('udp:127.0.0.1:0'), parseListenSpec('tcp:127.0.0.1:0')] });
  await t.start();
  cleanup.push(() => t.stop());
  const faults: FaultReport[] = [];
  t.onFault = (f) => faults.push(f);
  const [u, c] = t.boundListeners;
  return { t, faults, udp: u!.port, tcp: c!.port };
}

function request(method: string, transport: 'UDP' | 'TCP', callId: string): string {
  return [
    `${method} sip:bob@127.0.0.1 SIP/2.0`,
    `Via: SIP/2.0/${transport} 127.0.0.1:9;branch=z9hG4bK-${callId};rport`,
    'From: <sip:alice@127.0.0.1>;tag=a1',
    'To: <sip:bob@127.0.0.1>',
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** Sends one datagram and resolves with the first response, or undefined after `ms`. */
async function udpExchange(port: number, text: string, ms = 400, socket?: dgram.Socket): Promise<SipResponse | undefined> {
  const s = socket ?? dgram.createSocket('udp4');
  if (!socket) await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  try {
    return await new Promise<SipResponse | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), ms);
      s.once('message', (m) => {
        clearTimeout(timer);
        resolve(parseMessage(m) as SipResponse);
      });
      s.send(text, port, '127.0.0.1');
    });
  } finally {
    if (!socket) s.close();
  }
}

test('a TU that throws on a request: stateless 500, counted and reported with source and Call-ID (UDP)', async () => {
  const { t, faults, udp } = await layer();
  t.onRequest = () => {
    throw new TypeError('boom in a role');
  };
  const res = await udpExchange(udp, request('OPTIONS', 'UDP', 'fault-udp-1'));
  assert.equal(res?.status, 500);
  assert.equal(res?.callId, 'fault-udp-1');
  assert.equal(t.stats.faults, 1);
  assert.equal(faults.length, 1);
  const f = faults[0]!;
  assert.equal(f.where, 'request');
  assert.equal(f.callId, 'fault-udp-1');
  assert.equal(f.answered, 500);
  assert.match(f.source ?? '', /^udp:127\.0\.0\.1:\d+$/);
  assert.match(describeFault(f), /fault in request from udp:127\.0\.0\.1:\d+ Call-ID "fault-udp-1" \(OPTIONS\): TypeError: boom in a role .*; answered 500/);
  // The layer still serves: the next request is answered the same way.
  assert.equal((await udpExchange(udp, request('OPTIONS', 'UDP', 'fault-udp-2')))?.status, 500);
  assert.equal(t.stats.faults, 2);
});

test('an ACK that makes the TU throw is never answered (RFC 3261 §17), only reported', async () => {
  const { t, faults, udp } = await layer();
  t.onRequest = () => {
    throw new Error('ack handler failed');
  };
  assert.equal(await udpExchange(udp, request('ACK', 'UDP', 'fault-ack'), 300), undefined);
  assert.equal(faults.length, 1);
  assert.equal(faults[0]!.answered, undefined);
  assert.match(describeFault(faults[0]!), /; dropped$/);
});

test('a response handler that throws is reported, the connection (TCP) stays usable', async () => {
  const { t, faults, tcp } = await layer();
  let requests = 0;
  t.onResponse = () => {
    throw new Error('response handler failed');
  };
  t.onRequest = (req) => {
    requests++;
    t.sendResponse(parseMessage(Buffer.from(['SIP/2.0 200 OK', `Via: ${req.header('Via')}`, `From: ${req.header('From')}`, `To: ${req.header('To')};tag=x`, `Call-ID: ${req.callId}`, `CSeq: ${req.header('CSeq')}`, 'Content-Length: 0', '', ''].join('\r\n'))) as SipResponse, req);
  };
  const sock = net.connect(tcp, '127.0.0.1');
  cleanup.push(() => void sock.destroy());
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const response = ['SIP/2.0 180 Ringing', 'Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-r1', 'From: <sip:a@x>;tag=1', 'To: <sip:b@y>;tag=2', 'Call-ID: fault-resp', 'CSeq: 1 INVITE', 'Content-Length: 0', '', ''].join('\r\n');
  const got: Buffer[] = [];
  sock.on('data', (d) => got.push(d));
  sock.write(response + request('OPTIONS', 'TCP', 'after-fault'));
  const deadline = Date.now() + 2000;
  while (!Buffer.concat(got).toString().includes('SIP/2.0 200') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(faults.length, 1);
  assert.equal(faults[0]!.where, 'response');
  assert.equal(faults[0]!.callId, 'fault-resp');
  assert.equal(requests, 1);
  assert.match(Buffer.concat(got).toString(), /^SIP\/2\.0 200 OK/);
});

test('element: a TU that throws after the transaction exists answers 500 through it', async () => {
  const { t, faults, udp } = await layer();
  new SipElement({
    transport: t,
    users: () => ({
      failing: {
        uas: { allow: ['OPTIONS', 'INVITE'], supported: [], accept: ['application/sdp'] },
        receiveRequest: () => {
          throw new RangeError('role failed');
        },
      },
    }),
    routes: [{ tu: 'failing' }],
  });
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  cleanup.push(() => void sock.close());
  const res = await udpExchange(udp, request('INVITE', 'UDP', 'fault-core'), 400, sock);
  assert.equal(res?.status, 500);
  assert.ok(res?.to.tag, 'a final response from the transaction carries a To tag');
  assert.equal(faults.length, 1);
  assert.equal(faults[0]!.answered, 500);
  assert.equal(faults[0]!.callId, 'fault-core');
  // Its retransmission is absorbed by the transaction (the same 500 again), not a second fault.
  assert.equal((await udpExchange(udp, request('INVITE', 'UDP', 'fault-core'), 400, sock))?.status, 500);
  assert.equal(faults.length, 1);
});

test('guardedClock: a timer callback that throws is reported, later timers still fire', () => {
  const clock = new VirtualClock();
  const errors: unknown[] = [];
  const g = guardedClock(clock, (e) => errors.push(e));
  let fired = 0;
  g.setTimer(10, () => {
    throw new Error('timer failed');
  });
  g.setTimer(20, () => fired++);
  clock.advance(30);
  assert.equal(errors.length, 1);
  assert.equal(fired, 1);
});

test('limitLines: at most N lines a window, then one line saying how many were held back', () => {
  let now = 0;
  const out: string[] = [];
  const write = limitLines((l) => out.push(l), 3, 1000, () => now);
  for (let i = 0; i < 10; i++) write(`line ${i}`);
  assert.deepEqual(out, ['line 0', 'line 1', 'line 2']);
  now = 1000;
  write('next');
  assert.deepEqual(out.slice(3), ['7 more fault line(s) held back in the last 1 s', 'next']);
});

test('a UDP destination the socket refuses outright (port 0) is a transport error, not a throw', async () => {
  const { t } = await layer();
  const errors: Error[] = [];
  const [u] = (t as unknown as { udp: Array<{ send(b: Buffer, a: string, p: number, e?: (err: Error) => void): void }> }).udp;
  assert.doesNotThrow(() => u!.send(Buffer.from('x'), '127.0.0.1', 0));
  assert.doesNotThrow(() => u!.send(Buffer.from('x'), '127.0.0.1', 0, (e) => errors.push(e)));
  await new Promise((r) => setImmediate(r));
  assert.equal(errors.length, 1);
  assert.match(errors[0]!.message, /Port should be > 0/);
});
