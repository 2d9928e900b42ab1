import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CODECS, codecByName, codecByPayloadType, resolveCodec } from './codecs.js';

describe('codec table', () => {
  test('static payload types per RFC 3551 §6', () => {
    assert.equal(codecByPayloadType(0)?.name, 'PCMU');
    assert.equal(codecByPayloadType(8)?.name, 'PCMA');
    assert.equal(codecByPayloadType(18)?.name, 'G729');
    assert.equal(codecByPayloadType(13)?.name, 'CN');
    // Dynamic numbers mean nothing without an rtpmap; 19 is reserved.
    assert.equal(codecByPayloadType(101), undefined);
    assert.equal(codecByPayloadType(19), undefined);
  });

  test('lookup by name is case-insensitive', () => {
    assert.equal(codecByName('pcmu')?.staticPayloadType, 0);
    assert.equal(codecByName('Telephone-Event')?.defaultPayloadType, 101);
    assert.equal(codecByName('g729')?.fmtp, 'annexb=no');
    assert.equal(codecByName('opus'), undefined);
  });

  test('all codecs are 8 kHz mono; only CN and telephone-event are auxiliary', () => {
    for (const c of CODECS) {
      assert.equal(c.clockRate, 8000);
      assert.equal(c.channels, 1);
    }
    assert.deepEqual(CODECS.filter((c) => c.auxiliary).map((c) => c.name).sort(), ['CN', 'telephone-event']);
  });

  test('resolveCodec: rtpmap wins over the static number, rate must match', () => {
    assert.equal(resolveCodec(19, { encodingName: 'CN', clockRate: 8000 })?.name, 'CN');
    assert.equal(resolveCodec(0, { encodingName: 'PCMA', clockRate: 8000 })?.name, 'PCMA');
    assert.equal(resolveCodec(97, { encodingName: 'telephone-event', clockRate: 16000 }), undefined);
    assert.equal(resolveCodec(0, { encodingName: 'PCMU', clockRate: 8000, encodingParameters: 2 }), undefined);
    assert.equal(resolveCodec(8)?.name, 'PCMA');
  });
});
