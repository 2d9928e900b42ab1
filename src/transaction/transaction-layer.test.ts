import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createResponse, type SipRequest, type SipResponse } from '../sip/index.js';
import { VirtualClock } from '../util/clock.js';
import { TransactionLayer, type SendTarget } from './transaction-layer.js';
import { RecordingClientUser, RecordingServerUser, request, response } from './transaction-fixtures.js';

function setup() {
  const clock = new VirtualClock();
  const sent: Array<{ msg: SipRequest | SipResponse; target: SendTarget }> = [];
  const layer = new TransactionLayer({ clock, send: (msg, target) => sent.push({ msg, target }) });
  const lines = () => sent.map(({ msg }) => (msg.kind === 'request' ? msg.method : String(msg.status)));
  return { clock, sent, layer, lines };
}

describe('TransactionLayer', () => {
  describe('server side (RFC 3261 §17.2.3)', () => {
    it('MUST create an IST for a new INVITE and absorb its retransmissions', () => {
      const { layer, lines, clock } = setup();
      const invite = request({ branch: 'z9hG4bKl1' });
      const r1 = layer.receiveRequest(invite);
      assert.equal(r1.kind, 'new');
      assert.ok(r1.kind === 'new' && r1.tx.machine === 'IST');
      const r2 = layer.receiveRequest(request({ branch: 'z9hG4bKl1' }));
      assert.equal(r2.kind, 'absorbed');
      assert.ok(r2.kind === 'absorbed' && r1.kind === 'new' && r2.tx === r1.tx);
      assert.equal(layer.size.servers, 1);
      clock.advance(200);
      assert.deepEqual(lines(), ['100']);
    });

    it('MUST send server responses with a response-to target carrying the request (RFC 3261 §18.2.2)', () => {
      const { layer, sent } = setup();
      const req = request({ method: 'OPTIONS', branch: 'z9hG4bKl2' });
      const r = layer.receiveRequest(req);
      assert.ok(r.kind === 'new');
      r.tx.respond(createResponse(req, 200, { toTag: 't' }));
      assert.deepEqual(sent[0]!.target, { kind: 'response-to', request: req });
    });

    it('MUST repeat a NIST final response through the repeater option: RFC 3261 branches over UDP only', () => {
      const clock = new VirtualClock();
      const sent: string[] = [];
      const asked: Array<{ status: number; request: SipRequest | undefined }> = [];
      const layer = new TransactionLayer({
        clock,
        send: (msg) => sent.push(msg.kind === 'request' ? msg.method : String(msg.status)),
        repeater: (res, target) => {
          asked.push({ status: res.status, request: target.kind === 'response-to' ? target.request : undefined });
          return () => sent.push(`${res.status} again`);
        },
      });
      const req = request({ method: 'BYE', branch: 'z9hG4bKrep1', toTag: 'a' });
      const r = layer.receiveRequest(req);
      assert.ok(r.kind === 'new');
      r.tx.respond(createResponse(req, 200));
      assert.deepEqual(asked, [{ status: 200, request: req }]);
      assert.equal(layer.receiveRequest(request({ method: 'BYE', branch: 'z9hG4bKrep1', toTag: 'a' })).kind, 'absorbed');
      assert.deepEqual(sent, ['200', '200 again']);
      clock.advance(64 * 500);
      assert.equal(layer.size.servers, 0);
      // RFC 2543 (no magic cookie): its matching reads the request, so the request is kept.
      const old = request({ method: 'BYE', branch: 'oldstyle1', toTag: 'a' });
      const r2 = layer.receiveRequest(old);
      assert.ok(r2.kind === 'new');
      r2.tx.respond(createResponse(old, 200));
      assert.equal(asked.length, 1);
      assert.equal(r2.tx.request, old);
    });

    it('reports a new request beyond maxServerTransactions as overloaded, creating nothing; retransmissions, ACKs and CANCELs of live INVITEs still pass', () => {
      const clock = new VirtualClock();
      const sent: string[] = [];
      const layer = new TransactionLayer({ clock, send: (msg) => sent.push(msg.kind === 'request' ? msg.method : String(msg.status)), maxServerTransactions: 2 });
      const inv = request({ branch: 'z9hG4bKcap1' });
      const r1 = layer.receiveRequest(inv);
      const r2 = layer.receiveRequest(request({ method: 'OPTIONS', branch: 'z9hG4bKcap2' }));
      assert.ok(r1.kind === 'new' && r2.kind === 'new');
      const r3 = layer.receiveRequest(request({ method: 'OPTIONS', branch: 'z9hG4bKcap3' }));
      assert.equal(r3.kind, 'overloaded');
      assert.equal(layer.size.servers, 2);
      assert.equal(layer.overloadedCount, 1);
      // RFC 2543-keyed requests count too.
      assert.equal(layer.receiveRequest(request({ method: 'OPTIONS', branch: 'old1' })).kind, 'overloaded');
      // A retransmission of a live transaction is still absorbed; an ACK is still matched.
      assert.equal(layer.receiveRequest(request({ branch: 'z9hG4bKcap1' })).kind, 'absorbed');
      assert.equal(layer.receiveRequest(request({ method: 'ACK', branch: 'z9hG4bKother' })).kind, 'ack-2xx');
      // A CANCEL of the live INVITE ends a transaction: never refused.
      const c = layer.receiveRequest(request({ method: 'CANCEL', branch: 'z9hG4bKcap1' }));
      assert.ok(c.kind === 'cancel' && c.invite === r1.tx);
      assert.equal(layer.size.servers, 3);
      // A CANCEL matching nothing is a new request like any other.
      assert.equal(layer.receiveRequest(request({ method: 'CANCEL', branch: 'z9hG4bKnone' })).kind, 'overloaded');
      // Once transactions end, new requests are taken again.
      r2.tx.respond(createResponse(r2.tx.request, 200, { toTag: 'x' }));
      c.tx.respond(createResponse(c.tx.request, 200, { toTag: 'x' }));
      clock.advance(64 * 500);
      assert.equal(layer.size.servers, 1);
      assert.equal(layer.receiveRequest(request({ method: 'OPTIONS', branch: 'z9hG4bKcap4' })).kind, 'new');
      assert.equal(layer.receiveRequest(request({ method: 'OPTIONS', branch: 'z9hG4bKcap5' })).kind, 'overloaded');
      assert.equal(layer.overloadedCount, 4);
    });

    it('MUST resend the final response when a retransmitted non-INVITE request is absorbed', () => {
      const { layer, lines } = setup();
      const req = request({ method: 'BYE', branch: 'z9hG4bKl3', toTag: 'a' });
      const r = layer.receiveRequest(req);
      assert.ok(r.kind === 'new');
      r.tx.respond(createResponse(req, 200));
      assert.equal(layer.receiveRequest(request({ method: 'BYE', branch: 'z9hG4bKl3', toTag: 'a' })).kind, 'absorbed');
      assert.deepEqual(lines(), ['200', '200']);
    });

    it('MUST remove a server transaction from the table when it terminates', () => {
      const { layer, clock } = setup();
      const req = request({ method: 'BYE', branch: 'z9hG4bKl4' });
      const r = layer.receiveRequest(req);
      assert.ok(r.kind === 'new');
      r.tx.respond(createResponse(req, 200));
      clock.advance(32_000); // Timer J
      assert.equal(r.tx.state, 'Terminated');
      assert.equal(layer.size.servers, 0);
      assert.equal(layer.receiveRequest(req).kind, 'new', 'a late retransmission now makes a new transaction');
    });

    it('MUST pass the ACK for a non-2xx to the IST (same branch) and move it to Confirmed', () => {
      const { layer } = setup();
      const invite = request({ branch: 'z9hG4bKl5' });
      const r = layer.receiveRequest(invite);
      assert.ok(r.kind === 'new' && r.tx.machine === 'IST');
      r.tx.respond(createResponse(invite, 486, { toTag: 'uas' }));
      const res = layer.receiveRequest(request({ method: 'ACK', branch: 'z9hG4bKl5', toTag: 'uas' }));
      assert.equal(res.kind, 'absorbed');
      assert.equal(r.tx.state, 'Confirmed');
    });

    it('MUST hand an ACK matching no transaction (the ACK for a 2xx) to the TU as ack-2xx', () => {
      const { layer } = setup();
      const invite = request({ branch: 'z9hG4bKl6' });
      const r = layer.receiveRequest(invite);
      assert.ok(r.kind === 'new');
      r.tx.respond(createResponse(invite, 200, { toTag: 'uas' }));
      const ack = request({ method: 'ACK', branch: 'z9hG4bKnewbranch', toTag: 'uas' });
      const res = layer.receiveRequest(ack);
      assert.deepEqual(res, { kind: 'ack-2xx', request: ack });
    });

    it('MUST give the IST-matched ACK to the TU via onAck while Accepted (RFC 6026 §7.1)', () => {
      const { layer } = setup();
      const tu = new RecordingServerUser();
      const invite = request({ branch: 'z9hG4bKl7' });
      const r = layer.receiveRequest(invite);
      assert.ok(r.kind === 'new' && r.tx.machine === 'IST');
      r.tx.user = tu;
      r.tx.respond(createResponse(invite, 200, { toTag: 'uas' }));
      assert.equal(layer.receiveRequest(request({ method: 'ACK', branch: 'z9hG4bKl7', toTag: 'uas' })).kind, 'absorbed');
      assert.deepEqual(tu.events, ['ack']);
    });

    it('MUST create a NIST for a CANCEL and return the INVITE server transaction it refers to (RFC 3261 §9.2)', () => {
      const { layer } = setup();
      const inv = layer.receiveRequest(request({ branch: 'z9hG4bKl8' }));
      assert.ok(inv.kind === 'new');
      const res = layer.receiveRequest(request({ method: 'CANCEL', branch: 'z9hG4bKl8' }));
      assert.equal(res.kind, 'cancel');
      assert.ok(res.kind === 'cancel');
      assert.equal(res.tx.machine, 'NIST');
      assert.equal(res.invite, inv.tx);
      assert.equal(layer.receiveRequest(request({ method: 'CANCEL', branch: 'z9hG4bKl8' })).kind, 'absorbed');
      const stray = layer.receiveRequest(request({ method: 'CANCEL', branch: 'z9hG4bKunknown' }));
      assert.ok(stray.kind === 'cancel' && stray.invite === undefined, 'no INVITE: the TU answers 481');
    });

    it('MUST match RFC 2543 requests without a magic cookie, ACK by the To tag of the response sent', () => {
      const { layer } = setup();
      const invite = request({ branch: '', cseq: 7 });
      const r = layer.receiveRequest(invite);
      assert.ok(r.kind === 'new' && r.tx.machine === 'IST');
      assert.equal(layer.receiveRequest(request({ branch: '', cseq: 7 })).kind, 'absorbed');
      r.tx.respond(createResponse(invite, 404, { toTag: 'resp' }));
      assert.equal(layer.receiveRequest(request({ method: 'ACK', branch: '', cseq: 7, toTag: 'other' })).kind, 'ack-2xx');
      assert.equal(layer.receiveRequest(request({ method: 'ACK', branch: '', cseq: 7, toTag: 'resp' })).kind, 'absorbed');
      assert.equal(r.tx.state, 'Confirmed');
      const cancel = layer.receiveRequest(request({ method: 'CANCEL', branch: '', cseq: 7 }));
      assert.ok(cancel.kind === 'cancel' && cancel.invite === r.tx);
    });

    it('MUST NOT retransmit responses over a reliable transport (default isReliable: not UDP)', () => {
      const { layer, clock, lines } = setup();
      const invite = request({ branch: 'z9hG4bKl9', transport: 'TCP' });
      const r = layer.receiveRequest(invite);
      assert.ok(r.kind === 'new');
      r.tx.respond(createResponse(invite, 486, { toTag: 'uas' }));
      clock.advance(10_000);
      assert.deepEqual(lines(), ['486']);
    });
  });

  describe('client side (RFC 3261 §17.1.3)', () => {
    it('MUST create an ICT for INVITE, send to the destination given and route matching responses to it', () => {
      const { layer, sent } = setup();
      const tu = new RecordingClientUser();
      const invite = request({ branch: 'z9hG4bKc1' });
      const dest = { host: '192.0.2.1', port: 5060, transport: 'udp' };
      const tx = layer.sendRequest(invite, tu, { destination: dest });
      assert.equal(tx.machine, 'ICT');
      assert.deepEqual(sent[0]!.target, { kind: 'request-destination', destination: dest });
      assert.equal(layer.receiveResponse(response(invite, 180)), true);
      assert.equal(layer.receiveResponse(response(request({ branch: 'z9hG4bKother' }), 180)), false);
      assert.equal(layer.receiveResponse(response(invite, 486)), true);
      assert.deepEqual(tu.statuses(), [180, 486]);
      const ack = sent.find(({ msg }) => msg.kind === 'request' && msg.method === 'ACK');
      assert.deepEqual(ack!.target, { kind: 'request-destination', destination: dest }, 'ACK goes where the INVITE went');
    });

    it('MUST remove the ICT after Timer M, leaving later 2xx retransmissions to the TU core (RFC 6026 §7.2)', () => {
      const { layer, clock } = setup();
      const tu = new RecordingClientUser();
      const invite = request({ branch: 'z9hG4bKc2' });
      layer.sendRequest(invite, tu);
      assert.equal(layer.receiveResponse(response(invite, 200)), true);
      assert.equal(layer.receiveResponse(response(invite, 200)), true);
      clock.advance(32_000);
      assert.equal(layer.size.clients, 0);
      assert.equal(layer.receiveResponse(response(invite, 200)), false);
      assert.deepEqual(tu.events, ['response 200', 'response 200', 'terminated']);
    });

    it('MUST create a NICT for non-INVITE requests, CANCEL included, and keep it apart from the INVITE', () => {
      const { layer } = setup();
      const invite = request({ branch: 'z9hG4bKc3' });
      const ict = layer.sendRequest(invite, new RecordingClientUser());
      const cancelTu = new RecordingClientUser();
      const nict = layer.sendRequest(request({ method: 'CANCEL', branch: 'z9hG4bKc3' }), cancelTu);
      assert.equal(nict.machine, 'NICT');
      assert.equal(layer.size.clients, 2);
      layer.receiveResponse(response(request({ method: 'CANCEL', branch: 'z9hG4bKc3' }), 200));
      assert.deepEqual(cancelTu.statuses(), [200]);
      assert.equal(ict.state, 'Calling');
    });

    it('rejects ACK and a reused branch (misuse)', () => {
      const { layer } = setup();
      assert.throws(() => layer.sendRequest(request({ method: 'ACK' }), new RecordingClientUser()), TypeError);
      layer.sendRequest(request({ method: 'OPTIONS', branch: 'z9hG4bKdup' }), new RecordingClientUser());
      assert.throws(
        () => layer.sendRequest(request({ method: 'OPTIONS', branch: 'z9hG4bKdup' }), new RecordingClientUser()),
        TypeError,
      );
    });

    it('MUST deliver a synthetic 503 when the transport throws, and drop the transaction', () => {
      const clock = new VirtualClock();
      const layer = new TransactionLayer({
        clock,
        send: () => {
          throw new Error('no route');
        },
      });
      const tu = new RecordingClientUser();
      const tx = layer.sendRequest(request({ method: 'OPTIONS', branch: 'z9hG4bKc4' }), tu);
      assert.equal(tx.state, 'Terminated');
      assert.deepEqual(tu.statuses(), [503]);
      assert.equal(layer.size.clients, 0);
    });
  });
});
