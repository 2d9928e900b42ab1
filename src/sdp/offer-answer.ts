/**
 * RFC 3264 offer/answer for audio over RTP/AVP, plus hold (RFC 3264 §8.4,
 * RFC 6337 §5) and the offer/answer signaling-state guard (RFC 6337 §3).
 *
 * @module
 */
import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import {
  CODECS,
  DEFAULT_CODEC_PREFERENCE,
  DYNAMIC_PAYLOAD_TYPE_MAX,
  DYNAMIC_PAYLOAD_TYPE_MIN,
  codecByName,
  resolveCodec,
  type CodecInfo,
} from './codecs.js';
import {
  SdpError,
  effectiveConnection,
  effectiveDirection,
  parseSdp,
  serializeSdp,
  type AddressType,
  type MediaDescription,
  type MediaDirection,
  type Origin,
  type SessionDescription,
} from './session-description.js';

/** A codec both parties agreed on for one RTP stream. */
export interface NegotiatedCodec {
  /** Canonical encoding name from the codec table ('PCMU', 'telephone-event', ...). */
  name: string;
  /** RTP payload type to use on the wire for this codec. */
  payloadType: number;
  clockRate: number;
  channels: number;
  /** a=fmtp parameters agreed for this codec, if any. */
  fmtp?: string;
}

/** Where and how to send RTP to the remote party. */
export interface RtpEndpoint {
  /** Unicast address from the effective c= line (RFC 4566 §5.7). */
  address: string;
  addressType: AddressType;
  port: number;
  /** The direction the remote party declared (from its own point of view). */
  direction: MediaDirection;
  /** Remote a=ptime, if stated. */
  ptime?: number;
}

/** Options shared by {@link createOffer} and {@link createAnswer}. */
export interface LocalMediaOptions {
  /** Our RTP address: an IPv4 or IPv6 literal (c= and o=). */
  address: string;
  /** Our RTP port (RFC 3550 §11 recommends an even one). */
  port: number;
  /** Codec names we support, in preference order. Default {@link DEFAULT_CODEC_PREFERENCE}. */
  codecs?: readonly string[];
  /** Packetization time in ms (RFC 4566 §6 a=ptime). Default 20. */
  ptime?: number;
  /** Our media direction. Default 'sendrecv'. */
  direction?: MediaDirection;
  /** o= `<sess-id>`; default a fresh random number (RFC 4566 §5.2). */
  sessionId?: string | number | bigint;
  /** o= `<sess-version>`; default 0. */
  sessionVersion?: string | number | bigint;
  /** o= `<username>`; default '-' (RFC 4566 §5.2). */
  username?: string;
}

/** Options for {@link createOffer}. */
export interface CreateOfferOptions extends LocalMediaOptions {
  /** Dynamic payload type for telephone-event (RFC 4733). Default 101. */
  telephoneEventPayloadType?: number;
}

/** Options for {@link createAnswer}. */
export interface CreateAnswerOptions extends LocalMediaOptions {
  /**
   * We are holding the call (RFC 6337 §5.3): `true` or 'sendonly' keeps
   * sending (music on hold) but stops receiving; 'inactive' stops both.
   */
  hold?: boolean | 'sendonly' | 'inactive';
}

/** Result of {@link createAnswer}. */
export interface AnswerResult {
  /** The answer SDP (CRLF line ends). */
  sdp: string;
  /** Codecs accepted on the audio stream, in the offerer's preference order, with the offerer's payload types. */
  codecs: NegotiatedCodec[];
}

/** Result of {@link negotiate}. */
export interface NegotiationResult {
  /** Index of the accepted audio m= line. */
  mediaIndex: number;
  /** Codecs in the answer that were also offered, in the answer's preference order. */
  codecs: NegotiatedCodec[];
  /** The answerer's RTP address, port and direction. */
  remote: RtpEndpoint;
  /** Direction the offerer declared for this stream. */
  localDirection: MediaDirection;
}

