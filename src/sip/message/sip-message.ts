/**
 * SipMessage: the received bytes, an index of header lines, and lazy accessors.
 *
 * @remarks Layer 1 (`sip/`). Built by {@link parseMessage}. Only the start line and the
 * header-line offsets are computed eagerly; each header value is decoded and parsed on first
 * access and cached (reSIProcate's LazyParser idea, Kamailio's `parse_headers` flags).
 */
import { SipParseError } from '../errors.js';
import { type CSeq, parseCSeq } from '../headers/cseq.js';
import { type NameAddr, parseNameAddr, parseNameAddrList } from '../headers/name-addr.js';
import { isAscii } from 'node:buffer';
import { hasWhitespace, isDigits, splitOutsideQuotes } from '../headers/params.js';
import { type Via, parseVia, parseViaList } from '../headers/via.js';
import { H, headerKey } from './header-names.js';

/** Stride of the flat header index: key, nameStart, nameEnd, valueStart, valueEnd, folded. */
export const HEADER_STRIDE = 6;

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

  private head(): string {
    return (this.hText ??= this.raw.toString('latin1', 0, this.bodyStart));
  }

  /** Number of header lines. */
  get headerCount(): number {
    return this.index.length / HEADER_STRIDE;
  }

  private valueAt(i: number): string {
    const ix = this.index;
    if (this.hAscii === 0) this.hAscii = isAscii(this.raw.subarray(0, this.bodyStart)) ? 1 : 2;
    // ASCII: a substring of the latin1 text equals the UTF-8 decoding and costs no copy.
    const s = this.hAscii === 1 ? this.head().slice(ix[i + 3]!, ix[i + 4]!) : this.raw.toString('utf8', ix[i + 3]!, ix[i + 4]!);
    return ix[i + 5] ? s.replace(FOLD_RE, ' ') : s;
  }

  /** First value of a header (any case or compact form), folding undone; undefined when absent. */
  header(name: string): string | undefined {
    return this.headerByKey(headerKey(name));
  }

  protected headerByKey(key: number): string | undefined {
    const ix = this.index;
    for (let i = 0; i < ix.length; i += HEADER_STRIDE) if (ix[i] === key) return this.valueAt(i);
    return undefined;
  }

  /** Every header line's value for a name, in order (not split on commas). */
  headers(name: string): string[] {
    return this.headersByKey(headerKey(name));
  }

  protected headersByKey(key: number): string[] {
    const out: string[] = [];
    const ix = this.index;
    for (let i = 0; i < ix.length; i += HEADER_STRIDE) if (ix[i] === key) out.push(this.valueAt(i));
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
    const ix = this.index;
    for (let i = 0; i < ix.length; i += HEADER_STRIDE) if (ix[i] === key) return true;
    return false;
  }

  /** How many header lines carry this name. */
  countHeader(name: string): number {
    return this.countKey(headerKey(name));
  }

  protected countKey(key: number): number {
    let n = 0;
    const ix = this.index;
    for (let i = 0; i < ix.length; i += HEADER_STRIDE) if (ix[i] === key) n++;
    return n;
  }

  /** Every header line as [name as written, value], in order. */
  headerLines(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    const ix = this.index;
    for (let i = 0; i < ix.length; i += HEADER_STRIDE) {
      out.push([this.head().slice(ix[i + 1]!, ix[i + 2]!), this.valueAt(i)]);
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
      const v = this.headerByKey(H.callId);
      if (v === undefined) throw missing('Call-ID');
      const t = v.trim();
      if (t.length === 0 || hasWhitespace(t)) {
        throw new SipParseError('SIP_ERR_HEADER_VALUE', 400, 'Call-ID', 'Malformed Call-ID');
      }
      this.cCallId = t;
    }
    return this.cCallId;
  }

  get cseq(): CSeq {
    if (this.cCSeq === undefined) {
      const v = this.headerByKey(H.cseq);
      if (v === undefined) throw missing('CSeq');
      this.cCSeq = parseCSeq(v);
    }
    return this.cCSeq;
  }

  get from(): NameAddr {
    if (this.cFrom === undefined) {
      const v = this.headerByKey(H.from);
      if (v === undefined) throw missing('From');
      this.cFrom = parseNameAddr(v, 'From');
    }
    return this.cFrom;
  }

  get to(): NameAddr {
    if (this.cTo === undefined) {
      const v = this.headerByKey(H.to);
      if (v === undefined) throw missing('To');
      this.cTo = parseNameAddr(v, 'To');
    }
    return this.cTo;
  }

  /** The topmost Via value: only the first value of the first Via line is parsed. */
  get topVia(): Via {
    if (this.cTopVia === undefined) {
      const v = this.headerByKey(H.via);
      if (v === undefined) throw missing('Via');
      const comma = v.indexOf(',');
      if (comma < 0) this.cTopVia = parseVia(v);
      else {
        const first = splitOutsideQuotes(v, ',')[0]!;
        if (first.trim().length === 0) throw new SipParseError('SIP_ERR_VIA', 400, 'Via', 'Empty Via value');
        this.cTopVia = parseVia(first);
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
    const v = this.headerByKey(H.maxForwards);
    if (v === undefined) return undefined;
    const t = v.trim();
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
    return (this.cContact ??= parseNameAddrList(this.headersByKey(H.contact), 'Contact'));
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
    for (const [key, name] of SINGLE_VALUED) {
      if (this.countKey(key) > 1) {
        throw new SipParseError('SIP_ERR_MULTIPLE_VALUES', 400, name, `Multiple ${name} header fields`);
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

const SINGLE_VALUED: Array<[number, string]> = [
  [H.callId, 'Call-ID'],
  [H.from, 'From'],
  [H.to, 'To'],
  [H.cseq, 'CSeq'],
  [H.maxForwards, 'Max-Forwards'],
];

function missing(name: string): SipParseError {
  return new SipParseError('SIP_ERR_MISSING_HEADER', 400, name, `Missing ${name} header`);
}
