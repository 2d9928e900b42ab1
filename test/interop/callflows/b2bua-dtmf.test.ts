// DTMF conversion in the B2BUA (`b2bua.dtmf: convert`, the default; docs/gateway.md): a caller
// that agreed on NOTIFY-based relay (Cisco telephone-event) with the B2BUA and a callee that takes
// only INFO (application/dtmf-relay), and the other way round; each digit arrives by the callee's
// method. Against SIPp (ua-dtmf-info.xml, which checks the INFO's body) as an independent callee;
// with `dtmf: pass` (relayed as they come, no NOTIFY relay offered) a caller that only does
// NOTIFY has no way to send the digit at all.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { stopAll } from '../../harness/processes.js';
import { SCENARIO_DIR, describeSipp, runSwitchboard, startSipp } from '../sipp/sipp.js';
import { describeRun, freePorts, isReq, isRes, startAnswerUa, startServe, writeConfig } from './callflow-harness.js';

after(async () => {
  await stopAll();
});

function b2buaConfig(port: number, calleePort: number, dtmf: 'convert' | 'pass') {
  return writeConfig([
    `listen: [udp:127.0.0.1:${port}]`,
    'domains: [127.0.0.1]',
    'roles: [b2bua]',
    'store: memory',
    'b2bua:',
    `  target: 'sip:{user}@127.0.0.1:${calleePort}'`,
    `  dtmf: ${dtmf}`,
    '',
  ].join('\n'));
}

for (const [callerRelay, calleeRelay] of [['sip-notify', 'sip-info'], ['sip-info', 'sip-notify']] as const) {
  test(`call --dtmf-relay ${callerRelay} → B2BUA → answer --dtmf-relay ${calleeRelay}: every digit is converted and arrives by ${calleeRelay}`, { timeout: 90_000 }, async () => {
    const [b2buaPort, calleePort] = (await freePorts(2)) as [number, number];
    const cfg = b2buaConfig(b2buaPort, calleePort, 'convert');
    const server = await startServe(cfg.path, { udpPorts: [b2buaPort], hop: 'b2bua' });
    const callee = await startAnswerUa(calleePort, { args: ['--dtmf-relay', calleeRelay] });
    try {
      const r = await runSwitchboard(['call', `sip:4000@127.0.0.1:${b2buaPort}`, '--duration', '0', '--dtmf', '12#', '--dtmf-relay', callerRelay, '--listen', 'udp:127.0.0.1:0'], 45_000);
      const why = `${describeRun(r)}\n--- b2bua ---\n${server.output().stderr.slice(-6000)}`;
      assert.equal(r.code, 0, why);
      assert.equal((r.stdout.match(new RegExp(`^DTMF sent . ${callerRelay}: 200 OK$`, 'gm')) ?? []).length, 3, why);
      await new Promise((res) => setTimeout(res, 300));
      const out = callee.output().stdout;
      assert.deepEqual([...out.matchAll(/^DTMF (\S) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`), ['1', '2', '#'].map((d) => `${d} ${calleeRelay}`), out);
      const trace = server.trace();
      const sentToCallee = trace.filter((m) => m.dir === 'Sent' && m.remotePort === calleePort && m.kind === 'request' && (m.method === 'INFO' || m.method === 'NOTIFY'));
      assert.deepEqual(sentToCallee.map((m) => m.method), [calleeRelay === 'sip-info' ? 'INFO' : 'NOTIFY', calleeRelay === 'sip-info' ? 'INFO' : 'NOTIFY', calleeRelay === 'sip-info' ? 'INFO' : 'NOTIFY']);
      // Both legs were offered NOTIFY-based relay: leg B in the INVITE; leg A in the 200 only when the caller offered it.
      const offered = (m: (typeof trace)[number] | undefined) => m?.headers.some(([n, v]) => n === 'Call-Info' && /method="NOTIFY;Event=telephone-event/.test(v)) ?? false;
      assert.ok(offered(trace.find((m) => m.dir === 'Sent' && isReq('INVITE')(m))), 'leg B\'s INVITE offers NOTIFY relay');
      assert.equal(offered(trace.find((m) => m.dir === 'Sent' && isRes(200, 'INVITE')(m) && m.remotePort !== calleePort)), callerRelay === 'sip-notify', 'leg A\'s 200 offers it back only when the caller did');
      assert.match(server.output().stderr, new RegExp(`DTMF 1 ${callerRelay} → ${calleeRelay}`));
    } finally {
      await callee.stop();
      await server.stop();
      cfg.cleanup();
    }
  });
}

for (const dtmf of ['convert', 'pass'] as const) {
  test(`call --dtmf 5 --dtmf-relay sip-notify → B2BUA (dtmf: ${dtmf}) → SIPp that takes INFO only: ${dtmf === 'convert' ? 'the NOTIFY becomes the INFO the scenario checks' : 'the NOTIFY is relayed as it came and the INFO-only scenario fails'}`, { timeout: 90_000 }, async () => {
    const [b2buaPort, sippPort] = (await freePorts(2)) as [number, number];
    const cfg = b2buaConfig(b2buaPort, sippPort, dtmf);
    const server = await startServe(cfg.path, { udpPorts: [b2buaPort], hop: 'b2bua' });
    const sipp = await startSipp({ scenario: join(SCENARIO_DIR, 'ua-dtmf-info.xml'), localPort: sippPort, calls: 1, timeoutS: dtmf === 'convert' ? 30 : 6 });
    try {
      const r = await runSwitchboard(['call', `sip:4000@127.0.0.1:${b2buaPort}`, '--duration', '0', '--dtmf', '5', '--dtmf-relay', 'sip-notify', '--listen', 'udp:127.0.0.1:0'], 30_000);
      const uas = await sipp.finish(20_000);
      const why = `${describeRun(r)}\n--- sipp ---\n${describeSipp(uas)}\n--- b2bua ---\n${server.output().stderr.slice(-4000)}`;
      if (dtmf === 'convert') {
        assert.equal(r.code, 0, why);
        assert.match(r.stdout, /^DTMF sent 5 sip-notify: 200 OK$/m, why);
        assert.equal(uas.successful, 1, why);
        assert.equal(uas.failed, 0, why);
      } else {
        // Without conversion the B2BUA offers no NOTIFY relay back (Call-Info is not copied): the
        // caller, limited to sip-notify, has no method in common, and SIPp never gets its INFO.
        assert.match(r.stdout, /^DTMF: no method in common/m, why);
        assert.notEqual(uas.successful, 1, why);
        assert.ok(!server.trace().some((m) => m.dir === 'Sent' && m.remotePort === sippPort && (isReq('INFO')(m) || isReq('NOTIFY')(m))), 'nothing reached SIPp');
      }
    } finally {
      await sipp.stop();
      await server.stop();
      cfg.cleanup();
    }
  });
}
