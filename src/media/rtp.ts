/**
 * RTP for the user agent (RFC 3550) with G.711 audio (PCMU/PCMA, ITU-T G.711 through the
 * maintained `alawmulaw` library): one UDP socket on the port our SDP announced, symmetric
 * (we send from the port we receive on), a packet every ptime (20 ms: 160 samples at 8 kHz) from
 * a sample source (silence, a tone, a WAV file), and the receiving side's counts — packets,
 * loss from the sequence numbers, interarrival jitter (RFC 3550 §6.4.1, A.8) — and, when asked,
 * the decoded samples.
 *
 * @remarks Leaf (`media/`).
 */
import dgram from 'node:dgram';
import alawmulaw from 'alawmulaw';

export type G711 = 'PCMU' | 'PCMA';
/** The static payload types of RFC 3551 §6. */
export const PAYLOAD_TYPE: Record<G711, number> = { PCMU: 0, PCMA: 8 };
const CLOCK_RATE = 8000;

export interface RtpPacket {
  payloadType: number;
  marker: boolean;
  sequence: number;
  timestamp: number;
  ssrc: number;
  payload: Buffer;
}

/** RFC 3550 §5.1 fixed header (no CSRC, no extension) + payload. */
export function encodeRtp(p: RtpPacket): Buffer {
  const b = Buffer.alloc(12 + p.payload.length);
  b[0] = 0x80; // V=2
  b[1] = (p.marker ? 0x80 : 0) | (p.payloadType & 0x7f);
  b.writeUInt16BE(p.sequence & 0xffff, 2);
  b.writeUInt32BE(p.timestamp >>> 0, 4);
  b.writeUInt32BE(p.ssrc >>> 0, 8);
  p.payload.copy(b, 12);
  return b;
}

/** A received datagram as RTP, or undefined when it is not version 2 or too short (RTCP, STUN, noise). */
export function decodeRtp(b: Buffer): RtpPacket | undefined {
  if (b.length < 12 || b[0]! >> 6 !== 2) return undefined;
  const cc = b[0]! & 0x0f;
  let off = 12 + 4 * cc;
  if (b[0]! & 0x10) {
    if (b.length < off + 4) return undefined;
    off += 4 + 4 * b.readUInt16BE(off + 2); // header extension (RFC 3550 §5.3.1)
  }
  let end = b.length;
  if (b[0]! & 0x20) end -= b[b.length - 1]!; // padding
  if (off > end) return undefined;
  const pt = b[1]! & 0x7f;
  if (pt >= 72 && pt <= 76) return undefined; // RTCP sharing the port (RFC 5761 §4)
  return { payloadType: pt, marker: (b[1]! & 0x80) !== 0, sequence: b.readUInt16BE(2), timestamp: b.readUInt32BE(4), ssrc: b.readUInt32BE(8), payload: b.subarray(off, end) };
}

export function encodeG711(codec: G711, samples: Int16Array): Buffer {
  return Buffer.from(codec === 'PCMU' ? alawmulaw.mulaw.encode(samples) : alawmulaw.alaw.encode(samples));
}

export function decodeG711(codec: G711, payload: Uint8Array): Int16Array {
  return codec === 'PCMU' ? alawmulaw.mulaw.decode(payload) : alawmulaw.alaw.decode(payload);
}

/** Where the samples we send come from: `ptime` ms of 8 kHz 16-bit samples at a time. */
export type SampleSource = (count: number) => Int16Array;

export const silence: SampleSource = (n) => new Int16Array(n);

/** A sine tone (e.g. 440 Hz) at a moderate level. */
export function tone(hz: number, level = 8000): SampleSource {
  let phase = 0;
  return (n) => {
    const out = new Int16Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = Math.round(level * Math.sin(phase));
      phase += (2 * Math.PI * hz) / CLOCK_RATE;
    }
    return out;
  };
}

/** Samples from a buffer, then silence (`loop`: from the start again). */
export function samples(all: Int16Array, loop = false): SampleSource {
  let at = 0;
  return (n) => {
    const out = new Int16Array(n);
    for (let i = 0; i < n; i++) {
      if (at >= all.length) {
        if (!loop || all.length === 0) break;
        at = 0;
      }
      out[i] = all[at++]!;
    }
    return out;
  };
}