/** Packetization times all table codecs support: G.711 is sample-based, G.729 has 10 ms frames. */
const SUPPORTED_PTIMES: readonly number[] = [10, 20, 30, 40, 50, 60];
const DEFAULT_PTIME = 20;
/** RFC 4733 §2.4.1: without an fmtp, telephone-event means events 0-15. */
const DEFAULT_TELEPHONE_EVENTS = '0-15';

// ---------------------------------------------------------------------------
// Option validation
// ---------------------------------------------------------------------------

function addressTypeOf(address: string): AddressType {
  switch (isIP(address)) {
    case 4: return 'IP4';
    case 6: return 'IP6';
    default: throw new SdpError('SDP_ERR_BAD_ADDRESS', `"${address}" is not an IPv4 or IPv6 address`);
  }
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new SdpError('SDP_ERR_BAD_PORT', `bad RTP port ${port}`);
  }
}

function checkPtime(ptime: number): void {
  if (!Number.isFinite(ptime) || ptime <= 0) throw new SdpError('SDP_ERR_BAD_ATTRIBUTE', `bad ptime ${ptime}`);
}

function decimal(value: string | number | bigint, field: string): string {
  const s = String(value);
  // RFC 4566 §5.2: <sess-id> and <sess-version> are numeric strings.
  if (!/^\d+$/.test(s)) throw new SdpError('SDP_ERR_BAD_ORIGIN', `o= ${field} must be a decimal number, got "${s}"`);
  return s;
}

/** A fresh o= session id; RFC 4566 §5.2 only asks for global uniqueness with the username and address. */
function newSessionId(): string {
  return String(randomInt(1, 2 ** 47));
}

function buildOrigin(opts: LocalMediaOptions, addressType: AddressType): Origin {
  const username = opts.username ?? '-';
  if (!/^\S+$/.test(username)) throw new SdpError('SDP_ERR_BAD_ORIGIN', `o= username must be non-empty without spaces, got "${username}"`);
  return {
    username,
    sessionId: opts.sessionId === undefined ? newSessionId() : decimal(opts.sessionId, 'sess-id'),
    sessionVersion: opts.sessionVersion === undefined ? '0' : decimal(opts.sessionVersion, 'sess-version'),
    netType: 'IN',
    addressType,
    unicastAddress: opts.address,
  };
}

/**
 * Map codec names to table entries. An explicit list must only name
 * codecs we have; the default list silently drops anything missing.
 */
function supportedCodecs(names: readonly string[] | undefined): CodecInfo[] {
  const out: CodecInfo[] = [];
  for (const name of names ?? DEFAULT_CODEC_PREFERENCE) {
    const codec = codecByName(name);
    if (!codec) {
      if (names === undefined) continue;
      throw new SdpError('SDP_ERR_UNSUPPORTED_CODEC', `unsupported codec "${name}" (known: ${CODECS.map((c) => c.name).join(', ')})`);
    }
    if (!out.includes(codec)) out.push(codec);
  }
  // A stream of only CN/telephone-event carries no voice (RFC 3264 §6 would have to reject it).
  if (!out.some((c) => !c.auxiliary)) {
    throw new SdpError('SDP_ERR_UNSUPPORTED_CODEC', 'codec list contains no voice codec');
  }
  return out;
}

function sessionSkeleton(origin: Origin, address: string, addressType: AddressType): SessionDescription {
  return {
    version: 0,
    origin,
    // RFC 3264 §5: for unicast sessions s= SHOULD be a single space or dash.
    sessionName: '-',
    connection: { netType: 'IN', addressType, connectionAddress: address },
    // RFC 3264 §5: t= SHOULD be 0 0 — the session is bounded by the SIP dialog.
    timing: { startTime: 0, stopTime: 0 },
    mediaDescriptions: [],
    extensions: {},
  };
}

// ---------------------------------------------------------------------------
// Direction algebra
// ---------------------------------------------------------------------------

const sends = (d: MediaDirection): boolean => d === 'sendrecv' || d === 'sendonly';
const receives = (d: MediaDirection): boolean => d === 'sendrecv' || d === 'recvonly';

