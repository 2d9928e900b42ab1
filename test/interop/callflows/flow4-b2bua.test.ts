// Handbook call flow 4: a B2BUA (examples/callflow-4-b2bua.yaml, `roles: [b2bua]`, delayed
// offer) between a phone and gateway GW-B, both played by SIPp with the scenarios
// test/interop/sipp/scenarios/b2bua-*.xml (the SDP checks are SIPp `ereg`/`strcmp` actions with
// check_it / check_it_inverse there: a call whose message does not match counts as failed).
//   phone (SIPp uac) ──INVITE+SDP──▶ serve --config callflow-4-b2bua.yaml ──INVITE, no SDP──▶ GW-B (SIPp uas)
// The server's `--trace` is parsed to check what crosses (and what does not) between leg A
// (phone ↔ B2BUA) and leg B (B2BUA ↔ GW-B): a new Call-ID, tags, Via and Contact on leg B, and
// the messages of each leg, per call.
//  (a) the main flow, 5 calls, the phone hangs up: 183 and 200 with GW-B's port and the common
//      codecs, ACK to GW-B with the phone's port (b2bua-phone.xml / b2bua-gw.xml);
//  (b) GW-B hangs up after the ACK (b2bua-phone-bye-in.xml / b2bua-gw-bye.xml);
//  (c) no codec in common (GW-B's 183 offers G722 only): 488 to the phone, CANCEL to GW-B
//      (b2bua-phone-488.xml / b2bua-gw-g722.xml);
//  (d) CANCEL from the phone while GW-B rings (b2bua-phone-cancel.xml / b2bua-gw-ring-cancel.xml);
//  (e) the main flow with 10 % packet loss on both SIPps, 100 calls (b2bua-phone-lossy.xml /
//      b2bua-gw.xml), judged by the phone's count of successful calls (and by GW-B's SDP checks,
//      which no call may fail even under loss).
// Each case also checks that `serve` is still running at the end (no crash).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describe, headerValues, isReq, isRes, sequence, type TraceMsg } from './callflow-harness.js';
import { type FlowRun, flow } from './flow4-harness.js';


/** Both SIPps completed every call, and `serve` is still running. */
function assertAllCompleted(r: FlowRun, calls: number, opts: { gw?: boolean } = {}): void {
  assert.equal(r.serverExit, null, `the B2BUA must still be running\n${r.ctx}`);
  assert.equal(r.phone.code, 0, `phone: SIPp exit code\n${r.ctx}`);
  assert.equal(r.phone.successful, calls, `phone: successful calls\n${r.ctx}`);
  assert.equal(r.phone.failed, 0, `phone: failed calls\n${r.ctx}`);
  if (opts.gw === false) return;
  assert.equal(r.gw.code, 0, `GW-B: SIPp exit code\n${r.ctx}`);
  assert.equal(r.gw.successful, calls, `GW-B: successful calls\n${r.ctx}`);
  assert.equal(r.gw.failed, 0, `GW-B: failed calls\n${r.ctx}`);
}

interface Legs {
  /** Messages between the phone and the B2BUA. */
  a: TraceMsg[];
  /** Messages between the B2BUA and GW-B. */
  b: TraceMsg[];
  /** Call-IDs of leg A (the phone's INVITEs) and leg B (the B2BUA's INVITEs), in order. */
  idsA: string[];
  idsB: string[];
}

function legs(r: FlowRun): Legs {
  const a = r.trace.filter((m) => m.remotePort === r.ports.phone);
  const b = r.trace.filter((m) => m.remotePort === r.ports.gw);
  const uniq = (xs: string[]): string[] => [...new Set(xs)];
  return {
    a,
    b,
    idsA: uniq(a.filter((m) => m.dir === 'Received' && isReq('INVITE')(m)).map((m) => m.callId)),
    idsB: uniq(b.filter((m) => m.dir === 'Sent' && isReq('INVITE')(m)).map((m) => m.callId)),
  };
}

/** One call of one leg as seen by the B2BUA (`>` received, `<` sent), retransmissions collapsed, 100 Trying left out when `no100`. */
function callSeq(msgs: TraceMsg[], callId: string, no100 = false): string[] {
  return sequence(msgs, (m) => m.callId === callId && !(no100 && m.kind === 'response' && m.status === 100));
}

