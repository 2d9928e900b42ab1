/**
 * SipMessage: the received bytes, an index of header lines, and lazy accessors.
 *
 * @remarks Layer 1 (`sip/`). Built by {@link parseMessage}. Only the start line and the
 * header-line offsets are computed eagerly; each header value is decoded and parsed on first
 * access and cached (reSIProcate's LazyParser idea, Kamailio's `parse_headers` flags).
 */
import { type SipErrorCode, SipParseError } from '../errors.js';
import { type CSeq, MAX_SEQ, parseCSeq } from '../headers/cseq.js';
import { type NameAddr, parseNameAddr, parseNameAddrBytes, parseNameAddrList } from '../headers/name-addr.js';
import { isAscii } from 'node:buffer';
import { TOKEN, hasWhitespace, isDigits, splitOutsideQuotes } from '../headers/params.js';
import { type Via, parseVia, parseViaBytes, parseViaList } from '../headers/via.js';
import {
  COMPACT_HASH_TO_FULL, F_CALLID, F_CONTACT, F_CSEQ, F_FROM, F_MAXFWD, F_TO, F_VIA, H, HEADER_STRIDE, R_DUP, R_FOLD,
  hashNameBytes, headerKey, internMethod,
} from './header-names.js';
import { indexHeaderLines } from './header-lines.js';

// Module-local copies: reads of imported bindings are slower in hot loops.
const TOK: Uint8Array = TOKEN.slice();

/** 1 for printable ASCII without SP (0x21–0x7e): a Call-ID made of these is a valid word as it is. */
const PRINTABLE: Uint8Array = (() => {
  const t = new Uint8Array(256);
  t.fill(1, 0x21, 0x7f);
  return t;
})();

export { HEADER_STRIDE } from './header-names.js';

type Latin1 = { latin1Slice(start: number, end: number): string };

/** RFC 3261 §7.3.1 / §25.1 LWS = [*WSP CRLF] 1*WSP: blanks before the line break fold too. */
const FOLD_RE = /[ \t]*\r?\n[ \t]+/g;

/** Fields common to requests and responses. */
export abstract class SipMessage {
  abstract readonly kind: 'request' | 'response';

  /** Where the message came from, set by the transport layer (RFC 3261 §18.2.1). */
  source: { transport: string; address: string; port: number; connectionId?: number } | undefined;

  private cTopVia: Via | undefined;
  private cVia: Via[] | undefined;
  private cFrom: NameAddr | undefined;
  private cTo: NameAddr | undefined;
  private cCSeq: CSeq | undefined;
  private cCallId: string | undefined;
  private cContact: NameAddr[] | undefined;
  private cRoute: NameAddr[] | undefined;
  private cRecordRoute: NameAddr[] | undefined;
  /** The bytes up to the body as latin1 (string offsets = byte offsets), see {@link head}. */
  private hText: string | undefined;
  /** 0 unknown, 1 the header section is ASCII (latin1 text = UTF-8 text), 2 it is not. */
  private hAscii = 0;
  /** Name key (see {@link headerKey}) of each header line, computed on the first lookup by name. */
  private keys: number[] | undefined;
  /** Offsets of every header line (see {@link HEADER_STRIDE}), worked out on the first lookup by name. */
  private lineIx: number[] | undefined;

  constructor(
    /** The bytes as received (or as built); never modified. */
    readonly raw: Buffer,
    /** Value ranges of the routing headers, duplicate mask and fold flag (see ROUTING_SIZE). */
    protected readonly routing: number[],
    /** Offset of the first header line. */
    readonly headersStart: number,
    readonly bodyStart: number,
    readonly bodyEnd: number,
    /** The parser's latin1 text of (at least) the bytes before the body; decoded lazily otherwise. */
    headText?: string,
  ) {
    this.hText = headText;
  }

