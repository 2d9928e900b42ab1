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

  describe('Completed with a repeater (UDP: only the bytes of the final response are kept)', () => {
    /** Ports whose repeater records each repeat as the start line it was given. */
    function withRepeater(reliable = false) {
      const h = setup(reliable);
      const repeats: string[] = [];
      const given: number[] = [];
      let failNext = false;
      h.ports.repeater = (res) => {
        given.push(res.status);
        const line = `${res.status} ${res.reason}`;
        return () => {
          if (failNext) throw new Error('EHOSTUNREACH (test)');
          repeats.push(line);
        };
      };
      return { ...h, repeats, given, failNext: () => (failNext = true) };
    }

    it('MUST resend the final response through the repeater, holding neither message', () => {
      const { tx, req, reply, statuses, repeats, given } = withRepeater();
      tx.respond(reply(200));
      assert.deepEqual(statuses(), [200], 'the first copy goes out through the transport as before');
      assert.deepEqual(given, [200]);
      assert.equal(tx.lastResponse, undefined);
      assert.throws(() => tx.request, /released in Completed/);
      assert.equal(tx.callId, undefined);
      tx.handle({ kind: 'request', request: req });
      tx.handle({ kind: 'request', request: req });
      tx.respond(reply(500));
      assert.deepEqual(repeats, ['200 OK', '200 OK']);
      assert.deepEqual(statuses(), [200], 'later TU responses are still discarded');
    });

    it('MUST still terminate on Timer J, and on a repeat that fails (RFC 3261 §17.2.4)', () => {
      const a = withRepeater();
      a.tx.respond(a.reply(200));
      a.clock.advance(64 * 500);
      assert.equal(a.tx.state, 'Terminated');
      assert.deepEqual(a.terminated, ['nist-1']);
      const b = withRepeater();
      b.tx.respond(b.reply(404));
      b.failNext();
      b.tx.handle({ kind: 'request', request: b.req });
      assert.equal(b.tx.state, 'Terminated');
      assert.deepEqual(b.tu.events, ['transport-error', 'terminated']);
    });

    it('MUST NOT take a repeater for a provisional response nor over a reliable transport', () => {
      const a = withRepeater();
      a.tx.respond(a.reply(100));
      assert.deepEqual(a.given, []);
      assert.equal(a.tx.request, a.req);
      const b = withRepeater(true);
      b.tx.respond(b.reply(200));
      assert.deepEqual(b.given, []);
      assert.equal(b.tx.state, 'Terminated');
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