/** How many times the B2BUA sent this message of this call (retransmissions included). */
function sentCount(msgs: TraceMsg[], callId: string, pred: (m: TraceMsg) => boolean): number {
  return msgs.filter((m) => m.callId === callId && m.dir === 'Sent' && pred(m)).length;
}

function body(m: TraceMsg): string {
  const i = m.text.search(/\r?\n\r?\n/);
  return i < 0 ? '' : m.text.slice(i).trim();
}

/** sent-by (host:port) of a Via value. */
function sentBy(via: string): string {
  return via.replace(/^SIP\s*\/\s*2\.0\s*\/\s*\S+\s+/i, '').split(';')[0]!.trim();
}

/** `token` in `text`, not as the start of a longer word or number (127.0.0.1:5070 is not in 127.0.0.1:50701). */
function containsToken(text: string, token: string): boolean {
  const escaped = token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(escaped + '(?![0-9A-Za-z])').test(text);
}

function tagOf(v: string): string | undefined {
  return /;\s*tag=([^;\s>]+)/i.exec(v)?.[1];
}

function uriOf(v: string): string {
  return (/<([^>]*)>/.exec(v)?.[1] ?? v.split(';')[0]!).trim();
}

test('flow 4 (B2BUA, delayed offer): 5 calls, 183/200 with GW-B\'s media and the common codecs, ACK with the phone\'s, the phone hangs up', { timeout: 120_000 }, async () => {
  const CALLS = 5;
  const r = await flow({ phone: 'b2bua-phone.xml', gw: 'b2bua-gw.xml', calls: CALLS });
  // SIPp checked the SDPs (183 and 200 at the phone, INVITE and ACK at GW-B): every call passed.
  assertAllCompleted(r, CALLS);
  const { a, b, idsA, idsB } = legs(r);
  const where = `leg A:\n${describe(a)}\nleg B:\n${describe(b)}\n${r.ctx}`;
  assert.equal(idsA.length, CALLS, `leg A: one Call-ID per call\n${where}`);
  assert.equal(idsB.length, CALLS, `leg B: one Call-ID per call\n${where}`);
  // Leg B is a new call: none of leg A's Call-IDs.
  for (const id of idsB) assert.ok(!idsA.includes(id), `leg B reuses leg A's Call-ID ${id}\n${where}`);

  // Each leg, each call: the handbook's sequence (100 Trying from the B2BUA, which waits 200 ms
  // for the TU; GW-B waits 400 ms before its 183, so it is always there).
  for (const id of idsA) {
    assert.deepEqual(callSeq(a, id), ['>INVITE', '<100', '<183', '<200', '>ACK', '>BYE', '<200'], `leg A, call ${id}\n${where}`);
  }
  for (const id of idsB) {
    assert.deepEqual(callSeq(b, id), ['<INVITE', '>100', '>183', '>200', '<ACK', '<BYE', '>200'], `leg B, call ${id}\n${where}`);
  }

  // What leg A's INVITEs carried that must not cross to leg B (the B2BUA is no proxy).
  const invitesA = a.filter((m) => m.dir === 'Received' && isReq('INVITE')(m));
  const forbidden = new Set<string>();
  for (const m of invitesA) {
    forbidden.add(m.callId);
    for (const v of headerValues(m, 'Via')) forbidden.add(sentBy(v));
    for (const v of headerValues(m, 'Contact')) forbidden.add(uriOf(v));
    const tag = tagOf(headerValues(m, 'From')[0] ?? '');
    if (tag) forbidden.add(tag);
  }
  assert.ok(forbidden.has(`127.0.0.1:${r.ports.phone}`), `leg A's Via sent-by found in the trace\n${[...forbidden].join('\n')}`);
  assert.ok([...forbidden].some((f) => f.startsWith('sip:phone@')), `leg A's Contact found in the trace\n${[...forbidden].join('\n')}`);

  const invitesB = b.filter((m) => m.dir === 'Sent' && isReq('INVITE')(m));
  for (const m of invitesB) {
    const show = `leg B INVITE:\n${m.text}`;
    for (const f of forbidden) assert.ok(!containsToken(m.text, f), `leg B's INVITE carries "${f}" from leg A\n${show}`);
    const vias = headerValues(m, 'Via');
    assert.equal(vias.length, 1, `leg B's INVITE has only the B2BUA's Via\n${show}`);
    assert.equal(sentBy(vias[0]!), `127.0.0.1:${r.ports.b2bua}`, show);
    const contact = headerValues(m, 'Contact');
    assert.equal(contact.length, 1, show);
    assert.match(uriOf(contact[0]!), new RegExp(`^sip:b2bua@127\\.0\\.0\\.1:${r.ports.b2bua}\\b`), show);
    assert.equal(headerValues(m, 'CSeq')[0], '1 INVITE', show);
    assert.ok(tagOf(headerValues(m, 'From')[0] ?? ''), `leg B's From has a tag\n${show}`);
    assert.equal(m.requestUri, `sip:2000@127.0.0.1:${r.ports.gw}`, `b2bua.target with {user} = the dialled user\n${show}`);
    // Delayed offer: no body, Content-Length 0.
    assert.deepEqual(headerValues(m, 'Content-Length'), ['0'], show);
    assert.equal(body(m), '', show);
  }

  // The ACK to GW-B's 200 carries the answer: the phone's address and port, PCMU.
  for (const m of b.filter((x) => x.dir === 'Sent' && isReq('ACK')(x))) {
    assert.match(body(m), /^m=audio 7000 RTP\/AVP 0\b/m, `leg B ACK:\n${m.text}`);
    assert.match(body(m), /^c=IN IP4 127\.0\.0\.1\s*$/m, `leg B ACK:\n${m.text}`);
  }
});

