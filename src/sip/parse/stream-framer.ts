/**
 * Frames SIP messages on a byte stream (TCP, TLS) by Content-Length (RFC 3261 §18.3).
 *
 * @remarks Layer 1 (`sip/`). Handles partial reads and pipelined messages; CRLF keep-alives
 * between messages are skipped, and a double-CRLF ping is reported so the transport can
 * answer with a single CRLF pong (RFC 5626 §3.5.1). A message without Content-Length, with
 * an unreadable one, or larger than the limit is a framing error: the caller must close the
 * connection, since there is no way to resynchronise.
 */
import { SipParseError } from '../errors.js';
import { hashNameBytes, H } from '../message/header-names.js';
import { DEFAULT_LIMITS } from './limits.js';
import { parseContentLength } from './parse-message.js';

const CRLFCRLF = Buffer.from('\r\n\r\n');
const L_HASH = hashNameBytes(Buffer.from('l'), 0, 1);

export type FrameEvent = { kind: 'message'; bytes: Buffer } | { kind: 'ping' };

export class StreamFramer {
  private buf: Buffer = Buffer.alloc(0);
  /** The buffer holds only a CR/LF tail (a possible split ping), no message bytes. */
  private heldCrlf = false;
  constructor(private readonly maxMessageSize: number = DEFAULT_LIMITS.maxMessageSize) {}

  /** Bytes held waiting for the rest of a message (a held CR/LF tail does not count). */
  get pending(): number {
    return this.heldCrlf ? 0 : this.buf.length;
  }

  /**
   * Feeds bytes; returns complete messages (and pings) in order.
   * @throws SipParseError on a framing error (status 400, or 513 when too large).
   */
  push(chunk: Buffer): FrameEvent[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.heldCrlf = false;
    const out: FrameEvent[] = [];
    for (;;) {
      // Keep-alives between messages (RFC 5626 §3.5.1): each CRLFCRLF is a ping, a lone CRLF
      // (a pong) is skipped. A CR/LF tail that may still become a ping (`\r`, `\r\n`,
      // `\r\n\r`) is held until more bytes arrive, so a ping split across reads is seen.
      let i = 0;
      const b = this.buf;
      while (i < b.length && (b[i] === 0x0d || b[i] === 0x0a)) i++;
      if (i > 0) {
        let k = 0;
        while (i - k >= 4 && b[k] === 0x0d && b[k + 1] === 0x0a && b[k + 2] === 0x0d && b[k + 3] === 0x0a) {
          out.push({ kind: 'ping' });
          k += 4;
        }
        if (i === b.length && i - k < 4 && isPingPrefix(b, k, i)) {
          this.buf = b.subarray(k);
          this.heldCrlf = true;
          break;
        }
        this.buf = b.subarray(i);
      }
      if (this.buf.length === 0) break;
      const hdrEnd = this.buf.indexOf(CRLFCRLF);
      if (hdrEnd < 0) {
        if (this.buf.length > this.maxMessageSize) {
          throw new SipParseError('SIP_ERR_TOO_LARGE', 513, 'message', 'Message Too Large');
        }
        break;
      }
      const cl = findContentLength(this.buf, hdrEnd);
      const total = hdrEnd + 4 + cl;
      if (total > this.maxMessageSize) throw new SipParseError('SIP_ERR_TOO_LARGE', 513, 'message', 'Message Too Large');
      if (this.buf.length < total) break;
      out.push({ kind: 'message', bytes: Buffer.from(this.buf.subarray(0, total)) });
      this.buf = this.buf.subarray(total);
    }
    if (this.buf.length === 0) this.buf = Buffer.alloc(0);
    return out;
  }
}

/** True when the bytes `[s, e)` are a proper prefix of CRLFCRLF. */
function isPingPrefix(b: Buffer, s: number, e: number): boolean {
  for (let j = s; j < e; j++) if (b[j] !== CRLFCRLF[j - s]) return false;
  return e > s;
}

function findContentLength(buf: Buffer, hdrEnd: number): number {
  let p = buf.indexOf(0x0a) + 1;
  let found = -1;
  while (p > 0 && p < hdrEnd) {
    let eol = buf.indexOf(0x0a, p);
    if (eol < 0 || eol > hdrEnd + 2) eol = hdrEnd + 2;
    let q = p;
    while (q < eol && buf[q] !== 0x3a && buf[q] !== 0x20 && buf[q] !== 0x09) q++;
    const h = hashNameBytes(buf, p, q);
    if (h === H.contentLength || h === L_HASH) {
      let s = buf.indexOf(0x3a, q) + 1;
      let e = eol > 0 && buf[eol - 1] === 0x0d ? eol - 1 : eol;
      while (s < e && (buf[s] === 0x20 || buf[s] === 0x09)) s++;
      while (e > s && (buf[e - 1] === 0x20 || buf[e - 1] === 0x09)) e--;
      const v = parseContentLength(buf, s, e);
      if (found >= 0 && found !== v) {
        throw new SipParseError('SIP_ERR_CONTENT_LENGTH', 400, 'Content-Length', 'Conflicting Content-Length values');
      }
      found = v;
    }
    p = eol + 1;
  }
  if (found < 0) throw new SipParseError('SIP_ERR_CONTENT_LENGTH', 400, 'Content-Length', 'Missing Content-Length on a stream');
  return found;
}
