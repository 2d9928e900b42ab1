// Acceptance: `switchboard call` on the wire against SIPp's built-in uas scenario
// (INVITE → 180 → 200 ← ACK, BYE → 200), over UDP, TCP and UDP with 10 % packet loss.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
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
// a lost BYE (Timer E) and SIPp answers a retransmitted BYE again. Each call gets a uas of its own
// (no state left over from an earlier call in the same SIPp), with SIPp's message trace: when a
// call fails, the assertion shows what SIPp received and sent for that Call-ID, and whether SIPp
// was still running.
// `-default_behaviors all,-abortunexp`: when SIPp's -lost drops both its 180 and its 200 on send
// (≈ 1 % of calls), our retransmitted INVITE reaches a uas that waits for the ACK; the built-in
// scenario counts it as unexpected and, by default, aborts the call, after which SIPp absorbs
// every further INVITE as a "dead call" and our INVITE times out (408) — SIPp's doing, seen in its
// message trace, not ours. Without the abort SIPp logs the INVITE and retransmits its 200.

test('call → SIPp uas with -lost 10, 5 calls in a row: all exit 0', { timeout: 300_000 }, async (t) => {
  for (let i = 0; i < 5; i++) {
    const port = await freePortBoth();
    const uas = await startSipp({ scenario: 'uas', localPort: port, transport: 'u1', lost: 10, timeoutS: 100, trace: true,
      extra: ['-default_behaviors', 'all,-abortunexp'] });
    let r: RunResult | undefined;
    try {
      // Worst case without a bug: a few lost INVITEs (0.5 + 1 + 2 s) and BYEs; 40 s is ample.
      r = await runSwitchboard(['call', `sip:service@127.0.0.1:${port}`, '--duration', '1', '--trace'], 40_000);
      const sent = [...r.stderr.matchAll(/^Sent: UDP [^\n]*\n([^\n]+)/gm)].map((m) => m[1]!);
      t.diagnostic(`call ${i + 1}: ${sent.length} messages sent (${sent.join(' | ')})`);
      if (r.code !== 0) {
        const alive = uas.exitStatus() === null ? 'still running' : `exited ${JSON.stringify(uas.exitStatus())}`;
        const callId = /^Call-ID: (\S+)$/m.exec(r.stderr)?.[1] ?? '(none)';
        const log = uas.files.messages ? readFileSync(uas.files.messages, 'latin1') : '';
        const seen = log.split(/-{20,}/).filter((m) => m.includes(callId)).map((m) => m.trim().split('\n').slice(0, 3).join(' / '));
        t.diagnostic(`call ${i + 1} failed; SIPp uas (pid ${uas.pid}) ${alive}; its trace of Call-ID ${callId}: ${seen.length} messages\n${seen.join('\n')}`);
      }
    } finally {
      // Graceful quit: the built-in uas keeps each call 4 s after the BYE, SIPp waits for it.
      const u = await uas.finish(15_000);
      if (r?.code === 0) rmSync(u.files.dir, { recursive: true, force: true });
    }
    assertCallOk(r, uas);
  }
});
