/**
 * Typed errors of the syntax layer.
 *
 * @remarks Layer 1 (`sip/`). Thrown by the parser and the lazy header accessors; the
 * transport layer turns a {@link SipParseError} on a request into a stateless reply
 * with {@link SipParseError.status} and a reason phrase naming the field.
 */

/** Stable error codes, in the style of undici's `UND_ERR_*`. */
export type SipErrorCode =
  | 'SIP_ERR_EMPTY'
  | 'SIP_ERR_TOO_LARGE'
  | 'SIP_ERR_START_LINE'
  | 'SIP_ERR_VERSION'
  | 'SIP_ERR_STATUS_CODE'
  | 'SIP_ERR_METHOD'
  | 'SIP_ERR_REQUEST_URI'
  | 'SIP_ERR_HEADER_LINE'
  | 'SIP_ERR_HEADER_COUNT'
  | 'SIP_ERR_LINE_LENGTH'
  | 'SIP_ERR_NO_HEADER_END'
  | 'SIP_ERR_CONTENT_LENGTH'
  | 'SIP_ERR_BODY_TRUNCATED'
  | 'SIP_ERR_MISSING_HEADER'
  | 'SIP_ERR_MULTIPLE_VALUES'
  | 'SIP_ERR_VIA'
  | 'SIP_ERR_NAME_ADDR'
  | 'SIP_ERR_CSEQ'
  | 'SIP_ERR_CSEQ_METHOD_MISMATCH'
  | 'SIP_ERR_MAX_FORWARDS'
  | 'SIP_ERR_URI'
  | 'SIP_ERR_UNSUPPORTED_URI_SCHEME'
  | 'SIP_ERR_HEADER_VALUE'
  | 'SIP_ERR_FRAMING';

/** Base class of every Switchboard error (defined in `util/errors.ts`, for the leaves). */
export { RequestError, SipError, StateError, StoreError } from '../util/errors.js';
import { SipError } from '../util/errors.js';

/**
 * A message (or one of its headers) could not be parsed.
 * `status` is what a UAS answers with (400 by default, 505 bad version, 513 too large,
 * 416 unsupported URI scheme); `field` names the offending part.
 */
export class SipParseError extends SipError {
  override name = 'SipParseError';
  constructor(
    code: SipErrorCode,
    readonly status: number,
    readonly field: string,
    message: string,
  ) {
    super(code, message);
  }

  /** A reason phrase for the stateless error response: names the problem (RFC 3261 §21.4.1). */
  get reasonPhrase(): string {
    // Reason phrases are TEXT-UTF8; keep them on one line and bounded.
    const text = this.message.replace(/[\r\n]+/g, ' ').slice(0, 120);
    return text;
  }
}
