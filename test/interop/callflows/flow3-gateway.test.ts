// Handbook call flow 3 with a Switchboard gateway: GW-B is `switchboard serve` with the gateway
// role, which registers its numbers at proxy-b's registrar (step 1: 3401 and +14085550100 as
// sip:NUMBER@b.example) and answers the calls its inbound dial-peers take. A caller reaches
// 3401 through proxy-a → redirect → proxy-b → GW-B; a registered number with no inbound
// dial-peer is refused 404 with `Reason: Q.850;cause=1`; when GW-B stops, its bindings go
// (Expires 0) and proxy-b answers 404 for 3401.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSwitchboard } from '../sipp/sipp.js';
import { describeRun, exampleConfig, freePorts, isReq, parseTrace, startServe, writeConfig } from './callflow-harness.js';

test('flow 3 with a gateway that registers its E.164 numbers: calls reach it through two proxies and a redirect; it refuses a number no inbound dial-peer takes; it unregisters when it stops', { timeout: 90_000 }, async () => {
  const [pa, rd, pb, gw, c1, c2, c3] = (await freePorts(7)) as [number, number, number, number, number, number, number];
  const flow = exampleConfig('callflow-3-multiserver', { 5161: pa, 5162: rd, 5163: pb });
  const gwCfg = writeConfig(`listen: [udp:127.0.0.1:${gw}]
domains: [127.0.0.1]
roles: [gateway]
store: memory
gateway:
  registrar: sip:127.0.0.1:${pb}
  domain: b.example
  numbers: ['3401', '3999', '+14085550100']
  expires: 120
dialPlan:
  dialPeers:
    - { tag: 1, incomingCalledNumber: '34..' }
    - { tag: 2, incomingCalledNumber: '+1408.......' }
`);
  const servers = await startServe(flow.path, { udpPorts: [pa, rd, pb] });
  let gateway = await startServe(gwCfg.path, { udpPorts: [gw], hop: 'gw-b' });
  try {
    const log = () => gateway.output().stderr;
    // Registration runs in the background of the start: wait for the three numbers.
    for (let i = 0; i < 100 && (log().match(/ registered at /g) ?? []).length < 3; i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(log(), /gateway: sip:3401@b\.example registered at sip:127\.0\.0\.1:\d+ for 120 s/, log());
    assert.match(log(), /gateway: sip:\+14085550100@b\.example registered/, log());
    const regs = parseTrace(log(), 'gw-b').filter((m) => m.dir === 'Sent' && isReq('REGISTER')(m));
    assert.equal(regs.length, 3, 'one REGISTER per number');

    const call = (number: string, port: number) => runSwitchboard(['call', `sip:${number}@b.example`, '--proxy', `sip:127.0.0.1:${pa}`, '--from', 'sip:uac@a.example', '--duration', '1', '--listen', `udp:127.0.0.1:${port}`, '--trace'], 30_000);
    const ok = await call('3401', c1);
    assert.equal(ok.code, 0, `${describeRun(ok)}\n--- gw-b ---\n${log().slice(-4000)}`);
    assert.match(ok.stdout, /call established/);
    const invite = parseTrace(log(), 'gw-b').find((m) => m.dir === 'Received' && isReq('INVITE')(m));
    assert.match(invite?.requestUri ?? '', /^sip:3401@127\.0\.0\.1:\d+/, 'proxy-b sent it to the registered Contact');

    const refused = await call('3999', c2);
    assert.equal(refused.code, 1, describeRun(refused));
    assert.match(refused.stdout, /call failed: 404 Unallocated Number/, describeRun(refused));
    assert.match(refused.stderr, /^Reason: Q\.850;cause=1$/m, 'the cause travels back to the caller');
    assert.match(log(), /no inbound dial-peer for 3999: 404 \(Q\.850 cause 1\)/);

    await gateway.stop();
    gateway = undefined as never;
    const gone = await call('3401', c3);
    assert.match(gone.stdout, /call failed: 404/, `the binding went when the gateway stopped\n${describeRun(gone)}`);
  } finally {
    await gateway?.stop();
    await servers.stop();
    flow.cleanup();
    gwCfg.cleanup();
  }
});
