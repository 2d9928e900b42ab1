/**
 * Forwarding by edit list (Kamailio's "lumps", `data_lump.h`): a proxy changes a handful of
 * lines of a request or response — a Via prepended or removed, Max-Forwards decremented, Route
 * entries popped, Record-Route added, the Request-URI rewritten (RFC 3261 §16.6, §16.7) — and
 * every other byte goes out exactly as it came in: header order, spelling, compact forms,
 * whitespace and unknown headers are what the next hop would have seen without us.
 *
 * @remarks Layer 1 (`sip/`). Works on a parsed {@link SipMessage}'s raw bytes and line index;
 * {@link EditList.toBuffer} makes one `Buffer.concat` of untouched slices and new lines.
 */
import type { SipMessage } from '../message/sip-message.js';
import { H } from '../message/header-names.js';

const CRLF = '\r\n';
const CRLF_BYTES = Buffer.from(CRLF);

/** True when `raw` ends in an empty line (LF LF, or LF CR LF). */
function endsWithEmptyLine(raw: Uint8Array): boolean {
  const n = raw.length;
  return (n >= 2 && raw[n - 1] === 0x0a && raw[n - 2] === 0x0a) || (n >= 3 && raw[n - 1] === 0x0a && raw[n - 2] === 0x0d && raw[n - 3] === 0x0a);
}

export class EditList {
  private startLine: string | undefined;
  private prepended = '';
  private appended = '';
  /** Header line number → its replacement (full lines, each ending in CRLF; '' deletes it). */
  private readonly lines = new Map<number, string>();
  /** A new body ({@link setBody}). */
  private body: Buffer | undefined;

  constructor(readonly message: SipMessage) {}

  /** Replaces the start line (Request-Line or Status-Line), given without its line break. */
  setStartLine(text: string): this {
    this.startLine = text;
    return this;
  }

  /** Adds a header line above the first one (a Via, a Record-Route: RFC 3261 §16.6 steps 4, 8). */
  prependHeader(name: string, value: string): this {
    this.prepended += `${name}: ${value}${CRLF}`;
    return this;
  }

  /** Adds a header line below the last one. */
  appendHeader(name: string, value: string): this {
    this.appended += `${name}: ${value}${CRLF}`;
    return this;
  }

  /** Removes header line `j` (with its continuation lines). */
  deleteLine(j: number): this {
    this.lines.set(j, '');
    return this;
  }

  /** Replaces header line `j` by `name: value`. */
  replaceLine(j: number, name: string, value: string): this {
    this.lines.set(j, `${name}: ${value}${CRLF}`);
    return this;
  }

  /**
   * Replaces the body (a media relay's rewritten SDP, RFC 3264) and the Content-Length lines
   * with its length; a message without one gets one (mandatory over a stream, §20.14).
   */
  setBody(body: Buffer): this {
    this.body = body;
    let seen = false;
    const n = this.message.headerCount;
    for (let j = 0; j < n; j++) {
      if (this.message.lineKey(j) !== H.contentLength) continue;
      if (seen) this.deleteLine(j);
      else this.replaceLine(j, 'Content-Length', String(body.length));
      seen = true;
    }
    if (!seen) this.appendHeader('Content-Length', String(body.length));
    return this;
  }

  /** The edited message: new text where something changed, the received bytes everywhere else. */
  toBuffer(): Buffer {
    const m = this.message;
    const raw = m.raw;
    const parts: Buffer[] = [];
    // Start line, then the prepended lines, as one piece.
    const first = m.headersStart;
    const head = this.startLine !== undefined ? `${this.startLine}${CRLF}${this.prepended}` : this.prepended;
    if (this.startLine === undefined) parts.push(raw.subarray(0, first));
    if (head.length > 0) parts.push(Buffer.from(head, 'utf8'));
    let cursor = first;
    const count = m.headerCount;
    if (this.lines.size > 0) {
      const edited = [...this.lines.keys()].sort((a, b) => a - b);
      for (const j of edited) {
        if (j < 0 || j >= count) continue;
        const s = m.lineStart(j);
        if (s > cursor) parts.push(raw.subarray(cursor, s));
        const text = this.lines.get(j)!;
        if (text.length > 0) parts.push(Buffer.from(text, 'utf8'));
        cursor = m.lineEnd(j);
      }
    }
    const headersEnd = count > 0 ? m.lineEnd(count - 1) : first;
    if (headersEnd > cursor) parts.push(raw.subarray(cursor, headersEnd));
    // A datagram may end in its last header line, without CRLF or empty line (parseMessage
    // tolerates it on UDP): what follows must not run on into that line.
    const last = parts[parts.length - 1];
    const unterminated = last !== undefined && last.length > 0 && last[last.length - 1] !== 0x0a;
    if (unterminated) parts.push(CRLF_BYTES);
    if (this.appended.length > 0) parts.push(Buffer.from(this.appended, 'utf8'));
    // The empty line and the body (bytes after Content-Length are not part of the message);
    // the empty line written when the received message had none.
    const tail = Math.max(headersEnd, cursor);
    if (tail >= m.bodyStart && m.bodyStart === raw.length && !endsWithEmptyLine(raw)) parts.push(CRLF_BYTES);
    if (this.body === undefined) parts.push(raw.subarray(tail, m.bodyEnd));
    else parts.push(raw.subarray(tail, Math.max(tail, m.bodyStart)), this.body);
    return Buffer.concat(parts);
  }
}

/**
 * End of the first comma-separated value in `raw[start, end)` (RFC 3261 §7.3.1: a comma outside
 * a quoted string separates values), or `end` when the line holds one value.
 */
export function firstValueEnd(raw: Uint8Array, start: number, end: number): number {
  let quoted = false;
  for (let i = start; i < end; i++) {
    const c = raw[i];
    if (quoted) {
      if (c === 0x5c) i++; // quoted-pair
      else if (c === 0x22) quoted = false;
    } else if (c === 0x22) quoted = true;
    else if (c === 0x2c) return i;
  }
  return end;
}
