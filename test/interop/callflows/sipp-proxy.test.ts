// The benchmark's call scenario as a test: SIPp `-sn uac` → `serve --config examples/proxy-bench.yaml`
// (ports substituted) → SIPp `-sn uas`. The uac runs with `-default_behaviors all,-abortunexp`
// (see the bench README: a late 180 after the 200 must not abort a call). UDP, TCP (`-t t1` on
// both SIPps, a tcp listener and a tcp defaultRoute), and UDP with 10 % packet loss on the uac.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeSipp, runSipp, startSipp, type SippTransport } from '../sipp/sipp.js';
import { exampleConfig, freePorts, startServe } from './callflow-harness.js';

const CALLS = 100;

async function bench(opts: { transport: SippTransport; lost?: number; rate: number; timeoutS: number; stateless?: boolean }): Promise<void> {
  const [proxyPort, uasPort, uacPort] = await freePorts(3) as [number, number, number];
  const tcp = opts.transport.startsWith('t');
  const cfg = exampleConfig('proxy-bench', { 5070: proxyPort, 5090: uasPort }, (t) =>
    (tcp ? t.replace(`listen: [udp:127.0.0.1:${proxyPort}]`, `listen: [udp:127.0.0.1:${proxyPort}, tcp:127.0.0.1:${proxyPort}]`).replace(`defaultRoute: sip:127.0.0.1:${uasPort}`, `defaultRoute: "sip:127.0.0.1:${uasPort};transport=tcp"`) : t)
      .replace('proxy:\n', opts.stateless ? 'proxy:\n  stateless: true\n' : 'proxy:\n'),
  );
  if (opts.stateless) assert.match(cfg.text, /stateless: true/);
  if (tcp) assert.match(cfg.text, /transport=tcp/);
  // The trace of 100 calls is large but bounded (1 MiB tail kept); it is only used on failure.
  const server = await startServe(cfg.path, { udpPorts: [proxyPort], tcpPorts: tcp ? [proxyPort] : [], hop: 'proxy' });
  const uas = await startSipp({ scenario: 'uas', localPort: uasPort, transport: opts.transport, timeoutS: opts.timeoutS + 30 });
  try {
    const uac = await runSipp({
      scenario: 'uac',
      target: `127.0.0.1:${proxyPort}`,
      localPort: uacPort,
      transport: opts.transport,
      calls: CALLS,
      rate: opts.rate,
      lost: opts.lost,
      timeoutS: opts.timeoutS,
      extra: ['-default_behaviors', 'all,-abortunexp'],
    });
    // With -lost the uas may wait for an ACK the uac dropped (the built-in uac counts the call
    // as done and ignores the 200 retransmissions as a "dead call"): do not wait long for it.
    const u = await uas.finish(opts.lost ? 6_000 : 20_000);
    const msg = `--- uac ---\n${describeSipp(uac)}\n--- uas ---\n${describeSipp(u)}\n--- proxy stderr (tail) ---\n${server.output().stderr.slice(-3000)}`;
    assert.equal(uac.code, 0, msg);
    assert.equal(uac.successful, CALLS, msg);
    assert.equal(uac.failed, 0, msg);
    // Without loss every call also completes on the uas side (over TCP the uas may count
    // FailedTcpClosed when the uac closes first, see sipp.ts: judge TCP by the uac). With loss,
    // a call whose ACK the uac dropped never completes at the uas: judge by the uac too.
    if (!tcp && !opts.lost) assert.equal(u.successful, CALLS, msg);
    assert.equal(server.exitStatus(), null, 'the proxy is still running');
    if (opts.stateless) {
      // RFC 3261 §16.11: requests leave with the stateless branch, and no transaction answered 100.
      const trace = server.output().stderr;
      assert.match(trace, /branch=z9hG4bKsl/, 'stateless branch in forwarded requests');
      assert.doesNotMatch(trace, /branch=z9hG4bKsb/, 'no stateful branch');
    }
  } finally {
    await uas.stop();
    await server.stop();
    cfg.cleanup();
  }
}

test(`SIPp uac → proxy (proxy-bench.yaml) → SIPp uas over UDP: ${CALLS} calls`, { timeout: 120_000 }, async () => {
  await bench({ transport: 'u1', rate: 50, timeoutS: 60 });
});

test(`SIPp uac → proxy → SIPp uas over TCP (-t t1): ${CALLS} calls`, { timeout: 120_000 }, async () => {
  await bench({ transport: 't1', rate: 50, timeoutS: 60 });
});

test(`SIPp uac (-lost 10) → proxy → SIPp uas over UDP: ${CALLS} calls, all complete`, { timeout: 240_000 }, async () => {
  await bench({ transport: 'u1', lost: 10, rate: 20, timeoutS: 150 });
});

test(`SIPp uac → stateless proxy (RFC 3261 §16.11) → SIPp uas over UDP: ${CALLS} calls`, { timeout: 120_000 }, async () => {
  await bench({ transport: 'u1', rate: 50, timeoutS: 60, stateless: true });
});
