/**
 * SipMessage: the received bytes, an index of header lines, and lazy accessors.
 *
 * @remarks Layer 1 (`sip/`). Built by {@link parseMessage}. Only the start line and the
 * header-line offsets are computed eagerly; each header value is decoded and parsed on first
 * access and cached (reSIProcate's LazyParser idea, Kamailio's `parse_headers` flags).
 */
import { SipParseError } from '../errors.js';
import { type CSeq, parseCSeq } from '../headers/cseq.js';
import { type NameAddr, parseNameAddr, parseNameAddrBytes, parseNameAddrList } from '../headers/name-addr.js';
import { isAscii } from 'node:buffer';
import { TOKEN, hasWhitespace, isDigits, splitOutsideQuotes } from '../headers/params.js';
import { type Via, parseVia, parseViaBytes, parseViaList } from '../headers/via.js';
import {
  COMPACT_HASH_TO_FULL, F_CALLID, F_CONTACT, F_CSEQ, F_DUP, F_FOLD, F_FROM, F_MAXFWD, F_TO, F_VIA, H, HEADER_BASE, HEADER_STRIDE,
  hashNameBytes, headerKey, internMethod,
} from './header-names.js';

// Module-local copies: reads of imported bindings are slower in hot loops.
const TOK: Uint8Array = TOKEN.slice();

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

  constructor(
    /** The bytes as received (or as built); never modified. */
    readonly raw: Buffer,
    /** Flat header index, see {@link HEADER_STRIDE}. */
    protected readonly index: number[],
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
  }

  private head(): string {
    return (this.hText ??= (this.raw as unknown as Latin1).latin1Slice(0, this.bodyStart));
  }

  /** Number of header lines. */
  get headerCount(): number {
    return (this.index.length - HEADER_BASE) / HEADER_STRIDE;
  }

  /** True when the value of the line at index position `i` spans continuation lines. */
  private isFolded(i: number): boolean {
    const ix = this.index;
    if (ix[F_FOLD] === 0) return false;
    const lf = this.head().indexOf('\n', ix[i + 2]!);
    return lf >= 0 && lf < ix[i + 3]!;
  }

  private valueAt(i: number): string {
    const ix = this.index;
    if (this.hAscii === 0) this.hAscii = isAscii(this.raw.subarray(0, this.bodyStart)) ? 1 : 2;
    // ASCII: a substring of the latin1 text equals the UTF-8 decoding and costs no copy.
    const s = this.hAscii === 1 ? this.head().slice(ix[i + 2]!, ix[i + 3]!) : this.raw.toString('utf8', ix[i + 2]!, ix[i + 3]!);
    return this.isFolded(i) ? s.replace(FOLD_RE, ' ') : s;
  }

  /** Name keys of the header lines, in order (hash of the full name, compact forms mapped). */
  private lineKeys(): number[] {
    let keys = this.keys;
    if (keys === undefined) {
      keys = [];
      const ix = this.index;
      const raw = this.raw;
      for (let i = HEADER_BASE; i < ix.length; i += HEADER_STRIDE) {
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
    for (let j = 0; j < keys.length; j++) if (keys[j] === key) return this.valueAt(HEADER_BASE + j * HEADER_STRIDE);
    return undefined;
  }

  /** Every header line's value for a name, in order (not split on commas). */
  headers(name: string): string[] {
    return this.headersByKey(headerKey(name));
  }

  protected headersByKey(key: number): string[] {
    const out: string[] = [];
    const keys = this.lineKeys();
    for (let j = 0; j < keys.length; j++) if (keys[j] === key) out.push(this.valueAt(HEADER_BASE + j * HEADER_STRIDE));
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
    const key = headerKey(name);
    const keys = this.lineKeys();
    for (let j = 0; j < keys.length; j++) if (keys[j] === key) return true;
    return false;
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

  /** Every header line as [name as written, value], in order. */
  headerLines(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    const ix = this.index;
    for (let i = HEADER_BASE; i < ix.length; i += HEADER_STRIDE) {
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
      const ix = this.index;
      const i = ix[F_CALLID]!;
      if (i < 0) throw missing('Call-ID');
      // Fast path on the bytes: printable ASCII without whitespace is a valid word as it is.
      const raw = this.raw;
      const s = ix[i + 2]!;
      const e = ix[i + 3]!;
      let plain = e > s && !this.isFolded(i);
      if (plain) {
        for (let k = s; k < e; k++) {
          const c = raw[k]!;
          if (c <= 0x20 || c >= 0x7f) {
            plain = false;
            break;
          }
        }
      }
      if (plain) this.cCallId = this.head().slice(s, e);
      else {
        const t = this.valueAt(i).trim();
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
      const ix = this.index;
      const i = ix[F_CSEQ]!;
      if (i < 0) throw missing('CSeq');
      this.cCSeq = (this.isFolded(i) ? undefined : this.cseqFast(ix[i + 2]!, ix[i + 3]!)) ?? parseCSeq(this.valueAt(i));
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
    if (k === s || k - s > 10 || seq > 0xffffffff || k >= e || (c !== 0x20 && c !== 0x09)) return undefined;
    while (k < e && ((c = raw[k]!) === 0x20 || c === 0x09)) k++;
    const ms = k;
    while (k < e && TOK[raw[k]!] === 1) k++;
    if (k !== e || k === ms) return undefined;
    const method = internMethod(raw, ms, e) ?? this.head().slice(ms, e);
    return { seq, method };
  }

  get from(): NameAddr {
    if (this.cFrom === undefined) {
      const i = this.index[F_FROM]!;
      if (i < 0) throw missing('From');
      this.cFrom = this.nameAddrAt(i, 'From');
    }
    return this.cFrom;
  }

  get to(): NameAddr {
    if (this.cTo === undefined) {
      const i = this.index[F_TO]!;
      if (i < 0) throw missing('To');
      this.cTo = this.nameAddrAt(i, 'To');
    }
    return this.cTo;
  }

  /** One name-addr value from the bytes when it has the common shape, else by the string parser. */
  private nameAddrAt(i: number, field: string): NameAddr {
    const ix = this.index;
    if (!this.isFolded(i)) {
      const n = parseNameAddrBytes(this.raw, ix[i + 2]!, ix[i + 3]!, this.head(), field);
      if (n !== undefined) return n;
    }
    return parseNameAddr(this.valueAt(i), field);
  }

  /** The topmost Via value: only the first value of the first Via line is parsed. */
  get topVia(): Via {
    if (this.cTopVia === undefined) {
      const ix = this.index;
      const i = ix[F_VIA]!;
      if (i < 0) throw missing('Via');
      const fast = this.isFolded(i) ? undefined : parseViaBytes(this.raw, ix[i + 2]!, ix[i + 3]!, this.head());
      if (fast !== undefined) this.cTopVia = fast;
      else {
        const v = this.valueAt(i);
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
    const ix = this.index;
    const i = ix[F_MAXFWD]!;
    if (i < 0) return undefined;
    if (!this.isFolded(i)) {
      const raw = this.raw;
      const s = ix[i + 2]!;
      const e = ix[i + 3]!;
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
    const t = this.valueAt(i).trim();
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
      const ix = this.index;
      const i = ix[F_CONTACT]!;
      let one: NameAddr | undefined;
      if (i >= 0 && (ix[F_DUP]! & (1 << F_CONTACT)) === 0 && !this.isFolded(i)) {
        one = parseNameAddrBytes(this.raw, ix[i + 2]!, ix[i + 3]!, this.head(), 'Contact');
      }
      this.cContact = i < 0 ? [] : one !== undefined ? [one] : parseNameAddrList(this.headersByKey(H.contact), 'Contact');
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
    return this.headerValues(name).map((t) => t.toLowerCase());
  }

  /**
   * Parses the routing set (Via, From, To, Call-ID, CSeq, Max-Forwards) and checks the
   * single-valued ones appear once (RFC 4475 §3.3.8). Throws {@link SipParseError}.
   */
  validate(): void {
    const dup = this.index[F_DUP]!;
    if (dup !== 0) {
      for (const [slot, name] of SINGLE_VALUED) {
        if ((dup & (1 << slot)) !== 0) {
          throw new SipParseError('SIP_ERR_MULTIPLE_VALUES', 400, name, `Multiple ${name} header fields`);
        }
      }
    }
    this.topVia;
    this.from;
    this.to;
    this.callId;
    this.cseq;
    this.maxForwards;
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

function missing(name: string): SipParseError {
  return new SipParseError('SIP_ERR_MISSING_HEADER', 400, name, `Missing ${name} header`);
}