test('flow 4 (B2BUA): GW-B hangs up after the ACK, the phone gets the BYE', { timeout: 120_000 }, async () => {
  const CALLS = 3;
  const r = await flow({ phone: 'b2bua-phone-bye-in.xml', gw: 'b2bua-gw-bye.xml', calls: CALLS });
  assertAllCompleted(r, CALLS);
  const { a, b, idsA, idsB } = legs(r);
  const where = `leg A:\n${describe(a)}\nleg B:\n${describe(b)}\n${r.ctx}`;
  assert.equal(idsA.length, CALLS, where);
  assert.equal(idsB.length, CALLS, where);
  for (const id of idsB) {
    assert.deepEqual(callSeq(b, id, true), ['<INVITE', '>183', '>200', '<ACK', '>BYE', '<200'], `leg B, call ${id}\n${where}`);
  }
  for (const id of idsA) {
    assert.deepEqual(callSeq(a, id, true), ['>INVITE', '<183', '<200', '>ACK', '<BYE', '>200'], `leg A, call ${id}\n${where}`);
  }
  // The BYE on leg A is the B2BUA's own request in leg A's dialog: leg A's Call-ID, not GW-B's.
  for (const m of a.filter((x) => x.dir === 'Sent' && isReq('BYE')(x))) {
    assert.ok(idsA.includes(m.callId) && !idsB.includes(m.callId), `leg A BYE:\n${m.text}`);
  }
});

test('flow 4 (B2BUA): no codec in common (GW-B offers G722 only) — 488 to the phone, leg B cancelled', { timeout: 120_000 }, async () => {
  const CALLS = 3;
  const r = await flow({ phone: 'b2bua-phone-488.xml', gw: 'b2bua-gw-g722.xml', calls: CALLS });
  // The phone: 488 (no 183), ACK; GW-B: CANCEL answered 200, 487 ACKed — or the call failed.
  assertAllCompleted(r, CALLS);
  const { a, b, idsA, idsB } = legs(r);
  const where = `leg A:\n${describe(a)}\nleg B:\n${describe(b)}\n${r.ctx}`;
  assert.equal(idsA.length, CALLS, where);
  assert.equal(idsB.length, CALLS, where);
  for (const id of idsA) {
    assert.deepEqual(callSeq(a, id, true), ['>INVITE', '<488', '>ACK'], `leg A, call ${id}\n${where}`);
    // The phone's ACK matched the INVITE transaction: the 488 was not retransmitted.
    assert.equal(sentCount(a, id, isRes(488, 'INVITE')), 1, `leg A, call ${id}: 488 sent once\n${where}`);
  }
  for (const id of idsB) {
    assert.deepEqual(callSeq(b, id, true), ['<INVITE', '>183', '<CANCEL', '>200', '>487', '<ACK'], `leg B, call ${id}\n${where}`);
    assert.equal(sentCount(b, id, isReq('CANCEL')), 1, `leg B, call ${id}: one CANCEL\n${where}`);
  }
});

