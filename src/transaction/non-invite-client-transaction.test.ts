import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { TRANSACTION_RETRANSMIT_CHANNEL, type TransactionRetransmitMessage } from './transaction-diagnostics.js';
import { NonInviteClientTransaction } from './non-invite-client-transaction.js';
import { syntheticCause } from './synthetic-response.js';
import { timerConfig } from './timer-table.js';
import { RecordingClientUser, harness, request, response } from './transaction-fixtures.js';

function setup(reliable = false, method = 'OPTIONS') {
  const h = harness(reliable);
  const tu = new RecordingClientUser();
  const req = request({ method, branch: 'z9hG4bKnict1' });
  const tx = new NonInviteClientTransaction('nict-1', req, h.ports, tu);
  tx.start();
  return { ...h, tu, tx, req };
}

/** Times (ms) at which the request was (re)transmitted while advancing in 50 ms steps. */
function transmissionTimes(clock: { advance(ms: number): void; now(): number }, net: { sent: unknown[] }, until: number): number[] {
  const times = [0];
  let seen = net.sent.length;
  while (clock.now() < until) {
    clock.advance(50);
    if (net.sent.length > seen) {
      seen = net.sent.length;
      times.push(clock.now());
    }
  }
  return times;
}

describe('NICT (RFC 3261 §17.1.2.2)', () => {
  describe('Trying, unreliable transport', () => {
    it('MUST send the request and enter Trying', () => {
      const { tx, net } = setup();
      assert.equal(tx.state, 'Trying');
      assert.deepEqual(net.lines(), ['OPTIONS sip:bob@example.com']);
    });

    it('times out after `retry bye N` retransmissions of a BYE, other methods unaffected (IOS sip-ua retry)', () => {
      const config = timerConfig({ retries: { BYE: 1 } });
      for (const [method, expected] of [['BYE', [0, 500]], ['OPTIONS', [0, 500, 1500]]] as const) {
        const h = harness(false, config);
        const tu = new RecordingClientUser();
        const tx = new NonInviteClientTransaction('nict-r', request({ method, branch: 'z9hG4bKnictr' }), h.ports, tu);
        tx.start();
        assert.deepEqual(transmissionTimes(h.clock, h.net, 1500), expected, method);
        assert.equal(tx.state, method === 'BYE' ? 'Terminated' : 'Trying', method);
        if (method === 'BYE') assert.equal(syntheticCause(tu.responses[0]!), 'timeout');
      }
    });

    it('MUST retransmit at T1, 2·T1, 4·T1 … capped at T2 (RFC 3261 §17.1.2.2)', () => {
      const { clock, net } = setup();
      const times = transmissionTimes(clock, net, 20_000);
      // intervals 500, 1000, 2000, 4000, 4000, 4000 …
      assert.deepEqual(times, [0, 500, 1500, 3500, 7500, 11500, 15500, 19500]);
    });

    it('MUST pass a synthetic 408 to the TU when Timer F fires at 64·T1 and terminate (RFC 3261 §17.1.2.2)', () => {
      const { clock, tu, tx, terminated } = setup();
      clock.advance(31_999);
      assert.equal(tx.state, 'Trying');
      clock.advance(1);
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['timeout', 'response 408', 'terminated']);
      assert.equal(syntheticCause(tu.responses[0]!), 'timeout');
      assert.deepEqual(terminated, ['nict-1']);
      assert.equal(clock.pending, 0);
    });

    it('MUST pass a synthetic 503 to the TU on a transport error and terminate (RFC 3261 §8.1.3.1)', () => {
      const h = harness(false);
      h.net.failures = 1;
      const tu = new RecordingClientUser();
      const tx = new NonInviteClientTransaction('nict-x', request({ method: 'BYE' }), h.ports, tu);
      tx.start();
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['transport-error', 'response 503', 'terminated']);
      assert.equal(syntheticCause(tu.responses[0]!), 'transport-error');
    });

    it('MUST terminate with a 503 when a retransmission fails', () => {
      const { clock, net, tu, tx } = setup();
      net.failures = 1;
      clock.advance(500);
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.statuses(), [503]);
    });
  });

  describe('Trying → Proceeding', () => {
    it('MUST enter Proceeding on a 1xx and pass it to the TU', () => {
      const { tx, tu, req } = setup();
      tx.handle({ kind: 'response', response: response(req, 100) });
      assert.equal(tx.state, 'Proceeding');
      tx.handle({ kind: 'response', response: response(req, 180) });
      assert.deepEqual(tu.statuses(), [100, 180]);
    });

    it('MUST keep retransmitting in Proceeding, at T2 intervals once Timer E fires there (RFC 3261 §17.1.2.2)', () => {
      const { clock, net, tx, req } = setup();
      clock.advance(600); // sent at 0 and 500; Timer E now at 1000 ms interval → fires at 1500
      tx.handle({ kind: 'response', response: response(req, 100) });
      const times = transmissionTimes(clock, net, 14_000);
      assert.deepEqual(times.slice(1), [1500, 5500, 9500, 13500]);
    });

    it('MUST still time out with Timer F in Proceeding (RFC 3261 §17.1.2.2)', () => {
      const { clock, tx, tu, req } = setup();
      tx.handle({ kind: 'response', response: response(req, 100) });
      clock.advance(32_000);
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.statuses(), [100, 408]);
    });
  });

  describe('→ Completed', () => {
    it('MUST enter Completed on 200-699 from Trying, pass it to the TU and stop retransmitting', () => {
      const { clock, net, tx, tu, req } = setup();
      tx.handle({ kind: 'response', response: response(req, 200) });
      assert.equal(tx.state, 'Completed');
      const sent = net.sent.length;
      clock.advance(4_999);
      assert.equal(net.sent.length, sent);
      assert.deepEqual(tu.statuses(), [200]);
    });

    it('MUST enter Completed on 200-699 from Proceeding', () => {
      const { tx, tu, req } = setup();
      tx.handle({ kind: 'response', response: response(req, 100) });
      tx.handle({ kind: 'response', response: response(req, 404) });
      assert.equal(tx.state, 'Completed');
      assert.deepEqual(tu.statuses(), [100, 404]);
    });

    it('MUST absorb retransmitted responses in Completed', () => {
      const { tx, tu, req } = setup();
      const ok = response(req, 200);
      tx.handle({ kind: 'response', response: ok });
      tx.handle({ kind: 'response', response: ok });
      tx.handle({ kind: 'response', response: response(req, 100) });
      assert.deepEqual(tu.statuses(), [200]);
    });

    it('MUST terminate when Timer K (T4) fires (RFC 3261 §17.1.2.2)', () => {
      const { clock, tx, tu, req } = setup();
      tx.handle({ kind: 'response', response: response(req, 200) });
      clock.advance(4_999);
      assert.equal(tx.state, 'Completed');
      clock.advance(1);
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['response 200', 'terminated']);
      assert.equal(clock.pending, 0, 'Timer F was cleared');
    });
  });

  describe('reliable transport', () => {
    it('MUST NOT retransmit (Timer E only for unreliable transports)', () => {
      const { clock, net, tx } = setup(true);
      clock.advance(31_000);
      assert.equal(net.sent.length, 1);
      assert.equal(tx.isArmed('E'), false);
    });

    it('MUST terminate at once on a final response: Timer K = 0 (RFC 3261 §17.1.2.2)', () => {
      const { tx, tu, req } = setup(true);
      tx.handle({ kind: 'response', response: response(req, 200) });
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.events, ['response 200', 'terminated']);
    });

    it('MUST still time out with Timer F', () => {
      const { clock, tu } = setup(true);
      clock.advance(32_000);
      assert.deepEqual(tu.statuses(), [408]);
    });
  });

  it('publishes each Timer E retransmission on sip:transaction:retransmit', () => {
    const seen: string[] = [];
    const listener = (m: unknown) => {
      const r = m as TransactionRetransmitMessage;
      if (r.id === 'nict-1') seen.push(`${r.machine} ${r.cause} ${r.what}`);
    };
    diagnosticsChannel.subscribe(TRANSACTION_RETRANSMIT_CHANNEL, listener);
    try {
      const { clock } = setup();
      clock.advance(1500);
    } finally {
      diagnosticsChannel.unsubscribe(TRANSACTION_RETRANSMIT_CHANNEL, listener);
    }
    assert.deepEqual(seen, ['NICT E OPTIONS sip:bob@example.com', 'NICT E OPTIONS sip:bob@example.com']);
  });
});
