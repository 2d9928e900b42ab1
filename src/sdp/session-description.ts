/**
 * SDP session descriptions (RFC 4566) — typed model, parser and serializer.
 *
 * Line syntax is delegated to `sdp-transform`; this module adds the strict
 * validation a SIP stack needs before it trusts a body enough to run
 * RFC 3264 offer/answer on it, and maps sdp-transform's loose objects onto
 * a model named in RFC 4566 words.
 *
 * @module
 */
import { isIP } from 'node:net';
import { parse as transformParse, write as transformWrite } from 'sdp-transform';
import { SipError } from '../util/errors.js';
import type {
  MediaDescription as TransformMediaDescription,
  SessionDescription as TransformSessionDescription,
} from 'sdp-transform';

/** Stable error codes thrown as {@link SdpError.code}. */
export type SdpErrorCode =
  | 'SDP_ERR_EMPTY'
  | 'SDP_ERR_SYNTAX'
  | 'SDP_ERR_NO_VERSION'
  | 'SDP_ERR_BAD_VERSION'
  | 'SDP_ERR_NO_ORIGIN'
  | 'SDP_ERR_BAD_ORIGIN'
  | 'SDP_ERR_NO_SESSION_NAME'
  | 'SDP_ERR_NO_TIMING'
  | 'SDP_ERR_BAD_TIMING'
  | 'SDP_ERR_BAD_CONNECTION'
  | 'SDP_ERR_NO_CONNECTION'
  | 'SDP_ERR_NO_MEDIA'
  | 'SDP_ERR_BAD_MEDIA'
  | 'SDP_ERR_BAD_PORT'
  | 'SDP_ERR_BAD_ATTRIBUTE'
  | 'SDP_ERR_BAD_ADDRESS'
  | 'SDP_ERR_UNSUPPORTED_CODEC'
  | 'SDP_ERR_NO_COMMON_CODEC'
  | 'SDP_ERR_ANSWER_MISMATCH';

/**
 * Error raised for malformed SDP or a failed negotiation. `code` is stable
 * and meant for programmatic handling (e.g. 'SDP_ERR_NO_COMMON_CODEC' →
 * the UAS answers 488 Not Acceptable Here, RFC 3261 §21.4.26).
 */
export class SdpError extends SipError {
  /** Stable machine-readable code. */
  declare readonly code: SdpErrorCode;
  /** 1-based line number of the offending SDP line, when known. */
  readonly line?: number;

  constructor(code: SdpErrorCode, message: string, line?: number) {
    super(code, line === undefined ? message : `${message} (line ${line})`);
    this.name = 'SdpError';
    if (line !== undefined) this.line = line;
  }
}

/** RFC 4566 §6 / RFC 3264 §5.1 media direction attributes. */
export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** RFC 4566 §5.7 `<addrtype>`. */
export type AddressType = 'IP4' | 'IP6';

/** o= line, RFC 4566 §5.2. Numeric fields kept as decimal strings: they may exceed 2^53. */
export interface Origin {
  username: string;
  sessionId: string;
  sessionVersion: string;
  netType: 'IN';
  addressType: AddressType;
  unicastAddress: string;
}

/** c= line, RFC 4566 §5.7. `connectionAddress` may carry a multicast `/ttl` suffix. */
export interface ConnectionData {
  netType: 'IN';
  addressType: AddressType;
  connectionAddress: string;
}

/** a=rtpmap, RFC 4566 §6. */
export interface RtpMap {
  payloadType: number;
  encodingName: string;
  clockRate: number;
  /** For audio: number of channels (RFC 4566 §6), omitted when 1 is implied. */
  encodingParameters?: number;
}

/** a=fmtp, RFC 4566 §6. */
export interface FormatParameters {
  payloadType: number;
  parameters: string;
}

/** One m= section, RFC 4566 §5.14 plus the attributes this stack understands. */
export interface MediaDescription {
  /** `<media>`: 'audio', 'video', 'image', ... */
  media: string;
  port: number;
  /** `<number of ports>` from `<port>/<number of ports>` when present. */
  numberOfPorts?: number;
  /** `<proto>`: 'RTP/AVP', 'udptl', ... */
  proto: string;
  /** `<fmt>` list in preference order (RTP payload types as decimal strings). */
  formats: string[];
  connection?: ConnectionData;
  rtpmaps: RtpMap[];
  fmtps: FormatParameters[];
  /** a=ptime in milliseconds (RFC 4566 §6). */
  ptime?: number;
  /** a=maxptime in milliseconds (RFC 4566 §6). */
  maxptime?: number;
  /** Media-level direction; overrides the session level (RFC 4566 §6). */
  direction?: MediaDirection;
  /**
   * Every other attribute parsed by sdp-transform (rtcp, crypto, candidates,
   * unknown `invalid` lines...), carried opaquely so serialization round-trips.
   */
  extensions: Record<string, unknown>;
}