  /**
   * Drops every decoded value (header objects, strings, the latin1 text of the head), keeping
   * only the bytes and the header index; the next access decodes again. For messages kept long
   * after their last use, e.g. by a transaction waiting out Timer J (RFC 3261 §17.2.2): what
   * stays alive is then a few objects per message instead of dozens.
   */
  compact(): void {
    this.cTopVia = undefined;
    this.cVia = undefined;
    this.cFrom = undefined;
    this.cTo = undefined;
    this.cCSeq = undefined;
    this.cCallId = undefined;
    this.cContact = undefined;
    this.cRoute = undefined;
    this.cRecordRoute = undefined;
    this.hText = undefined;
    this.keys = undefined;
    this.lineIx = undefined;
  }

  private head(): string {
    return (this.hText ??= (this.raw as unknown as Latin1).latin1Slice(0, this.bodyStart));
  }

  /** Offsets of every header line, HEADER_STRIDE numbers per line. */
  private lineIndex(): number[] {
    return (this.lineIx ??= indexHeaderLines(this.raw, this.head(), this.headersStart, this.bodyStart));
  }

  /** Number of header lines. */
  get headerCount(): number {
    return this.lineIndex().length / HEADER_STRIDE;
  }

  /** True when the value in `[s, e)` spans continuation lines. */
  private isFolded(s: number, e: number): boolean {
    if (this.routing[R_FOLD] === 0) return false;
    const lf = this.head().indexOf('\n', s);
    return lf >= 0 && lf < e;
  }

  /** The value in `[s, e)` as text, folding undone (RFC 3261 §7.3.1). */
  private valueIn(s: number, e: number): string {
    if (this.hAscii === 0) this.hAscii = isAscii(this.raw.subarray(0, this.bodyStart)) ? 1 : 2;
    // ASCII: a substring of the latin1 text equals the UTF-8 decoding and costs no copy.
    const v = this.hAscii === 1 ? this.head().slice(s, e) : this.raw.toString('utf8', s, e);
    return this.isFolded(s, e) ? v.replace(FOLD_RE, ' ') : v;
  }

  /** The value of the line at line-index position `i`. */
  private valueAt(i: number): string {
    const ix = this.lineIndex();
    return this.valueIn(ix[i + 2]!, ix[i + 3]!);
  }

  /** Name keys of the header lines, in order (hash of the full name, compact forms mapped). */
  private lineKeys(): number[] {
    let keys = this.keys;
    if (keys === undefined) {
      keys = [];
      const ix = this.lineIndex();
      const raw = this.raw;
      for (let i = 0; i < ix.length; i += HEADER_STRIDE) {
        const s = ix[i]!;
        const e = ix[i + 1]!;
        const k = hashNameBytes(raw, s, e);
        keys.push(e - s === 1 ? (COMPACT_HASH_TO_FULL.get(k) ?? k) : k);
      }
      this.keys = keys;
    }
    return keys;
  }

  /** First value of a header (any case or compact form), folding undone; undefined when absent. */
  header(name: string): string | undefined {
    return this.headerByKey(headerKey(name));
  }

  protected headerByKey(key: number): string | undefined {
    const keys = this.lineKeys();
    for (let j = 0; j < keys.length; j++) if (keys[j] === key) return this.valueAt(j * HEADER_STRIDE);
    return undefined;
  }

  /** Every header line's value for a name, in order (not split on commas). */
  headers(name: string): string[] {
    return this.headersByKey(headerKey(name));
  }

  protected headersByKey(key: number): string[] {
    const out: string[] = [];
    const keys = this.lineKeys();
    for (let j = 0; j < keys.length; j++) if (keys[j] === key) out.push(this.valueAt(j * HEADER_STRIDE));
    return out;
  }

  /** Comma-separated values of a list header (RFC 3261 §7.3.1), trimmed, across all its lines. */
  headerValues(name: string): string[] {
    const out: string[] = [];
    for (const line of this.headers(name)) {
      for (const v of splitOutsideQuotes(line, ',')) {
        const t = v.trim();
        if (t.length > 0) out.push(t);
      }
    }
    return out;
  }

