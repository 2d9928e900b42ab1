/**
 * WAV files of 16-bit PCM (RIFF/WAVE, format 1): what `call --play` sends and `answer --record`
 * writes. Audio goes over G.711 at 8 kHz mono; a file at another rate or with two channels is
 * refused with a message saying so (no resampling here).
 *
 * @remarks Leaf (`media/`).
 */
import { SipError } from '../util/errors.js';

export class WavError extends SipError {
  override name = 'WavError';
}

/** The samples of an 8 kHz mono 16-bit PCM WAV file. */
export function readWav(b: Buffer): Int16Array {
  if (b.length < 12 || b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') throw new WavError('MEDIA_ERR_WAV', 'not a RIFF/WAVE file');
  let fmt: { format: number; channels: number; rate: number; bits: number } | undefined;
  for (let off = 12; off + 8 <= b.length;) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ' && size >= 16) fmt = { format: b.readUInt16LE(body), channels: b.readUInt16LE(body + 2), rate: b.readUInt32LE(body + 4), bits: b.readUInt16LE(body + 14) };
    if (id === 'data') {
      if (!fmt) throw new WavError('MEDIA_ERR_WAV', 'WAV data before its fmt chunk');
      if (fmt.format !== 1 || fmt.bits !== 16 || fmt.channels !== 1 || fmt.rate !== 8000) {
        throw new WavError('MEDIA_ERR_WAV', `expected 16-bit PCM, mono, 8000 Hz (got format ${fmt.format}, ${fmt.bits}-bit, ${fmt.channels} channel(s), ${fmt.rate} Hz); convert it, e.g. sox in.wav -r 8000 -c 1 -b 16 out.wav`);
      }
      const end = Math.min(b.length, body + size);
      const out = new Int16Array(Math.floor((end - body) / 2));
      for (let i = 0; i < out.length; i++) out[i] = b.readInt16LE(body + 2 * i);
      return out;
    }
    off = body + size + (size % 2);
  }
  throw new WavError('MEDIA_ERR_WAV', 'no data chunk in the WAV file');
}

/** An 8 kHz mono 16-bit PCM WAV file of `samples`. */
export function writeWav(samples: Int16Array): Buffer {
  const data = samples.length * 2;
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + data, 4);
  b.write('WAVE', 8, 'ascii');
  b.write('fmt ', 12, 'ascii');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(8000, 24);
  b.writeUInt32LE(16000, 28); // byte rate
  b.writeUInt16LE(2, 32); // block align
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(data, 40);
  for (let i = 0; i < samples.length; i++) b.writeInt16LE(samples[i]!, 44 + 2 * i);
  return b;
}
