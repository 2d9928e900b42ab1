/**
 * A SIP request (RFC 3261 §7.1).
 *
 * @remarks Layer 1 (`sip/`).
 */
import { SipParseError } from '../errors.js';
import { type Uri, parseUri } from '../uri/sip-uri.js';
import { SipMessage } from './sip-message.js';

export class SipRequest extends SipMessage {
  readonly kind = 'request' as const;
  private cUri: Uri | undefined;
  /**
   * The top Via as it must appear in responses: set by the transport layer when it adds
   * `received`/`rport` (RFC 3261 §18.2.1, RFC 3581 §4).
   */
  receivedTopVia: string | undefined;

  constructor(
    raw: Buffer,
    routing: number[],
    headersStart: number,
    bodyStart: number,
    bodyEnd: number,
    /** Method token, case-sensitive (RFC 3261 §7.1). */
    readonly method: string,
    /** Byte range of the Request-URI in `raw`. */
    private readonly uriStart: number,
    private readonly uriEnd: number,
    headText?: string,
  ) {
    super(raw, routing, headersStart, bodyStart, bodyEnd, headText);
    this.cUriText = undefined;
  }

  private cUriText: string | undefined;

  override compact(): void {
    super.compact();
    this.cUri = undefined;
    this.cUriText = undefined;
  }

  /** Request-URI text as written (decoded on first access). */
  get uriText(): string {
    return (this.cUriText ??= this.raw.toString('utf8', this.uriStart, this.uriEnd));
  }

  /** The parsed Request-URI. */
  get uri(): Uri {
    return (this.cUri ??= parseUri(this.uriText, 'Request-URI'));
  }

  /**
   * Routing set plus the request-only rules: the Request-URI parses, carries no escaped headers
   * (RFC 4475 §3.1.2.11), and the CSeq method equals the request method (RFC 3261 §8.2.2 via
   * §20.16; RFC 4475 §3.1.2.17).
   */
  override validate(): void {
    super.validate();
    const uri = this.uri;
    if (uri.kind === 'sip' && uri.headers !== undefined) {
      throw new SipParseError('SIP_ERR_REQUEST_URI', 400, 'Request-URI', 'Request-URI carries escaped headers');
    }
    if (this.cseq.method !== this.method) {
      throw new SipParseError('SIP_ERR_CSEQ_METHOD_MISMATCH', 400, 'CSeq', 'CSeq method does not match the request method');
    }
  }
}
