// DTMF relay formats: the Cisco NOTIFY body (RFC 4733 §2.3 layout, duration in ms), INFO
// application/dtmf-relay, the Call-Info offer, and the agreement on a method.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agreeDtmf, dtmfRelayBody, notifyCallInfo, parseDtmfRelay, parseNotifyCallInfo, parseTelephoneEvent, telephoneEventBody } from './dtmf.js';

test('telephone-event body: event code, end bit, volume, duration (ms) — and back', () => {
  const b = telephoneEventBody('#', 1000);
  assert.deepEqual([...b], [11, 0x8a, 0x03, 0xe8]);
  assert.deepEqual(parseTelephoneEvent(b), { digit: '#', end: true, volume: 10, duration: 1000 });
  assert.equal(parseTelephoneEvent(telephoneEventBody('d', 160))?.digit, 'D');
  assert.equal(parseTelephoneEvent(Buffer.from([16, 0, 0, 0])), undefined, 'event 16 is no DTMF digit');
  assert.throws(() => telephoneEventBody('x', 100), /not a DTMF digit/);
});

test('INFO application/dtmf-relay: Signal= and Duration=', () => {
  assert.equal(dtmfRelayBody('5', 160), 'Signal=5\r\nDuration=160\r\n');
  assert.deepEqual(parseDtmfRelay('Signal= *\r\nDuration= 250\r\n'), { digit: '*', duration: 250 });
  assert.equal(parseDtmfRelay('Signal=Q\r\n'), undefined);
});

test('Call-Info NOTIFY offer: written, read, and the lower Duration wins; methods agreed in our order', () => {
  const ci = notifyCallInfo('sip:10.0.0.1:5060', 2000);
  assert.equal(ci, '<sip:10.0.0.1:5060>;method="NOTIFY;Event=telephone-event;Duration=2000"');
  assert.equal(parseNotifyCallInfo([ci]), 2000);
  assert.equal(parseNotifyCallInfo(['<http://x.example/>;purpose=info']), undefined);
  assert.deepEqual(agreeDtmf(['sip-notify', 'sip-info'], { notifyDuration: 1000, allowsInfo: true }), { method: 'sip-notify', duration: 1000 });
  assert.deepEqual(agreeDtmf(['sip-notify', 'sip-info'], { allowsInfo: true }), { method: 'sip-info', duration: 160 });
  assert.deepEqual(agreeDtmf(['sip-info', 'sip-notify'], { notifyDuration: 1000, allowsInfo: true })?.method, 'sip-info');
  assert.equal(agreeDtmf(['rtp-nte'], { notifyDuration: 1000, allowsInfo: true }), undefined, 'rtp-nte needs RTP');
});