/** A whole session description, RFC 4566 §5. */
export interface SessionDescription {
  /** v= — always 0 (RFC 4566 §5.1). */
  version: 0;
  origin: Origin;
  /** s= (RFC 4566 §5.3). */
  sessionName: string;
  /** Session-level c=; media-level c= overrides it. */
  connection?: ConnectionData;
  /** t= (RFC 4566 §5.9); `0 0` for SIP sessions (RFC 3264 §5). */
  timing: { startTime: number; stopTime: number };
  /** Session-level direction attribute, if any. */
  direction?: MediaDirection;
  mediaDescriptions: MediaDescription[];
  /** Other session-level fields/attributes, carried opaquely (see {@link MediaDescription.extensions}). */
  extensions: Record<string, unknown>;
}

/** Options for {@link parseSdp}. */
export interface ParseSdpOptions {
  /**
   * RFC 3264 §5 lets an offer carry zero m= lines, but a SIP audio call
   * never does; by default a description without media is rejected with
   * 'SDP_ERR_NO_MEDIA'. Set true to accept it.
   */
  allowNoMedia?: boolean;
}

const LINE = /^([a-z])=(.*)$/;
const ORIGIN = /^(\S+) (\d+) (\d+) (IN) (IP4|IP6) (\S+)\s*$/;
const CONNECTION = /^(IN) (IP4|IP6) (\S+)\s*$/;
const TIMING = /^(\d+) (\d+)\s*$/;
const MEDIA = /^(\S+) (\S+) (\S+)((?: +\S+)+) *$/;
const PORT = /^(\d{1,5})(?:\/(\d+))?$/;
const RTPMAP = /^rtpmap:(\d{1,3}) ([^\s/]+)\/(\d+)(?:\/(\d+))?\s*$/;
const FMTP = /^fmtp:(\d{1,3}) (.*)$/;
const PTIME = /^(ptime|maxptime):(\d+(?:\.\d+)?)\s*$/;

/** Keys of the sdp-transform session object that are modeled explicitly. */
const SESSION_KEYS = new Set(['version', 'origin', 'name', 'connection', 'timing', 'direction', 'media']);
/** Keys of the sdp-transform media object that are modeled explicitly. */
const MEDIA_KEYS = new Set([
  'type', 'port', 'protocol', 'payloads', 'connection', 'rtp', 'fmtp', 'ptime', 'maxptime', 'direction',
]);

/** True for 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive'. */
export function isMediaDirection(value: unknown): value is MediaDirection {
  return value === 'sendrecv' || value === 'sendonly' || value === 'recvonly' || value === 'inactive';
}

/** True for RTP profiles whose `<fmt>` are payload type numbers (RFC 4566 §5.14). */
export function isRtpProto(proto: string): boolean {
  return /^(?:[A-Z/]*\/)?RTP\//i.test(proto);
}

/**
 * Validate the raw lines of a description. sdp-transform silently skips any
 * line its grammar does not match, so structural errors must be caught here,
 * before trusting its output.
 */
