/**
 * A SIP response (RFC 3261 §7.2).
 *
 * @remarks Layer 1 (`sip/`).
 */
import { SipMessage } from './sip-message.js';

export class SipResponse extends SipMessage {
  readonly kind = 'response' as const;

  constructor(
    raw: Buffer,
    routing: number[],
    headersStart: number,
    bodyStart: number,
    bodyEnd: number,
    /** Status-Code, 100–699. */
    readonly status: number,
    /** Byte range of the Reason-Phrase in `raw`. */
    private readonly reasonStart: number,
    private readonly reasonEnd: number,
    headText?: string,
  ) {
    super(raw, routing, headersStart, bodyStart, bodyEnd, headText);
    this.cReason = undefined;
  }

  private cReason: string | undefined;

  /** Reason-Phrase as received (may be empty, RFC 4475 §3.1.1.13), decoded on first access. */
  get reason(): string {
    return (this.cReason ??= this.raw.toString('utf8', this.reasonStart, this.reasonEnd));
  }

  /** Provisional (1xx). */
  get isProvisional(): boolean {
    return this.status < 200;
  }
}
