/**
 * Audio codec table for RTP/AVP (RFC 3551) as used by this stack.
 *
 * @module
 */

/** One codec this stack can offer or accept. */
export interface CodecInfo {
  /** Encoding name as registered for a=rtpmap (RFC 4566 §6); compared case-insensitively. */
  readonly name: string;
  /** Static payload type (RFC 3551 §6, Table 4), or undefined for a dynamic one. */
  readonly staticPayloadType?: number;
  /** Payload type used when *we* offer this codec. */
  readonly defaultPayloadType: number;
  /** RTP clock rate in Hz. */
  readonly clockRate: number;
  /** Audio channels (RFC 4566 §6 encoding parameters); 1 when omitted. */
  readonly channels: number;
  /** a=fmtp parameters we send when we offer or accept this codec, if any. */
  readonly fmtp?: string;
  /**
   * True for payload formats that are not a voice codec on their own
   * (comfort noise, DTMF events): a stream whose only common formats are
   * auxiliary carries no audio and must be rejected (RFC 3264 §6).
   */
  readonly auxiliary: boolean;
}

/**
 * The codec table. Static payload types per RFC 3551 §6 Table 4;
 * telephone-event per RFC 4733 §7.1.1 (dynamic, 101 by convention).
 */
export const CODECS: readonly CodecInfo[] = Object.freeze([
  // RFC 3551 §4.5.14: G.711 µ-law.
  { name: 'PCMU', staticPayloadType: 0, defaultPayloadType: 0, clockRate: 8000, channels: 1, auxiliary: false },
  // RFC 3551 §4.5.14: G.711 A-law.
  { name: 'PCMA', staticPayloadType: 8, defaultPayloadType: 8, clockRate: 8000, channels: 1, auxiliary: false },
  // RFC 3551 §4.5.6 / RFC 4856 §2.1.9: Annex B (VAD/CNG) defaults to "yes";
  // we say annexb=no so both ends stay on plain G.729 frames.
  {
    name: 'G729', staticPayloadType: 18, defaultPayloadType: 18, clockRate: 8000, channels: 1,
    fmtp: 'annexb=no', auxiliary: false,
  },
  // RFC 3389: comfort noise.
  { name: 'CN', staticPayloadType: 13, defaultPayloadType: 13, clockRate: 8000, channels: 1, auxiliary: true },
  // RFC 4733 §3.2: DTMF events 0-15 plus flash (16).
  { name: 'telephone-event', defaultPayloadType: 101, clockRate: 8000, channels: 1, fmtp: '0-16', auxiliary: true },
].map((c) => Object.freeze(c)));

/** Default preference order for offers and answers. */
export const DEFAULT_CODEC_PREFERENCE: readonly string[] = Object.freeze(['PCMU', 'PCMA', 'G729', 'telephone-event', 'CN']);

/** RFC 3551 §6: payload types 96-127 are dynamic. */
export const DYNAMIC_PAYLOAD_TYPE_MIN = 96;
/** RFC 3551 §6: payload types 96-127 are dynamic. */
export const DYNAMIC_PAYLOAD_TYPE_MAX = 127;

/**
 * Look a codec up by its *static* payload type (RFC 3551 §6). Dynamic
 * payload types mean nothing without an a=rtpmap, so they never match.
 */
export function codecByPayloadType(payloadType: number): CodecInfo | undefined {
  return CODECS.find((c) => c.staticPayloadType === payloadType);
}

/** Look a codec up by its a=rtpmap encoding name, case-insensitively (RFC 4855 §3). */
export function codecByName(name: string): CodecInfo | undefined {
  const wanted = name.toLowerCase();
  return CODECS.find((c) => c.name.toLowerCase() === wanted);
}

/**
 * Resolve an offered/answered RTP format to a codec in the table.
 * RFC 4566 §6: an a=rtpmap, when present, defines the format — even for a
 * static payload type (e.g. old Cisco gateways send `a=rtpmap:19 CN/8000`);
 * without one only a static payload type is meaningful (RFC 3551 §6).
 * Clock rate and channels must match too: telephone-event/16000 is not
 * our telephone-event/8000.
 */
export function resolveCodec(
  payloadType: number,
  rtpmap?: { encodingName: string; clockRate: number; encodingParameters?: number },
): CodecInfo | undefined {
  if (!rtpmap) return codecByPayloadType(payloadType);
  const codec = codecByName(rtpmap.encodingName);
  if (!codec || codec.clockRate !== rtpmap.clockRate) return undefined;
  if ((rtpmap.encodingParameters ?? 1) !== codec.channels) return undefined;
  return codec;
}