function directionOf(send: boolean, receive: boolean): MediaDirection {
  if (send && receive) return 'sendrecv';
  if (send) return 'sendonly';
  if (receive) return 'recvonly';
  return 'inactive';
}

/**
 * RFC 3264 §6.1: offer sendonly → answer recvonly (or inactive), recvonly →
 * sendonly (or inactive), inactive → inactive, sendrecv → any. We send only
 * if the offerer receives and we want to send, and vice versa.
 */
function answerDirection(offered: MediaDirection, offererReceives: boolean, ours: MediaDirection): MediaDirection {
  return directionOf(sends(ours) && receives(offered) && offererReceives, receives(ours) && sends(offered));
}

/** RFC 3264 §8.4: a c= address of 0.0.0.0 is the legacy RFC 2543 way to stop inbound media. */
function isLegacyHoldAddress(address: string | undefined): boolean {
  return address !== undefined && address.split('/')[0] === '0.0.0.0';
}

// ---------------------------------------------------------------------------
// Offer
// ---------------------------------------------------------------------------

/**
 * Create an SDP offer for one audio stream (RFC 3264 §5).
 *
 * @returns complete SDP text: v, o, s, c, t, m=audio, a=rtpmap per format,
 *   a=fmtp (telephone-event 0-16, G729 annexb=no), a=ptime, direction.
 * @throws {@link SdpError} 'SDP_ERR_BAD_ADDRESS' | 'SDP_ERR_BAD_PORT' | 'SDP_ERR_UNSUPPORTED_CODEC' | ...
 */
export function createOffer(opts: CreateOfferOptions): string {
  const addressType = addressTypeOf(opts.address);
  checkPort(opts.port);
  const ptime = opts.ptime ?? DEFAULT_PTIME;
  checkPtime(ptime);
  const telephoneEventPt = opts.telephoneEventPayloadType ?? 101;
  if (!Number.isInteger(telephoneEventPt) || telephoneEventPt < DYNAMIC_PAYLOAD_TYPE_MIN || telephoneEventPt > DYNAMIC_PAYLOAD_TYPE_MAX) {
    throw new SdpError('SDP_ERR_BAD_ATTRIBUTE', `telephone-event payload type ${telephoneEventPt} is not dynamic (96-127, RFC 3551 §6)`);
  }

  const codecs = supportedCodecs(opts.codecs);
  const sd = sessionSkeleton(buildOrigin(opts, addressType), opts.address, addressType);
  const md: MediaDescription = {
    media: 'audio',
    port: opts.port,
    proto: 'RTP/AVP',
    formats: [],
    rtpmaps: [],
    fmtps: [],
    ptime,
    direction: opts.direction ?? 'sendrecv',
    extensions: {},
  };
  for (const codec of codecs) {
    const pt = codec.staticPayloadType ?? (codec.name === 'telephone-event' ? telephoneEventPt : codec.defaultPayloadType);
    md.formats.push(String(pt));
    // RFC 4566 §6 makes rtpmap optional for static types, but listing them
    // all avoids ambiguity with peers that remap static numbers.
    md.rtpmaps.push({ payloadType: pt, encodingName: codec.name, clockRate: codec.clockRate });
    if (codec.fmtp !== undefined) md.fmtps.push({ payloadType: pt, parameters: codec.fmtp });
  }
  sd.mediaDescriptions.push(md);
  return serializeSdp(sd);
}

// ---------------------------------------------------------------------------
// Answer
// ---------------------------------------------------------------------------

/** Parse an RFC 4733 §2.4.1 event list ("0-15,66,70") into a set of event codes. */
function parseEventList(list: string): Set<number> {
  const events = new Set<number>();
  for (const token of list.split(',')) {
    const m = /^\s*(\d+)(?:\s*-\s*(\d+))?\s*$/.exec(token);
    if (!m) continue; // RFC 4733 §2.4.1: unknown syntax is ignored rather than fatal
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    for (let e = from; e <= Math.min(to, 255); e += 1) events.add(e);
  }
  return events;
}

