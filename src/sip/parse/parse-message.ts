/**
 * One-pass scanner: start line, header lines, body framing.
 *
 * @remarks Layer 1 (`sip/`). No regex and no per-header string on the hot path: the bytes
 * before the body are decoded once as latin1 (string offsets = byte offsets), lines are found
 * with `String.indexOf`, and every header line is checked (token name, colon, RFC 3261 §7.3.1)
 * while scanning. Only the routing headers are recorded: recognised by their bytes, the value
 * range of the first line of each goes into a fixed slot. The offsets of the other lines are
 * worked out when someone first looks one up by name (see indexHeaderLines); values stay as
 * offsets until someone asks.
 */
import { SipParseError } from '../errors.js';
import {
  F_CALLID, F_CL, F_CONTACT, F_CSEQ, F_FROM, F_MAXFWD, F_TO, F_VIA, R_DUP, R_FOLD, internMethod,
} from '../message/header-names.js';
import { TOKEN } from '../headers/params.js';
import { SipRequest } from '../message/sip-request.js';
import { SipResponse } from '../message/sip-response.js';
import { DEFAULT_LIMITS, type ParserLimits } from './limits.js';

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;

// Module-local copies: reads of imported bindings are slower in the hot loop.
const TOK: Uint8Array = TOKEN.slice();

type Latin1 = { latin1Slice(start: number, end: number): string };

/** Messages up to this size are decoded whole; larger ones only up to the first empty line. */
const WHOLE_TEXT_MAX = 4096;
const LF_CRLF = Buffer.from('\n\r\n', 'latin1');
const LF_LF = Buffer.from('\n\n', 'latin1');

export interface ParseOptions {
  /**
   * `datagram` (default): a missing Content-Length means the body is the rest of the datagram
   * and trailing octets past Content-Length are ignored (RFC 3261 §18.3, RFC 4475 §3.1.1.8).
   * `stream`: the framer has already cut the message, Content-Length is mandatory.
   */
  framing?: 'datagram' | 'stream';
  limits?: ParserLimits;
}

/** Four bytes at `p` as a little-endian int32. */
function w32(b: Uint8Array, p: number): number {
  return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
}

/*
 * Routing header names as little-endian words: `(word | mask) === value`, where the mask folds
 * the case of the letter positions only (so a CR can never pass for a `-`).
 */

/**
 * The routing slot of a header name of 1–3 token bytes at `p` (any case, compact forms
 * included), or -1. `| 0x20` folds only the letter cases among token characters.
 */
function shortSlot(b: Uint8Array, p: number, nl: number): number {
  const c0 = b[p]! | 0x20;
  if (nl === 1) {
    return c0 === 0x76 ? F_VIA : c0 === 0x66 ? F_FROM : c0 === 0x74 ? F_TO : c0 === 0x69 ? F_CALLID
      : c0 === 0x6d ? F_CONTACT : c0 === 0x6c ? F_CL : -1;
  }
  if (nl === 2) return c0 === 0x74 && (b[p + 1]! | 0x20) === 0x6f ? F_TO : -1;
  return c0 === 0x76 && (b[p + 1]! | 0x20) === 0x69 && (b[p + 2]! | 0x20) === 0x61 ? F_VIA : -1;
}

/**
 * The routing slot of a header name of 4–14 token bytes at `p` (any case), or -1: compared in
 * full, four bytes at a time.
 */
function longSlot(b: Uint8Array, p: number, nl: number): number {
  const w = w32(b, p) | 0x20202020;
  switch (nl) {
    case 4:
      return w === 0x6d6f7266 ? F_FROM : w === 0x71657363 ? F_CSEQ : -1;
    case 7:
      if (w === 0x6c6c6163) return (w32(b, p + 3) | 0x20200020) === 0x64692d6c ? F_CALLID : -1;
      return w === 0x746e6f63 && (w32(b, p + 3) | 0x20202020) === 0x74636174 ? F_CONTACT : -1;
    case 12:
      // "max-": the `-` is compared exactly.
      return (w32(b, p) | 0x00202020) === 0x2d78616d && (w32(b, p + 4) | 0x20202020) === 0x77726f66 &&
        (w32(b, p + 8) | 0x20202020) === 0x73647261 ? F_MAXFWD : -1;
    case 14:
      return w === 0x746e6f63 && (w32(b, p + 4) | 0x00202020) === 0x2d746e65 &&
        (w32(b, p + 8) | 0x20202020) === 0x676e656c && (w32(b, p + 10) | 0x20202020) === 0x6874676e ? F_CL : -1;
    default:
      return -1;
  }
}

