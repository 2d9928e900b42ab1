import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createResponse } from '../sip/index.js';
import { NonInviteServerTransaction } from './non-invite-server-transaction.js';
import { RecordingServerUser, harness, request } from './transaction-fixtures.js';

function setup(reliable = false) {
  const h = harness(reliable);
  const tu = new RecordingServerUser();
  const req = request({ method: 'BYE', branch: 'z9hG4bKnist1', toTag: 'uas-tag' });
  const tx = new NonInviteServerTransaction('nist-1', req, h.ports, tu);
  tx.start();
  const reply = (status: number) => createResponse(req, status);
  const statuses = () => h.net.sent.map((m) => (m.kind === 'response' ? m.status : m.method));
  return { ...h, tu, tx, req, reply, statuses };
}

describe('NIST (RFC 3261 §17.2.2)', () => {
  describe('Trying', () => {
    it('MUST start in Trying and discard request retransmissions there', () => {
      const { clock, tx, req, statuses } = setup();
      assert.equal(tx.state, 'Trying');
      tx.handle({ kind: 'request', request: req });
      clock.advance(1000);
      assert.deepEqual(statuses(), [], 'no 100 Trying for non-INVITE');
    });

    it('MUST enter Proceeding on a 1xx from the TU and send it', () => {
      const { tx, reply, statuses } = setup();
      tx.respond(reply(100));
      assert.equal(tx.state, 'Proceeding');
      assert.deepEqual(statuses(), [100]);
    });

    it('MUST enter Completed on 200-699 from the TU and send it', () => {
      const { tx, reply, statuses } = setup();
      tx.respond(reply(200));
      assert.equal(tx.state, 'Completed');
      assert.deepEqual(statuses(), [200]);
    });
  });

  describe('Proceeding', () => {
    it('MUST resend the most recent provisional response on a retransmitted request', () => {
      const { tx, req, reply, statuses } = setup();
      tx.respond(reply(100));
      tx.respond(reply(183));
      tx.handle({ kind: 'request', request: req });
      assert.deepEqual(statuses(), [100, 183, 183]);
    });

    it('MUST terminate and inform the TU on a transport error', () => {
      const { net, tx, tu, reply } = setup();
      tx.respond(reply(100));
      net.failures = 1;
      tx.respond(reply(180));
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['transport-error', 'terminated']);
    });
  });

  describe('Completed', () => {
    it('MUST resend the final response on a retransmitted request and discard later TU responses', () => {
      const { tx, req, reply, statuses } = setup();
      tx.respond(reply(100));
      tx.respond(reply(486));
      tx.handle({ kind: 'request', request: req });
      tx.respond(reply(200));
      assert.deepEqual(statuses(), [100, 486, 486]);
    });

    it('MUST terminate when Timer J (64·T1) fires (RFC 3261 §17.2.2)', () => {
      const { clock, tx, tu, reply, terminated } = setup();
      tx.respond(reply(200));
      clock.advance(31_999);
      assert.equal(tx.state, 'Completed');
      clock.advance(1);
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['terminated']);
      assert.deepEqual(terminated, ['nist-1']);
    });

    it('MUST terminate and inform the TU when the final response cannot be sent', () => {
      const { net, tx, tu, reply } = setup();
      net.failures = 1;
      tx.respond(reply(200));
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['transport-error', 'terminated']);
    });
  });

  describe('reliable transport', () => {
    it('MUST terminate at once after the final response: Timer J = 0 (RFC 3261 §17.2.2)', () => {
      const { tx, tu, reply, statuses, clock } = setup(true);
      tx.respond(reply(200));
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(statuses(), [200]);
      assert.deepEqual(tu.events, ['terminated']);
      assert.equal(clock.pending, 0);
    });
  });
});