function validateLines(lines: readonly string[], options: ParseSdpOptions): void {
  if (lines.length === 0) throw new SdpError('SDP_ERR_EMPTY', 'SDP body is empty');

  // RFC 4566 §5: the description starts with v=.
  if (!lines[0]!.startsWith('v=')) {
    throw new SdpError('SDP_ERR_NO_VERSION', 'SDP must start with a v= line', 1);
  }
  let seenOrigin = false;
  let seenSessionName = false;
  let seenTiming = false;
  let sessionConnection = false;
  let inMedia = false;
  let mediaIsAudio = false;
  let mediaCount = 0;
  // Per m= section: its port, whether it has its own c=, and its 1-based line.
  const media: { port: number; connection: boolean; line: number }[] = [];

  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const m = LINE.exec(raw);
    if (!m) throw new SdpError('SDP_ERR_SYNTAX', `malformed SDP line "${raw}", expected <type>=<value>`, lineNo);
    const type = m[1]!;
    const value = m[2]!;
    switch (type) {
      case 'v':
        if (index !== 0) throw new SdpError('SDP_ERR_SYNTAX', 'duplicate v= line', lineNo);
        // RFC 4566 §5.1: the only version is 0.
        if (value !== '0') throw new SdpError('SDP_ERR_BAD_VERSION', `unsupported SDP version "v=${value}"`, lineNo);
        break;
      case 'o':
        if (inMedia || seenOrigin) throw new SdpError('SDP_ERR_SYNTAX', 'o= line must appear once at session level', lineNo);
        if (!ORIGIN.test(value)) {
          throw new SdpError('SDP_ERR_BAD_ORIGIN', `malformed o= line "o=${value}"`, lineNo);
        }
        seenOrigin = true;
        break;
      case 's':
        if (inMedia) throw new SdpError('SDP_ERR_SYNTAX', 's= line inside a media section', lineNo);
        seenSessionName = true;
        break;
      case 't':
        if (inMedia) throw new SdpError('SDP_ERR_SYNTAX', 't= line inside a media section', lineNo);
        if (!TIMING.test(value)) throw new SdpError('SDP_ERR_BAD_TIMING', `malformed t= line "t=${value}"`, lineNo);
        seenTiming = true;
        break;
      case 'c': {
        const c = CONNECTION.exec(value);
        if (!c) throw new SdpError('SDP_ERR_BAD_CONNECTION', `malformed c= line "c=${value}"`, lineNo);
        // RFC 4566 §5.7 allows FQDNs, but if it looks like an IP literal it must match its addrtype.
        const address = c[3]!.split('/')[0]!;
        const family = isIP(address);
        if ((c[2] === 'IP4' && family === 6) || (c[2] === 'IP6' && family === 4)) {
          throw new SdpError('SDP_ERR_BAD_CONNECTION', `c= address "${address}" does not match ${c[2]}`, lineNo);
        }
        if (inMedia) media[media.length - 1]!.connection = true;
        else sessionConnection = true;
        break;
      }
      case 'm': {
        const mm = MEDIA.exec(value);
        if (!mm) {
          throw new SdpError('SDP_ERR_BAD_MEDIA', `malformed m= line "m=${value}", expected <media> <port> <proto> <fmt> ...`, lineNo);
        }
        const pm = PORT.exec(mm[2]!);
        const port = pm ? Number(pm[1]) : NaN;
        if (!pm || port > 65535 || (pm[2] !== undefined && Number(pm[2]) < 1)) {
          throw new SdpError('SDP_ERR_BAD_PORT', `bad port "${mm[2]}" in m= line`, lineNo);
        }
        if (isRtpProto(mm[3]!)) {
          // RFC 3551 §3: RTP payload types are 7 bits.
          for (const fmt of mm[4]!.trim().split(/ +/)) {
            if (!/^\d{1,3}$/.test(fmt) || Number(fmt) > 127) {
              throw new SdpError('SDP_ERR_BAD_MEDIA', `bad RTP payload type "${fmt}" in m= line`, lineNo);
            }
          }
        }
        inMedia = true;
        mediaIsAudio = mm[1] === 'audio';
        mediaCount += 1;
        media.push({ port, connection: false, line: lineNo });
        break;
      }
      case 'a':
        // RFC 3264 §6: a media stream we will refuse (port 0) need not be understood, so a
        // malformed rtpmap there (RFC 4475 esc01: `a=rtpmap:31 LPC` under m=video) is tolerated.
        if (!inMedia || mediaIsAudio || !value.startsWith('rtpmap:')) validateAttribute(value, lineNo);
        break;
      default:
        // i=, u=, e=, p=, b=, z=, k=, r= — syntax is free-form enough for sdp-transform.
        break;
    }
  });

  if (!seenOrigin) throw new SdpError('SDP_ERR_NO_ORIGIN', 'SDP has no o= line');
  if (!seenSessionName) throw new SdpError('SDP_ERR_NO_SESSION_NAME', 'SDP has no s= line');
  if (!seenTiming) throw new SdpError('SDP_ERR_NO_TIMING', 'SDP has no t= line');
  if (mediaCount === 0 && !options.allowNoMedia) throw new SdpError('SDP_ERR_NO_MEDIA', 'SDP has no m= line');
  // RFC 4566 §5.7: every media section needs a c= either at session level or its own.
  // A rejected stream (port 0, RFC 3264 §6) carries no media and so is exempt.
  for (const md of media) {
    if (md.port !== 0 && !md.connection && !sessionConnection) {
      throw new SdpError('SDP_ERR_NO_CONNECTION', 'media section has no c= line and there is no session-level c=', md.line);
    }
  }
}