/**
 * 1 for the first letters of the routing header names and their compact forms (v f t i l m c,
 * RFC 3261 §7.3.3, any case): the other lines skip the call to {@link routingNameColon}.
 */
const ROUTING_INITIAL: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (const ch of 'vftilmc') t[ch.charCodeAt(0)] = t[ch.toUpperCase().charCodeAt(0)] = 1;
  return t;
})();

/*
 * Results of {@link routingNameColon}: `slot << 4 | name length`, as constants so the compiled
 * scanner needs no call to build them.
 */
const VIA_1 = (F_VIA << 4) | 1;
const VIA_3 = (F_VIA << 4) | 3;
const FROM_1 = (F_FROM << 4) | 1;
const FROM_4 = (F_FROM << 4) | 4;
const TO_1 = (F_TO << 4) | 1;
const TO_2 = (F_TO << 4) | 2;
const CALLID_1 = (F_CALLID << 4) | 1;
const CALLID_7 = (F_CALLID << 4) | 7;
const CSEQ_4 = (F_CSEQ << 4) | 4;
const MAXFWD_12 = (F_MAXFWD << 4) | 12;
const CONTACT_1 = (F_CONTACT << 4) | 1;
const CONTACT_7 = (F_CONTACT << 4) | 7;
const CL_1 = (F_CL << 4) | 1;
const CL_14 = (F_CL << 4) | 14;

/**
 * The common spelling of a routing header: its name (any case, compact forms included,
 * RFC 3261 §7.3.1, §7.3.3) followed at once by the colon. Returns `slot << 4 | name length`,
 * or -1 for anything else, which the general scan then handles (token check, blanks before the
 * colon). Every byte compared is a letter, `-` or `:`, so a match is a valid token name and
 * needs no per-byte token check. `| 0x20` is applied to letter positions only, where it folds
 * the case and nothing else (CR, LF and `:` never turn into a letter). Reads past the line
 * compare unequal; past the buffer they read as undefined, which compares unequal too.
 * Four-byte words are read inline rather than through {@link w32}: V8 does not inline w32 into
 * a function this large, and those calls cost about 1.4% of a parse (callgrind count).
 */
function routingNameColon(b: Uint8Array, p: number): number {
  const c1 = b[p + 1]!;
  switch (b[p]! | 0x20) {
    case 0x76: // v, Via
      if (c1 === COLON) return VIA_1;
      return (c1 | 0x20) === 0x69 && (b[p + 2]! | 0x20) === 0x61 && b[p + 3] === COLON ? VIA_3 : -1;
    case 0x66: // f, From
      if (c1 === COLON) return FROM_1;
      return (c1 | 0x20) === 0x72 && (b[p + 2]! | 0x20) === 0x6f && (b[p + 3]! | 0x20) === 0x6d && b[p + 4] === COLON
        ? FROM_4 : -1;
    case 0x74: // t, To
      if (c1 === COLON) return TO_1;
      return (c1 | 0x20) === 0x6f && b[p + 2] === COLON ? TO_2 : -1;
    case 0x69: // i, compact Call-ID
      return c1 === COLON ? CALLID_1 : -1;
    case 0x6c: // l, compact Content-Length
      return c1 === COLON ? CL_1 : -1;
    case 0x6d: // m (compact Contact), Max-Forwards
      if (c1 === COLON) return CONTACT_1;
      return b[p + 12] === COLON && (c1 | 0x20) === 0x61 && (b[p + 2]! | 0x20) === 0x78 && b[p + 3] === 0x2d &&
        ((b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24)) | 0x20202020) === 0x77726f66 &&
        ((b[p + 8]! | (b[p + 9]! << 8) | (b[p + 10]! << 16) | (b[p + 11]! << 24)) | 0x20202020) === 0x73647261 ? MAXFWD_12 : -1;
    case 0x63: { // Call-ID, CSeq, Contact, Content-Length (compact `c` is Content-Type)
      switch (c1 | 0x20) {
        case 0x73: // CSeq
          return (b[p + 2]! | 0x20) === 0x65 && (b[p + 3]! | 0x20) === 0x71 && b[p + 4] === COLON ? CSEQ_4 : -1;
        case 0x61: // Call-ID
          return b[p + 7] === COLON && (b[p + 2]! | 0x20) === 0x6c && (b[p + 3]! | 0x20) === 0x6c && b[p + 4] === 0x2d &&
            (b[p + 5]! | 0x20) === 0x69 && (b[p + 6]! | 0x20) === 0x64 ? CALLID_7 : -1;
        case 0x6f: // Contact, Content-Length: "cont" then "act:" or "ent-length:"
          if (((b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) | 0x20202020) !== 0x746e6f63) return -1;
          if (b[p + 7] === COLON) return (b[p + 4]! | 0x20) === 0x61 && (b[p + 5]! | 0x20) === 0x63 && (b[p + 6]! | 0x20) === 0x74 ? CONTACT_7 : -1;
          return b[p + 14] === COLON &&
            ((b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24)) | 0x00202020) === 0x2d746e65 &&
            ((b[p + 8]! | (b[p + 9]! << 8) | (b[p + 10]! << 16) | (b[p + 11]! << 24)) | 0x20202020) === 0x676e656c &&
            (b[p + 12]! | 0x20) === 0x74 && (b[p + 13]! | 0x20) === 0x68 ? CL_14 : -1;
        default:
          return -1;
      }
    }
    default:
      return -1;
  }
}

