import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createResponse, type SipResponse } from '../sip/index.js';
import { InviteServerTransaction } from './invite-server-transaction.js';
import { RecordingServerUser, harness, request } from './transaction-fixtures.js';

function setup(reliable = false) {
  const h = harness(reliable);
  const tu = new RecordingServerUser();
  const invite = request({ branch: 'z9hG4bKist1' });
  const tx = new InviteServerTransaction('ist-1', invite, h.ports, tu);
  tx.start();
  const reply = (status: number): SipResponse => createResponse(invite, status, { toTag: 'uas-tag' });
  const ack = request({ method: 'ACK', branch: 'z9hG4bKist1', toTag: 'uas-tag' });
  const statuses = () => h.net.sent.map((m) => (m.kind === 'response' ? m.status : m.method));
  return { ...h, tu, tx, invite, reply, ack, statuses };
}

describe('IST (RFC 3261 §17.2.1, RFC 6026 §7.1)', () => {
  describe('Proceeding', () => {
    it('MUST send 100 Trying when the TU has not answered within 200 ms (RFC 3261 §17.2.1)', () => {
      const { clock, tx, statuses } = setup();
      assert.equal(tx.state, 'Proceeding');
      clock.advance(199);
      assert.deepEqual(statuses(), []);
      clock.advance(1);
      assert.deepEqual(statuses(), [100]);
      const trying = tx.lastResponse!;
      assert.equal(trying.to.tag, undefined, '100 Trying carries no To tag');
    });

    it('MUST NOT send 100 Trying when the TU answered within 200 ms', () => {
      const { clock, tx, reply, statuses } = setup();
      clock.advance(150);
      tx.respond(reply(180));
      clock.advance(1000);
      assert.deepEqual(statuses(), [180]);
    });

    it('MUST resend the most recent provisional response on a retransmitted INVITE (RFC 3261 §17.2.1)', () => {
      const { tx, invite, reply, statuses } = setup();
      tx.respond(reply(180));
      tx.respond(reply(183));
      tx.handle({ kind: 'request', request: invite });
      assert.deepEqual(statuses(), [180, 183, 183]);
    });

    it('MUST terminate and inform the TU on a transport error (RFC 3261 §17.2.1)', () => {
      const { net, tx, tu, reply } = setup();
      net.failures = 1;
      tx.respond(reply(180));
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['transport-error', 'terminated']);
    });
  });

  describe('Proceeding → Completed (300-699) → Confirmed', () => {
    it('MUST retransmit the final response when Timer G fires at T1, 2·T1 … capped at T2 (RFC 3261 §17.2.1)', () => {
      const { clock, net, tx, reply } = setup();
      tx.respond(reply(486));
      assert.equal(tx.state, 'Completed');
      const times: number[] = [];
      let seen = net.sent.length;
      while (clock.now() < 20_000) {
        clock.advance(50);
        if (net.sent.length > seen) {
          seen = net.sent.length;
          times.push(clock.now());
        }
      }
      assert.deepEqual(times, [500, 1500, 3500, 7500, 11500, 15500, 19500]);
    });

    it('MUST resend the final response on a retransmitted INVITE in Completed', () => {
      const { tx, invite, reply, statuses } = setup();
      tx.respond(reply(486));
      tx.handle({ kind: 'request', request: invite });
      assert.deepEqual(statuses(), [486, 486]);
    });

    it('MUST terminate and inform the TU when Timer H (64·T1) fires without an ACK (RFC 3261 §17.2.1)', () => {
      const { clock, tx, tu, reply, terminated } = setup();
      tx.respond(reply(486));
      clock.advance(31_999);
      assert.equal(tx.state, 'Completed');
      clock.advance(1);
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['timeout', 'terminated']);
      assert.deepEqual(terminated, ['ist-1']);
      assert.equal(clock.pending, 0, 'Timer G cleared');
    });

    it('MUST enter Confirmed on ACK, stop Timer G, absorb ACKs and terminate when Timer I (T4) fires (RFC 3261 §17.2.1)', () => {
      const { clock, net, tx, tu, reply, ack } = setup();
      tx.respond(reply(486));
      tx.handle({ kind: 'request', request: ack });
      assert.equal(tx.state, 'Confirmed');
      const sent = net.sent.length;
      tx.handle({ kind: 'request', request: ack });
      clock.advance(4_999);
      assert.equal(net.sent.length, sent, 'no more retransmissions');
      assert.equal(tx.state, 'Confirmed');
      clock.advance(1);
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['terminated'], 'the ACK for a non-2xx is not passed to the TU');
    });

    it('drops a late TU response once Completed', () => {
      const { tx, reply, statuses } = setup();
      tx.respond(reply(486));
      tx.respond(reply(200));
      assert.deepEqual(statuses(), [486]);
    });

    it('MUST terminate and inform the TU when a retransmission fails in Completed', () => {
      const { clock, net, tx, tu, reply } = setup();
      tx.respond(reply(486));
      net.failures = 1;
      clock.advance(500);
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['transport-error', 'terminated']);
    });
  });

  describe('Proceeding → Accepted (2xx, RFC 6026 §7.1)', () => {
    it('MUST send the 2xx and enter Accepted; the IST does not retransmit it itself', () => {
      const { clock, tx, reply, statuses } = setup();
      tx.respond(reply(200));
      assert.equal(tx.state, 'Accepted');
      clock.advance(10_000);
      assert.deepEqual(statuses(), [200]);
    });

    it('MUST pass 2xx retransmissions from the TU to the transport', () => {
      const { tx, reply, statuses } = setup();
      tx.respond(reply(200));
      tx.respond(reply(200));
      tx.respond(reply(180));
      assert.deepEqual(statuses(), [200, 200]);
    });

    it('MUST absorb retransmitted INVITEs and pass an ACK to the TU in Accepted', () => {
      const { tx, tu, invite, reply, ack, statuses } = setup();
      tx.respond(reply(200));
      tx.handle({ kind: 'request', request: invite });
      tx.handle({ kind: 'request', request: ack });
      assert.deepEqual(statuses(), [200]);
      assert.deepEqual(tu.events, ['ack']);
      assert.equal(tu.acks[0], ack);
    });

    it('MUST terminate when Timer L (64·T1) fires (RFC 6026 §7.1)', () => {
      const { clock, tx, tu, reply } = setup();
      tx.respond(reply(200));
      clock.advance(31_999);
      assert.equal(tx.state, 'Accepted');
      clock.advance(1);
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['terminated']);
    });

    it('stays Accepted on a transport error and informs the TU', () => {
      const { net, tx, tu, reply } = setup();
      tx.respond(reply(200));
      net.failures = 1;
      tx.respond(reply(200));
      assert.equal(tx.state, 'Accepted');
      assert.deepEqual(tu.events, ['transport-error']);
    });
  });

  describe('reliable transport', () => {
    it('MUST NOT retransmit the final response (Timer G only for unreliable transports)', () => {
      const { clock, tx, reply, statuses } = setup(true);
      tx.respond(reply(486));
      assert.equal(tx.isArmed('G'), false);
      assert.equal(tx.isArmed('H'), true);
      clock.advance(10_000);
      assert.deepEqual(statuses(), [486]);
    });

    it('MUST terminate at once on ACK: Timer I = 0 (RFC 3261 §17.2.1)', () => {
      const { tx, reply, ack, tu } = setup(true);
      tx.respond(reply(486));
      tx.handle({ kind: 'request', request: ack });
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['terminated']);
    });

    it('MUST still send 100 Trying after 200 ms', () => {
      const { clock, statuses } = setup(true);
      clock.advance(200);
      assert.deepEqual(statuses(), [100]);
    });
  });
});