  hasHeader(name: string): boolean {
    return this.hasKey(headerKey(name));
  }

  /** How many header lines carry this name. */
  countHeader(name: string): number {
    return this.countKey(headerKey(name));
  }

  protected countKey(key: number): number {
    let n = 0;
    const keys = this.lineKeys();
    for (let j = 0; j < keys.length; j++) if (keys[j] === key) n++;
    return n;
  }

  // ---- raw line access for the edit list (sip/edit) ------------------------------------

  /** Name key (see {@link headerKey}) of header line `j` (0-based, in order). */
  lineKey(j: number): number {
    return this.lineKeys()[j]!;
  }

  /** Byte offset where header line `j` starts (its name). */
  lineStart(j: number): number {
    return this.lineIndex()[j * HEADER_STRIDE]!;
  }

  /** Byte offset just past header line `j`, its continuation lines and its line break. */
  lineEnd(j: number): number {
    const ve = this.lineIndex()[j * HEADER_STRIDE + 3]!;
    const raw = this.raw;
    let lf = raw.indexOf(0x0a, ve);
    // Continuation lines after the value's last non-blank byte hold only blanks (§7.3.1 LWS):
    // they belong to this line too, or an edit that drops it would leave them orphaned.
    while (lf >= 0 && lf + 1 < this.bodyStart && (raw[lf + 1] === 0x20 || raw[lf + 1] === 0x09)) lf = raw.indexOf(0x0a, lf + 1);
    return lf < 0 || lf >= this.bodyStart ? this.bodyStart : lf + 1;
  }

  /** Byte range `[start, end)` of the value of header line `j` (blanks trimmed). */
  lineValueStart(j: number): number {
    return this.lineIndex()[j * HEADER_STRIDE + 2]!;
  }

  lineValueEnd(j: number): number {
    return this.lineIndex()[j * HEADER_STRIDE + 3]!;
  }

  /** Every header line as [name as written, value], in order. */
  headerLines(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    const ix = this.lineIndex();
    for (let i = 0; i < ix.length; i += HEADER_STRIDE) {
      out.push([this.head().slice(ix[i]!, ix[i + 1]!), this.valueAt(i)]);
    }
    return out;
  }

  /** The message body (a view on the received bytes). */
  get body(): Buffer {
    return this.raw.subarray(this.bodyStart, this.bodyEnd);
  }

  /** Call-ID (RFC 3261 §20.8). */
  get callId(): string {
    if (this.cCallId === undefined) {
      const r = this.routing;
      const s = r[2 * F_CALLID]!;
      if (s < 0) throw missing('Call-ID');
      const e = r[2 * F_CALLID + 1]!;
      // Fast path on the bytes: printable ASCII without whitespace is a valid word as it is.
      const raw = this.raw;
      let plain = e > s && !this.isFolded(s, e);
      if (plain) {
        // The byte at `e` ends the trimmed value (blank, CR, LF or past the buffer): not
        // printable, so the byte loop stops there by itself. The four-byte steps stay below `e`.
        const pr = PRINTABLE;
        let k = s;
        while (k + 4 <= e && (pr[raw[k]!]! & pr[raw[k + 1]!]! & pr[raw[k + 2]!]! & pr[raw[k + 3]!]!) === 1) k += 4;
        while (pr[raw[k]!] === 1) k++;
        plain = k === e;
      }
      if (plain) this.cCallId = this.head().slice(s, e);
      else {
        const t = this.valueIn(s, e).trim();
        if (t.length === 0 || hasWhitespace(t)) {
          throw new SipParseError('SIP_ERR_HEADER_VALUE', 400, 'Call-ID', 'Malformed Call-ID');
        }
        this.cCallId = t;
      }
    }
    return this.cCallId;
  }