function validateAttribute(value: string, lineNo: number): void {
  if (value.startsWith('rtpmap:')) {
    const m = RTPMAP.exec(value);
    if (!m || Number(m[1]) > 127 || Number(m[3]) === 0) {
      throw new SdpError('SDP_ERR_BAD_ATTRIBUTE', `malformed "a=${value}", expected rtpmap:<pt> <name>/<rate>[/<params>]`, lineNo);
    }
  } else if (value.startsWith('fmtp:')) {
    if (!FMTP.test(value)) throw new SdpError('SDP_ERR_BAD_ATTRIBUTE', `malformed "a=${value}"`, lineNo);
  } else if (value.startsWith('ptime:') || value.startsWith('maxptime:')) {
    const m = PTIME.exec(value);
    if (!m || Number(m[2]) <= 0) throw new SdpError('SDP_ERR_BAD_ATTRIBUTE', `malformed "a=${value}"`, lineNo);
  }
}

function splitLines(text: string): string[] {
  // RFC 4566 §5: CRLF is mandated, but parsers SHOULD accept a bare LF too.
  // Blank lines (typically a trailing one) are tolerated.
  return text.split(/\r\n|\n|\r/).filter((l) => l.trim() !== '');
}

function toConnection(c: { version: number; ip: string } | undefined): ConnectionData | undefined {
  if (!c) return undefined;
  return { netType: 'IN', addressType: c.version === 6 ? 'IP6' : 'IP4', connectionAddress: String(c.ip) };
}

function extensionsOf(obj: object, modeled: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (!modeled.has(k) && v !== undefined) out[k] = v;
  return out;
}

/**
 * Parse and validate an SDP body (RFC 4566).
 *
 * @param text - The body of a SIP message (`application/sdp`); a Buffer is decoded as UTF-8 (RFC 4566 §5).
 * @throws {@link SdpError} for malformed SDP: missing v=/o=/s=/t=/m=, bad port, bad c=, bad rtpmap, ...
 */
export function parseSdp(text: string | Buffer, options: ParseSdpOptions = {}): SessionDescription {
  const source = typeof text === 'string' ? text : text.toString('utf8');
  const lines = splitLines(source);
  validateLines(lines, options);

  // sdp-transform's m= grammar has no `<port>/<number of ports>` form: strip the
  // suffix before handing it over and restore it on our model afterwards.
  const numberOfPorts: (number | undefined)[] = [];
  const normalized = lines.map((l) => {
    if (!l.startsWith('m=')) return l;
    const parts = l.split(' ');
    const [port, count] = parts[1]!.split('/');
    numberOfPorts.push(count === undefined ? undefined : Number(count));
    parts[1] = port!;
    return parts.join(' ');
  });

  const parsed = transformParse(normalized.join('\r\n') + '\r\n');
  const originLine = lines.find((l) => l.startsWith('o='))!;
  const o = ORIGIN.exec(originLine.slice(2))!;

  const sd: SessionDescription = {
    version: 0,
    origin: {
      username: o[1]!,
      // Taken from the raw line: sdp-transform coerces to Number, which loses precision above 2^53.
      sessionId: o[2]!,
      sessionVersion: o[3]!,
      netType: 'IN',
      addressType: o[5] as AddressType,
      unicastAddress: o[6]!,
    },
    sessionName: typeof parsed.name === 'string' ? parsed.name : String(parsed.name ?? ''),
    timing: { startTime: Number(parsed.timing.start), stopTime: Number(parsed.timing.stop) },
    mediaDescriptions: parsed.media.map((m, i) => toMediaDescription(m, numberOfPorts[i])),
    extensions: extensionsOf(parsed, SESSION_KEYS),
  };
  const connection = toConnection(parsed.connection);
  if (connection) sd.connection = connection;
  if (isMediaDirection(parsed.direction)) sd.direction = parsed.direction;
  return sd;
}

function toMediaDescription(m: TransformMediaDescription, numberOfPorts: number | undefined): MediaDescription {
  const md: MediaDescription = {
    media: m.type,
    port: Number(m.port),
    proto: m.protocol,
    // sdp-transform turns a single-format list into a number.
    formats: String(m.payloads ?? '').trim().split(/ +/).filter((f) => f !== ''),
    rtpmaps: (m.rtp ?? []).map((r) => {
      const map: RtpMap = { payloadType: Number(r.payload), encodingName: String(r.codec), clockRate: Number(r.rate) };
      if (r.encoding !== undefined) map.encodingParameters = Number(r.encoding);
      return map;
    }),
    fmtps: (m.fmtp ?? []).map((f) => ({ payloadType: Number(f.payload), parameters: String(f.config) })),
    extensions: extensionsOf(m, MEDIA_KEYS),
  };
  if (numberOfPorts !== undefined) md.numberOfPorts = numberOfPorts;
  const connection = toConnection(m.connection);
  if (connection) md.connection = connection;
  if (m.ptime !== undefined) md.ptime = Number(m.ptime);
  if (m.maxptime !== undefined) md.maxptime = Number(m.maxptime);
  if (isMediaDirection(m.direction)) md.direction = m.direction;
  return md;
}

