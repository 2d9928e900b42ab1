// Q.850 ↔ SIP (RFC 3398 §7.2.4.1, §8.2.6.1) and the Reason header (RFC 3326).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { causeForSipStatus, parseQ850Reason, q850Reason, sipStatusForCause } from './q850.js';

test('cause → SIP status by RFC 3398 §7.2.4.1, overridable as IOS set pstn-cause', () => {
  assert.deepEqual([1, 17, 18, 19, 21, 27, 28, 34, 102, 127, 99].map((c) => sipStatusForCause(c)), [404, 486, 408, 480, 403, 502, 484, 503, 504, 500, 500]);
  assert.equal(sipStatusForCause(18, { pstnCause: { '18': 480 } }), 480, 'IOS default for cause 18');
});

test('SIP status → cause by RFC 3398 §8.2.6.1 (unlisted: 31; a 2xx or BYE: 16), overridable as IOS set sip-status', () => {
  assert.deepEqual([404, 486, 408, 480, 503, 603, 200, 499].map((s) => causeForSipStatus(s)), [1, 17, 102, 18, 41, 21, 16, 31]);
  assert.equal(causeForSipStatus(503, { sipStatus: { '503': 34 } }), 34);
});

test('Reason: Q.850;cause=N written and read (other protocols and malformed values ignored)', () => {
  assert.equal(q850Reason(16), 'Q.850;cause=16');
  assert.equal(parseQ850Reason('Q.850;cause=17;text="User busy"'), 17);
  assert.equal(parseQ850Reason('SIP;cause=200;text="Call completed elsewhere", Q.850 ; cause = 26'), 26);
  assert.equal(parseQ850Reason('SIP;cause=600'), undefined);
  assert.equal(parseQ850Reason(undefined), undefined);
});
