// Handbook call flow 2: two user agents through a proxy (examples/callflow-2-proxy.yaml).
// GW-B (`switchboard answer`) registers at the proxy; the caller (`switchboard call --proxy`)
// calls the AOR through the proxy.
//  - recordRoute: false: the INVITE and its responses pass the proxy, ACK and BYE go straight
//    between the endpoints (the proxy sees neither).
//  - recordRoute: true: the forwarded INVITE carries the proxy's Record-Route, and ACK and BYE
//    (and the BYE's 200) pass the proxy too.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSwitchboard } from '../sipp/sipp.js';
import {
  describe, describeRun, exampleConfig, freePorts, headerValues, isReq, isRes, parseTrace, sequence, startAnswerUa, startServe, type TraceMsg,
} from './callflow-harness.js';

async function flow2(recordRoute: boolean): Promise<{ proxy: TraceMsg[]; gwb: TraceMsg[]; caller: TraceMsg[]; ports: { proxy: number; gwb: number; caller: number } }> {
  const [proxyPort, gwbPort, regPort, callerPort] = await freePorts(4) as [number, number, number, number];
  const cfg = exampleConfig('callflow-2-proxy', { 5160: proxyPort }, (t) => t.replace(/recordRoute: false/, `recordRoute: ${recordRoute}`));
  assert.match(cfg.text, new RegExp(`recordRoute: ${recordRoute}`));
  const server = await startServe(cfg.path, { udpPorts: [proxyPort], tcpPorts: [proxyPort], hop: 'proxy' });
  const gwb = await startAnswerUa(gwbPort);
  try {
    const reg = await runSwitchboard(
      ['register', 'sip:gwb@127.0.0.1', '--registrar', `sip:127.0.0.1:${proxyPort}`, '--contact', `sip:gwb@127.0.0.1:${gwbPort}`, '--expires', '120', '--listen', `udp:127.0.0.1:${regPort}`],
      15_000,
    );
    assert.equal(reg.code, 0, `register failed\n${describeRun(reg)}`);
    const r = await runSwitchboard(
      ['call', 'sip:gwb@127.0.0.1', '--proxy', `sip:127.0.0.1:${proxyPort}`, '--duration', '1', '--listen', `udp:127.0.0.1:${callerPort}`, '--trace'],
      30_000,
    );
    const ctx = `\n--- proxy ---\n${describe(server.trace())}\n--- gw-b ---\n${describe(gwb.trace())}`;
    assert.equal(r.code, 0, `call failed\n${describeRun(r)}${ctx}`);
    assert.match(r.stdout, /call established/);
    assert.match(r.stdout, /call ended: BYE 200/);
    await new Promise((res) => setTimeout(res, 300));
    const caller = parseTrace(r.stderr, 'caller');
    const callId = caller.find(isReq('INVITE'))!.callId;
    return {
      proxy: server.trace().filter((m) => m.callId === callId),
      gwb: gwb.trace().filter((m) => m.callId === callId),
      caller,
      ports: { proxy: proxyPort, gwb: gwbPort, caller: callerPort },
    };
  } finally {
    await Promise.all([server.stop(), gwb.stop()]);
    cfg.cleanup();
  }
}

test('flow 2, Record-Route off: the proxy sees INVITE and responses, neither ACK nor BYE', { timeout: 90_000 }, async () => {
  const { proxy, gwb, caller, ports } = await flow2(false);
  const where = `proxy:\n${describe(proxy)}\ngw-b:\n${describe(gwb)}\ncaller:\n${describe(caller)}`;
  // Upstream side of the proxy (caller ↔ proxy) and downstream side (proxy ↔ GW-B).
  assert.deepEqual(sequence(proxy, (m) => m.remotePort === ports.caller), ['>INVITE', '<100', '<180', '<200'], where);
  assert.deepEqual(sequence(proxy, (m) => m.remotePort === ports.gwb), ['<INVITE', '>180', '>200'], where);
  assert.equal(proxy.filter(isReq('ACK')).length, 0, `the proxy must not see the ACK\n${where}`);
  assert.equal(proxy.filter(isReq('BYE')).length, 0, `the proxy must not see the BYE\n${where}`);
  const fwd = proxy.find((m) => m.dir === 'Sent' && isReq('INVITE')(m))!;
  assert.equal(headerValues(fwd, 'Record-Route').length, 0, 'no Record-Route with recordRoute: false');
  assert.equal(fwd.requestUri, `sip:gwb@127.0.0.1:${ports.gwb}`, 'Request-URI retargeted to the registered contact');
  // RFC 3261 §18.2.1 / RFC 3581: the caller's Via (sent with rport) is forwarded with received/rport filled in.
  const vias = headerValues(fwd, 'Via');
  assert.equal(vias.length, 2, where);
  assert.match(vias[1]!, new RegExp(`;rport=${ports.caller}\\b`), `forwarded Via keeps rport=${ports.caller}\n${where}`);
  // GW-B got ACK and BYE straight from the caller.
  assert.deepEqual(sequence(gwb, (m) => m.remotePort === ports.caller), ['>ACK', '>BYE', '<200'], where);
  assert.deepEqual(sequence(caller, (m) => m.remotePort === ports.gwb), ['<ACK', '<BYE', '>200'], where);
});

test('flow 2, Record-Route on: Record-Route on the forwarded INVITE, ACK and BYE pass the proxy', { timeout: 90_000 }, async () => {
  const { proxy, gwb, caller, ports } = await flow2(true);
  const where = `proxy:\n${describe(proxy)}\ngw-b:\n${describe(gwb)}\ncaller:\n${describe(caller)}`;
  const fwd = proxy.find((m) => m.dir === 'Sent' && isReq('INVITE')(m))!;
  assert.ok(fwd, where);
  const rr = headerValues(fwd, 'Record-Route');
  assert.ok(rr.some((v) => v.includes(`127.0.0.1:${ports.proxy}`) && v.includes(';lr')), `forwarded INVITE carries the proxy's Record-Route: ${JSON.stringify(rr)}`);
  // GW-B must echo the Record-Route in its 2xx (RFC 3261 §12.1.1) so the caller routes via the proxy.
  const ok = gwb.find((m) => m.dir === 'Sent' && isRes(200, 'INVITE')(m));
  assert.ok(ok, where);
  assert.ok(headerValues(ok, 'Record-Route').length > 0, `GW-B's 200 to the INVITE must copy Record-Route (RFC 3261 §12.1.1)\n${ok.text}`);
  assert.deepEqual(sequence(proxy, (m) => m.remotePort === ports.caller), ['>INVITE', '<100', '<180', '<200', '>ACK', '>BYE', '<200'], where);
  assert.deepEqual(sequence(proxy, (m) => m.remotePort === ports.gwb), ['<INVITE', '>180', '>200', '<ACK', '<BYE', '>200'], where);
  assert.equal(sequence(gwb, (m) => m.remotePort === ports.caller).length, 0, `nothing goes straight from the caller to GW-B\n${where}`);
  const bye = proxy.find((m) => m.dir === 'Received' && isReq('BYE')(m))!;
  assert.ok(headerValues(bye, 'Route').some((v) => v.includes(`127.0.0.1:${ports.proxy}`)), `the caller's BYE carries Route: proxy\n${bye.text}`);
});
