/**
 * Digest computations (RFC 2617 §3.2.2, RFC 7616 §3.4) and the client side: answering
 * a challenge (RFC 3261 §22.2, §22.3).
 *
 * @remarks Leaf module. All strings are hashed as UTF-8 (RFC 7616 §3.4.4 charset).
 */

import * as nodeCrypto from 'node:crypto';
import { createHash, randomBytes } from 'node:crypto';
import { AuthError } from './auth-error.js';
import { parseChallenge } from './auth-header.js';
import type { DigestAlgorithm, DigestChallenge, DigestCredentials } from './auth-header.js';

const HASH_OF: Record<DigestAlgorithm, 'md5' | 'sha256'> = {
  MD5: 'md5',
  'MD5-sess': 'md5',
  'SHA-256': 'sha256',
  'SHA-256-sess': 'sha256',
};

/** Hex digest length of each algorithm's hash function. */
const HEX_LENGTH: Record<'md5' | 'sha256', number> = { md5: 32, sha256: 64 };

/** The algorithm without its `-sess` suffix: the one a stored HA1 is computed with. */
export function baseAlgorithm(algorithm: DigestAlgorithm): 'MD5' | 'SHA-256' {
  return HASH_OF[algorithm] === 'md5' ? 'MD5' : 'SHA-256';
}

/** Whether `algorithm` is a session variant (RFC 7616 §3.4.2). */
export function isSessionAlgorithm(algorithm: DigestAlgorithm): boolean {
  return algorithm.endsWith('-sess');
}

/** Length in hex digits of a digest (HA1, response) for `algorithm`: 32 or 64. */
export function digestHexLength(algorithm: DigestAlgorithm): number {
  return HEX_LENGTH[HASH_OF[algorithm]];
}

/** Node ≥ 20.12 hashes in one call (no Hash object): about 3× cheaper for digest-sized inputs. */
const oneShot = (nodeCrypto as { hash?: (alg: string, data: string | Uint8Array, enc: 'hex') => string }).hash;

function h(algorithm: DigestAlgorithm, data: string | Uint8Array): string {
  if (oneShot !== undefined) return oneShot(HASH_OF[algorithm], data, 'hex');
  return createHash(HASH_OF[algorithm]).update(data).digest('hex');
}

/**
 * Formats a nonce count as the 8 lower-case hex digits of `nc-value` (RFC 7616 §3.4).
 *
 * @throws {@link AuthError} `AUTH_ERR_PARAM_VALUE` outside 1..0xffffffff.
 */
export function formatNonceCount(nc: number): string {
  if (!Number.isInteger(nc) || nc < 1 || nc > 0xffffffff) {
    throw new AuthError('AUTH_ERR_PARAM_VALUE', `nonce count ${nc} is outside 1..0xffffffff`);
  }
  return nc.toString(16).padStart(8, '0');
}

/**
 * The stored HA1: `H(username ":" realm ":" password)` (RFC 7616 §3.4.2).
 *
 * For a `-sess` algorithm this is still the plain value; {@link computeResponse} adds
 * the `":" nonce ":" cnonce` session step, so a server stores one HA1 per hash function
 * (MD5 and SHA-256 HA1s differ), not per algorithm name.
 */
export function computeHa1(username: string, realm: string, password: string, algorithm: DigestAlgorithm = 'MD5'): string {
  return h(algorithm, `${username}:${realm}:${password}`);
}

/** Inputs of {@link computeResponse} other than the secret. */
export interface ResponseParams {
  /** Request method; for SIP, the method of the request being authorised (RFC 3261 §22.4). */
  method: string;
  /** The digest-uri exactly as sent in the `uri` parameter. */
  uri: string;
  nonce: string;
  /** Nonce count as a number or as the 8 hex digits sent; required with qop. */
  nc?: number | string;
  /** Client nonce; required with qop and with `-sess` algorithms. */
  cnonce?: string;
  /** `auth`, `auth-int`, or absent for RFC 2069 compatibility. */
  qop?: string;
  /** Defaults to MD5 (RFC 7616 §3.3). */
  algorithm?: DigestAlgorithm;
  /** Message body, hashed into A2 for qop=auth-int (RFC 7616 §3.4.3). */
  body?: string | Uint8Array;
}

/** The secret side of {@link computeResponse}: a stored HA1 or the password itself. */
export type ResponseSecret = { ha1: string } | { username: string; realm: string; password: string };

/**
 * Computes the request-digest (the `response` parameter).
 *
 * ```
 * HA1 = H(username:realm:password)           ; -sess: H(HA1:nonce:cnonce)
 * HA2 = H(method:uri)                        ; auth-int: H(method:uri:H(body))
 * response = H(HA1:nonce:nc:cnonce:qop:HA2)  ; no qop (RFC 2069): H(HA1:nonce:HA2)
 * ```
 *
 * @throws {@link AuthError} `AUTH_ERR_MISSING_PARAM` if qop is set without nc/cnonce or
 * a `-sess` algorithm lacks cnonce; `AUTH_ERR_QOP` for a qop other than auth/auth-int;
 * `AUTH_ERR_CONFIG` for an `ha1` that is not hex of the algorithm's length.
 */