/** End of the line whose line feed is at `eol` (or the buffer end), its CR left out. */
function withoutCr(buf: Buffer, from: number, eol: number): number {
  return eol > from && buf[eol - 1] === CR ? eol - 1 : eol;
}

/** `e` moved back over trailing blanks (SP, HTAB), never before `s`. */
function trimEnd(buf: Buffer, s: number, e: number): number {
  while (e > s && (buf[e - 1] === SP || buf[e - 1] === HT)) e--;
  return e;
}

/**
 * Parses one SIP message from a Buffer.
 * @throws SipParseError with a stable code, the status to answer with, and the field.
 */
export function parseMessage(buf: Buffer, options?: ParseOptions): SipRequest | SipResponse {
  // Tables as locals: the compiled loops then keep them in registers instead of reloading them per byte.
  const tok = TOK, routingInitial = ROUTING_INITIAL;
  const limits = options?.limits ?? DEFAULT_LIMITS;
  const len = buf.length | 0; // `| 0`: a typed array length is a float64 to the JIT; offsets derived from it would be too.
  if (len > limits.maxMessageSize) {
    throw new SipParseError('SIP_ERR_TOO_LARGE', 513, 'message', 'Message Too Large');
  }
  let pos = 0;
  // RFC 3261 §7.5: ignore CRLFs before the start line.
  while (pos < len && (buf[pos] === CR || buf[pos] === LF)) pos++;
  if (pos >= len) throw new SipParseError('SIP_ERR_EMPTY', 400, 'message', 'Empty message');

  // The text the scanner searches: it holds at least every line up to the empty one.
  let textEnd = len;
  if (len > WHOLE_TEXT_MAX) {
    const a = buf.indexOf(LF_CRLF, pos);
    const b = buf.indexOf(LF_LF, pos);
    if (a >= 0 && (b < 0 || a < b)) textEnd = a + 3;
    else if (b >= 0) textEnd = b + 2;
  }
  const text = (buf as unknown as Latin1).latin1Slice(0, textEnd);

  let lineEnd = text.indexOf('\n', pos);
  if (lineEnd < 0) throw new SipParseError('SIP_ERR_NO_HEADER_END', 400, 'start-line', 'No end of start line');
  const slEnd = withoutCr(buf, pos, lineEnd);

  // Header lines. Each is checked here; the routing headers are recognised by their bytes and
  // the value of the first line of each is recorded in its slot (no later search). Other lines
  // are indexed only when someone looks one up by name (indexHeaderLines).
  const routing = [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 0];
  const headersStart = lineEnd + 1;
  let p = headersStart;
  let bodyStart = -1;
  let clValueStart = -1;
  let clValueEnd = -1;
  let clCount = 0;
  let clConflict = false;
  let dup = 0;
  let folded = 0;
  let lines = 0;
  // The last header line (a continuation line extends it): its value range and routing slot
  // when its value was recorded. For other lines the value range is worked out only when a
  // continuation line follows (lastValueStart -1): then from `lastColon` (just past its
  // colon) and `lastEol` (its line feed).
  let lastValueStart = -1;
  let lastValueEnd = -1;
  let lastSlot = -1;
  let lastColon = -1;
  let lastEol = -1;
  const maxHeaders = limits.maxHeaders;
  while (p < len) {
    const c = buf[p]!;
    if (c <= SP) {
      // One compare for the common line; the rare first bytes are sorted out here.
      if (c === CR && buf[p + 1] === LF) {
        bodyStart = p + 2;
        break;
      }
      if (c === LF) {
        bodyStart = p + 1;
        break;
      }
      if (c === SP || c === HT) {
        // RFC 3261 §7.3.1: a continuation line extends the previous header value.
        if (lines === 0) throw new SipParseError('SIP_ERR_HEADER_LINE', 400, 'header', 'Continuation line before any header');
        let eol = text.indexOf('\n', p);
        if (eol < 0) eol = len;
        const vEnd = trimEnd(buf, p, withoutCr(buf, p, eol));
        if (lastValueStart < 0) {
          // The previous line's value, trimmed, as the routing lines record it below.
          let s = lastColon;
          while (buf[s] === SP || buf[s] === HT) s++;
          lastValueStart = s;
          lastValueEnd = trimEnd(buf, s, withoutCr(buf, lastColon, lastEol));
        }
        if (vEnd > p) {
          if (lastValueStart === lastValueEnd) {
            // Previous value was empty: start it at the first non-blank of this line.
            let s = p;
            while (s < vEnd && (buf[s] === SP || buf[s] === HT)) s++;
            lastValueStart = s;
          } else folded = 1;
          lastValueEnd = vEnd;
          if (lastSlot >= 0) {
            routing[2 * lastSlot] = lastValueStart;
            routing[2 * lastSlot + 1] = lastValueEnd;
          }
        }
        p = eol + 1;
        continue;
      }
    }
    let eol = text.indexOf('\n', p);
    if (eol < 0) eol = len;
    let nameEnd: number;
    let q: number;
    let slot = -1;
    const known = routingInitial[c] === 1 ? routingNameColon(buf, p) : -1;
    if (known >= 0) {
      // A routing header spelled `Name:`: recognised in one go, no per-byte token check.
      slot = known >> 4;
      nameEnd = p + (known & 15);
      q = nameEnd;
    } else {
      // Header name: token chars.
      q = p;
      let b = c;
      if (eol < len) {
        // buf[eol] is LF, not a token char: the loop needs no bounds check.
        // Four bytes per step while all are token chars: a quarter of the loop checks per
        // name byte. The step stays inside the line: a read past the buffer would give
        // undefined, and one such key turns the table loads into slow generic ones for good.
        while (q + 4 <= eol && (tok[buf[q + 1]!]! & tok[buf[q + 2]!]! & tok[buf[q + 3]!]! & tok[b]!) === 1) b = buf[q += 4]!;
        while (tok[b] === 1) b = buf[++q]!;
      } else {
        const vEnd = withoutCr(buf, p, eol);
        while (tok[b] === 1) {
          if (++q >= vEnd) break;
          b = buf[q]!;
        }
      }
      nameEnd = q;
      // A colon read here lies before the line end (`b` is only read below it, and the byte
      // before a line feed that is a colon is not the CR of the line break).
      if (b !== COLON) {
        const vEnd = withoutCr(buf, p, eol);
        if (q < vEnd) {
          if (b !== SP && b !== HT) throw badHeaderName(buf, p, eol, 'Invalid character in header name');
          while (q < vEnd && (buf[q] === SP || buf[q] === HT)) q++;
        }
        if (q >= vEnd || buf[q] !== COLON) throw badHeaderName(buf, p, eol, 'Header line without a colon');
        // Blanks before the colon (RFC 3261 §7.3.1 allows them): routing names spelled this
        // way are recognised here; without blanks routingNameColon has already seen them.
        const nl = nameEnd - p;
        // Lengths of the routing names: 1, 2, 3 (compact forms, To, Via), 4, 7, 12, 14.
        if (nl <= 14 && ((1 << nl) & 0x509e) !== 0) slot = nl < 4 ? shortSlot(buf, p, nl) : longSlot(buf, p, nl);
      }
      if (nameEnd === p) throw badHeaderName(buf, p, eol, 'Header line without a colon');
    }
    q++;
    if (lines >= maxHeaders) {
      throw new SipParseError('SIP_ERR_HEADER_COUNT', 400, 'header', 'Too many header fields');
    }
    lines++;
    lastSlot = -1;
    if (slot < 0) {
      // Not a routing header: its value is not needed unless a continuation line follows.
      lastValueStart = -1;
      lastColon = q;
      lastEol = eol;
      p = eol + 1;
      continue;
    }
    // Blanks after the colon. No bound needed: the byte at the line end is CR, LF or past the
    // buffer, not a blank.
    while (buf[q] === SP || buf[q] === HT) q++;
    const ve = trimEnd(buf, q, withoutCr(buf, p, eol));
    lastValueStart = q;
    lastValueEnd = ve;
    if (routing[2 * slot]! < 0) {
      routing[2 * slot] = q;
      routing[2 * slot + 1] = ve;
      lastSlot = slot;
    } else dup |= 1 << slot;
    if (slot === F_CL) {
      if (clCount > 0 && !sameBytes(buf, clValueStart, clValueEnd, q, ve)) clConflict = true;
      clValueStart = q;
      clValueEnd = ve;
      clCount++;
    }
    p = eol + 1;
  }
  routing[R_DUP] = dup;
  routing[R_FOLD] = folded;

  // Body framing (RFC 3261 §18.3).
  const framing = options?.framing ?? 'datagram';
  let bodyEnd: number;
  if (bodyStart < 0) {
    // No empty line: datagram ends the header section (tolerated, RFC 4475 baddn note).
    if (framing === 'stream') throw new SipParseError('SIP_ERR_NO_HEADER_END', 400, 'message', 'No empty line after the headers');
    bodyStart = len;
  }
  if (clCount > 0) {
    if (clConflict) throw new SipParseError('SIP_ERR_CONTENT_LENGTH', 400, 'Content-Length', 'Conflicting Content-Length values');
    const cl = parseContentLength(buf, clValueStart, clValueEnd);
    bodyEnd = bodyStart + cl;
    if (bodyEnd > len) {
      throw new SipParseError('SIP_ERR_BODY_TRUNCATED', 400, 'Content-Length', 'Content-Length larger than the body');
    }
  } else {
    if (framing === 'stream') throw new SipParseError('SIP_ERR_CONTENT_LENGTH', 400, 'Content-Length', 'Missing Content-Length on a stream');
    bodyEnd = len;
  }

  // Start line (RFC 3261 §7.1, §7.2): exactly single SP separators.
  if (buf[pos] === 0x53 && buf[pos + 1] === 0x49 && buf[pos + 2] === 0x50 && buf[pos + 3] === 0x2f) {
    const sp1 = text.indexOf(' ', pos);
    if (sp1 < 0 || sp1 > slEnd) throw new SipParseError('SIP_ERR_START_LINE', 400, 'start-line', 'Malformed Status-Line');
    if (!isVersion20(buf, pos, sp1)) throw new SipParseError('SIP_ERR_VERSION', 505, 'start-line', 'Version Not Supported');
    const codeStart = sp1 + 1;
    let codeEnd = codeStart;
    while (codeEnd < slEnd && buf[codeEnd]! >= 0x30 && buf[codeEnd]! <= 0x39) codeEnd++;
    if (codeEnd - codeStart !== 3 || (codeEnd < slEnd && buf[codeEnd] !== SP)) {
      throw new SipParseError('SIP_ERR_STATUS_CODE', 400, 'start-line', 'Status code is not three digits');
    }
    const status = (buf[codeStart]! - 0x30) * 100 + (buf[codeStart + 1]! - 0x30) * 10 + (buf[codeStart + 2]! - 0x30);
    if (status < 100 || status > 699) throw new SipParseError('SIP_ERR_STATUS_CODE', 400, 'start-line', 'Status code out of range');
    // The reason phrase is decoded on first access.
    const reasonStart = codeEnd < slEnd ? codeEnd + 1 : slEnd;
    return new SipResponse(buf, routing, headersStart, bodyStart, bodyEnd, status, reasonStart, slEnd, text);
  }
  // Method SP: the token scan finds the first SP (the line ends in LF, not a token char).
  let sp1 = pos;
  while (tok[buf[sp1]!] === 1) sp1++;
  if (buf[sp1] !== SP || sp1 === pos || sp1 >= slEnd) {
    // Not `token SP`: the general checks say which error it is.
    sp1 = text.indexOf(' ', pos);
    if (sp1 < 0 || sp1 >= slEnd || sp1 === pos) throw new SipParseError('SIP_ERR_START_LINE', 400, 'start-line', 'Malformed Request-Line');
    for (let i = pos; i < sp1; i++) {
      if (tok[buf[i]!] !== 1) throw new SipParseError('SIP_ERR_METHOD', 400, 'start-line', 'Method is not a token');
    }
  }
  const sp2 = text.indexOf(' ', sp1 + 1);
  if (sp2 < 0 || sp2 >= slEnd || sp2 === sp1 + 1) {
    throw new SipParseError('SIP_ERR_START_LINE', 400, 'start-line', 'Malformed Request-Line');
  }
  // The common tail, exactly `SIP/2.0` after the second SP, holds no third SP: no search.
  if (slEnd - sp2 !== 8 || !isSip20(buf, sp2 + 1)) {
    const sp3 = text.indexOf(' ', sp2 + 1);
    if (sp3 >= 0 && sp3 < slEnd) {
      // RFC 4475 §3.1.2.8-10: LWS inside the Request-URI, extra or trailing SP.
      throw new SipParseError('SIP_ERR_START_LINE', 400, 'start-line', 'Extra whitespace in the Request-Line');
    }
    if (!isVersion20(buf, sp2 + 1, slEnd)) {
      throw new SipParseError('SIP_ERR_VERSION', 505, 'start-line', 'Version Not Supported');
    }
  }
  if (buf[sp1 + 1] === 0x3c) {
    throw new SipParseError('SIP_ERR_REQUEST_URI', 400, 'Request-URI', 'Request-URI enclosed in <>');
  }
  const method = internMethod(buf, pos, sp1) ?? text.slice(pos, sp1);
  // The Request-URI text is decoded on first access.
  return new SipRequest(buf, routing, headersStart, bodyStart, bodyEnd, method, sp1 + 1, sp2, text);
}

