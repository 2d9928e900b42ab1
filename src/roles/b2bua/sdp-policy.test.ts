import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bridgedAnswer, codecNames, sideOf } from './sdp-policy.js';

const sdp = (port: number, addr: string, fmts: string, lines: string[]) =>
  ['v=0', `o=- 1 1 IN IP4 ${addr}`, 's=-', `c=IN IP4 ${addr}`, 't=0 0', `m=audio ${port} RTP/AVP ${fmts}`, ...lines, ''].join('\r\n');

// The handbook's phone: PCMU, G729, telephone-event; the gateway: PCMU and telephone-event.
const phone = sdp(7000, '192.0.2.1', '0 18 101', ['a=rtpmap:0 PCMU/8000', 'a=rtpmap:18 G729/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15']);
const gw = sdp(6000, '192.0.2.2', '101 0', ['a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', 'a=rtpmap:0 PCMU/8000']);

test('codecNames: the first audio stream\'s codecs in its order, static and dynamic payload types', () => {
  assert.deepEqual(codecNames(phone), ['PCMU', 'G729', 'telephone-event']);
  assert.deepEqual(codecNames(gw), ['telephone-event', 'PCMU']);
});

test('bridgedAnswer: the phone is answered with the common codecs in its own order, at the gateway\'s address (media passthrough)', () => {
  const answer = bridgedAnswer(phone, sideOf(gw));
  assert.match(answer, /c=IN IP4 192\.0\.2\.2/);
  assert.match(answer, /m=audio 6000 RTP\/AVP 0 101\r\n/, 'G729 dropped; PCMU first as the phone prefers; telephone-event kept');
  // The gateway's offer (delayed offer, in its 2xx) is answered with the phone's address and the codec chosen.
  const toGw = bridgedAnswer(gw, { codecs: sideOf(answer).codecs, media: sideOf(phone).media });
  assert.match(toGw, /c=IN IP4 192\.0\.2\.1/);
  assert.match(toGw, /m=audio 7000 RTP\/AVP 101 0\r\n/, 'the gateway\'s order and payload types (RFC 3264 §6.1)');
});

test('bridgedAnswer: no voice codec in common throws (the B2BUA answers 488)', () => {
  const g722only = sdp(6000, '192.0.2.2', '8', ['a=rtpmap:8 PCMA/8000']);
  assert.throws(() => bridgedAnswer(phone, sideOf(g722only)), /codec/i);
  const dtmfOnly = sdp(6000, '192.0.2.2', '101', ['a=rtpmap:101 telephone-event/8000']);
  assert.throws(() => bridgedAnswer(phone, sideOf(dtmfOnly)), /voice codec/);
});
