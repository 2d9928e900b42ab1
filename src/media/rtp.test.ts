// RTP packets (RFC 3550 §5.1), G.711 there and back, WAV files, and the receiving counts of a
// session on loopback (sequence gaps are loss).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { RtpSession, decodeG711, decodeRtp, encodeG711, encodeRtp, tone } from './rtp.js';
import { readWav, writeWav } from './wav.js';

test('RTP header written and read; RTCP and non-RTP datagrams are not RTP', () => {
  const p = { payloadType: 8, marker: true, sequence: 65535, timestamp: 0xfffffff0, ssrc: 0x12345678, payload: Buffer.from([1, 2, 3]) };
  const b = encodeRtp(p);
  assert.deepEqual([...b.subarray(0, 4)], [0x80, 0x88, 0xff, 0xff]);
  assert.deepEqual(decodeRtp(b), p);
  assert.equal(decodeRtp(Buffer.from([0x81, 200, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])), undefined, 'RTCP SR');
  assert.equal(decodeRtp(Buffer.from('OPTIONS sip:x SIP/2.0')), undefined);
});

test('G.711 µ-law and A-law keep a tone within a few percent; WAV files round-trip', () => {
  const t = tone(1000)(160);
  for (const codec of ['PCMU', 'PCMA'] as const) {
    const back = decodeG711(codec, encodeG711(codec, t));
    let err = 0;
    for (let i = 0; i < t.length; i++) err = Math.max(err, Math.abs(back[i]! - t[i]!));
    assert.ok(err < 400, `${codec}: max error ${err} for an 8000-level tone`);
  }
  assert.deepEqual(readWav(writeWav(t)), t);
  assert.throws(() => readWav(Buffer.from('nope')), /not a RIFF\/WAVE file/);
});

test('a session counts what it receives: a gap in the sequence numbers is loss', async () => {
  const s = await RtpSession.start({ local: { address: '127.0.0.1', port: 0 }, remote: { address: '127.0.0.1', port: 9 }, codec: 'PCMU' });
  const port = (s as unknown as { socket: dgram.Socket }).socket.address().port;
  const tx = dgram.createSocket('udp4');
  for (const seq of [10, 11, 12, 15, 16]) {
    tx.send(encodeRtp({ payloadType: 0, marker: false, sequence: seq, timestamp: seq * 160, ssrc: 7, payload: Buffer.alloc(160, 0xff) }), port, '127.0.0.1');
  }
  await new Promise((r) => setTimeout(r, 200));
  tx.close();
  const stats = await s.stop();
  assert.equal(stats.received, 5);
  assert.equal(stats.lost, 2, 'sequence numbers 13 and 14 never came');
  assert.ok(stats.sent >= 5, 'it sent while it ran');
});
