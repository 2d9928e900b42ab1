// The user agent's UPDATE (RFC 3311) and REFER (RFC 3515) paths against SIPp scenarios that
// require them, driving the real CLI:
//  - UPDATE with a new offer in a confirmed dialog, towards `switchboard call` (SIPp UAS) and
//    towards `switchboard answer` (SIPp UAC): a 200 with an SDP answer (a=recvonly to sendonly);
//  - UPDATE in an early dialog (RFC 3311 §5.1), after a reliable 183 and its PRACK, towards
//    `switchboard call --100rel`;
//  - REFER as transferor (`call --transfer-to`): REFER with Refer-To and Referred-By, the NOTIFYs
//    answered, then BYE once the transfer succeeded;
//  - REFER as transferee (`answer`): 202, the INVITE to the Refer-To target (a second SIPp, with
//    the Referred-By), and NOTIFYs with message/sipfrag up to `SIP/2.0 200`.
// The checks of the SIP messages themselves are in the scenarios (ereg check_it actions); a
// failed check fails SIPp's call.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { freePortBoth, stopAll, type RunResult } from '../../harness/processes.js';
import { SCENARIO_DIR, describeSipp, runSipp, runSwitchboard, startAnswer, startSipp, type AnswerProcess, type SippResult } from './sipp.js';

after(async () => {
  await stopAll();
});

const clip = (s: string, n = 8000): string => (s.length > n ? `[…]${s.slice(-n)}` : s);

const describeRun = (r: RunResult): string => `exit ${r.code}${r.timedOut ? ' (timed out)' : ''}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${clip(r.stderr)}`;

function describeAnswer(a: AnswerProcess): string {
  const o = a.output();
  return `--- switchboard answer (pid ${a.pid}) stdout ---\n${clip(o.stdout)}\n--- stderr ---\n${clip(o.stderr)}`;
}

/** The messages of a `--trace` output, split on their `Sent:` / `Received:` headings. */
function traced(trace: string): Array<{ dir: 'Sent' | 'Received'; text: string }> {
  const out: Array<{ dir: 'Sent' | 'Received'; text: string }> = [];
  const re = /^(Sent|Received): [A-Z]+ [^\n]*\n([\s\S]*?)(?=^(?:Sent|Received): |(?![\s\S]))/gm;
  for (const m of trace.matchAll(re)) out.push({ dir: m[1] as 'Sent' | 'Received', text: m[2]! });
  return out;
}

/** The o= line of an SDP body: username, sess-id, sess-version. */
function origin(text: string): { user: string; id: string; version: bigint } | undefined {
  const m = /^o=(\S+) (\d+) (\d+) /m.exec(text);
  return m ? { user: m[1]!, id: m[2]!, version: BigInt(m[3]!) } : undefined;
}

/**
 * RFC 3264 §8: a description that modifies the session keeps the o= line of the previous one
 * from the same side, with the version incremented by one.
 */
function assertOriginFollows(previous: string, next: string): void {
  const a = origin(previous);
  const b = origin(next);
  const lines = `before: ${/^o=.*$/m.exec(previous)?.[0]}\nafter:  ${/^o=.*$/m.exec(next)?.[0]}`;
  assert.ok(a && b, `no o= line\n${lines}`);
  assert.deepEqual({ user: b.user, id: b.id, version: b.version }, { user: a.user, id: a.id, version: a.version + 1n }, `o= of the UA's answer to the UPDATE vs its previous description\n${lines}`);
}

/** `switchboard call sip:service@127.0.0.1:PORT --trace …` against a SIPp UAS running `scenario`. */
async function callAgainst(scenario: string, args: string[], callTimeoutMs = 30_000): Promise<{ r: RunResult; uas: SippResult }> {
  const port = await freePortBoth();
  const sipp = await startSipp({ scenario: join(SCENARIO_DIR, scenario), localPort: port, calls: 1, timeoutS: 40 });
  try {
    const r = await runSwitchboard(['call', `sip:service@127.0.0.1:${port}`, '--trace', '--listen', 'udp:127.0.0.1:0', ...args], callTimeoutMs);
    const uas = await sipp.finish(10_000);
    return { r, uas };
  } finally {
    await sipp.stop();
  }
}