export function computeResponse(input: ResponseParams & ResponseSecret): string {
  const algorithm = input.algorithm ?? 'MD5';
  let ha1: string;
  if ('ha1' in input) {
    ha1 = input.ha1.toLowerCase();
    if (ha1.length !== digestHexLength(algorithm) || !/^[0-9a-f]+$/.test(ha1)) {
      throw new AuthError('AUTH_ERR_CONFIG', `HA1 is not ${digestHexLength(algorithm)} hex digits for ${algorithm}`);
    }
  } else {
    ha1 = computeHa1(input.username, input.realm, input.password, algorithm);
  }
  if (isSessionAlgorithm(algorithm)) {
    // RFC 7616 §3.4.2: the session key binds HA1 to this nonce and cnonce.
    if (input.cnonce === undefined) throw new AuthError('AUTH_ERR_MISSING_PARAM', `${algorithm} requires a cnonce`);
    ha1 = h(algorithm, `${ha1}:${input.nonce}:${input.cnonce}`);
  }

  const qop = input.qop;
  let ha2: string;
  if (qop !== undefined && qop.toLowerCase() === 'auth-int') {
    // RFC 7616 §3.4.3: integrity protection covers the body (empty if none).
    ha2 = h(algorithm, `${input.method}:${input.uri}:${h(algorithm, input.body ?? '')}`);
  } else if (qop === undefined || qop.toLowerCase() === 'auth') {
    ha2 = h(algorithm, `${input.method}:${input.uri}`);
  } else {
    throw new AuthError('AUTH_ERR_QOP', `unsupported qop "${qop}"`);
  }

  if (qop === undefined) return h(algorithm, `${ha1}:${input.nonce}:${ha2}`);
  if (input.nc === undefined || input.cnonce === undefined) {
    throw new AuthError('AUTH_ERR_MISSING_PARAM', 'qop requires both nc and cnonce');
  }
  const nc = typeof input.nc === 'number' ? formatNonceCount(input.nc) : input.nc;
  return h(algorithm, `${ha1}:${input.nonce}:${nc}:${input.cnonce}:${qop}:${ha2}`);
}

/** Options of {@link answerChallenge}. */
export interface AnswerOptions {
  username: string;
  password: string;
  /** Method of the request being (re)sent. */
  method: string;
  /** Request-URI of that request, copied into `uri` (RFC 3261 §22.4). */
  uri: string;
  /** Nonce count for this nonce, starting at 1 (RFC 7616 §3.4); default 1. */
  nc?: number;
  /** Client nonce; default 16 random bytes in hex. */
  cnonce?: string;
  /** Body, used only if the challenge offers auth-int but not auth; default empty. */
  body?: string | Uint8Array;
}

/**
 * Builds the credentials answering a Digest challenge (the UAC side, RFC 3261 §22.2).
 *
 * Chooses qop=auth when offered, else auth-int (over `opts.body`), else no qop when
 * the challenge has none (RFC 2069 compatibility, RFC 3261 §22.4). Echoes `opaque` and
 * `algorithm` as RFC 7616 §3.4 requires. Format the result with `formatCredentials`.
 *
 * @throws {@link AuthError} `AUTH_ERR_SCHEME` for a non-Digest challenge, `AUTH_ERR_QOP`
 * when only unknown qop values are offered.
 */
export function answerChallenge(challenge: DigestChallenge, opts: AnswerOptions): DigestCredentials {
  if (challenge.scheme.toLowerCase() !== 'digest') {
    throw new AuthError('AUTH_ERR_SCHEME', `cannot answer a "${challenge.scheme}" challenge`);
  }
  const algorithm = challenge.algorithm ?? 'MD5';
  let qop: string | undefined;
  if (challenge.qop !== undefined) {
    const offered = challenge.qop;
    qop =
      offered.find((q) => q.toLowerCase() === 'auth') ?? offered.find((q) => q.toLowerCase() === 'auth-int');
    if (qop === undefined) throw new AuthError('AUTH_ERR_QOP', `none of the offered qop values "${offered.join(',')}" is supported`);
  }
  const needsCnonce = qop !== undefined || isSessionAlgorithm(algorithm);
  const cnonce = needsCnonce ? (opts.cnonce ?? randomBytes(16).toString('hex')) : undefined;
  const nc = qop !== undefined ? formatNonceCount(opts.nc ?? 1) : undefined;

  const response = computeResponse({
    username: opts.username,
    realm: challenge.realm,
    password: opts.password,
    method: opts.method,
    uri: opts.uri,
    nonce: challenge.nonce,
    algorithm,
    ...(qop !== undefined ? { qop } : {}),
    ...(nc !== undefined ? { nc } : {}),
    ...(cnonce !== undefined ? { cnonce } : {}),
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });

  const out: DigestCredentials = {
    scheme: 'Digest',
    username: opts.username,
    realm: challenge.realm,
    nonce: challenge.nonce,
    uri: opts.uri,
    response,
    params: new Map(),
  };
  // Echo algorithm only if the server named it: an absent algorithm means MD5 and some
  // RFC 2069-era servers choke on parameters they did not send.
  if (challenge.algorithm !== undefined) out.algorithm = challenge.algorithm;
  if (cnonce !== undefined) out.cnonce = cnonce;
  if (challenge.opaque !== undefined) out.opaque = challenge.opaque;
  if (qop !== undefined) out.qop = qop;
  if (nc !== undefined) out.nc = nc;
  return out;
}

/**
 * Picks the challenge to answer among several header values (one per
 * `WWW-Authenticate` / `Proxy-Authenticate`): the topmost Digest challenge with a
 * supported algorithm, as RFC 8760 §2.4 asks of a UAC. Unparseable values, other
 * schemes and unknown algorithms are skipped (RFC 3261 §22.1).
 */
export function selectChallenge(values: readonly string[]): DigestChallenge | undefined {
  for (const value of values) {
    let challenge: DigestChallenge;
    try {
      challenge = parseChallenge(value);
    } catch (err) {
      if (err instanceof AuthError) continue;
      throw err;
    }
    if (challenge.scheme === 'Digest') return challenge;
  }
  return undefined;
}
