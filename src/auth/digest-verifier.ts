/**
 * Server side of Digest authentication: building challenges and verifying credentials
 * (RFC 3261 §22.1, §22.3, §22.4; RFC 7616 §3.3–3.5; RFC 8760 §2.4).
 *
 * @remarks Leaf module. Works on header values; the caller picks `WWW-Authenticate`
 * (registrar/UAS, 401) or `Proxy-Authenticate` (proxy, 407) and the matching
 * credentials header.
 */

import { timingSafeEqual } from 'node:crypto';
import { AuthError } from './auth-error.js';
import { formatChallenge, parseCredentials } from './auth-header.js';
import type { DigestAlgorithm, DigestCredentials } from './auth-header.js';
import { baseAlgorithm, computeResponse } from './digest.js';
import { NcTracker } from './nonce-service.js';
import type { NonceService } from './nonce-service.js';

/**
 * Looks up the stored HA1 `H(username:realm:password)` for a user.
 *
 * `algorithm` is always a base algorithm (`'MD5'` or `'SHA-256'`): `-sess` variants use
 * the same stored HA1. Return `undefined` for an unknown user.
 */
export type Ha1Lookup = (
  username: string,
  realm: string,
  algorithm: DigestAlgorithm,
) => string | undefined | Promise<string | undefined>;

/** Options of {@link DigestVerifier}. */
export interface DigestVerifierOptions {
  /** Issues and checks nonces. */
  nonces: NonceService;
  /** Replay tracker; default a fresh per-process {@link NcTracker}. */
  ncTracker?: NcTracker;
  /** Algorithms offered, most preferred first (RFC 8760 §2.4); default SHA-256 then MD5. */
  algorithms?: readonly DigestAlgorithm[];
  /** Source of stored HA1 values, one per hash function. */
  lookupHa1: Ha1Lookup;
  /**
   * Refuse credentials without qop (RFC 2069 style, which has no nonce count and so no
   * replay protection within the nonce lifetime). Default false: accepted, because
   * RFC 3261 §22.4 keeps RFC 2069 compatibility.
   */
  requireQop?: boolean;
  /**
   * Told of every credential that was checked and found wrong — a wrong password
   * (`bad-response`) or an unknown user — with the source the caller named: what a
   * password-guessing defence counts. Not told of missing, stale or malformed credentials,
   * which are the normal first step of every client.
   */
  onGuessFailed?: (failure: { reason: 'bad-response' | 'unknown-user'; username: string; realm: string; source?: string }) => void;
  /** Told of every verified credential (a guessing defence may forgive the source). */
  onVerified?: (success: { username: string; realm: string; source?: string }) => void;
}

/** Why {@link DigestVerifier.verify} refused credentials. */
export type VerifyFailureReason =
  /** No credentials, or credentials of a scheme other than Digest: challenge. */
  | 'missing'
  /** The credentials value does not parse or uses an algorithm/qop not offered. */
  | 'malformed'
  /** The nonce is genuine and the response right, but the nonce expired: rechallenge with stale=TRUE. */
  | 'stale'
  /** The nonce was not issued by us for this realm. */
  | 'invalid-nonce'
  /** The credentials are for another realm (e.g. meant for another proxy). */
  | 'wrong-realm'
  /** `uri` differs from the Request-URI (RFC 3261 §22.4). */
  | 'uri-mismatch'
  /** The nonce count was not greater than the last one seen for this nonce. */
  | 'replay'
  /** `lookupHa1` knows no such user. */
  | 'unknown-user'
  /** The response digest is wrong (usually a wrong password). */
  | 'bad-response';

/** Result of {@link DigestVerifier.verify}. */
export type VerifyResult =
  | { ok: true; username: string; algorithm: DigestAlgorithm }
  | { ok: false; reason: VerifyFailureReason; detail: string };

/** Request facts {@link DigestVerifier.verify} checks the credentials against. */
export interface VerifyContext {
  /** Method of the request carrying the credentials (hashed into A2). */
  method: string;
  /** The realm this server challenges for. */
  realm: string;
  /** The Request-URI string; when given, `uri` must equal it (RFC 3261 §22.4). */
  requestUri?: string;
  /** Where the request came from (an address), handed to the guessing hooks. */
  source?: string;
}

/** Options of {@link DigestVerifier.challenge}. */
export interface ChallengeOptions {
  /** Set after a `'stale'` verification so the client retries silently (RFC 7616 §3.3). */
  stale?: boolean;
}

function fail(reason: VerifyFailureReason, detail: string): VerifyResult {
  return { ok: false, reason, detail };
}

/**
 * Verifies Digest credentials against stored HA1 values and stateless nonces.
 *
 * @example
 * ```ts
 * const verifier = new DigestVerifier({ nonces: new NonceService({ secret }), lookupHa1 });
 * const result = await verifier.verify(authorizationValue, { method: 'REGISTER', realm, requestUri });
 * if (!result.ok) reply401(verifier.challenge(realm, { stale: result.reason === 'stale' }));
 * ```
 */
export class DigestVerifier {
  readonly algorithms: readonly DigestAlgorithm[];
  readonly #nonces: NonceService;
  readonly #ncTracker: NcTracker;
  readonly #lookupHa1: Ha1Lookup;
  readonly #requireQop: boolean;
  readonly #onGuessFailed: DigestVerifierOptions['onGuessFailed'];
  readonly #onVerified: DigestVerifierOptions['onVerified'];