  get cseq(): CSeq {
    if (this.cCSeq === undefined) {
      const r = this.routing;
      const s = r[2 * F_CSEQ]!;
      if (s < 0) throw missing('CSeq');
      const e = r[2 * F_CSEQ + 1]!;
      this.cCSeq = (this.isFolded(s, e) ? undefined : this.cseqFast(s, e)) ?? parseCSeq(this.valueIn(s, e));
    }
    return this.cCSeq;
  }

  /** `1*10DIGIT 1*WSP token` straight from the bytes (method strings interned), else undefined. */
  private cseqFast(s: number, e: number): CSeq | undefined {
    const raw = this.raw;
    let k = s;
    let seq = 0;
    let c = 0;
    while (k < e && (c = raw[k]!) >= 0x30 && c <= 0x39) {
      seq = seq * 10 + (c - 0x30);
      k++;
    }
    if (k === s || k - s > 10 || seq > MAX_SEQ || k >= e || (c !== 0x20 && c !== 0x09)) return undefined;
    while (k < e && ((c = raw[k]!) === 0x20 || c === 0x09)) k++;
    const ms = k;
    // A known method spelled exactly is a token already (RFC 3261 §7.1): no per-byte check.
    const known = internMethod(raw, ms, e);
    if (known !== undefined) return { seq, method: known };
    while (k < e && TOK[raw[k]!] === 1) k++;
    if (k !== e || k === ms) return undefined;
    return { seq, method: this.head().slice(ms, e) };
  }

  get from(): NameAddr {
    if (this.cFrom === undefined) {
      this.cFrom = this.nameAddrIn(F_FROM, 'From');
    }
    return this.cFrom;
  }

  get to(): NameAddr {
    if (this.cTo === undefined) {
      this.cTo = this.nameAddrIn(F_TO, 'To');
    }
    return this.cTo;
  }

  /**
   * The name-addr value of a routing slot (From, To): from the bytes when it has the common
   * shape, else by the string parser.
   */
  private nameAddrIn(slot: number, field: string): NameAddr {
    const r = this.routing;
    const s = r[2 * slot]!;
    if (s < 0) throw missing(field);
    const e = r[2 * slot + 1]!;
    if (!this.isFolded(s, e)) {
      const n = parseNameAddrBytes(this.raw, s, e, this.head(), field);
      if (n !== undefined) return n;
    }
    return parseNameAddr(this.valueIn(s, e), field);
  }

  /** The topmost Via value: only the first value of the first Via line is parsed. */
  get topVia(): Via {
    if (this.cTopVia === undefined) {
      const r = this.routing;
      const s = r[2 * F_VIA]!;
      if (s < 0) throw missing('Via');
      const e = r[2 * F_VIA + 1]!;
      const fast = this.isFolded(s, e) ? undefined : parseViaBytes(this.raw, s, e, this.head());
      if (fast !== undefined) this.cTopVia = fast;
      else {
        const v = this.valueIn(s, e);
        const comma = v.indexOf(',');
        if (comma < 0) this.cTopVia = parseVia(v);
        else {
          const first = splitOutsideQuotes(v, ',')[0]!;
          if (first.trim().length === 0) throw new SipParseError('SIP_ERR_VIA', 400, 'Via', 'Empty Via value');
          this.cTopVia = parseVia(first);
        }
      }
    }
    return this.cTopVia;
  }

  /** Every Via value, top first. */
  get via(): Via[] {
    return (this.cVia ??= parseViaList(this.headersByKey(H.via)));
  }

  /** Via values as text, top first, one per value (for copying into responses, §8.2.6.2). */
  viaValues(): string[] {
    return this.headerValues('Via');
  }

