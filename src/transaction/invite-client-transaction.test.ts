import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import type { SipRequest } from '../sip/index.js';
import { InviteClientTransaction } from './invite-client-transaction.js';
import { syntheticCause } from './synthetic-response.js';
import { timerConfig } from './timer-table.js';
import { RecordingClientUser, harness, request, response } from './transaction-fixtures.js';
import { TRANSACTION_STATE_CHANNEL, type TransactionStateMessage } from './transaction-diagnostics.js';

function setup(reliable = false, invite = request()) {
  const h = harness(reliable);
  const tu = new RecordingClientUser();
  const tx = new InviteClientTransaction('ict-1', invite, h.ports, tu);
  tx.start();
  return { ...h, tu, tx, invite };
}

const isInvite = (m: { kind: string }) => m.kind === 'request' && (m as SipRequest).method === 'INVITE';
const isAck = (m: { kind: string }) => m.kind === 'request' && (m as SipRequest).method === 'ACK';

describe('ICT (RFC 3261 §17.1.1, RFC 6026 §7.2)', () => {
  describe('Calling, unreliable transport', () => {
    it('MUST send the INVITE and enter Calling', () => {
      const { net, tx } = setup();
      assert.equal(tx.state, 'Calling');
      assert.deepEqual(net.lines(), ['INVITE sip:bob@example.com']);
    });

    it('MUST retransmit when Timer A fires at T1, 2·T1, 4·T1 … with no T2 cap (RFC 3261 §17.1.1.2)', () => {
      const { clock, net } = setup();
      const times: number[] = [];
      let seen = 1;
      for (let ms = 0; ms < 32000; ms += 50) {
        clock.advance(50);
        if (net.sent.length > seen) {
          seen = net.sent.length;
          times.push(clock.now());
        }
      }
      assert.deepEqual(times, [500, 1500, 3500, 7500, 15500, 31500]);
      assert.equal(net.count(isInvite), 7);
    });

    it('times out after `retry invite N` retransmissions when Timer A fires once more (IOS sip-ua retry)', () => {
      const h = harness(false, timerConfig({ retries: { INVITE: 2 } }));
      const tu = new RecordingClientUser();
      const tx = new InviteClientTransaction('ict-r', request(), h.ports, tu);
      tx.start();
      h.clock.advance(1500); // retransmissions at 500 and 1500 ms
      assert.equal(h.net.count(isInvite), 3);
      assert.equal(tx.state, 'Calling');
      h.clock.advance(2000); // A fires at 3500 ms: no third retransmission, a 408 instead
      assert.equal(h.net.count(isInvite), 3);
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['timeout', 'response 408', 'terminated']);
      assert.equal(syntheticCause(tu.responses[0]!), 'timeout');
    });

    it('MUST inform the TU with a synthetic 408 when Timer B fires at 64·T1 and terminate (RFC 3261 §17.1.1.2, §8.1.3.1)', () => {
      const { clock, tu, tx, terminated } = setup();
      clock.advance(31999);
      assert.equal(tx.state, 'Calling');
      clock.advance(1);
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['timeout', 'response 408', 'terminated']);
      assert.equal(syntheticCause(tu.responses[0]!), 'timeout');
      assert.equal(tu.responses[0]!.cseq.method, 'INVITE');
      assert.deepEqual(terminated, ['ict-1']);
    });

    it('MUST pass a synthetic 503 to the TU on a transport error and terminate (RFC 3261 §8.1.3.1)', () => {
      const h = harness(false);
      h.net.failures = 1;
      const tu = new RecordingClientUser();
      const tx = new InviteClientTransaction('ict-x', request(), h.ports, tu);
      tx.start();
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['transport-error', 'response 503', 'terminated']);
      assert.equal(syntheticCause(tu.responses[0]!), 'transport-error');
      assert.equal(h.clock.pending, 0, 'Timers A and B are cleared');
    });

    it('MUST treat a transport error reported later (handle) like a failed send', () => {
      const { tx, tu } = setup();
      tx.handle({ kind: 'transport-error', error: new Error('connection reset') });
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.statuses(), [503]);
    });
  });

  describe('Calling → Proceeding', () => {
    it('MUST enter Proceeding on a 1xx, pass it to the TU and stop retransmitting (RFC 3261 §17.1.1.2)', () => {
      const { clock, net, tu, tx, invite } = setup();
      tx.handle({ kind: 'response', response: response(invite, 100) });
      assert.equal(tx.state, 'Proceeding');
      tx.handle({ kind: 'response', response: response(invite, 180) });
      assert.deepEqual(tu.statuses(), [100, 180]);
      clock.advance(64_000);
      assert.equal(net.count(isInvite), 1, 'no retransmission in Proceeding');
      assert.equal(tx.state, 'Proceeding', 'Timer B is meaningless once Proceeding');
    });
  });

  describe('Calling/Proceeding → Completed (300-699)', () => {
    it('MUST generate the ACK per §17.1.1.3, pass the response to the TU and enter Completed', () => {
      const invite = request({
        lowerVias: ['SIP/2.0/UDP proxy.example.net;branch=z9hG4bKproxy1'],
        routes: ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>'],
      });
      const { net, tu, tx } = setup(false, invite);
      tx.handle({ kind: 'response', response: response(invite, 180) });
      const busy = response(invite, 486, 'callee-tag');
      tx.handle({ kind: 'response', response: busy });
      assert.equal(tx.state, 'Completed');
      assert.deepEqual(tu.statuses(), [180, 486]);
      const ack = net.sent.find(isAck) as SipRequest;
      assert.ok(ack, 'ACK sent');
      assert.equal(ack.uriText, invite.uriText, 'same Request-URI');
      assert.equal(ack.callId, invite.callId);
      assert.equal(ack.header('From'), invite.header('From'));
      assert.equal(ack.to.tag, 'callee-tag', 'To from the response');
      assert.deepEqual(ack.viaValues(), [invite.viaValues()[0]], 'only the top Via of the INVITE');
      assert.deepEqual(ack.cseq, { seq: invite.cseq.seq, method: 'ACK' });
      assert.deepEqual(ack.headers('Route'), invite.headers('Route'), 'Route headers of the INVITE');
      assert.equal(ack.maxForwards, 70);
      assert.equal(tx.ackRequest, ack);
    });

    it('MUST resend the ACK for each retransmitted final response without passing it to the TU (RFC 3261 §17.1.1.2)', () => {
      const { net, tu, tx, invite } = setup();
      const busy = response(invite, 486);
      tx.handle({ kind: 'response', response: busy });
      tx.handle({ kind: 'response', response: busy });
      tx.handle({ kind: 'response', response: busy });
      assert.equal(net.count(isAck), 3);
      assert.deepEqual(tu.statuses(), [486]);
    });

    it('MUST stay in Completed until Timer D (32 s) fires, then terminate (RFC 3261 §17.1.1.2)', () => {
      const { clock, tu, tx, invite, net } = setup();
      tx.handle({ kind: 'response', response: response(invite, 503) });
      clock.advance(31_999);
      assert.equal(tx.state, 'Completed');
      assert.equal(net.count(isInvite), 1, 'Timer A was cleared on leaving Calling');
      clock.advance(1);
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['response 503', 'terminated']);
    });

    it('MUST terminate and inform the TU when the ACK cannot be sent (RFC 3261 Figure 5)', () => {
      const { net, tu, tx, invite } = setup();
      net.failures = 1;
      tx.handle({ kind: 'response', response: response(invite, 404) });
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['response 404', 'transport-error', 'terminated']);
    });
  });

  describe('Calling/Proceeding → Accepted (2xx, RFC 6026 §7.2)', () => {
    it('MUST pass a 2xx to the TU and enter Accepted; the TU, not the ICT, sends the ACK', () => {
      const { net, tu, tx, invite } = setup();
      tx.handle({ kind: 'response', response: response(invite, 200) });
      assert.equal(tx.state, 'Accepted');
      assert.deepEqual(tu.statuses(), [200]);
      assert.equal(net.count(isAck), 0);
    });

    it('MUST pass retransmitted and forked 2xx responses to the TU while Accepted, and drop others', () => {
      const { tu, tx, invite } = setup();
      tx.handle({ kind: 'response', response: response(invite, 180) });
      tx.handle({ kind: 'response', response: response(invite, 200, 'fork-1') });
      tx.handle({ kind: 'response', response: response(invite, 200, 'fork-1') });
      tx.handle({ kind: 'response', response: response(invite, 200, 'fork-2') });
      tx.handle({ kind: 'response', response: response(invite, 183, 'fork-3') });
      tx.handle({ kind: 'response', response: response(invite, 486, 'fork-4') });
      assert.deepEqual(tu.statuses(), [180, 200, 200, 200]);
      assert.deepEqual(
        tu.responses.slice(1).map((r) => r.to.tag),
        ['fork-1', 'fork-1', 'fork-2'],
      );
    });

    it('MUST terminate when Timer M (64·T1) fires (RFC 6026 §7.2)', () => {
      const { clock, tx, invite, tu } = setup();
      clock.advance(1000);
      tx.handle({ kind: 'response', response: response(invite, 200) });
      clock.advance(31_999);
      assert.equal(tx.state, 'Accepted', 'Timer B does not fire in Accepted');
      clock.advance(1);
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['response 200', 'terminated']);
    });
  });

  describe('reliable transport', () => {
    it('MUST NOT retransmit the INVITE (Timer A only for unreliable transports, RFC 3261 §17.1.1.2)', () => {
      const { clock, net, tx } = setup(true);
      clock.advance(20_000);
      assert.equal(net.count(isInvite), 1);
      assert.equal(tx.isArmed('A'), false);
      assert.equal(tx.isArmed('B'), true);
    });

    it('MUST still time out with Timer B', () => {
      const { clock, tu } = setup(true);
      clock.advance(32_000);
      assert.deepEqual(tu.statuses(), [408]);
    });

    it('MUST send the ACK and terminate at once: Timer D = 0 (RFC 3261 §17.1.1.2)', () => {
      const { net, tu, tx, invite, clock } = setup(true);
      tx.handle({ kind: 'response', response: response(invite, 486) });
      assert.equal(tx.state, 'Terminated');
      assert.equal(net.count(isAck), 1);
      assert.deepEqual(tu.events, ['response 486', 'terminated']);
      assert.equal(clock.pending, 0);
    });
  });

  describe('Terminated', () => {
    it('absorbs every input', () => {
      const { clock, tu, tx, invite, net } = setup();
      clock.advance(32_000);
      const before = net.sent.length;
      tx.handle({ kind: 'response', response: response(invite, 200) });
      tx.handle({ kind: 'transport-error' });
      tx.start();
      assert.deepEqual(tu.statuses(), [408]);
      assert.equal(net.sent.length, before);
    });
  });

  it('publishes every transition on sip:transaction:state', () => {
    const seen: string[] = [];
    const listener = (m: unknown) => {
      const s = m as TransactionStateMessage;
      if (s.id === 'ict-diag') seen.push(`${s.machine} ${s.from}→${s.to}`);
    };
    diagnosticsChannel.subscribe(TRANSACTION_STATE_CHANNEL, listener);
    try {
      const h = harness(false);
      const invite = request();
      const tx = new InviteClientTransaction('ict-diag', invite, h.ports, new RecordingClientUser());
      tx.start();
      tx.handle({ kind: 'response', response: response(invite, 180) });
      tx.handle({ kind: 'response', response: response(invite, 486) });
      h.clock.advance(32_000);
    } finally {
      diagnosticsChannel.unsubscribe(TRANSACTION_STATE_CHANNEL, listener);
    }
    assert.deepEqual(seen, ['ICT Calling→Proceeding', 'ICT Proceeding→Completed', 'ICT Completed→Terminated']);
  });
});