function fromConnection(c: ConnectionData): { version: number; ip: string } {
  return { version: c.addressType === 'IP6' ? 6 : 4, ip: c.connectionAddress };
}

function originLine(o: Origin): string {
  return `o=${o.username} ${o.sessionId} ${o.sessionVersion} ${o.netType} ${o.addressType} ${o.unicastAddress}`;
}

function mediaLine(md: MediaDescription): string {
  const port = md.numberOfPorts === undefined ? String(md.port) : `${md.port}/${md.numberOfPorts}`;
  return `m=${md.media} ${port} ${md.proto} ${md.formats.join(' ')}`;
}

/**
 * Serialize a {@link SessionDescription} to SDP text with CRLF line ends
 * (RFC 4566 §5), in the field order RFC 4566 mandates.
 *
 * @throws {@link SdpError} 'SDP_ERR_BAD_MEDIA' / 'SDP_ERR_BAD_PORT' if the model could not be re-parsed.
 */
export function serializeSdp(sd: SessionDescription): string {
  for (const md of sd.mediaDescriptions) {
    if (!Number.isInteger(md.port) || md.port < 0 || md.port > 65535) {
      throw new SdpError('SDP_ERR_BAD_PORT', `bad port ${md.port} for m=${md.media}`);
    }
    // RFC 4566 §5.14: at least one <fmt> is required, even on a rejected stream.
    if (md.formats.length === 0) throw new SdpError('SDP_ERR_BAD_MEDIA', `m=${md.media} has no formats`);
  }
  const session = {
    ...sd.extensions,
    version: 0,
    origin: {
      username: sd.origin.username,
      sessionId: sd.origin.sessionId,
      sessionVersion: 0, // rewritten below, see originLine()
      netType: sd.origin.netType,
      ipVer: sd.origin.addressType === 'IP6' ? 6 : 4,
      address: sd.origin.unicastAddress,
    },
    // RFC 4566 §5.3: s= must not be empty; "s= " is the prescribed filler.
    name: sd.sessionName === '' ? ' ' : sd.sessionName,
    timing: { start: sd.timing.startTime, stop: sd.timing.stopTime },
    ...(sd.connection ? { connection: fromConnection(sd.connection) } : {}),
    ...(sd.direction ? { direction: sd.direction } : {}),
    media: sd.mediaDescriptions.map((md) => ({
      ...md.extensions,
      type: md.media,
      port: md.port,
      protocol: md.proto,
      payloads: md.formats.join(' '),
      ...(md.connection ? { connection: fromConnection(md.connection) } : {}),
      rtp: md.rtpmaps.map((r) => ({
        payload: r.payloadType,
        codec: r.encodingName,
        rate: r.clockRate,
        ...(r.encodingParameters !== undefined ? { encoding: r.encodingParameters } : {}),
      })),
      fmtp: md.fmtps.map((f) => ({ payload: f.payloadType, config: f.parameters })),
      ...(md.ptime !== undefined ? { ptime: md.ptime } : {}),
      ...(md.maxptime !== undefined ? { maxptime: md.maxptime } : {}),
      ...(md.direction ? { direction: md.direction } : {}),
    })),
  } as unknown as TransformSessionDescription;

  const lines = transformWrite(session).split('\r\n');
  // sdp-transform formats o= numbers with %d (precision loss above 2^53) and
  // cannot write `<port>/<number of ports>`: emit those two line types ourselves.
  let mediaIndex = 0;
  const out = lines.map((l) => {
    if (l.startsWith('o=')) return originLine(sd.origin);
    if (l.startsWith('m=')) return mediaLine(sd.mediaDescriptions[mediaIndex++]!);
    return l;
  });
  return out.join('\r\n');
}

/** Effective direction of a media section: media level, else session level, else sendrecv (RFC 4566 §6). */
export function effectiveDirection(sd: SessionDescription, md: MediaDescription): MediaDirection {
  return md.direction ?? sd.direction ?? 'sendrecv';
}

/** Effective c= of a media section: media level overrides session level (RFC 4566 §5.7). */
export function effectiveConnection(sd: SessionDescription, md: MediaDescription): ConnectionData | undefined {
  return md.connection ?? sd.connection;
}