/** Format a set of event codes as a compact RFC 4733 event list. */
function formatEventList(events: Set<number>): string {
  const sorted = [...events].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j += 1;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * The fmtp we answer for an accepted codec, or null if the codec must be
 * dropped after all (telephone-event with no event in common).
 */
function answerFmtp(codec: CodecInfo, offered: string | undefined): string | undefined | null {
  if (codec.name === 'telephone-event') {
    // RFC 4733 §2.5.1.3: the answer lists the events both sides support.
    const ours = parseEventList(codec.fmtp ?? DEFAULT_TELEPHONE_EVENTS);
    const theirs = parseEventList(offered ?? DEFAULT_TELEPHONE_EVENTS);
    const common = new Set([...theirs].filter((e) => ours.has(e)));
    return common.size === 0 ? null : formatEventList(common);
  }
  // G.729: annexb=no from either side disables Annex B (RFC 4856 §2.1.9), so stating it is always safe.
  return codec.fmtp;
}

/**
 * Formats of one offered RTP m= line that we support, in the offer's order,
 * keeping the offerer's payload type numbers (RFC 3264 §6.1).
 */
function intersectCodecs(md: MediaDescription, ours: readonly CodecInfo[]): NegotiatedCodec[] {
  const result: NegotiatedCodec[] = [];
  const taken = new Set<CodecInfo>();
  for (const fmt of md.formats) {
    const pt = Number(fmt);
    const codec = resolveCodec(pt, md.rtpmaps.find((r) => r.payloadType === pt));
    // One payload type per codec is enough for a single RTP session.
    if (!codec || !ours.includes(codec) || taken.has(codec)) continue;
    const fmtp = answerFmtp(codec, md.fmtps.find((f) => f.payloadType === pt)?.parameters);
    if (fmtp === null) continue;
    taken.add(codec);
    const negotiated: NegotiatedCodec = { name: codec.name, payloadType: pt, clockRate: codec.clockRate, channels: codec.channels };
    if (fmtp !== undefined) negotiated.fmtp = fmtp;
    result.push(negotiated);
  }
  return result;
}

/** ptime for the answer: the offered one if we can do it, else ours, within any a=maxptime (RFC 4566 §6). */
function answerPtime(md: MediaDescription, ours: number): number {
  let ptime = md.ptime !== undefined && SUPPORTED_PTIMES.includes(md.ptime) ? md.ptime : ours;
  if (md.maxptime !== undefined && ptime > md.maxptime) {
    const fitting = SUPPORTED_PTIMES.filter((p) => p <= md.maxptime!);
    if (fitting.length > 0) ptime = fitting[fitting.length - 1]!;
  }
  return ptime;
}

/** RFC 3264 §6: a rejected stream keeps its media type, proto and formats, with port 0. */
function rejectedMedia(md: MediaDescription): MediaDescription {
  return { media: md.media, port: 0, proto: md.proto, formats: [...md.formats], rtpmaps: [], fmtps: [], extensions: {} };
}

function codecListLabel(md: MediaDescription): string {
  return md.formats
    .map((f) => md.rtpmaps.find((r) => r.payloadType === Number(f))?.encodingName ?? f)
    .join(' ');
}

function ourDirection(opts: CreateAnswerOptions): MediaDirection {
  const base = opts.direction ?? 'sendrecv';
  if (!opts.hold) return base;
  // RFC 6337 §5.3: the holding side offers/answers sendonly (or inactive).
  const hold: MediaDirection = opts.hold === 'inactive' ? 'inactive' : 'sendonly';
  return directionOf(sends(base) && sends(hold), receives(base) && receives(hold));
}

function toSessionDescription(sdp: string | Buffer | SessionDescription): SessionDescription {
  return typeof sdp === 'string' || Buffer.isBuffer(sdp) ? parseSdp(sdp) : sdp;
}

/**
 * Answer an SDP offer (RFC 3264 §6).
 *
 * The answer has the same m= lines in the same order. The first offered
 * RTP/AVP audio stream with a voice codec in common is accepted; every other
 * stream (video, image, a second audio, no common codec) is rejected with
 * port 0. Codecs keep the offerer's payload types and order; the direction
 * follows §6.1; the offered ptime is echoed when supported.
 *
 * @throws {@link SdpError} for malformed offers, or 'SDP_ERR_NO_COMMON_CODEC'
 *   when no stream can be accepted — the UAS then answers 488 (RFC 3261 §13.3.1.1).
 */
export function createAnswer(offerSdp: string | Buffer | SessionDescription, opts: CreateAnswerOptions): AnswerResult {
  const offer = toSessionDescription(offerSdp);
  const addressType = addressTypeOf(opts.address);
  checkPort(opts.port);
  const ourPtime = opts.ptime ?? DEFAULT_PTIME;
  checkPtime(ourPtime);
  const ours = supportedCodecs(opts.codecs);
  const direction = ourDirection(opts);

  // RFC 3264 §6 / RFC 4566 §5.2: the answer is our own session, with our own o= line.
  const answer = sessionSkeleton(buildOrigin(opts, addressType), opts.address, addressType);
  let accepted: NegotiatedCodec[] | undefined;
  const reasons: string[] = [];

  offer.mediaDescriptions.forEach((md, index) => {
    const label = `m=${md.media} (#${index})`;
    if (accepted) {
      // Single RTP port: only one audio stream can be accepted.
      answer.mediaDescriptions.push(rejectedMedia(md));
      return;
    }
    if (md.media !== 'audio' || md.proto.toUpperCase() !== 'RTP/AVP' || md.port === 0) {
      // RFC 3264 §6: a stream offered with port 0 stays at port 0; media/proto we can't do are rejected.
      reasons.push(md.port === 0 ? `${label}: disabled in offer` : `${label}: unsupported ${md.media} ${md.proto}`);
      answer.mediaDescriptions.push(rejectedMedia(md));
      return;
    }
    const codecs = intersectCodecs(md, ours);
    if (!codecs.some((c) => !codecByName(c.name)!.auxiliary)) {
      reasons.push(`${label}: no common codec (offered ${codecListLabel(md)}; supported ${ours.map((c) => c.name).join(' ')})`);
      answer.mediaDescriptions.push(rejectedMedia(md));
      return;
    }
    const offeredConnection = effectiveConnection(offer, md);
    const answered: MediaDescription = {
      media: 'audio',
      port: opts.port,
      proto: md.proto,
      formats: codecs.map((c) => String(c.payloadType)),
      rtpmaps: codecs.map((c) => ({ payloadType: c.payloadType, encodingName: c.name, clockRate: c.clockRate })),
      fmtps: codecs.filter((c) => c.fmtp !== undefined).map((c) => ({ payloadType: c.payloadType, parameters: c.fmtp! })),
      ptime: answerPtime(md, ourPtime),
      direction: answerDirection(
        effectiveDirection(offer, md),
        !isLegacyHoldAddress(offeredConnection?.connectionAddress),
        direction,
      ),
      extensions: {},
    };
    answer.mediaDescriptions.push(answered);
    accepted = codecs;
  });

  if (!accepted) {
    throw new SdpError('SDP_ERR_NO_COMMON_CODEC', `no offered media stream can be accepted: ${reasons.join('; ') || 'no media'}`);
  }
  return { sdp: serializeSdp(answer), codecs: accepted };
}

/**
 * An answer that accepts nothing: every offered stream with port 0 (RFC 3264 §6). What a UAC
 * puts in the ACK when the offer of a 2xx is not acceptable (RFC 3261 §13.2.2.4: "a valid answer
 * in the ACK and then ... a BYE immediately").
 *
 * @throws {@link SdpError} for a malformed offer (there is no valid answer to it).
 */
export function rejectingAnswer(offerSdp: string | Buffer | SessionDescription, opts: Pick<LocalMediaOptions, 'address' | 'sessionId' | 'sessionVersion' | 'username'>): string {
  const offer = toSessionDescription(offerSdp);
  const addressType = addressTypeOf(opts.address);
  const answer = sessionSkeleton(buildOrigin(opts as LocalMediaOptions, addressType), opts.address, addressType);
  for (const md of offer.mediaDescriptions) answer.mediaDescriptions.push(rejectedMedia(md));
  return serializeSdp(answer);
}

// ---------------------------------------------------------------------------
// Reading an answer
// ---------------------------------------------------------------------------

function endpointOf(sd: SessionDescription, md: MediaDescription): RtpEndpoint {
  const connection = effectiveConnection(sd, md)!; // parseSdp guarantees one for port != 0
  const endpoint: RtpEndpoint = {
    address: connection.connectionAddress.split('/')[0]!,
    addressType: connection.addressType,
    port: md.port,
    direction: effectiveDirection(sd, md),
  };
  if (md.ptime !== undefined) endpoint.ptime = md.ptime;
  return endpoint;
}

/**
 * Combine our offer with the remote answer (RFC 3264 §7): which codecs to
 * use and where to send RTP. Payload types come from the answer, since
 * numbers in an SDP say what its author expects to receive (RFC 3264 §5.1).
 *
 * @throws {@link SdpError} 'SDP_ERR_ANSWER_MISMATCH' if the answer's m= lines
 *   don't mirror the offer's (RFC 3264 §6), 'SDP_ERR_NO_COMMON_CODEC' if no
 *   audio stream was accepted with an offered voice codec.
 */
export function negotiate(
  offerSdp: string | Buffer | SessionDescription,
  answerSdp: string | Buffer | SessionDescription,
): NegotiationResult {
  const offer = toSessionDescription(offerSdp);
  const answer = toSessionDescription(answerSdp);
  if (answer.mediaDescriptions.length !== offer.mediaDescriptions.length) {
    throw new SdpError(
      'SDP_ERR_ANSWER_MISMATCH',
      `answer has ${answer.mediaDescriptions.length} m= lines, offer had ${offer.mediaDescriptions.length} (RFC 3264 §6)`,
    );
  }
  for (let i = 0; i < offer.mediaDescriptions.length; i += 1) {
    const om = offer.mediaDescriptions[i]!;
    const am = answer.mediaDescriptions[i]!;
    if (am.media !== om.media) {
      throw new SdpError('SDP_ERR_ANSWER_MISMATCH', `answer m= line #${i} is ${am.media}, offer had ${om.media} (RFC 3264 §6)`);
    }
    if (om.media !== 'audio' || om.port === 0 || am.port === 0) continue;

    const offered = new Set<CodecInfo>();
    for (const fmt of om.formats) {
      const pt = Number(fmt);
      const codec = resolveCodec(pt, om.rtpmaps.find((r) => r.payloadType === pt));
      if (codec) offered.add(codec);
    }
    const codecs: NegotiatedCodec[] = [];
    const taken = new Set<CodecInfo>();
    for (const fmt of am.formats) {
      const pt = Number(fmt);
      const codec = resolveCodec(pt, am.rtpmaps.find((r) => r.payloadType === pt));
      if (!codec || !offered.has(codec) || taken.has(codec)) continue;
      taken.add(codec);
      const negotiated: NegotiatedCodec = { name: codec.name, payloadType: pt, clockRate: codec.clockRate, channels: codec.channels };
      const fmtp = am.fmtps.find((f) => f.payloadType === pt)?.parameters;
      if (fmtp !== undefined) negotiated.fmtp = fmtp;
      codecs.push(negotiated);
    }
    if (!codecs.some((c) => !codecByName(c.name)!.auxiliary)) continue;
    return { mediaIndex: i, codecs, remote: endpointOf(answer, am), localDirection: effectiveDirection(offer, om) };
  }
  throw new SdpError('SDP_ERR_NO_COMMON_CODEC', 'answer accepted no audio stream with an offered voice codec');
}

/**
 * RTP endpoint of the first active (port ≠ 0) audio stream of a description —
 * e.g. the UAS reading where to send media from the offer it answered.
 *
 * @returns undefined when there is no active audio stream.
 */
export function audioEndpoint(sdp: string | Buffer | SessionDescription): RtpEndpoint | undefined {
  const sd = toSessionDescription(sdp);
  const md = sd.mediaDescriptions.find((m) => m.media === 'audio' && m.port !== 0);
  return md ? endpointOf(sd, md) : undefined;
}

// ---------------------------------------------------------------------------
// Hold (RFC 3264 §8.4, RFC 6337 §5)
// ---------------------------------------------------------------------------

/**
 * Derive a modified offer from our previous SDP with every active stream set
 * to `direction`. RFC 3264 §8: same o= username and session id, version
 * incremented by exactly one; everything else unchanged.
 */
function redirect(previousLocalSdp: string | Buffer, direction: MediaDirection): string {
  const sd = parseSdp(previousLocalSdp);
  sd.origin = { ...sd.origin, sessionVersion: (BigInt(sd.origin.sessionVersion) + 1n).toString() };
  // Move direction to media level so no session-level attribute contradicts it.
  delete sd.direction;
  for (const md of sd.mediaDescriptions) if (md.port !== 0) md.direction = direction;
  return serializeSdp(sd);
}

/**
 * Put a call on hold: re-offer our previous SDP as 'sendonly' (keep sending,
 * e.g. music on hold) or 'inactive' (RFC 3264 §8.4, RFC 6337 §5.3), with
 * the o= version incremented (RFC 3264 §8).
 */
export function holdSdp(previousLocalSdp: string | Buffer, mode: 'sendonly' | 'inactive' = 'sendonly'): string {
  return redirect(previousLocalSdp, mode);
}

/**
 * The o= a new description of an ongoing session carries (RFC 3264 §8): the session id of our
 * previous one and its version plus one; nothing when there is none (or it cannot be read).
 */
export function continuedOrigin(previousLocalSdp: string | Buffer | undefined): Pick<LocalMediaOptions, 'sessionId' | 'sessionVersion'> {
  if (previousLocalSdp === undefined) return {};
  try {
    const { origin } = parseSdp(previousLocalSdp);
    return { sessionId: origin.sessionId, sessionVersion: BigInt(origin.sessionVersion) + 1n };
  } catch {
    return {};
  }
}

/**
 * `sdp` (a description another party made, relayed by a B2BUA) with the origin of our own
 * previous description on this leg, its version incremented (RFC 3264 §8: one session keeps its
 * o= username and session id); as it is when there is no previous one.
 */
export function reoriginate(sdp: string, previousLocalSdp: string | undefined): string {
  if (previousLocalSdp === undefined) return sdp;
  try {
    const prev = parseSdp(previousLocalSdp).origin;
    const sd = parseSdp(sdp);
    sd.origin = { ...prev, sessionVersion: (BigInt(prev.sessionVersion) + 1n).toString() };
    return serializeSdp(sd);
  } catch {
    return sdp;
  }
}

/** Take a call off hold: re-offer our previous SDP as `direction` (default sendrecv), o= version + 1 (RFC 3264 §8). */
export function resumeSdp(previousLocalSdp: string | Buffer, direction: MediaDirection = 'sendrecv'): string {
  return redirect(previousLocalSdp, direction);
}

/**
 * True if the description puts the call on hold: every active audio stream is
 * sendonly or inactive (RFC 3264 §8.4), or uses the legacy c=0.0.0.0 form
 * (RFC 2543, still recognized by RFC 3264 §8.4).
 */
export function isOnHold(sdp: string | Buffer | SessionDescription): boolean {
  const sd = toSessionDescription(sdp);
  const active = sd.mediaDescriptions.filter((m) => m.media === 'audio' && m.port !== 0);
  if (active.length === 0) return false;
  return active.every((md) => {
    const direction = effectiveDirection(sd, md);
    return direction === 'sendonly' || direction === 'inactive'
      || isLegacyHoldAddress(effectiveConnection(sd, md)?.connectionAddress);
  });
}
