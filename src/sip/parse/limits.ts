/**
 * Parser limits (undici `maxHeadersSize`, ws `maxPayload`): a violation is a typed error,
 * never an unbounded buffer.
 *
 * @remarks Layer 1 (`sip/`).
 */
export interface ParserLimits {
  /** Largest message accepted; larger ones are answered 513 (RFC 3261 §18.1.1, §21.5.14). */
  maxMessageSize: number;
  /** Most header lines in one message. */
  maxHeaders: number;
}

export const DEFAULT_LIMITS: Readonly<ParserLimits> = {
  maxMessageSize: 65535,
  maxHeaders: 256,
};
