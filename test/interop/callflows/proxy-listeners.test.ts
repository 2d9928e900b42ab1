// One proxy process with two UDP listeners: a downstream element that answers on the *other*
// listener (as a cluster peer or a load balancer in front of it may) still reaches the
// transaction the request created. RFC 3261 §17.1.3 matches a response to its client
// transaction by the branch and CSeq method, not by the socket it arrived on; the transaction
// table is per process, so every listener of the process finds it.
//
// Raw UDP on both sides: `up` plays the caller, `down` the next hop (the proxy's defaultRoute).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RawUdp, freePorts, rand, startServe, writeConfig, type RawMsg, type TempConfig, type TracedProcess } from './callflow-harness.js';

let server: TracedProcess;
let cfg: TempConfig;
let portA: number;
let portB: number;
let up: RawUdp;
let down: RawUdp;

before(async () => {
  [portA, portB] = await freePorts(2) as [number, number];
  down = await RawUdp.open();
  up = await RawUdp.open();
  cfg = writeConfig(`store: memory
listen: [udp:127.0.0.1:${portA}, udp:127.0.0.1:${portB}]
domains: [127.0.0.1]
roles: [proxy]
proxy: { authenticate: false, recordRoute: true, defaultRoute: "sip:127.0.0.1:${down.port}" }
`);
  server = await startServe(cfg.path, { udpPorts: [portA, portB] });
});

after(async () => {
  up?.close();
  down?.close();
  await server?.stop();
  cfg?.cleanup();
});

/** A response to the request `req` (as `down` received it), every Via copied (RFC 3261 §8.2.6.2). */
function responseTo(req: RawMsg, status: number, reason: string, toTag: string): string {
  const lines = req.text.split(/\r?\n/);
  const keep = lines.filter((l) => /^(Via|From|Call-ID|CSeq):/i.test(l));
  const to = lines.find((l) => /^To:/i.test(l))!;
  return [`SIP/2.0 ${status} ${reason}`, ...keep, `${to};tag=${toTag}`, 'Content-Length: 0', '', ''].join('\n');
}

test('a response arriving on another listener of the same process reaches its transaction: relayed upstream, and the 486 is ACKed downstream by the client transaction', { timeout: 20_000 }, async () => {
  const callId = `${rand()}@127.0.0.1`;
  const branch = `z9hG4bK${rand()}`;
  const invite = [
    `INVITE sip:bob@127.0.0.1:${portA} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${up.port};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:alice@127.0.0.1>;tag=${rand(4)}`,
    `To: <sip:bob@127.0.0.1:${portA}>`,
    `Call-ID: ${callId}`,
    'CSeq: 7 INVITE',
    `Contact: <sip:alice@127.0.0.1:${up.port}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\n');
  await up.send(invite, portA);

  // The proxy forwards from listener A: its Via names A.
  const fwd = await down.wait((m) => m.method === 'INVITE' && m.header('Call-ID') === callId, 5000);
  const topVia = fwd.header('Via')!;
  assert.match(topVia, new RegExp(`^SIP/2\\.0/UDP 127\\.0\\.0\\.1:${portA};branch=z9hG4bK`), `forwarded from listener A\n${fwd.text}`);
  assert.equal(fwd.from.port, portA, 'sent from listener A');
  const proxyBranch = /branch=([^;,\s]+)/.exec(topVia)![1]!;

  // The next hop answers on listener B instead: 180, then 486.
  const sinceUp = up.received.length;
  await down.send(responseTo(fwd, 180, 'Ringing', 'dn1'), portB);
  const ringing = await up.wait((m) => m.status === 180 && m.header('Call-ID') === callId, 5000, sinceUp);
  assert.match(ringing.header('Via')!, new RegExp(`branch=${branch}`), 'the proxy removed its own Via');
  assert.doesNotMatch(ringing.text, new RegExp(proxyBranch), `our Via is gone upstream\n${ringing.text}`);

  const sinceDown = down.received.length;
  await down.send(responseTo(fwd, 486, 'Busy Here', 'dn1'), portB);
  const busy = await up.wait((m) => m.status === 486 && m.header('Call-ID') === callId, 5000, sinceUp);
  assert.equal(busy.header('CSeq'), '7 INVITE');

  // Only a client transaction ACKs a non-2xx final response hop by hop (RFC 3261 §17.1.1.3),
  // with the branch of the INVITE it sent: proof that the response reached that transaction
  // rather than being relayed statelessly.
  const ack = await down.wait((m) => m.method === 'ACK' && m.header('Call-ID') === callId, 5000, sinceDown);
  assert.match(ack.header('Via')!, new RegExp(`branch=${proxyBranch}`), ack.text);
  assert.equal(ack.header('CSeq'), '7 ACK');

  // ...and the INVITE is no longer retransmitted to the next hop (Timer A stopped by the 180).
  await new Promise((r) => setTimeout(r, 1200));
  const invites = down.received.filter((m) => m.method === 'INVITE' && m.header('Call-ID') === callId);
  assert.equal(invites.length, 1, `INVITE sent ${invites.length} times`);
  assert.equal(server.exitStatus(), null, 'the proxy is still running');
});
