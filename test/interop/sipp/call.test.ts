// Acceptance: `switchboard call` on the wire against SIPp's built-in uas scenario
// (INVITE → 180 → 200 ← ACK, BYE → 200), over UDP, TCP and UDP with 10 % packet loss.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { freePortBoth, stopAll, type RunResult } from '../../harness/processes.js';
import { describeSipp, runSwitchboard, startSipp, type SippProcess, type SippTransport } from './sipp.js';

after(async () => {
  await stopAll();
});

function describeRun(r: RunResult): string {
  return `exit ${r.code}${r.signal ? ` signal ${r.signal}` : ''}${r.timedOut ? ' (timed out)' : ''}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr.slice(-6000)}`;
}

async function withUas<T>(transport: SippTransport, lost: number | undefined, fn: (port: number, uas: SippProcess) => Promise<T>): Promise<T> {
  const port = await freePortBoth();
  const uas = await startSipp({ scenario: 'uas', localPort: port, transport, lost, timeoutS: 100 });
  try {
    return await fn(port, uas);
  } finally {
    // Graceful quit: the built-in uas keeps each call 4 s after the BYE, SIPp waits for it.
    const u = await uas.finish(15_000);
    rmSync(u.files.dir, { recursive: true, force: true });
  }
}

function assertCallOk(r: RunResult, uas: SippProcess): void {
  const msg = `${describeRun(r)}\n--- sipp uas (pid ${uas.pid}) ---\n${uas.output().stdout.slice(-3000)}`;
  assert.equal(r.timedOut, false, msg);
  assert.equal(r.code, 0, msg);
  assert.match(r.stdout, /^call established: \S+$/m, msg);
  assert.match(r.stdout, /^call ended: BYE 200 OK$/m, msg);
}

test('call → SIPp uas over UDP: established, BYE 200, exit 0', { timeout: 60_000 }, async () => {
  await withUas('u1', undefined, async (port, uas) => {
    const started = Date.now();
    const r = await runSwitchboard(['call', `sip:service@127.0.0.1:${port}`, '--duration', '1'], 20_000);
    assertCallOk(r, uas);
    assert.match(r.stdout, /^progress: 180 Ringing$/m, describeRun(r));
    const ms = Date.now() - started;
    assert.ok(ms >= 1000, `--duration 1 lasted only ${ms} ms`);
    const res = await uas.finish(15_000);
    assert.equal(res.stats['IncomingCall(C)'], '1', describeSipp(res));
    assert.equal(res.successful, 1, describeSipp(res));
  });
});

test('call --transport tcp → SIPp uas over TCP (-t t1): established, BYE 200, exit 0', { timeout: 60_000 }, async () => {
  await withUas('t1', undefined, async (port, uas) => {
    const r = await runSwitchboard(['call', `sip:service@127.0.0.1:${port}`, '--duration', '1', '--transport', 'tcp', '--trace'], 20_000);
    assertCallOk(r, uas);
    // Really over TCP: every message in the trace is TCP.
    assert.match(r.stderr, /^Sent: TCP 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ \(\d+ bytes\)\nINVITE sip:service@/m, describeRun(r));
    assert.doesNotMatch(r.stderr, /^(Sent|Received): UDP /m, describeRun(r));
  });
});

// SIPp drops 10 % of what it sends and receives. Our ICT retransmits a lost INVITE (Timer A), we
// re-ACK a retransmitted 200 (the uas retransmits it until the ACK), our BYE NICT retransmits
// a lost BYE (Timer E) and SIPp answers a retransmitted BYE again.
test('call → SIPp uas with -lost 10, 5 calls in a row: all exit 0', { timeout: 240_000 }, async (t) => {
  await withUas('u1', 10, async (port, uas) => {
    const results: RunResult[] = [];
    for (let i = 0; i < 5; i++) {
      // Worst case without a bug: a few lost INVITEs (0.5 + 1 + 2 s) and BYEs; 40 s is ample.
      const r = await runSwitchboard(['call', `sip:service@127.0.0.1:${port}`, '--duration', '1', '--trace'], 40_000);
      results.push(r);
      assertCallOk(r, uas);
      // Retransmissions we made (same message sent again) — for the record.
      const sent = [...r.stderr.matchAll(/^Sent: UDP [^\n]*\n([^\n]+)/gm)].map((m) => m[1]!);
      t.diagnostic(`call ${i + 1}: ${sent.length} messages sent (${sent.join(' | ')})`);
    }
    assert.equal(results.length, 5);
  });
});