/** What the receiving side saw (RFC 3550 §6.4.1 terms). */
export interface RtpStats {
  sent: number;
  received: number;
  /** Expected from the highest sequence number seen, minus received (never negative). */
  lost: number;
  /** Interarrival jitter, milliseconds. */
  jitterMs: number;
  /** Where the packets came from (symmetric RTP: our packets go there). */
  from: string | undefined;
}

export interface RtpSessionOptions {
  /** Our address and port (what our SDP said). */
  local: { address: string; port: number };
  /** Where the peer's SDP said to send. */
  remote: { address: string; port: number };
  codec: G711;
  ptimeMs?: number;
  source?: SampleSource;
  /** Keep the received audio, decoded (for `--record`). */
  keep?: boolean;
  /** The telephone-event payload type both SDPs agreed on (RFC 4733), for DTMF in the stream. */
  telephoneEvent?: number;
  /** A DTMF event received (RFC 4733; reported once, at its end). */
  onEvent?: (digit: string) => void;
}

/** An RFC 4733 event being sent: one packet per ptime with the duration so far, then the end three times. */
interface OutgoingEvent {
  digit: string;
  timestamp: number;
  /** Total duration, timestamp units. */
  total: number;
  sent: number;
  ends: number;
  done: () => void;
}

export class RtpSession {
  private readonly socket: dgram.Socket;
  private timer: NodeJS.Timeout | undefined;
  private readonly ssrc = (Math.random() * 0xffffffff) >>> 0;
  private seq = Math.floor(Math.random() * 0xffff);
  private ts = (Math.random() * 0xffffffff) >>> 0;
  private sentCount = 0;
  private received = 0;
  private baseSeq: number | undefined;
  private maxSeq = 0;
  private cycles = 0;
  private jitter = 0;
  private lastTransit: number | undefined;
  private from: string | undefined;
  private readonly kept: Int16Array[] = [];
  private readonly started = Date.now();
  private readonly events: OutgoingEvent[] = [];
  /** Timestamps of the events already reported (an end packet comes three times). */
  private readonly seenEvents = new Set<number>();

  private constructor(private readonly opts: RtpSessionOptions, socket: dgram.Socket) {
    this.socket = socket;
    socket.on('message', (msg, rinfo) => this.receive(msg, `${rinfo.address}:${rinfo.port}`));
    socket.on('error', () => {}); // ICMP port unreachable and the like: RTP keeps going (RFC 3550 §10)
  }