/** The seven bytes at `s` spell `SIP/2.0`, the token in any case (RFC 3261 §7.1). */
function isSip20(buf: Buffer, s: number): boolean {
  return (buf[s]! | 0x20) === 0x73 && (buf[s + 1]! | 0x20) === 0x69 && (buf[s + 2]! | 0x20) === 0x70 &&
    buf[s + 3] === 0x2f && buf[s + 4] === 0x32 && buf[s + 5] === 0x2e && buf[s + 6] === 0x30;
}

function isVersion20(buf: Buffer, s: number, e: number): boolean {
  // "SIP/2.0", the token compared case-insensitively (RFC 3261 §7.1).
  if (e - s !== 7) {
    if (e - s >= 4 && (buf[s]! | 0x20) === 0x73 && (buf[s + 1]! | 0x20) === 0x69 && (buf[s + 2]! | 0x20) === 0x70 && buf[s + 3] === 0x2f) return false;
    throw new SipParseError('SIP_ERR_START_LINE', 400, 'start-line', 'Malformed SIP-Version');
  }
  if (isSip20(buf, s)) return true;
  if ((buf[s]! | 0x20) === 0x73 && (buf[s + 1]! | 0x20) === 0x69 && (buf[s + 2]! | 0x20) === 0x70 && buf[s + 3] === 0x2f) return false;
  throw new SipParseError('SIP_ERR_START_LINE', 400, 'start-line', 'Malformed SIP-Version');
}