  /** Max-Forwards (RFC 3261 §20.22), 0–255; undefined when absent. */
  get maxForwards(): number | undefined {
    const r = this.routing;
    const s = r[2 * F_MAXFWD]!;
    if (s < 0) return undefined;
    const e = r[2 * F_MAXFWD + 1]!;
    if (!this.isFolded(s, e)) {
      const raw = this.raw;
      if (e > s && e - s <= 10) {
        let n = 0;
        let k = s;
        for (; k < e; k++) {
          const d = raw[k]! - 0x30;
          if (d < 0 || d > 9) break;
          n = n * 10 + d;
        }
        if (k === e && n <= 255) return n;
      }
    }
    const t = this.valueIn(s, e).trim();
    if (!isDigits(t, 1, 10) || Number(t) > 255) {
      throw new SipParseError('SIP_ERR_MAX_FORWARDS', 400, 'Max-Forwards', 'Max-Forwards is not 0-255');
    }
    return Number(t);
  }

  /** Content-Length as framed by the parser (the body length). */
  get contentLength(): number {
    return this.bodyEnd - this.bodyStart;
  }

  /** Content-Type media type, lower-cased, without parameters. */
  get contentType(): string | undefined {
    const v = this.headerByKey(H.contentType);
    if (v === undefined) return undefined;
    const semi = v.indexOf(';');
    return (semi >= 0 ? v.slice(0, semi) : v).trim().toLowerCase();
  }

  get contact(): NameAddr[] {
    if (this.cContact === undefined) {
      const r = this.routing;
      const s = r[2 * F_CONTACT]!;
      const e = r[2 * F_CONTACT + 1]!;
      let one: NameAddr | undefined;
      if (s >= 0 && (r[R_DUP]! & (1 << F_CONTACT)) === 0 && !this.isFolded(s, e)) {
        one = parseNameAddrBytes(this.raw, s, e, this.head(), 'Contact');
      }
      this.cContact = s < 0 ? [] : one !== undefined ? [one] : parseNameAddrList(this.headersByKey(H.contact), 'Contact');
    }
    return this.cContact;
  }

  get route(): NameAddr[] {
    return (this.cRoute ??= parseNameAddrList(this.headersByKey(H.route), 'Route'));
  }

  get recordRoute(): NameAddr[] {
    return (this.cRecordRoute ??= parseNameAddrList(this.headersByKey(H.recordRoute), 'Record-Route'));
  }

  /** Option tags of Require / Supported / Proxy-Require … (comma list of tokens). */
  optionTags(name: string): string[] {
    try {
      return this.headerValues(name).map((t) => t.toLowerCase());
    } catch (e) {
      throw naming(e, name);
    }
  }

  /**
   * The syntax check of RFC 3261 §8.2 / §16.3 step 1, run before the transaction layer takes a
   * message. It parses what any response or forwarded copy will reuse: every Via value (a
   * response copies them all, §8.2.6.2; a proxy relays the rest, §16.7), From, To, Call-ID,
   * CSeq, Max-Forwards, and Route / Record-Route when present (loose routing and the route set,
   * §16.4, §12.1). Single-valued headers must appear once (RFC 4475 §3.3.8), and no header may
   * hold a stray NUL or CR byte. The parser is lazy: whatever this does not look at may still fail later,
   * which is why it covers every header that any layer copies without parsing.
   *
   * Throws {@link SipParseError} naming the header, so a 400 can always be built.
   */
  validate(): void {
    const dup = this.routing[R_DUP]!;
    if (dup !== 0) {
      for (const [slot, name] of SINGLE_VALUED) {
        if ((dup & (1 << slot)) !== 0) {
          throw new SipParseError('SIP_ERR_MULTIPLE_VALUES', 400, name, `Multiple ${name} header fields`);
        }
      }
    }
    this.checkStrayBytes();
    try {
      this.topVia;
      if ((dup & (1 << F_VIA)) !== 0 || this.topViaLineHasMore()) this.via;
    } catch (e) {
      throw naming(e, 'Via');
    }
    this.from;
    this.to;
    this.callId;
    this.cseq;
    this.maxForwards;
    // One pass over the line keys for both: the index is built here for every message.
    const keys = this.lineKeys();
    let route = false;
    let recordRoute = false;
    for (let j = 0; j < keys.length; j++) {
      if (keys[j] === H.route) route = true;
      else if (keys[j] === H.recordRoute) recordRoute = true;
    }
    let field = 'Route';
    try {
      // The URIs too: §16.4 routes on the top one, a dialog's route set is made of them (§12.1).
      if (route) for (const r of this.route) r.uri;
      field = 'Record-Route';
      if (recordRoute) for (const r of this.recordRoute) r.uri;
    } catch (e) {
      throw naming(e, field);
    }
  }