  /** @throws {@link AuthError} `AUTH_ERR_CONFIG` for an empty algorithm list. */
  constructor(options: DigestVerifierOptions) {
    const algorithms = options.algorithms ?? ['SHA-256', 'MD5'];
    if (algorithms.length === 0) throw new AuthError('AUTH_ERR_CONFIG', 'at least one digest algorithm is required');
    this.algorithms = [...new Set(algorithms)];
    this.#nonces = options.nonces;
    this.#ncTracker = options.ncTracker ?? new NcTracker();
    this.#lookupHa1 = options.lookupHa1;
    this.#requireQop = options.requireQop ?? false;
    this.#onGuessFailed = options.onGuessFailed;
    this.#onVerified = options.onVerified;
  }

  /**
   * Builds the challenge header values for `realm`: one per configured algorithm, in
   * preference order, since RFC 8760 §2.4 has the server send one challenge per
   * algorithm, most preferred first, and the UAC answer the topmost it supports. All
   * offer qop="auth" (RFC 3261 §22.4 recommends qop).
   */
  challenge(realm: string, options: ChallengeOptions = {}): string[] {
    // One nonce for the set: the client answers only one of them.
    const nonce = this.#nonces.issue(realm);
    return this.algorithms.map((algorithm) =>
      formatChallenge({
        realm,
        nonce,
        algorithm,
        qop: ['auth'],
        ...(options.stale ? { stale: true } : {}),
      }),
    );
  }

  /**
   * Checks an `Authorization` / `Proxy-Authorization` value.
   *
   * Order: syntax, realm, offered algorithm/qop, nonce signature, uri, user, response
   * digest, then nonce expiry and nonce count. Expiry is judged after the digest so
   * that `'stale'` is only reported to a client that knows the password (RFC 7616 §3.3:
   * stale=TRUE means "the digest was valid, only the nonce was old"); the nonce count
   * is recorded only for requests that are otherwise valid, so forged requests cannot
   * burn counts.
   *
   * @param credentialsValue - the header value, or undefined when the header is absent.
   * @throws {@link AuthError} `AUTH_ERR_CONFIG` when `lookupHa1` returns a malformed HA1.
   */
  async verify(credentialsValue: string | undefined, context: VerifyContext): Promise<VerifyResult> {
    if (credentialsValue === undefined || credentialsValue.trim() === '') {
      return fail('missing', 'no credentials');
    }
    let creds: DigestCredentials;
    try {
      creds = parseCredentials(credentialsValue);
    } catch (err) {
      if (err instanceof AuthError) return fail('malformed', err.message);
      throw err;
    }
    // RFC 3261 §22.1 / RFC 4475 regaut01: an unknown scheme is treated as no credentials.
    if (creds.scheme !== 'Digest') return fail('missing', `unsupported auth scheme "${creds.scheme}"`);

    // Realm first: credentials for another realm (another proxy's) are not ours to judge
    // (RFC 3261 §22.3), and the nonce MAC depends on the realm.
    if (creds.realm !== context.realm) {
      return fail('wrong-realm', `credentials are for realm "${creds.realm}", expected "${context.realm}"`);
    }
    const algorithm = creds.algorithm ?? 'MD5';
    if (!this.algorithms.includes(algorithm)) return fail('malformed', `algorithm ${algorithm} was not offered`);
    if (creds.qop === undefined) {
      if (this.#requireQop) return fail('malformed', 'qop is required');
    } else if (creds.qop.toLowerCase() !== 'auth') {
      // We only ever offer qop="auth" (see challenge()).
      return fail('malformed', `qop "${creds.qop}" was not offered`);
    }

    const nonceStatus = this.#nonces.check(creds.nonce, context.realm);
    if (nonceStatus === 'invalid') return fail('invalid-nonce', 'nonce was not issued by this server for this realm');

    // RFC 3261 §22.4: the uri parameter must match the Request-URI; otherwise a
    // captured response could authorise a request to another target.
    if (context.requestUri !== undefined && creds.uri !== context.requestUri) {
      return fail('uri-mismatch', `uri "${creds.uri}" differs from Request-URI "${context.requestUri}"`);
    }

    const ha1 = await this.#lookupHa1(creds.username, creds.realm, baseAlgorithm(algorithm));
    if (ha1 === undefined) {
      this.#onGuessFailed?.({ reason: 'unknown-user', username: creds.username, realm: creds.realm, source: context.source });
      return fail('unknown-user', `no ${baseAlgorithm(algorithm)} HA1 for user "${creds.username}"`);
    }

    const expected = computeResponse({
      ha1,
      method: context.method,
      uri: creds.uri,
      nonce: creds.nonce,
      algorithm,
      ...(creds.qop !== undefined ? { qop: creds.qop } : {}),
      ...(creds.nc !== undefined ? { nc: creds.nc } : {}),
      ...(creds.cnonce !== undefined ? { cnonce: creds.cnonce } : {}),
    });
    const got = Buffer.from(creds.response.toLowerCase(), 'utf8');
    const want = Buffer.from(expected, 'utf8');
    // Lengths are public (fixed per algorithm); the compare itself is constant-time.
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      this.#onGuessFailed?.({ reason: 'bad-response', username: creds.username, realm: creds.realm, source: context.source });
      return fail('bad-response', `response digest does not match for user "${creds.username}"`);
    }

    if (nonceStatus === 'stale') return fail('stale', 'nonce lifetime is over');
    if (creds.qop !== undefined && !this.#ncTracker.accept(creds.nonce, creds.nc!)) {
      return fail('replay', `nc ${creds.nc} is not greater than the last seen for this nonce`);
    }
    this.#onVerified?.({ username: creds.username, realm: creds.realm, source: context.source });
    return { ok: true, username: creds.username, algorithm };
  }
}
