/**
 * DTMF relay out of band, as signalling (docs/gateway.md, the handbook's §10.4):
 *
 * - `sip-notify` — Cisco's NOTIFY-based relay: both ends advertise it in the INVITE and its 18x/2xx
 *   with `Call-Info: <sip:ADDR:PORT>;method="NOTIFY;Event=telephone-event;Duration=N"` (the lower
 *   Duration wins); each digit is an in-dialog NOTIFY without a prior SUBSCRIBE, `Event:
 *   telephone-event`, `Subscription-State: active`, `Content-Type: audio/telephone-event`, whose
 *   4-byte body is laid out as an RFC 4733 §2.3 event with the duration field in milliseconds, as
 *   Cisco sends it;
 * - `sip-info` — INFO `application/dtmf-relay` with `Signal=` and `Duration=` lines.
 * (`rtp-nte`, RFC 4733 events in the RTP stream, is sent by media/rtp.ts.)
 *
 * @remarks Leaf (`media/`).
 */

export type DtmfMethod = 'sip-notify' | 'sip-info' | 'rtp-nte';
export const DTMF_METHODS: readonly DtmfMethod[] = ['sip-notify', 'sip-info', 'rtp-nte'];

/** RFC 4733 §3.2: event codes 0–15 are 0–9, *, #, A–D. */
const EVENTS = '0123456789*#ABCD';

/** IOS `notify telephone-event max-duration` default (ms). */
export const DEFAULT_NOTIFY_DURATION_MS = 2000;

export function isDtmfDigit(d: string): boolean {
  return d.length === 1 && EVENTS.includes(d.toUpperCase());
}

/** RFC 4733 §2.3: event (8), E (1), R (1), volume (6), duration (16) — the duration in ms (Cisco NOTIFY). */
export function telephoneEventBody(digit: string, durationMs: number, volume = 10): Buffer {
  const code = EVENTS.indexOf(digit.toUpperCase());
  if (code < 0) throw new RangeError(`'${digit}' is not a DTMF digit`);
  const b = Buffer.alloc(4);
  b[0] = code;
  b[1] = 0x80 | (volume & 0x3f); // E: the end of the event
  b.writeUInt16BE(Math.min(0xffff, Math.max(0, Math.round(durationMs))), 2);
  return b;
}

export function parseTelephoneEvent(body: Buffer): { digit: string; end: boolean; volume: number; duration: number } | undefined {
  if (body.length < 4 || body[0]! > 15) return undefined;
  return { digit: EVENTS[body[0]!]!, end: (body[1]! & 0x80) !== 0, volume: body[1]! & 0x3f, duration: body.readUInt16BE(2) };
}

/** INFO `application/dtmf-relay` body. */
export function dtmfRelayBody(digit: string, durationMs: number): string {
  if (!isDtmfDigit(digit)) throw new RangeError(`'${digit}' is not a DTMF digit`);
  return `Signal=${digit.toUpperCase()}\r\nDuration=${Math.round(durationMs)}\r\n`;
}

export function parseDtmfRelay(body: string): { digit: string; duration: number | undefined } | undefined {
  const signal = /^\s*Signal\s*=\s*(\S)\s*$/im.exec(body)?.[1];
  if (signal === undefined || !isDtmfDigit(signal)) return undefined;
  const d = /^\s*Duration\s*=\s*(\d+)\s*$/im.exec(body)?.[1];
  return { digit: signal.toUpperCase(), duration: d === undefined ? undefined : Number(d) };
}

/** The Call-Info value that offers NOTIFY-based relay (Cisco). */
export function notifyCallInfo(contactUri: string, durationMs: number): string {
  return `<${contactUri}>;method="NOTIFY;Event=telephone-event;Duration=${Math.round(durationMs)}"`;
}

/** The Duration a peer offered for NOTIFY-based relay in its Call-Info values, or undefined when it did not. */
export function parseNotifyCallInfo(values: readonly string[]): number | undefined {
  for (const v of values) {
    const m = /method\s*=\s*"([^"]*)"/i.exec(v);
    if (!m || !/^\s*NOTIFY\s*;/i.test(m[1]!) || !/Event\s*=\s*telephone-event/i.test(m[1]!)) continue;
    const d = /Duration\s*=\s*(\d+)/i.exec(m[1]!);
    return d ? Number(d[1]) : DEFAULT_NOTIFY_DURATION_MS;
  }
  return undefined;
}

/**
 * The method both ends agreed on, in our order of preference: `sip-notify` when the peer
 * advertised it (Duration: the lower of the two), `sip-info` when the peer allows INFO, `rtp-nte`
 * when both SDPs have telephone-event and RTP is flowing.
 */
export function agreeDtmf(ours: readonly DtmfMethod[], peer: { notifyDuration?: number; allowsInfo: boolean; rtpNte?: boolean }, ourDuration = DEFAULT_NOTIFY_DURATION_MS): { method: DtmfMethod; duration: number } | undefined {
  for (const m of ours) {
    if (m === 'rtp-nte' && peer.rtpNte) return { method: m, duration: 160 };
    if (m === 'sip-notify' && peer.notifyDuration !== undefined) return { method: m, duration: Math.min(ourDuration, peer.notifyDuration) };
    if (m === 'sip-info' && peer.allowsInfo) return { method: m, duration: 160 };
  }
  return undefined;
}
