import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidStateError, checkTransition, type SignalingState } from './signaling-state.js';
import {
  audioEndpoint,
  createAnswer,
  createOffer,
  holdSdp,
  isOnHold,
  negotiate,
  resumeSdp,
} from './offer-answer.js';
import { SdpError, parseSdp } from './session-description.js';

const sdp = (...l: string[]): string => l.join('\r\n') + '\r\n';

/** The handbook's Cisco gateway offer: CN on the pre-RFC 3551 payload type 19. */
const CISCO_OFFER = sdp(
  'v=0',
  'o=CiscoSystemsSIP-GW-UserAgent 7181 811 IN IP4 10.6.3.1',
  's=SIP Call',
  'c=IN IP4 10.6.3.1',
  't=0 0',
  'm=audio 18990 RTP/AVP 0 19',
  'c=IN IP4 10.6.3.1',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:19 CN/8000',
  'a=ptime:20',
);

/** Minimal audio offer with the given m= tail and attributes. */
function offer(mLine: string, ...attributes: string[]): string {
  return sdp('v=0', 'o=bob 1 1 IN IP4 198.51.100.7', 's=-', 'c=IN IP4 198.51.100.7', 't=0 0', mLine, ...attributes);
}

const local = { address: '192.0.2.1', port: 40000 } as const;