function sameBytes(buf: Buffer, a: number, ae: number, b: number, be: number): boolean {
  if (ae - a !== be - b) return false;
  for (let i = 0; i < ae - a; i++) if (buf[a + i] !== buf[b + i]) return false;
  return true;
}

/** Content-Length: 1*DIGIT (RFC 3261 §20.14); negative or non-numeric is a framing error. */
export function parseContentLength(buf: Buffer, s: number, e: number): number {
  if (e <= s || e - s > 9) throw new SipParseError('SIP_ERR_CONTENT_LENGTH', 400, 'Content-Length', 'Invalid Content-Length');
  let n = 0;
  for (let i = s; i < e; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) throw new SipParseError('SIP_ERR_CONTENT_LENGTH', 400, 'Content-Length', 'Invalid Content-Length');
    n = n * 10 + d;
  }
  return n;
}


/**
 * A header line whose name is not a token followed by a colon (RFC 3261 §7.3.1). The reason
 * phrase quotes the start of the line (printable ASCII, bounded) so the sender sees which one.
 */
function badHeaderName(buf: Uint8Array, p: number, eol: number, what: string): SipParseError {
  let name = '';
  for (let i = p; i < eol && name.length < 32; i++) {
    const c = buf[i]!;
    if (c === COLON || c === 0x0d) break;
    name += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '?';
  }
  return new SipParseError('SIP_ERR_HEADER_LINE', 400, 'header', `${what}: '${name.trim()}'`);
}
