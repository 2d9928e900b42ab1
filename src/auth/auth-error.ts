/**
 * Typed error of the digest authentication module.
 *
 * @remarks Leaf module (`auth/`): it extends the family's base from `util/`, which every layer
 * may import, and nothing of `sip/`.
 */
import { SipError } from '../util/errors.js';

/** Stable error codes, in the style of the `SIP_ERR_*` codes of the syntax layer. */
export type AuthErrorCode =
  /** The header value is longer than {@link MAX_AUTH_VALUE_LENGTH}. */
  | 'AUTH_ERR_TOO_LARGE'
  /** The value does not follow the auth-param grammar (RFC 3261 §25, RFC 7235 §2.1). */
  | 'AUTH_ERR_SYNTAX'
  /** A parameter the RFC requires is absent (e.g. `nonce` in a challenge). */
  | 'AUTH_ERR_MISSING_PARAM'
  /** A parameter occurs twice (RFC 7235 §2.2: each name at most once). */
  | 'AUTH_ERR_DUPLICATE_PARAM'
  /** A parameter has a value its grammar forbids (e.g. `nc` not 8 hex digits). */
  | 'AUTH_ERR_PARAM_VALUE'
  /** `algorithm` names something other than MD5, MD5-sess, SHA-256, SHA-256-sess. */
  | 'AUTH_ERR_UNSUPPORTED_ALGORITHM'
  /** The scheme is not `Digest` where Digest is needed. */
  | 'AUTH_ERR_SCHEME'
  /** No quality of protection this module can answer was offered. */
  | 'AUTH_ERR_QOP'
  /** A programming or configuration mistake (short secret, malformed stored HA1, ...). */
  | 'AUTH_ERR_CONFIG';

/** Maximum accepted length of one authentication header value, in characters. */
export const MAX_AUTH_VALUE_LENGTH = 4096;

/** Error thrown by the parsers, formatters and digest helpers of `auth/`. */
export class AuthError extends SipError {
  override name = 'AuthError';
  constructor(
    /** Stable, machine-readable code. */
    override readonly code: AuthErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}
