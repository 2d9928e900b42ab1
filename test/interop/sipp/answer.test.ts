// Acceptance: `switchboard answer` on the wire, driven by SIPp's built-in uac scenario
// (INVITE → [100] [180] 200 → ACK → BYE → 200) over UDP, TCP and UDP with 10 % packet loss.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePortBoth, stopAll } from '../../harness/processes.js';
import { join } from 'node:path';
import { describeSipp, runSipp, SCENARIO_DIR, startAnswer, type AnswerProcess, type SippResult } from './sipp.js';

after(async () => {
  await stopAll();
});

function describeAnswer(a: AnswerProcess): string {
  const o = a.output();
  const clip = (s: string): string => (s.length > 6000 ? `[…]${s.slice(-6000)}` : s);
  return `--- switchboard answer (pid ${a.pid}) stdout ---\n${clip(o.stdout)}\n--- stderr ---\n${clip(o.stderr)}`;
}

function why(r: SippResult, a: AnswerProcess): string {
  return `${describeSipp(r)}\n${describeAnswer(a)}`;
}

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

test('answer: SIPp uac, 50 calls at 25/s over UDP — all successful, 50 × "ended: remote-bye", exit 0', { timeout: 90_000 }, async () => {
  const port = await freePortBoth();
  const calls = 50;
  const answer = await startAnswer({ port, maxCalls: calls, maxLifetimeMs: 80_000 });
  try {
    const r = await runSipp({
      scenario: 'uac',
      target: `127.0.0.1:${port}`,
      localPort: await freePortBoth(),
      transport: 'u1',
      calls,
      rate: 25,
      timeoutS: 40,
    });
    assert.equal(r.code, 0, why(r, answer));
    assert.equal(r.successful, calls, why(r, answer));
    assert.equal(r.failed, 0, why(r, answer));
    // --max-calls 50: the answer process leaves by itself once the 50th call ended and its last
    // transactions finished (Timer L of the last INVITE, Timer J of the last BYE: 64·T1 = 32 s).
    const st = await answer.waitExit(45_000);
    assert.deepEqual(st, { code: 0, signal: null }, describeAnswer(answer));
    const reasons = answer.endedReasons();
    assert.equal(reasons.length, calls, describeAnswer(answer));
    assert.deepEqual(countBy(reasons), { 'remote-bye': calls }, describeAnswer(answer));
    assert.match(answer.output().stdout, /^listening on udp:127\.0\.0\.1:\d+$/m);
    assert.equal(answer.output().stderr, '', 'nothing on stderr without --trace');
  } finally {
    await answer.stop();
  }
});

test('answer: SIPp uac, 20 calls over TCP (-t t1) — all successful on the uac side', { timeout: 90_000 }, async () => {
  const port = await freePortBoth();
  const calls = 20;
  const answer = await startAnswer({ port, maxCalls: calls, maxLifetimeMs: 80_000 });
  try {
    const r = await runSipp({
      scenario: 'uac',
      target: `127.0.0.1:${port}`,
      localPort: await freePortBoth(),
      transport: 't1',
      calls,
      rate: 20,
      timeoutS: 40,
    });
    assert.equal(r.code, 0, why(r, answer));
    assert.equal(r.successful, calls, why(r, answer));
    assert.equal(r.failed, 0, why(r, answer));
    const st = await answer.waitExit(45_000);
    assert.deepEqual(st, { code: 0, signal: null }, describeAnswer(answer));
    assert.deepEqual(countBy(answer.endedReasons()), { 'remote-bye': calls }, describeAnswer(answer));
  } finally {
    await answer.stop();
  }
});

