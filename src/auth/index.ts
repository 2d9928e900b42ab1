/**
 * Digest authentication (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760).
 *
 * @remarks Leaf module: imports nothing from other `src/` folders; works on header
 * values, not on SIP messages.
 */

export { AuthError, MAX_AUTH_VALUE_LENGTH } from './auth-error.js';
export type { AuthErrorCode } from './auth-error.js';
export {
  DIGEST_ALGORITHMS,
  formatChallenge,
  formatCredentials,
  parseChallenge,
  parseCredentials,
} from './auth-header.js';
export type { DigestAlgorithm, DigestChallenge, DigestCredentials, FormatInput } from './auth-header.js';
export {
  answerChallenge,
  baseAlgorithm,
  computeHa1,
  computeResponse,
  digestHexLength,
  formatNonceCount,
  isSessionAlgorithm,
  selectChallenge,
} from './digest.js';
export type { AnswerOptions, ResponseParams, ResponseSecret } from './digest.js';
export { NcTracker, NonceService } from './nonce-service.js';
export type { NcTrackerOptions, NonceServiceOptions, NonceStatus } from './nonce-service.js';
export { DigestVerifier } from './digest-verifier.js';
export type {
  ChallengeOptions,
  DigestVerifierOptions,
  Ha1Lookup,
  VerifyContext,
  VerifyFailureReason,
  VerifyResult,
} from './digest-verifier.js';