  /** Binds the local port and starts sending every ptime. */
  static async start(opts: RtpSessionOptions): Promise<RtpSession> {
    const socket = dgram.createSocket(opts.local.address.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(opts.local.port, opts.local.address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const s = new RtpSession(opts, socket);
    s.timer = setInterval(() => s.sendFrame(), opts.ptimeMs ?? 20);
    return s;
  }

  /**
   * Sends `digit` as an RFC 4733 event in the stream (instead of audio while it lasts): marker on
   * the first packet, the duration growing each ptime, the end packet three times (§2.5.1.4).
   */
  sendDigit(digit: string, durationMs = 160): Promise<void> {
    if (this.opts.telephoneEvent === undefined) return Promise.reject(new RangeError('no telephone-event payload type was agreed'));
    return new Promise((done) => {
      this.events.push({ digit, timestamp: 0, total: Math.round((durationMs * CLOCK_RATE) / 1000), sent: 0, ends: 0, done });
    });
  }

  /** The next packet of the event under way; false when there is none. */
  private sendEventPacket(n: number): boolean {
    const e = this.events[0];
    if (!e) return false;
    if (e.sent === 0) e.timestamp = this.ts;
    e.sent = Math.min(e.total, e.sent + n);
    const end = e.sent >= e.total;
    if (end) e.ends++;
    const body = Buffer.alloc(4);
    body[0] = '0123456789*#ABCD'.indexOf(e.digit.toUpperCase());
    body[1] = (end ? 0x80 : 0) | 10;
    body.writeUInt16BE(Math.min(0xffff, e.sent), 2);
    const pkt = encodeRtp({ payloadType: this.opts.telephoneEvent!, marker: e.sent === Math.min(e.total, n), sequence: this.seq, timestamp: e.timestamp, ssrc: this.ssrc, payload: body });
    this.seq = (this.seq + 1) & 0xffff;
    this.sentCount++;
    this.socket.send(pkt, this.opts.remote.port, this.opts.remote.address);
    if (e.ends >= 3) {
      this.events.shift();
      this.ts = (e.timestamp + e.total) >>> 0;
      e.done();
    }
    return true;
  }

  private sendFrame(): void {
    const n = (CLOCK_RATE * (this.opts.ptimeMs ?? 20)) / 1000;
    if (this.sendEventPacket(n)) return;
    const payload = encodeG711(this.opts.codec, (this.opts.source ?? silence)(n));
    const pkt = encodeRtp({ payloadType: PAYLOAD_TYPE[this.opts.codec], marker: this.sentCount === 0, sequence: this.seq, timestamp: this.ts, ssrc: this.ssrc, payload });
    this.seq = (this.seq + 1) & 0xffff;
    this.ts = (this.ts + n) >>> 0;
    this.sentCount++;
    this.socket.send(pkt, this.opts.remote.port, this.opts.remote.address);
  }

  private receive(msg: Buffer, from: string): void {
    const p = decodeRtp(msg);
    if (!p) return;
    const event = p.payloadType === this.opts.telephoneEvent;
    if (!event && p.payloadType !== PAYLOAD_TYPE[this.opts.codec]) return;
    this.from ??= from;
    // Events and audio share the stream's sequence numbers (RFC 4733 §2.1): both count.
    this.received++;
    // RFC 3550 A.1: extended highest sequence number, for the expected count.
    if (this.baseSeq === undefined) {
      this.baseSeq = p.sequence;
      this.maxSeq = p.sequence;
    } else {
      const delta = (p.sequence - this.maxSeq) & 0xffff;
      if (delta < 0x8000) {
        if (p.sequence < this.maxSeq) this.cycles += 0x10000;
        this.maxSeq = p.sequence;
      }
    }
    if (event) {
      // RFC 4733 §2.5.2: one event per timestamp, taken at its end bit.
      if (p.payload.length >= 4 && (p.payload[1]! & 0x80) !== 0 && p.payload[0]! <= 15 && !this.seenEvents.has(p.timestamp)) {
        this.seenEvents.add(p.timestamp);
        this.opts.onEvent?.('0123456789*#ABCD'[p.payload[0]!]!);
      }
      return;
    }
    // RFC 3550 A.8: J += (|D| - J) / 16, in timestamp units.
    const arrival = ((Date.now() - this.started) * CLOCK_RATE) / 1000;
    const transit = arrival - p.timestamp;
    if (this.lastTransit !== undefined) {
      let d = transit - this.lastTransit;
      if (d < 0) d = -d;
      if (d < CLOCK_RATE * 10) this.jitter += (d - this.jitter) / 16; // a timestamp jump is no jitter
    }
    this.lastTransit = transit;
    if (this.opts.keep) this.kept.push(decodeG711(this.opts.codec, p.payload));
  }

  /** The telephone-event payload type in use (RFC 4733), if both ends have it. */
  get telephoneEvent(): number | undefined {
    return this.opts.telephoneEvent;
  }

  get stats(): RtpStats {
    const expected = this.baseSeq === undefined ? 0 : this.cycles + this.maxSeq - this.baseSeq + 1;
    return { sent: this.sentCount, received: this.received, lost: Math.max(0, expected - this.received), jitterMs: +((this.jitter / CLOCK_RATE) * 1000).toFixed(2), from: this.from };
  }

  /** The received audio, decoded (with `keep`). */
  get audio(): Int16Array {
    const total = this.kept.reduce((n, a) => n + a.length, 0);
    const out = new Int16Array(total);
    let at = 0;
    for (const a of this.kept) {
      out.set(a, at);
      at += a.length;
    }
    return out;
  }

  async stop(): Promise<RtpStats> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await new Promise<void>((r) => this.socket.close(() => r()));
    return this.stats;
  }
}