// 10 % of the messages SIPp sends or receives are dropped (-lost 10). Every call must still
// succeed: a lost INVITE is retransmitted by SIPp (and absorbed by our IST in Accepted, RFC 6026),
// a lost 200 is retransmitted by our UAS core (RFC 3261 §13.3.1.4, T1 doubling to T2) until the
// ACK, a lost BYE is retransmitted by SIPp and answered again by our NIST.
//
// On our side a call may end without ever seeing the ACK nor the BYE: when SIPp loses both (≈1 %
// of the calls), the built-in uac takes our retransmitted 200 (INVITE) for the 200 (BYE) it waits
// for (it matches on the status code only) and considers the call done. Our UAS then gives up
// after 64·T1 = 32 s and ends the call itself with a BYE (§13.3.1.4), so the answer process takes
// up to ~32 s more to count its last call.
test('answer: SIPp uac, 200 calls over UDP with -lost 10 — all successful thanks to retransmissions', { timeout: 200_000 }, async (t) => {
  const port = await freePortBoth();
  const calls = 200;
  const answer = await startAnswer({ port, maxCalls: calls, maxLifetimeMs: 190_000 });
  try {
    const r = await runSipp({
      scenario: 'uac',
      target: `127.0.0.1:${port}`,
      localPort: await freePortBoth(),
      transport: 'u1',
      calls,
      rate: 30,
      lost: 10,
      timeoutS: 120,
    });
    assert.equal(r.code, 0, why(r, answer));
    assert.equal(r.successful, calls, why(r, answer));
    assert.equal(r.failed, 0, why(r, answer));
    assert.ok((r.retransmissions ?? 0) > 0, `SIPp retransmitted nothing: was -lost applied?\n${why(r, answer)}`);
    // All 200 calls end on our side too (those whose ACK and BYE were both lost after 64·T1),
    // then the process waits for its last transactions (up to 64·T1 more) before it leaves.
    const st = await answer.waitExit(80_000);
    assert.deepEqual(st, { code: 0, signal: null }, describeAnswer(answer));
    const reasons = answer.endedReasons();
    assert.equal(reasons.length, calls, describeAnswer(answer));
    const by = countBy(reasons);
    t.diagnostic(`SIPp retransmissions ${r.retransmissions}; our end reasons ${JSON.stringify(by)}`);
    const remoteBye = by['remote-bye'] ?? 0;
    // Only remote-bye, or our own BYE after the 2xx went unacknowledged (reported as local-bye
    // or no-ack); a handful at most of the latter (expected ≈ 1 %: ACK and BYE both lost).
    for (const reason of Object.keys(by)) {
      assert.ok(['remote-bye', 'local-bye', 'no-ack'].includes(reason), `unexpected end reason ${reason}: ${JSON.stringify(by)}\n${describeAnswer(answer)}`);
    }
    assert.ok(remoteBye >= calls - 12, `too few calls ended by SIPp's BYE: ${JSON.stringify(by)}\n${describeAnswer(answer)}`);
  } finally {
    await answer.stop();
  }
});

// The last call's BYE repeated 1.5 s after its 200, as a UAC does when that 200 was lost: the
// answer process has counted its last call by then, but its BYE transaction is still Completed
// (Timer J, RFC 3261 §17.2.2) and must answer again. Before the process waited for its
// transactions it had already closed its socket, and SIPp's retransmitted BYE went unanswered.
test('answer --max-calls 1: a BYE repeated after the last call ended still gets its 200, then exit 0', { timeout: 90_000 }, async () => {
  const port = await freePortBoth();
  const answer = await startAnswer({ port, maxCalls: 1, maxLifetimeMs: 80_000 });
  try {
    const r = await runSipp({
      scenario: join(SCENARIO_DIR, 'uac-bye-repeated.xml'),
      target: `127.0.0.1:${port}`,
      localPort: await freePortBoth(),
      transport: 'u1',
      calls: 1,
      timeoutS: 20,
    });
    assert.equal(r.code, 0, why(r, answer));
    assert.equal(r.successful, 1, why(r, answer));
    assert.deepEqual(answer.endedReasons(), ['remote-bye'], describeAnswer(answer));
    const st = await answer.waitExit(45_000);
    assert.deepEqual(st, { code: 0, signal: null }, describeAnswer(answer));
  } finally {
    await answer.stop();
  }
});
