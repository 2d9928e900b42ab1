// Handbook call flow 1: two gateways talking directly. GW-A is `switchboard call`, GW-B is
// `switchboard serve --config examples/callflow-1-gateways.yaml` (gateway role). Asserted from
// GW-B's --trace: INVITE → 180, 200, ACK, BYE → 200.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSwitchboard } from '../sipp/sipp.js';
import { describe, describeRun, exampleConfig, freePorts, isReq, isRes, parseTrace, sequence, startServe } from './callflow-harness.js';

test('flow 1: GW-A (call) → GW-B (gateway role): INVITE → 180/200, ACK, BYE/200', { timeout: 60_000 }, async () => {
  const [gw, uac] = await freePorts(2) as [number, number];
  const cfg = exampleConfig('callflow-1-gateways', { 5164: gw });
  const server = await startServe(cfg.path, { udpPorts: [gw], tcpPorts: [gw], hop: 'gw-b' });
  try {
    const r = await runSwitchboard(['call', `sip:3401@127.0.0.1:${gw}`, '--duration', '1', '--listen', `udp:127.0.0.1:${uac}`, '--trace'], 30_000);
    assert.equal(r.code, 0, `call failed\n${describeRun(r)}\n--- gw-b ---\n${server.output().stderr.slice(-4000)}`);
    assert.match(r.stdout, /call established/);
    assert.match(r.stdout, /call ended: BYE 200/);
    // Let GW-B trace the last message.
    await new Promise((res) => setTimeout(res, 300));
    const msgs = server.trace().filter((m) => m.remotePort === uac);
    const seq = sequence(msgs);
    const where = `GW-B trace:\n${describe(msgs)}`;
    assert.deepEqual(seq, ['>INVITE', '<180', '<200', '>ACK', '>BYE', '<200'], where);
    const invite = msgs.find(isReq('INVITE'))!;
    const ok = msgs.find(isRes(200, 'INVITE'))!;
    const ack = msgs.find(isReq('ACK'))!;
    const bye = msgs.find(isReq('BYE'))!;
    const byeOk = msgs.find(isRes(200, 'BYE'))!;
    assert.equal(invite.requestUri, `sip:3401@127.0.0.1:${gw}`, where);
    assert.equal(ok.cseq, invite.cseq, where);
    assert.equal(ack.cseq, invite.cseq, 'ACK carries the INVITE CSeq number');
    assert.equal(ack.cseqMethod, 'ACK');
    assert.ok(bye.cseq > invite.cseq, 'BYE CSeq is higher than the INVITE one');
    assert.equal(byeOk.cseq, bye.cseq);
    for (const m of [ok, ack, bye, byeOk]) assert.equal(m.callId, invite.callId, where);
    assert.match(ok.text, /\nContent-Type: application\/sdp/i, '200 carries the SDP answer');
    // The caller's own trace shows the same exchange from its side.
    const uacSeq = sequence(parseTrace(r.stderr, 'gw-a').filter((m) => m.remotePort === gw));
    assert.deepEqual(uacSeq, ['<INVITE', '>180', '>200', '<ACK', '<BYE', '>200'], describe(parseTrace(r.stderr, 'gw-a')));
  } finally {
    await server.stop();
    cfg.cleanup();
  }
});