function assertSdpError(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SdpError, `expected SdpError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

describe('createOffer', () => {
  test('complete default offer', () => {
    const text = createOffer({ ...local, sessionId: 42, sessionVersion: 7, username: 'switchboard' });
    assert.equal(text, sdp(
      'v=0',
      'o=switchboard 42 7 IN IP4 192.0.2.1',
      's=-',
      'c=IN IP4 192.0.2.1',
      't=0 0',
      'm=audio 40000 RTP/AVP 0 8 18 101 13',
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:8 PCMA/8000',
      'a=rtpmap:18 G729/8000',
      'a=rtpmap:101 telephone-event/8000',
      'a=rtpmap:13 CN/8000',
      'a=fmtp:18 annexb=no',
      'a=fmtp:101 0-16',
      'a=ptime:20',
      'a=sendrecv',
    ));
  });

  test('codec order, ptime and direction follow options', () => {
    const sd = parseSdp(createOffer({ ...local, codecs: ['pcma', 'PCMU'], ptime: 30, direction: 'recvonly' }));
    const md = sd.mediaDescriptions[0]!;
    assert.deepEqual(md.formats, ['8', '0']);
    assert.equal(md.fmtps.length, 0, 'no G729/telephone-event, so no fmtp');
    assert.equal(md.ptime, 30);
    assert.equal(md.direction, 'recvonly');
  });

  test('IPv6 address gives IN IP6 c= and o= lines', () => {
    const text = createOffer({ address: '2001:db8::5', port: 5004 });
    assert.match(text, /^c=IN IP6 2001:db8::5\r$/m);
    assert.match(text, /^o=- \d+ 0 IN IP6 2001:db8::5\r$/m);
  });

  test('fresh session ids', () => {
    const a = parseSdp(createOffer(local)).origin.sessionId;
    const b = parseSdp(createOffer(local)).origin.sessionId;
    assert.notEqual(a, b);
  });

  test('rejects bad options', () => {
    assertSdpError(() => createOffer({ address: 'pbx.example.com', port: 4000 }), 'SDP_ERR_BAD_ADDRESS');
    assertSdpError(() => createOffer({ ...local, port: 70000 }), 'SDP_ERR_BAD_PORT');
    assertSdpError(() => createOffer({ ...local, codecs: ['opus'] }), 'SDP_ERR_UNSUPPORTED_CODEC');
    assertSdpError(() => createOffer({ ...local, codecs: ['telephone-event'] }), 'SDP_ERR_UNSUPPORTED_CODEC');
  });
});

describe('createAnswer (RFC 3264 §6)', () => {
  test('handbook Cisco offer: PCMU + CN keeping PT 0 and 19', () => {
    const { sdp: text, codecs } = createAnswer(CISCO_OFFER, { ...local, codecs: ['PCMU', 'CN'], sessionId: 99 });
    assert.deepEqual(codecs.map((c) => [c.name, c.payloadType]), [['PCMU', 0], ['CN', 19]]);
    const answer = parseSdp(text);
    const md = answer.mediaDescriptions[0]!;
    assert.equal(answer.mediaDescriptions.length, 1);
    assert.equal(md.port, 40000);
    assert.deepEqual(md.formats, ['0', '19']);
    assert.deepEqual(md.rtpmaps.map((r) => `${r.payloadType} ${r.encodingName}/${r.clockRate}`), ['0 PCMU/8000', '19 CN/8000']);
    assert.equal(md.ptime, 20);
    assert.equal(md.direction, 'sendrecv');
    // Our own session: our address and id, not the gateway's.
    assert.equal(answer.origin.sessionId, '99');
    assert.equal(answer.origin.unicastAddress, '192.0.2.1');
    assert.equal(answer.connection?.connectionAddress, '192.0.2.1');
  });

  test('codecs are ordered by the offer, not by our preference', () => {
    const { codecs } = createAnswer(offer('m=audio 5000 RTP/AVP 8 0'), { ...local, codecs: ['PCMU', 'PCMA'] });
    assert.deepEqual(codecs.map((c) => c.name), ['PCMA', 'PCMU']);
  });

  test('default supported codecs answer the Cisco offer with both formats', () => {
    const { codecs } = createAnswer(CISCO_OFFER, local);
    assert.deepEqual(codecs.map((c) => c.payloadType), [0, 19]);
  });

  test('G729-only offer vs PCMU-only answerer → SDP_ERR_NO_COMMON_CODEC', () => {
    const g729 = offer('m=audio 5000 RTP/AVP 18 101', 'a=rtpmap:18 G729/8000', 'a=rtpmap:101 telephone-event/8000');
    // telephone-event alone is not a voice codec: the stream must still be rejected.
    assertSdpError(() => createAnswer(g729, { ...local, codecs: ['PCMU', 'telephone-event'] }), 'SDP_ERR_NO_COMMON_CODEC');
    assert.throws(() => createAnswer(g729, { ...local, codecs: ['PCMU'] }), /no common codec \(offered G729 telephone-event; supported PCMU\)/);
  });

  test('telephone-event on dynamic PT 96 is kept as 96, fmtp intersected', () => {
    const { sdp: text, codecs } = createAnswer(
      offer('m=audio 5000 RTP/AVP 0 96', 'a=rtpmap:96 telephone-event/8000', 'a=fmtp:96 0-15,66'),
      local,
    );
    assert.deepEqual(codecs[1], { name: 'telephone-event', payloadType: 96, clockRate: 8000, channels: 1, fmtp: '0-15' });
    assert.match(text, /^m=audio 40000 RTP\/AVP 0 96\r$/m);
    assert.match(text, /^a=rtpmap:96 telephone-event\/8000\r$/m);
    assert.match(text, /^a=fmtp:96 0-15\r$/m);
    assert.doesNotMatch(text, /rtpmap:101/);
  });

  test('telephone-event at another clock rate is not ours', () => {
    const { codecs } = createAnswer(offer('m=audio 5000 RTP/AVP 0 97', 'a=rtpmap:97 telephone-event/16000'), local);
    assert.deepEqual(codecs.map((c) => c.name), ['PCMU']);
  });

  test('G729 accepted with annexb=no', () => {
    const { codecs } = createAnswer(offer('m=audio 5000 RTP/AVP 18', 'a=fmtp:18 annexb=yes'), local);
    assert.deepEqual(codecs, [{ name: 'G729', payloadType: 18, clockRate: 8000, channels: 1, fmtp: 'annexb=no' }]);
  });

  describe('direction (RFC 3264 §6.1)', () => {
    const cases: [string, string, string][] = [
      ['sendonly', 'sendrecv', 'recvonly'],
      ['recvonly', 'sendrecv', 'sendonly'],
      ['inactive', 'sendrecv', 'inactive'],
      ['sendrecv', 'sendrecv', 'sendrecv'],
      ['sendrecv', 'recvonly', 'recvonly'],
      ['sendonly', 'sendonly', 'inactive'],
    ];
    for (const [offered, ours, expected] of cases) {
      test(`offer ${offered}, we ${ours} → ${expected}`, () => {
        const { sdp: text } = createAnswer(
          offer('m=audio 5000 RTP/AVP 0', `a=${offered}`),
          { ...local, direction: ours as 'sendrecv' },
        );
        assert.equal(parseSdp(text).mediaDescriptions[0]!.direction, expected);
      });
    }

    test('session-level sendonly is honoured', () => {
      const text = offer('m=audio 5000 RTP/AVP 0').replace('t=0 0\r\n', 't=0 0\r\na=sendonly\r\n');
      assert.equal(parseSdp(createAnswer(text, local).sdp).mediaDescriptions[0]!.direction, 'recvonly');
    });

    test('hold option answers sendonly to sendrecv', () => {
      const { sdp: text } = createAnswer(offer('m=audio 5000 RTP/AVP 0'), { ...local, hold: true });
      assert.equal(parseSdp(text).mediaDescriptions[0]!.direction, 'sendonly');
    });

    test('legacy c=0.0.0.0 offer: we do not send (RFC 3264 §8.4)', () => {
      const text = offer('m=audio 5000 RTP/AVP 0').replace('c=IN IP4 198.51.100.7', 'c=IN IP4 0.0.0.0');
      assert.equal(parseSdp(createAnswer(text, local).sdp).mediaDescriptions[0]!.direction, 'recvonly');
    });
  });

  test('video m= line rejected with port 0, order and count preserved', () => {
    const text = offer(
      'm=video 5002 RTP/AVP 31',
      'a=rtpmap:31 H261/90000',
      'm=audio 5000 RTP/AVP 0',
      'm=image 5004 udptl t38',
    );
    const answer = parseSdp(createAnswer(text, local).sdp);
    assert.deepEqual(
      answer.mediaDescriptions.map((m) => `${m.media} ${m.port} ${m.proto} ${m.formats.join(' ')}`),
      ['video 0 RTP/AVP 31', 'audio 40000 RTP/AVP 0', 'image 0 udptl t38'],
    );
  });

  test('only the first acceptable audio stream is taken', () => {
    const answer = parseSdp(createAnswer(offer('m=audio 5000 RTP/AVP 0', 'm=audio 5002 RTP/AVP 0'), local).sdp);
    assert.deepEqual(answer.mediaDescriptions.map((m) => m.port), [40000, 0]);
  });

  test('an audio stream with no common codec is rejected while another is accepted', () => {
    const answer = parseSdp(createAnswer(offer('m=audio 5000 RTP/AVP 3', 'm=audio 5002 RTP/AVP 8'), local).sdp);
    assert.deepEqual(answer.mediaDescriptions.map((m) => m.port), [0, 40000]);
  });

  test('offered port 0 stays port 0; SRTP profile is not accepted', () => {
    assertSdpError(() => createAnswer(offer('m=audio 0 RTP/AVP 0'), local), 'SDP_ERR_NO_COMMON_CODEC');
    assertSdpError(() => createAnswer(offer('m=audio 5000 RTP/SAVP 0'), local), 'SDP_ERR_NO_COMMON_CODEC');
  });

  test('ptime: offered value echoed if supported, ours otherwise, capped by maxptime', () => {
    const ptimeOf = (extra: string[], ptime?: number): number | undefined =>
      parseSdp(createAnswer(offer('m=audio 5000 RTP/AVP 0', ...extra), { ...local, ...(ptime ? { ptime } : {}) }).sdp)
        .mediaDescriptions[0]!.ptime;
    assert.equal(ptimeOf(['a=ptime:30']), 30);
    assert.equal(ptimeOf(['a=ptime:25'], 20), 20);
    assert.equal(ptimeOf([], 40), 40);
    assert.equal(ptimeOf(['a=maxptime:30'], 40), 30);
  });

  test('IPv6 answer to an IPv4 offer', () => {
    const { sdp: text } = createAnswer(CISCO_OFFER, { address: '2001:db8::1', port: 6000 });
    assert.match(text, /^c=IN IP6 2001:db8::1\r$/m);
    assert.match(text, /^o=- \d+ 0 IN IP6 2001:db8::1\r$/m);
  });

  test('malformed offer → SdpError', () => {
    assertSdpError(() => createAnswer('v=0\r\ns=-\r\n', local), 'SDP_ERR_NO_ORIGIN');
    assertSdpError(() => createAnswer(CISCO_OFFER.replace('18990', '-1'), local), 'SDP_ERR_BAD_PORT');
    assertSdpError(() => createAnswer(Buffer.from('hello'), local), 'SDP_ERR_NO_VERSION');
  });
});

describe('negotiate (RFC 3264 §7)', () => {
  test('UAC reads the answer: common codecs with the answer’s PTs and the remote endpoint', () => {
    const ours = createOffer({ ...local, telephoneEventPayloadType: 101 });
    const answer = offer('m=audio 7078 RTP/AVP 8 100', 'a=rtpmap:100 telephone-event/8000', 'a=fmtp:100 0-15', 'a=ptime:30', 'a=recvonly');
    const result = negotiate(ours, answer);
    assert.equal(result.mediaIndex, 0);
    assert.deepEqual(result.codecs.map((c) => [c.name, c.payloadType, c.fmtp]), [['PCMA', 8, undefined], ['telephone-event', 100, '0-15']]);
    assert.deepEqual(result.remote, { address: '198.51.100.7', addressType: 'IP4', port: 7078, direction: 'recvonly', ptime: 30 });
    assert.equal(result.localDirection, 'sendrecv');
  });

  test('round trip with createAnswer, IPv6 remote', () => {
    const ours = createOffer({ ...local, codecs: ['G729', 'PCMU'] });
    const { sdp: answer } = createAnswer(ours, { address: '2001:db8::9', port: 9000, codecs: ['PCMU', 'G729'] });
    const result = negotiate(ours, answer);
    assert.deepEqual(result.codecs.map((c) => c.name), ['G729', 'PCMU']);
    assert.equal(result.remote.address, '2001:db8::9');
    assert.equal(result.remote.addressType, 'IP6');
  });

  test('codecs the answer invents are ignored', () => {
    const ours = createOffer({ ...local, codecs: ['PCMU'] });
    const result = negotiate(ours, offer('m=audio 7078 RTP/AVP 8 0'));
    assert.deepEqual(result.codecs.map((c) => c.name), ['PCMU']);
  });

  test('rejected audio → SDP_ERR_NO_COMMON_CODEC; wrong m= count → SDP_ERR_ANSWER_MISMATCH', () => {
    const ours = createOffer(local);
    assertSdpError(() => negotiate(ours, offer('m=audio 0 RTP/AVP 0')), 'SDP_ERR_NO_COMMON_CODEC');
    assertSdpError(() => negotiate(ours, offer('m=audio 7078 RTP/AVP 0', 'm=video 0 RTP/AVP 31')), 'SDP_ERR_ANSWER_MISMATCH');
    assertSdpError(() => negotiate(ours, offer('m=video 7078 RTP/AVP 31')), 'SDP_ERR_ANSWER_MISMATCH');
  });

  test('audioEndpoint reads the offer for the UAS side', () => {
    assert.deepEqual(audioEndpoint(CISCO_OFFER), { address: '10.6.3.1', addressType: 'IP4', port: 18990, direction: 'sendrecv', ptime: 20 });
  });
});

describe('hold (RFC 3264 §8.4, RFC 6337 §5)', () => {
  test('holdSdp sets the direction and bumps only the o= version', () => {
    const before = createOffer({ ...local, sessionId: 5, sessionVersion: 9 });
    const held = holdSdp(before, 'sendonly');
    const sd = parseSdp(held);
    assert.equal(sd.origin.sessionId, '5');
    assert.equal(sd.origin.sessionVersion, '10');
    assert.equal(sd.mediaDescriptions[0]!.direction, 'sendonly');
    assert.ok(isOnHold(held));
    assert.ok(!isOnHold(before));
    // Nothing but o= and the direction changed.
    assert.equal(held.replace(' 10 IN', ' 9 IN').replace('a=sendonly', 'a=sendrecv'), before);
  });

  test('inactive hold, then resume; version keeps increasing', () => {
    const held = holdSdp(createOffer({ ...local, sessionVersion: '18446744073709551615' }), 'inactive');
    assert.equal(parseSdp(held).mediaDescriptions[0]!.direction, 'inactive');
    assert.ok(isOnHold(held));
    const resumed = resumeSdp(held);
    assert.equal(parseSdp(resumed).origin.sessionVersion, '18446744073709551617');
    assert.equal(parseSdp(resumed).mediaDescriptions[0]!.direction, 'sendrecv');
    assert.ok(!isOnHold(resumed));
  });

  test('a session-level direction is replaced by the media-level one', () => {
    const text = offer('m=audio 5000 RTP/AVP 0').replace('t=0 0\r\n', 't=0 0\r\na=sendrecv\r\n');
    const held = parseSdp(holdSdp(text));
    assert.equal(held.direction, undefined);
    assert.equal(held.mediaDescriptions[0]!.direction, 'sendonly');
  });

  test('isOnHold: recvonly is not hold, legacy c=0.0.0.0 is', () => {
    assert.ok(!isOnHold(offer('m=audio 5000 RTP/AVP 0', 'a=recvonly')));
    assert.ok(isOnHold(offer('m=audio 5000 RTP/AVP 0').replace('c=IN IP4 198.51.100.7', 'c=IN IP4 0.0.0.0')));
  });
});

describe('checkTransition (RFC 3264 §4, RFC 6337 §3)', () => {
  test('legal offer/answer cycles', () => {
    assert.equal(checkTransition('stable', 'set-local', 'offer'), 'have-local-offer');
    assert.equal(checkTransition('have-local-offer', 'set-remote', 'answer'), 'stable');
    assert.equal(checkTransition('stable', 'set-remote', 'offer'), 'have-remote-offer');
    assert.equal(checkTransition('have-remote-offer', 'set-local', 'answer'), 'stable');
  });

  const illegal: [SignalingState, 'set-local' | 'set-remote', 'offer' | 'answer'][] = [
    ['stable', 'set-local', 'answer'],
    ['stable', 'set-remote', 'answer'],
    ['have-local-offer', 'set-remote', 'offer'],
    ['have-local-offer', 'set-local', 'offer'],
    ['have-local-offer', 'set-local', 'answer'],
    ['have-remote-offer', 'set-remote', 'offer'],
    ['have-remote-offer', 'set-local', 'offer'],
    ['have-remote-offer', 'set-remote', 'answer'],
  ];
  for (const [state, op, kind] of illegal) {
    test(`${state} + ${op} ${kind} throws InvalidStateError`, () => {
      assert.throws(() => checkTransition(state, op, kind), (err: unknown) => {
        assert.ok(err instanceof InvalidStateError);
        assert.equal(err.code, 'SIP_ERR_INVALID_STATE');
        assert.equal(err.state, state);
        return true;
      });
    });
  }

  test('glare message points at 491', () => {
    assert.throws(() => checkTransition('have-local-offer', 'set-remote', 'offer'), /glare.*491/);
  });
});

test('a malformed rtpmap on a stream we refuse does not fail the offer (RFC 3264 §6; RFC 4475 esc01)', () => {
  const offer = ['v=0', 'o=mhandley 29739 7272939 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 192.0.2.1', 't=0 0',
    'm=audio 49217 RTP/AVP 0 12', 'm=video 3227 RTP/AVP 31', 'a=rtpmap:31 LPC', ''].join('\r\n');
  const { sdp, codecs } = createAnswer(offer, { address: '192.0.2.9', port: 40000 });
  assert.deepEqual(codecs.map((c) => c.name), ['PCMU']);
  assert.match(sdp, /^m=audio 40000 RTP\/AVP 0/m);
  assert.match(sdp, /^m=video 0 RTP\/AVP 31/m);
  // The same malformed rtpmap on the audio stream is still an error.
  assert.throws(() => createAnswer(offer.replace('m=video 3227 RTP/AVP 31', 'm=audio 3227 RTP/AVP 31'), { address: '192.0.2.9', port: 40000 }));
});