/** Waits (bounded) until the answer process printed `call N ended: REASON` `n` times. */
async function endedCalls(a: AnswerProcess, n: number, ms = 5000): Promise<string[]> {
  const until = Date.now() + ms;
  while (a.endedReasons().length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  return a.endedReasons();
}

// RFC 3264 §8: the answer to a re-offer keeps our previous o= session id, version + 1.

test('UPDATE in the confirmed dialog → call: a sendonly re-offer gets 200 with an SDP answer (a=recvonly), then the UA\'s BYE', { timeout: 60_000 }, async (t) => {
  const { r, uas } = await callAgainst('ua-upd-uas-confirmed.xml', ['--duration', '2']);
  const msg = `${describeRun(r)}\n--- sipp ---\n${describeSipp(uas)}`;
  assert.equal(uas.failed, 0, msg);
  assert.equal(uas.successful, 1, msg);
  assert.equal(r.code, 0, msg);
  assert.match(r.stdout, /^call ended: BYE 200 OK$/m, msg);
  const msgs = traced(r.stderr);
  const ok = msgs.find((m) => m.dir === 'Sent' && /^SIP\/2\.0 200 /.test(m.text) && /^CSeq: 1 UPDATE$/m.test(m.text));
  assert.ok(ok, `no 200 to the UPDATE in the trace\n${msg}`);
  assert.match(ok.text, /^Content-Type: application\/sdp$/m, msg);
  assert.match(ok.text, /^a=recvonly$/m, msg);
  const invite = msgs.find((m) => m.dir === 'Sent' && /^INVITE /.test(m.text));
  assert.ok(invite, msg);
  await t.test('the answer keeps the o= of the UA\'s offer, version + 1 (RFC 3264 §8)', () => {
    assertOriginFollows(invite.text, ok.text);
  });
});

test('UPDATE in the confirmed dialog → answer: INVITE, 200, ACK, UPDATE with a sendonly offer → 200 + SDP (a=recvonly), BYE → 200', { timeout: 60_000 }, async (t) => {
  const port = await freePortBoth();
  const answer = await startAnswer({ port, trace: true, maxLifetimeMs: 55_000 });
  try {
    const r = await runSipp({ scenario: join(SCENARIO_DIR, 'ua-upd-uac.xml'), target: `127.0.0.1:${port}`, localPort: await freePortBoth(), calls: 1, timeoutS: 20 });
    const msg = `${describeSipp(r)}\n${describeAnswer(answer)}`;
    assert.equal(r.code, 0, msg);
    assert.equal(r.successful, 1, msg);
    assert.equal(r.failed, 0, msg);
    assert.deepEqual(await endedCalls(answer, 1), ['remote-bye'], describeAnswer(answer));
    assert.match(answer.output().stderr, /^Received: UDP [^\n]*\nUPDATE sip:/m, describeAnswer(answer));
    const sent = traced(answer.output().stderr).filter((m) => m.dir === 'Sent' && /^SIP\/2\.0 200 /.test(m.text));
    const first = sent.find((m) => /^CSeq: 1 INVITE$/m.test(m.text));
    const updated = sent.find((m) => /^CSeq: 2 UPDATE$/m.test(m.text));
    assert.ok(first && updated, msg);
    assert.match(updated.text, /^a=recvonly$/m, msg);
    await t.test('the answer keeps the o= of the UA\'s first answer, version + 1 (RFC 3264 §8)', () => {
      assertOriginFollows(first.text, updated.text);
    });
  } finally {
    await answer.stop();
  }
});

// RFC 3311 §5.1: the callee may UPDATE within an early dialog once the initial offer/answer is
// done (here: the answer in the reliable 183, PRACKed) when the caller's INVITE allows UPDATE.
// (Before early-dialog UPDATE was implemented on the UAC side the UA answered it
// `481 Call/Transaction Does Not Exist`: the early dialog was not in its dialog table.)
test('UPDATE in the early dialog → call --100rel: after the reliable 183 and its PRACK, the UPDATE (same To tag) gets 200 + SDP (a=recvonly); then 200, ACK, BYE', { timeout: 60_000 }, async (t) => {
  const { r, uas } = await callAgainst('ua-upd-uas-early.xml', ['--100rel', '--duration', '1'], 20_000);
  const msg = `${describeRun(r)}\n--- sipp ---\n${describeSipp(uas)}`;
  assert.equal(uas.failed, 0, msg);
  assert.equal(uas.successful, 1, msg);
  assert.equal(r.code, 0, msg);
  assert.match(r.stdout, /^call established: /m, msg);
  assert.match(r.stdout, /^call ended: BYE 200 OK$/m, msg);
  const msgs = traced(r.stderr);
  const ok = msgs.find((m) => m.dir === 'Sent' && /^SIP\/2\.0 200 /.test(m.text) && /^CSeq: 1 UPDATE$/m.test(m.text));
  assert.ok(ok, `no 200 to the early UPDATE in the trace\n${msg}`);
  assert.match(ok.text, /^a=recvonly$/m, msg);
  const invite = msgs.find((m) => m.dir === 'Sent' && /^INVITE /.test(m.text));
  assert.ok(invite, msg);
  await t.test('the answer keeps the o= of the UA\'s offer, version + 1 (RFC 3264 §8)', () => {
    assertOriginFollows(invite.text, ok.text);
  });
});

test('REFER as transferor: call --transfer-to carol → REFER (Refer-To carol, Referred-By) → 202; NOTIFY 100 Trying, NOTIFY 200 OK (terminated) → 200 each; then the UA\'s BYE', { timeout: 60_000 }, async () => {
  const carol = `sip:carol@127.0.0.1:${await freePortBoth()}`;
  const { r, uas } = await callAgainst('ua-refer-uas-transferor.xml', ['--transfer-to', carol]);
  const msg = `${describeRun(r)}\n--- sipp ---\n${describeSipp(uas)}`;
  assert.equal(uas.failed, 0, msg);
  assert.equal(uas.successful, 1, msg);
  assert.equal(r.code, 0, msg);
  assert.match(r.stdout, new RegExp(`^transfer: REFER 202 Accepted; the transferee's call to ${carol.replace(/\./g, '\\.')} ended 200$`, 'm'), msg);
  const msgs = traced(r.stderr);
  const refer = msgs.find((m) => m.dir === 'Sent' && /^REFER /.test(m.text));
  assert.ok(refer, msg);
  assert.match(refer.text, new RegExp(`^Refer-To: <${carol.replace(/\./g, '\\.')}>$`, 'm'), msg);
  assert.match(refer.text, /^Referred-By: <?sip:/m, msg);
  // Both NOTIFYs answered 200, the BYE after the second one.
  const sentOrder = msgs.filter((m) => m.dir === 'Sent').map((m) => /^CSeq: (\d+ \w+)$/m.exec(m.text)?.[1] + (/^SIP\/2\.0 (\d+)/.exec(m.text)?.[1] ?? ''));
  const i1 = sentOrder.indexOf('1 NOTIFY200');
  const i2 = sentOrder.indexOf('2 NOTIFY200');
  const iBye = sentOrder.findIndex((s) => / BYE$/.test(s));
  assert.ok(i1 >= 0 && i2 > i1 && iBye > i2, `sent: ${sentOrder.join(', ')}\n${msg}`);
});

test('REFER as transferee: SIPp alice REFERs answer to SIPp carol → 202; answer INVITEs carol (Referred-By); NOTIFYs message/sipfrag up to SIP/2.0 200 (terminated); alice and carol each end their call', { timeout: 60_000 }, async () => {
  const port = await freePortBoth();
  const carolPort = await freePortBoth();
  const answer = await startAnswer({ port, trace: true, maxLifetimeMs: 55_000 });
  const carol = await startSipp({ scenario: join(SCENARIO_DIR, 'ua-refer-carol.xml'), localPort: carolPort, calls: 1, timeoutS: 30 });
  try {
    const alice = await runSipp({
      scenario: join(SCENARIO_DIR, 'ua-refer-uac-transferor.xml'),
      target: `127.0.0.1:${port}`,
      localPort: await freePortBoth(),
      calls: 1,
      timeoutS: 20,
      extra: ['-key', 'carol_port', String(carolPort)],
    });
    const c = await carol.finish(10_000);
    const msg = `--- alice ---\n${describeSipp(alice)}\n--- carol ---\n${describeSipp(c)}\n${describeAnswer(answer)}`;
    assert.equal(alice.code, 0, msg);
    assert.equal(alice.successful, 1, msg);
    assert.equal(alice.failed, 0, msg);
    assert.equal(c.successful, 1, msg);
    assert.equal(c.failed, 0, msg);
    // The original call ended by alice's BYE (the call to carol is not one `answer` counts).
    assert.deepEqual(await endedCalls(answer, 1), ['remote-bye'], describeAnswer(answer));
    const msgs = traced(answer.output().stderr);
    const notifies = msgs.filter((m) => m.dir === 'Sent' && /^NOTIFY /.test(m.text));
    assert.ok(notifies.length >= 2, `expected at least 2 NOTIFYs\n${msg}`);
    const last = notifies[notifies.length - 1]!.text;
    assert.match(last, /^Subscription-State: terminated;reason=noresource$/m, msg);
    assert.match(last, /^SIP\/2\.0 200 OK$/m, msg);
    for (const n of notifies.slice(0, -1)) assert.match(n.text, /^Subscription-State: active/m, msg);
    const invite = msgs.find((m) => m.dir === 'Sent' && /^INVITE sip:carol@/.test(m.text));
    assert.ok(invite, msg);
    assert.match(invite.text, /^Referred-By: <sip:alice@/m, msg);
  } finally {
    await carol.stop();
    await answer.stop();
  }
});