test('flow 4 (B2BUA): CANCEL from the phone while GW-B rings — 200 and 487 on both legs', { timeout: 120_000 }, async () => {
  const CALLS = 3;
  const r = await flow({ phone: 'b2bua-phone-cancel.xml', gw: 'b2bua-gw-ring-cancel.xml', calls: CALLS });
  assertAllCompleted(r, CALLS);
  const { a, b, idsA, idsB } = legs(r);
  const where = `leg A:\n${describe(a)}\nleg B:\n${describe(b)}\n${r.ctx}`;
  assert.equal(idsA.length, CALLS, where);
  assert.equal(idsB.length, CALLS, where);
  for (const id of idsA) {
    assert.deepEqual(callSeq(a, id, true), ['>INVITE', '<180', '>CANCEL', '<200', '<487', '>ACK'], `leg A, call ${id}\n${where}`);
    assert.equal(sentCount(a, id, isRes(487, 'INVITE')), 1, `leg A, call ${id}: 487 sent once (the ACK matched)\n${where}`);
  }
  for (const id of idsB) {
    assert.deepEqual(callSeq(b, id, true), ['<INVITE', '>180', '<CANCEL', '>200', '>487', '<ACK'], `leg B, call ${id}\n${where}`);
    assert.equal(sentCount(b, id, isReq('CANCEL')), 1, `leg B, call ${id}: one CANCEL\n${where}`);
  }
});

test('flow 4 (B2BUA): 10 % packet loss on both SIPps, 100 calls, all complete', { timeout: 150_000 }, async () => {
  const CALLS = 100;
  // GW-B's SIPp must not abort a call on a retransmission it does not recognise: SIPp only takes
  // a repeated request for a retransmission until its second message after it, so the B2BUA's
  // INVITE repeated after GW-B's 100 and 183 were lost (received after the 183 went out), or its
  // BYE arriving while GW-B still waits for an ACK that was lost, would be "unexpected" and the
  // call aborted — leaving leg B (and so the phone's call) unanswered. -abortunexp off: such a
  // message is ignored and the call goes on (sipp-proxy.test.ts does the same for its uac).
  const r = await flow({
    phone: 'b2bua-phone-lossy.xml',
    gw: 'b2bua-gw.xml',
    calls: CALLS,
    lost: 10,
    rate: 20,
    timeoutS: 60,
    gwExtra: ['-default_behaviors', 'all,-abortunexp'],
  });
  // Judged by the phone (as sipp-proxy.test.ts does under loss): a call whose last message GW-B's
  // SIPp dropped may never end there, whatever the B2BUA does.
  assertAllCompleted(r, CALLS, { gw: false });
  // GW-B's checks of the INVITE (no body) and of the ACK's answer hold on every message it did
  // receive: no call failed on them (SIPp's per-cause counters of failed calls).
  for (const k of ['FailedRegexpDoesntMatch(C)', 'FailedRegexpShouldntMatch(C)', 'FailedRegexpHdrNotFound(C)']) {
    assert.equal(r.gw.stats[k], '0', `GW-B: ${k}\n${r.ctx}`);
  }
  const { idsA, idsB } = legs(r);
  assert.equal(idsA.length, CALLS, r.ctx);
  // Retransmitted INVITEs of the phone are absorbed: one leg B per call.
  assert.equal(idsB.length, CALLS, `one leg B per call\n${r.ctx}`);
});

test('flow 4 (B2BUA): GW-B sends its 183 reliably (RFC 3262) with the offer; the B2BUA PRACKs it with the answer, the phone gets the 183 and 200 as before', { timeout: 120_000 }, async () => {
  const CALLS = 3;
  const r = await flow({ phone: 'b2bua-phone.xml', gw: 'b2bua-gw-100rel.xml', calls: CALLS });
  // SIPp checked the RAck and the answer in the PRACK (GW-B) and the 183/200 SDP (phone).
  assertAllCompleted(r, CALLS);
  const { idsB } = legs(r);
  assert.equal(idsB.length, CALLS, r.ctx);
  const pracks = r.trace.filter((m) => m.dir === 'Sent' && isReq('PRACK')(m));
  assert.equal(pracks.length, CALLS, `one PRACK per call on leg B\n${r.ctx}`);
});
