// Handbook call flow 4 through the B2BUA (examples/callflow-4-b2bua.yaml, delayed offer) with
// hold and resume: the phone (SIPp uac, sipp/scenarios/b2bua-phone-hold.xml) sets up the call,
// then re-INVITEs with a=sendonly (hold) and a=sendrecv (resume), then hangs up; GW-B (SIPp uas,
// b2bua-gw-hold.xml) gets each changed re-offer relayed by the B2BUA (b2bua-call.ts
// relayReoffer) and answers recvonly, then sendrecv; the phone gets GW-B's answer back.
// Every SDP is checked in the scenarios (SIPp ereg check_it / check_it_inverse: a mismatch fails
// the call). Here: both SIPps 1 successful call, 0 failed; from the server's --trace, leg B (the
// GW-B side Call-ID) carries exactly two re-INVITEs sent by the B2BUA, the first with a=sendonly,
// the second without; `serve` is still running at the end.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, headerValues, isReq, isRes, type TraceMsg } from './callflow-harness.js';
import { flow } from './flow4-harness.js';

function body(m: TraceMsg): string {
  const i = m.text.search(/\r?\n\r?\n/);
  return i < 0 ? '' : m.text.slice(i).trim();
}

test('flow 4 (B2BUA): hold (re-INVITE a=sendonly) and resume (a=sendrecv) from the phone, relayed to GW-B, answers relayed back', { timeout: 60_000 }, async () => {
  const r = await flow({ phone: 'b2bua-phone-hold.xml', gw: 'b2bua-gw-hold.xml', calls: 1, timeoutS: 20 });
  assert.equal(r.serverExit, null, `the B2BUA must still be running\n${r.ctx}`);
  // SIPp checked every SDP: the 183/200 and both re-INVITE answers at the phone, the INVITE,
  // ACK and both relayed re-offers at GW-B.
  assert.equal(r.phone.code, 0, `phone: SIPp exit code\n${r.ctx}`);
  assert.equal(r.phone.successful, 1, `phone: successful calls\n${r.ctx}`);
  assert.equal(r.phone.failed, 0, `phone: failed calls\n${r.ctx}`);
  assert.equal(r.gw.code, 0, `GW-B: SIPp exit code\n${r.ctx}`);
  assert.equal(r.gw.successful, 1, `GW-B: successful calls\n${r.ctx}`);
  assert.equal(r.gw.failed, 0, `GW-B: failed calls\n${r.ctx}`);

  const legA = r.trace.filter((m) => m.remotePort === r.ports.phone);
  const legB = r.trace.filter((m) => m.remotePort === r.ports.gw);
  const where = `leg A:\n${describe(legA)}\nleg B:\n${describe(legB)}\n${r.ctx}`;
  const idsB = [...new Set(legB.filter((m) => m.dir === 'Sent' && isReq('INVITE')(m)).map((m) => m.callId))];
  assert.equal(idsB.length, 1, `one leg B Call-ID\n${where}`);
  const idsA = [...new Set(legA.filter((m) => m.dir === 'Received' && isReq('INVITE')(m)).map((m) => m.callId))];
  assert.ok(!idsA.includes(idsB[0]!), `leg B has its own Call-ID\n${where}`);

  // The INVITEs the B2BUA sent on leg B, one per CSeq (retransmissions collapsed).
  const invitesB = legB.filter((m) => m.dir === 'Sent' && m.callId === idsB[0] && isReq('INVITE')(m));
  const byCseq = new Map<string, TraceMsg>();
  for (const m of invitesB) {
    const cseq = headerValues(m, 'CSeq')[0] ?? '';
    if (!byCseq.has(cseq)) byCseq.set(cseq, m);
  }
  const reinvites = [...byCseq.entries()].filter(([cseq]) => cseq !== '1 INVITE').map(([, m]) => m);
  assert.equal(reinvites.length, 2, `two re-INVITEs on leg B\n${where}`);
  const [hold, resume] = reinvites as [TraceMsg, TraceMsg];
  assert.match(body(hold), /^a=sendonly\s*$/m, `leg B's first re-INVITE is the hold\n${hold.text}`);
  assert.doesNotMatch(body(resume), /^a=(sendonly|recvonly|inactive)\s*$/m, `leg B's second re-INVITE is the resume\n${resume.text}`);
  assert.match(body(resume), /^m=audio /m, `leg B's second re-INVITE has an SDP offer\n${resume.text}`);
  // RFC 3264 §8: on leg B the B2BUA's o= keeps its username and session id (those of its answer
  // in the ACK), one version higher each time — the phone's o= line does not leak across.
  const ack = legB.find((m) => m.dir === 'Sent' && m.callId === idsB[0] && isReq('ACK')(m) && /^o=/m.test(body(m)))!;
  const origin = (m: TraceMsg) => /^o=(\S+) (\d+) (\d+) /m.exec(body(m))!;
  const [, user, id, version] = origin(ack);
  assert.deepEqual([hold, resume].map((m) => origin(m).slice(1)), [[user, id, String(Number(version) + 1)], [user, id, String(Number(version) + 2)]], `o= lines on leg B\n${ack.text}\n${hold.text}\n${resume.text}`);
  // And the phone, on leg A, sees the B2BUA's origin of its 200 in both answers.
  const okA = legA.filter((m) => m.dir === 'Sent' && isRes(200, 'INVITE')(m));
  const ids = [...new Set(okA.map((m) => `${origin(m)[1]} ${origin(m)[2]}`))];
  assert.equal(ids.length, 1, `one origin on leg A: ${ids.join(' | ')}`);
});
