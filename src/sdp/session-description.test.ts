import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SdpError, parseSdp, serializeSdp, effectiveDirection } from './session-description.js';

const CRLF = '\r\n';
const lines = (...l: string[]): string => l.join(CRLF) + CRLF;

const base = lines(
  'v=0',
  'o=alice 2890844526 2890844527 IN IP4 192.0.2.10',
  's=-',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=ptime:30',
  'a=recvonly',
  'a=x-vendor:thing',
);

/** Assert that parsing throws an SdpError with the given code. */
function assertSdpError(text: string, code: string): void {
  assert.throws(() => parseSdp(text), (err: unknown) => {
    assert.ok(err instanceof SdpError, `expected SdpError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

describe('parseSdp', () => {
  test('maps every modeled field', () => {
    const sd = parseSdp(base);
    assert.deepEqual(sd.origin, {
      username: 'alice', sessionId: '2890844526', sessionVersion: '2890844527',
      netType: 'IN', addressType: 'IP4', unicastAddress: '192.0.2.10',
    });
    assert.equal(sd.sessionName, '-');
    assert.deepEqual(sd.connection, { netType: 'IN', addressType: 'IP4', connectionAddress: '192.0.2.10' });
    assert.deepEqual(sd.timing, { startTime: 0, stopTime: 0 });
    const [md] = sd.mediaDescriptions;
    assert.ok(md);
    assert.equal(md.media, 'audio');
    assert.equal(md.port, 49170);
    assert.equal(md.proto, 'RTP/AVP');
    assert.deepEqual(md.formats, ['0', '101']);
    assert.deepEqual(md.rtpmaps, [
      { payloadType: 0, encodingName: 'PCMU', clockRate: 8000 },
      { payloadType: 101, encodingName: 'telephone-event', clockRate: 8000 },
    ]);
    assert.deepEqual(md.fmtps, [{ payloadType: 101, parameters: '0-15' }]);
    assert.equal(md.ptime, 30);
    assert.equal(md.direction, 'recvonly');
  });

  test('accepts a Buffer and bare LF line ends (RFC 4566 §5)', () => {
    const sd = parseSdp(Buffer.from(base.replaceAll('\r\n', '\n'), 'utf8'));
    assert.equal(sd.mediaDescriptions[0]?.port, 49170);
  });

  test('keeps a single format as a string list', () => {
    const sd = parseSdp(base.replace('RTP/AVP 0 101', 'RTP/AVP 0'));
    assert.deepEqual(sd.mediaDescriptions[0]?.formats, ['0']);
  });

  test('keeps 64-bit o= numbers exactly', () => {
    const big = base.replace('2890844526 2890844527', '18446744073709551610 18446744073709551615');
    const sd = parseSdp(big);
    assert.equal(sd.origin.sessionId, '18446744073709551610');
    assert.match(serializeSdp(sd), /^o=alice 18446744073709551610 18446744073709551615 IN IP4/m);
  });

  test('parses <port>/<number of ports> and writes it back', () => {
    const sd = parseSdp(base.replace('m=audio 49170 ', 'm=audio 49170/2 '));
    assert.equal(sd.mediaDescriptions[0]?.port, 49170);
    assert.equal(sd.mediaDescriptions[0]?.numberOfPorts, 2);
    assert.match(serializeSdp(sd), /^m=audio 49170\/2 RTP\/AVP 0 101\r$/m);
  });

  test('media-level direction overrides the session level; default sendrecv', () => {
    const sd = parseSdp(base.replace('t=0 0', 't=0 0\r\na=inactive').replace('a=recvonly\r\n', ''));
    assert.equal(sd.direction, 'inactive');
    assert.equal(effectiveDirection(sd, sd.mediaDescriptions[0]!), 'inactive');
    const plain = parseSdp(base.replace('a=recvonly\r\n', ''));
    assert.equal(effectiveDirection(plain, plain.mediaDescriptions[0]!), 'sendrecv');
  });

  describe('rejects malformed SDP with a stable code', () => {
    test('empty body', () => assertSdpError('\r\n', 'SDP_ERR_EMPTY'));
    test('missing v=', () => assertSdpError(base.replace('v=0\r\n', ''), 'SDP_ERR_NO_VERSION'));
    test('v= other than 0', () => assertSdpError(base.replace('v=0', 'v=1'), 'SDP_ERR_BAD_VERSION'));
    test('missing o=', () => assertSdpError(base.replace(/o=.*\r\n/, ''), 'SDP_ERR_NO_ORIGIN'));
    test('malformed o=', () => assertSdpError(base.replace('IN IP4 192.0.2.10\r\ns=', 'IN 192.0.2.10\r\ns='), 'SDP_ERR_BAD_ORIGIN'));
    test('missing s=', () => assertSdpError(base.replace('s=-\r\n', ''), 'SDP_ERR_NO_SESSION_NAME'));
    test('missing t=', () => assertSdpError(base.replace('t=0 0\r\n', ''), 'SDP_ERR_NO_TIMING'));
    test('missing m=', () => assertSdpError(base.slice(0, base.indexOf('m=')), 'SDP_ERR_NO_MEDIA'));
    test('non-numeric port', () => assertSdpError(base.replace('m=audio 49170', 'm=audio abc'), 'SDP_ERR_BAD_PORT'));
    test('port above 65535', () => assertSdpError(base.replace('m=audio 49170', 'm=audio 70000'), 'SDP_ERR_BAD_PORT'));
    test('m= without formats', () => assertSdpError(base.replace('RTP/AVP 0 101', 'RTP/AVP'), 'SDP_ERR_BAD_MEDIA'));
    test('RTP payload type above 127', () => assertSdpError(base.replace('RTP/AVP 0 101', 'RTP/AVP 0 200'), 'SDP_ERR_BAD_MEDIA'));
    test('garbage line', () => assertSdpError(base.replace('t=0 0', 't=0 0\r\nhello world'), 'SDP_ERR_SYNTAX'));
    test('bad c=', () => assertSdpError(base.replace('c=IN IP4 192.0.2.10', 'c=IN IP4'), 'SDP_ERR_BAD_CONNECTION'));
    test('c= address family mismatch', () => assertSdpError(base.replace('c=IN IP4 192.0.2.10', 'c=IN IP4 2001:db8::1'), 'SDP_ERR_BAD_CONNECTION'));
    test('no c= anywhere for an active stream', () => assertSdpError(base.replace('c=IN IP4 192.0.2.10\r\n', ''), 'SDP_ERR_NO_CONNECTION'));
    test('bad rtpmap', () => assertSdpError(base.replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:0 PCMU'), 'SDP_ERR_BAD_ATTRIBUTE'));
    test('bad ptime', () => assertSdpError(base.replace('a=ptime:30', 'a=ptime:fast'), 'SDP_ERR_BAD_ATTRIBUTE'));
    test('message names the problem and line', () => {
      assert.throws(() => parseSdp(base.replace('m=audio 49170', 'm=audio 99999')), /bad port "99999".*line 6/);
    });
  });

  test('a rejected stream (port 0) needs no c= (RFC 3264 §6)', () => {
    const sd = parseSdp(base.replace('c=IN IP4 192.0.2.10\r\n', '').replace('m=audio 49170', 'm=audio 0'));
    assert.equal(sd.mediaDescriptions[0]?.port, 0);
  });
});

describe('serializeSdp', () => {
  test('round-trips, CRLF only, unknown attributes preserved', () => {
    const text = serializeSdp(parseSdp(base));
    assert.equal(text, base);
    assert.ok(!/[^\r]\n/.test(text), 'every LF must be preceded by CR');
  });

  test('writes IPv6 c= and o= lines', () => {
    const sd = parseSdp(base.replaceAll('IN IP4 192.0.2.10', 'IN IP6 2001:db8::10'));
    const text = serializeSdp(sd);
    assert.match(text, /^c=IN IP6 2001:db8::10\r$/m);
    assert.match(text, /^o=alice 2890844526 2890844527 IN IP6 2001:db8::10\r$/m);
  });

  test('refuses a media description without formats', () => {
    const sd = parseSdp(base);
    sd.mediaDescriptions[0]!.formats = [];
    assert.throws(() => serializeSdp(sd), { name: 'SdpError', code: 'SDP_ERR_BAD_MEDIA' });
  });
});
