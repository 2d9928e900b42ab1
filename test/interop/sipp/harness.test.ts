// Proves the SIPp harness works end to end: SIPp uac against SIPp uas on loopback, over UDP
// and TCP, plus a failing run (nobody listening) to show failures are detected.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { freePortBoth, runProcess, stopAll } from '../../harness/processes.js';
import { describeSipp, runSipp, startSipp, SIPP_BIN, type SippTransport } from './sipp.js';

after(async () => {
  await stopAll();
});

async function assertSippInstalled(): Promise<void> {
  const r = await runProcess(SIPP_BIN, ['-v'], { timeoutMs: 5000 }).catch((err: Error) => {
    throw new Error(`${SIPP_BIN} not runnable (${err.message}); run: node scripts/ensure-peers.mjs`);
  });
  // `sipp -v` exits 99 ("normal exit without calls processed").
  assert.match(r.stdout + r.stderr, /SIPp v\d+\.\d+/, `unexpected sipp -v output:\n${r.stdout}${r.stderr}`);
}

async function uacAgainstUas(transport: SippTransport): Promise<void> {
  await assertSippInstalled();
  const uasPort = await freePortBoth();
  const uas = await startSipp({ scenario: 'uas', localPort: uasPort, transport, timeoutS: 40 });
  try {
    const uacPort = await freePortBoth();
    const r = await runSipp({
      scenario: 'uac',
      target: `127.0.0.1:${uasPort}`,
      localPort: uacPort,
      transport,
      calls: 20,
      rate: 20,
      timeoutS: 20,
    });
    const why = describeSipp(r);
    assert.equal(r.code, 0, why);
    assert.equal(r.successful, 20, why);
    assert.equal(r.failed, 0, why);
    assert.equal(r.killed, false, why);
    assert.equal(r.stats['OutgoingCall(C)'], '20', why);
    assert.equal(r.files.kept, false, 'run dir is removed after a successful run');
  } finally {
    // Graceful quit (SIGUSR1). Over UDP this takes ~4 s: the built-in uas ends each call with a
    // 4 s pause and SIPp waits for it.
    const u = await uas.finish();
    // The uas saw the calls (on TCP some count as FailedTcpClosed when the uac hangs up, so its
    // exit code is 1 and its run dir is kept: remove it here).
    assert.equal(u.stats['IncomingCall(C)'], '20', describeSipp(u));
    rmSync(u.files.dir, { recursive: true, force: true });
  }
}

test('SIPp uac → SIPp uas, 20 calls over UDP', { timeout: 60_000 }, async () => {
  await uacAgainstUas('u1');
});

test('SIPp uac → SIPp uas, 20 calls over TCP (one connection)', { timeout: 60_000 }, async () => {
  await uacAgainstUas('t1');
});

test('SIPp uac → SIPp uas, 20 calls over TCP (connection per call)', { timeout: 60_000 }, async () => {
  await uacAgainstUas('tn');
});

test('a uac with nobody answering is reported as failed, within its timeout', { timeout: 30_000 }, async () => {
  await assertSippInstalled();
  const deadPort = await freePortBoth(); // free: nobody listens there
  const uacPort = await freePortBoth();
  const started = Date.now();
  const r = await runSipp({
    scenario: 'uac',
    target: `127.0.0.1:${deadPort}`,
    localPort: uacPort,
    calls: 2,
    rate: 10,
    timeoutS: 3,
  });
  try {
    assert.notEqual(r.code, 0, describeSipp(r));
    assert.equal(r.successful <= 0, true, describeSipp(r));
    assert.equal(r.files.kept, true, 'run dir is kept after a failed run');
    assert.ok(Date.now() - started < 15_000, 'bounded by -timeout');
  } finally {
    rmSync(r.files.dir, { recursive: true, force: true });
  }
});
