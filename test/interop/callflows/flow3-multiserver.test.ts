// Handbook call flow 3 (examples/callflow-3-multiserver.yaml, one `serve` process, three named
// servers): UAC → proxy-a (a.example) → redirect (302 Contact sip:gwb@proxy-b) → proxy-a ACKs the
// 302 and recurses → proxy-b (b.example, registrar) → GW-B (`switchboard answer`, registered at
// proxy-b). Both proxies record-route, so ACK and BYE traverse proxy-a and proxy-b.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSwitchboard } from '../sipp/sipp.js';
import {
  describe, describeRun, exampleConfig, freePorts, headerValues, indexOf, isReq, isRes, parseTrace, sequence, startAnswerUa, startServe,
} from './callflow-harness.js';

test('flow 3: proxy-a → redirect 302 → proxy-b → GW-B; every hop sees its part of the call', { timeout: 90_000 }, async () => {
  const [pa, rd, pb, gwbPort, regPort, callerPort] = await freePorts(6) as [number, number, number, number, number, number];
  const cfg = exampleConfig('callflow-3-multiserver', { 5161: pa, 5162: rd, 5163: pb });
  const server = await startServe(cfg.path, { udpPorts: [pa, rd, pb] });
  const gwb = await startAnswerUa(gwbPort);
  try {
    const reg = await runSwitchboard(
      ['register', 'sip:gwb@b.example', '--registrar', `sip:127.0.0.1:${pb}`, '--contact', `sip:gwb@127.0.0.1:${gwbPort}`, '--expires', '120', '--listen', `udp:127.0.0.1:${regPort}`],
      15_000,
    );
    assert.equal(reg.code, 0, `register at proxy-b failed\n${describeRun(reg)}`);
    const r = await runSwitchboard(
      ['call', 'sip:gwb@b.example', '--proxy', `sip:127.0.0.1:${pa}`, '--from', 'sip:uac@a.example', '--duration', '1', '--listen', `udp:127.0.0.1:${callerPort}`, '--trace'],
      30_000,
    );
    const all = (): string => `\n--- servers ---\n${describe(server.trace())}\n--- gw-b ---\n${describe(gwb.trace())}`;
    assert.equal(r.code, 0, `call failed\n${describeRun(r)}${all()}`);
    assert.match(r.stdout, /call established/);
    assert.match(r.stdout, /call ended: BYE 200/);
    await new Promise((res) => setTimeout(res, 300));

    const caller = parseTrace(r.stderr, 'caller');
    const callId = caller.find(isReq('INVITE'))!.callId;
    const msgs = server.trace().filter((m) => m.callId === callId);
    const hop = (name: string) => msgs.filter((m) => m.hop === name);
    const A = hop('proxy-a');
    const R = hop('redirect');
    const B = hop('proxy-b');
    const G = gwb.trace().filter((m) => m.callId === callId);
    const where = `proxy-a:\n${describe(A)}\nredirect:\n${describe(R)}\nproxy-b:\n${describe(B)}\ngw-b:\n${describe(G)}`;

    // proxy-a ↔ redirect: INVITE, 302, ACK for the 302 (same CSeq number, hop-by-hop).
    assert.deepEqual(sequence(A, (m) => m.remotePort === rd), ['<INVITE', '>302', '<ACK'], where);
    assert.deepEqual(sequence(R, (m) => m.remotePort === pa), ['>INVITE', '<302', '>ACK'], where);
    const r302 = R.find(isRes(302))!;
    assert.ok(headerValues(r302, 'Contact').some((c) => c.includes(`sip:gwb@127.0.0.1:${pb}`)), `302 Contact points at proxy-b\n${r302.text}`);
    const ackToRedirect = A.find((m) => m.dir === 'Sent' && isReq('ACK')(m))!;
    assert.equal(ackToRedirect.cseq, r302.cseq);

    // proxy-a: receives the INVITE from the caller, sends it to the redirect first, then (after
    // the 302 and its ACK) to proxy-b.
    const iFromCaller = indexOf(A, (m) => m.dir === 'Received' && isReq('INVITE')(m) && m.remotePort === callerPort);
    const iToRedirect = indexOf(A, (m) => m.dir === 'Sent' && isReq('INVITE')(m) && m.remotePort === rd);
    const i302 = indexOf(A, (m) => m.dir === 'Received' && isRes(302)(m));
    const iToB = indexOf(A, (m) => m.dir === 'Sent' && isReq('INVITE')(m) && m.remotePort === pb);
    assert.ok(iFromCaller >= 0 && iFromCaller < iToRedirect && iToRedirect < i302 && i302 < iToB, `order at proxy-a\n${where}`);
    const toB = A[iToB]!;
    assert.equal(toB.requestUri, `sip:gwb@127.0.0.1:${pb}`, 'recursion uses the 302 Contact as Request-URI');

    // Upstream: the caller sees 100 (proxy-a), 180, 200, then ACK, BYE/200 through proxy-a.
    assert.deepEqual(sequence(A, (m) => m.remotePort === callerPort), ['>INVITE', '<100', '<180', '<200', '>ACK', '>BYE', '<200'], where);
    assert.deepEqual(sequence(A, (m) => m.remotePort === pb), ['<INVITE', '>100', '>180', '>200', '<ACK', '<BYE', '>200'], where);
    // proxy-b: from proxy-a, to GW-B.
    assert.deepEqual(sequence(B, (m) => m.remotePort === pa), ['>INVITE', '<100', '<180', '<200', '>ACK', '>BYE', '<200'], where);
    assert.deepEqual(sequence(B, (m) => m.remotePort === gwbPort), ['<INVITE', '>180', '>200', '<ACK', '<BYE', '>200'], where);
    const toGw = B.find((m) => m.dir === 'Sent' && isReq('INVITE')(m))!;
    assert.equal(toGw.requestUri, `sip:gwb@127.0.0.1:${gwbPort}`, 'proxy-b retargets to the registered contact');
    const rr = headerValues(toGw, 'Record-Route');
    assert.ok(rr[0]?.includes(`127.0.0.1:${pb}`) && rr[1]?.includes(`127.0.0.1:${pa}`), `both proxies record-route: ${JSON.stringify(rr)}`);
    // GW-B talks only to proxy-b.
    assert.deepEqual(sequence(G), ['>INVITE', '<180', '<200', '>ACK', '>BYE', '<200'], where);
    assert.ok(G.every((m) => m.remotePort === pb), `GW-B only talks to proxy-b\n${where}`);
  } finally {
    await Promise.all([server.stop(), gwb.stop()]);
    cfg.cleanup();
  }
});
