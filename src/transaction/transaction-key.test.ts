import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  clientKeyOfRequest,
  clientKeyOfResponse,
  inviteKeyForCancel,
  rfc2543ToTagMatches,
  serverKey,
} from './transaction-key.js';
import { request, response } from './transaction-fixtures.js';

describe('transaction keys', () => {
  describe('client side (RFC 3261 §17.1.3)', () => {
    it('MUST match a response by the top Via branch and the CSeq method', () => {
      const invite = request({ branch: 'z9hG4bKc1' });
      assert.equal(clientKeyOfResponse(response(invite, 180)), clientKeyOfRequest(invite));
      const other = request({ branch: 'z9hG4bKc2' });
      assert.notEqual(clientKeyOfResponse(response(other, 180)), clientKeyOfRequest(invite));
    });

    it('MUST keep a CANCEL apart from the INVITE it shares a branch with', () => {
      const invite = request({ branch: 'z9hG4bKc1' });
      const cancel = request({ method: 'CANCEL', branch: 'z9hG4bKc1' });
      assert.notEqual(clientKeyOfRequest(cancel), clientKeyOfRequest(invite));
      assert.equal(clientKeyOfResponse(response(cancel, 200)), clientKeyOfRequest(cancel));
    });
  });

  describe('server side with the magic cookie (RFC 3261 §17.2.3)', () => {
    it('MUST match on branch, sent-by and method', () => {
      const a = request({ branch: 'z9hG4bKs1' });
      assert.equal(serverKey(a), serverKey(request({ branch: 'z9hG4bKs1' })));
      assert.notEqual(serverKey(a), serverKey(request({ branch: 'z9hG4bKs2' })));
      assert.notEqual(serverKey(a), serverKey(request({ branch: 'z9hG4bKs1', sentBy: 'other.example.com' })));
      assert.notEqual(serverKey(a), serverKey(request({ method: 'OPTIONS', branch: 'z9hG4bKs1' })));
    });

    it('compares the sent-by host case-insensitively', () => {
      assert.equal(
        serverKey(request({ branch: 'z9hG4bKs1', sentBy: 'PC33.Atlanta.COM:5060' })),
        serverKey(request({ branch: 'z9hG4bKs1', sentBy: 'pc33.atlanta.com:5060' })),
      );
    });

    it('MUST match an ACK to the INVITE transaction (method ACK maps to INVITE)', () => {
      const invite = request({ branch: 'z9hG4bKs1' });
      const ack = request({ method: 'ACK', branch: 'z9hG4bKs1', toTag: 'x' });
      assert.equal(serverKey(ack), serverKey(invite));
    });

    it('MUST give a CANCEL its own key, and find its INVITE by the same key with method INVITE (RFC 3261 §9.2)', () => {
      const invite = request({ branch: 'z9hG4bKs1' });
      const cancel = request({ method: 'CANCEL', branch: 'z9hG4bKs1' });
      assert.notEqual(serverKey(cancel), serverKey(invite));
      assert.equal(inviteKeyForCancel(cancel), serverKey(invite));
    });
  });

  describe('RFC 2543 fallback (no magic cookie, RFC 3261 §17.2.3)', () => {
    const invite = request({ branch: '', cseq: 1 });

    it('MUST match a retransmitted INVITE by Request-URI, tags, Call-ID, CSeq and top Via', () => {
      assert.equal(serverKey(request({ branch: '', cseq: 1 })), serverKey(invite));
      assert.notEqual(serverKey(request({ branch: '', cseq: 2 })), serverKey(invite));
      assert.notEqual(serverKey(request({ branch: '', callId: 'other@x' })), serverKey(invite));
      assert.notEqual(serverKey(request({ branch: '', fromTag: 'other' })), serverKey(invite));
      assert.notEqual(serverKey(request({ branch: '', uri: 'sip:carol@example.com' })), serverKey(invite));
      assert.notEqual(serverKey(request({ branch: '', sentBy: 'host2.example.com' })), serverKey(invite));
      assert.ok(rfc2543ToTagMatches(request({ branch: '', cseq: 1 }), { request: invite }));
    });

    it('treats a branch without the magic cookie as RFC 2543', () => {
      const old = request({ branch: 'oldstyle1', cseq: 1 });
      assert.ok(serverKey(old).startsWith('2543'));
    });

    it('MUST match an ACK whose To tag equals the tag of the response sent, not another', () => {
      const ack = request({ method: 'ACK', branch: '', cseq: 1, toTag: 'resp-tag' });
      assert.equal(serverKey(ack), serverKey(invite));
      assert.ok(rfc2543ToTagMatches(ack, { request: invite, responseToTag: 'resp-tag' }));
      assert.ok(!rfc2543ToTagMatches(ack, { request: invite, responseToTag: 'other-tag' }));
    });

    it('MUST find the INVITE of a CANCEL (RFC 3261 §9.2)', () => {
      const cancel = request({ method: 'CANCEL', branch: '', cseq: 1 });
      assert.equal(inviteKeyForCancel(cancel), serverKey(invite));
      assert.notEqual(serverKey(cancel), serverKey(invite));
    });
  });
});