  /** True when the first Via line holds more than its first value (a comma after it). */
  private topViaLineHasMore(): boolean {
    const r = this.routing;
    const s = r[2 * F_VIA]!;
    const e = r[2 * F_VIA + 1]!;
    const comma = this.raw.indexOf(0x2c, s);
    return (comma >= 0 && comma < e) || this.isFolded(s, e);
  }

  /**
   * A NUL byte is in the header grammar only as a quoted-pair, `\` NUL (RFC 3261 §25.1; RFC 4475
   * §3.1.1.2 intmeth), a CR only before LF: any other one gets a 400 naming the header.
   */
  private checkStrayBytes(): void {
    const raw = this.raw;
    let at = raw.indexOf(0, this.headersStart);
    while (at >= 0 && at < this.bodyStart && raw[at - 1] === 0x5c) at = raw.indexOf(0, at + 1);
    if (at >= 0 && at < this.bodyStart) throw this.badByte(at, 'NUL byte');
    // A CR is in the grammar only as the start of CRLF (not even as a quoted-pair): one that is
    // not would be copied into a forwarded request, where a lenient next hop may take it for a
    // line break — a header of the sender's making (RFC 3261 §7.3.1, §25.1).
    const head = this.head();
    const end = this.bodyStart;
    for (let cr = head.indexOf('\r', this.headersStart); cr >= 0 && cr < end; cr = head.indexOf('\r', cr + 1)) {
      if (head.charCodeAt(cr + 1) !== 0x0a) throw this.badByte(cr, 'CR without LF');
    }
  }

  /** A 400 naming the header line that holds byte `at`. */
  private badByte(at: number, what: string): SipParseError {
    const ix = this.lineIndex();
    let field = 'header';
    for (let i = 0; i < ix.length; i += HEADER_STRIDE) {
      if (ix[i]! <= at) field = this.head().slice(ix[i]!, ix[i + 1]!).trim();
    }
    return new SipParseError('SIP_ERR_HEADER_VALUE', 400, field, `${what} in ${field}`);
  }

  private hasKey(key: number): boolean {
    const keys = this.lineKeys();
    for (let j = 0; j < keys.length; j++) if (keys[j] === key) return true;
    return false;
  }

  /** The whole message as bytes. */
  toBuffer(): Buffer {
    return this.raw;
  }

  toString(): string {
    return this.raw.toString('utf8');
  }
}

/** Routing slots that must not repeat (RFC 4475 §3.3.8), in the order they are checked. */
const SINGLE_VALUED: Array<[number, string]> = [
  [F_CALLID, 'Call-ID'],
  [F_FROM, 'From'],
  [F_TO, 'To'],
  [F_CSEQ, 'CSeq'],
  [F_MAXFWD, 'Max-Forwards'],
];

/**
 * `e` with `field` named in it: a list splitter's error (an unterminated quote, say) does not
 * know which header it was splitting.
 */
function naming(e: unknown, field: string): unknown {
  if (!(e instanceof SipParseError) || e.field === field) return e;
  return new SipParseError(e.code as SipErrorCode, e.status, field, `${e.message} in ${field}`);
}

function missing(name: string): SipParseError {
  return new SipParseError('SIP_ERR_MISSING_HEADER', 400, name, `Missing ${name} header`);
}
