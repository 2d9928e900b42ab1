/**
 * Stateless signed nonces and nonce-count replay tracking for the server side.
 *
 * @remarks Leaf module. RFC 7616 §5.4 suggests a nonce of the form
 * `time-stamp H(time-stamp ":" ETag ":" secret)`: the server can then check freshness
 * without storing nonces, and every process sharing the secret accepts the others'
 * nonces. We use HMAC-SHA256 instead of a bare hash (no length-extension games).
 */

import { createHmac, timingSafeEqual } from 'node:crypto';
import { pooledRandomBytes } from '../util/ids.js';
import { AuthError } from './auth-error.js';

/** Options of {@link NonceService}. */
export interface NonceServiceOptions {
  /** HMAC key shared by every process that must accept the nonces; at least 16 bytes. */
  secret: Buffer | string;
  /** How long a nonce stays valid before it is reported stale; default 300 s. */
  lifetimeSeconds?: number;
  /** Millisecond clock, for tests; default `Date.now`. */
  clock?: () => number;
  /**
   * This process's number (0-255) among several sharing the secret (`workers: N`). It is
   * written into each nonce, and another process's nonce is reported `'stale'`: the nonce
   * count of a nonce (RFC 7616 §3.4) is tracked only where it was issued, so only there can a
   * replayed count be refused. The client then retries silently with a fresh nonce from here.
   */
  issuer?: number;
}

/** Outcome of {@link NonceService.check}. */
export type NonceStatus = 'valid' | 'stale' | 'invalid';

const TIMESTAMP_BYTES = 8;
const RANDOM_BYTES = 8;
const MAC_BYTES = 16;
const NONCE_BYTES = TIMESTAMP_BYTES + RANDOM_BYTES + MAC_BYTES;
// 32 bytes in unpadded base64url are exactly 43 characters from this alphabet; checking
// the text first keeps Buffer.from's lenient decoder from accepting look-alikes.
const NONCE_RE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Issues and checks nonces of the form
 * `base64url(timestamp-ms(8) | random(8) | HMAC-SHA256(secret, timestamp|random|realm)[0..16])`.
 *
 * Binding the realm into the MAC means a nonce issued for one realm is invalid in another.
 */
export class NonceService {
  readonly lifetimeSeconds: number;
  readonly #secret: Buffer;
  readonly #clock: () => number;
  readonly #issuer: number | undefined;

  /** @throws {@link AuthError} `AUTH_ERR_CONFIG` for a short secret or a bad lifetime. */
  constructor(options: NonceServiceOptions) {
    const secret = typeof options.secret === 'string' ? Buffer.from(options.secret, 'utf8') : Buffer.from(options.secret);
    if (secret.length < 16) throw new AuthError('AUTH_ERR_CONFIG', 'nonce secret must be at least 16 bytes');
    const lifetime = options.lifetimeSeconds ?? 300;
    if (!Number.isFinite(lifetime) || lifetime <= 0) {
      throw new AuthError('AUTH_ERR_CONFIG', `nonce lifetime ${lifetime} s is not a positive number`);
    }
    this.#secret = secret;
    this.lifetimeSeconds = lifetime;
    this.#clock = options.clock ?? Date.now;
    if (options.issuer !== undefined && !(Number.isInteger(options.issuer) && options.issuer >= 0 && options.issuer <= 255)) {
      throw new AuthError('AUTH_ERR_CONFIG', `nonce issuer ${options.issuer} is not 0-255`);
    }
    this.#issuer = options.issuer;
  }

  /** Issues a fresh nonce for `realm`. The result is a token, so it needs no escaping. */
  issue(realm: string): string {
    const head = Buffer.alloc(TIMESTAMP_BYTES + RANDOM_BYTES);
    head.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(this.#clock()))), 0);
    pooledRandomBytes(RANDOM_BYTES).copy(head, TIMESTAMP_BYTES);
    if (this.#issuer !== undefined) head[TIMESTAMP_BYTES] = this.#issuer;
    return Buffer.concat([head, this.#mac(head, realm)]).toString('base64url');
  }

  /**
   * Checks a nonce received in credentials for `realm`.
   *
   * @returns `'invalid'` if it was not issued with this secret for this realm (or is
   * garbled), `'stale'` if it was but its lifetime is over or another issuer made it (the
   * server then challenges again with `stale=TRUE`, RFC 7616 §3.3), else `'valid'`.
   */
  check(nonce: string, realm: string): NonceStatus {
    if (typeof nonce !== 'string' || !NONCE_RE.test(nonce)) return 'invalid';
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== NONCE_BYTES) return 'invalid';
    const head = raw.subarray(0, TIMESTAMP_BYTES + RANDOM_BYTES);
    const mac = raw.subarray(TIMESTAMP_BYTES + RANDOM_BYTES);
    // Constant-time compare: a byte-by-byte early exit would let an attacker forge a
    // MAC one byte at a time by timing.
    if (!timingSafeEqual(mac, this.#mac(head, realm))) return 'invalid';
    const issuedAt = Number(head.readBigUInt64BE(0));
    const lifetimeMs = this.lifetimeSeconds * 1000;
    const age = this.#clock() - issuedAt;
    // A timestamp far in the future cannot come from a sane peer sharing the secret.
    if (age < -lifetimeMs) return 'invalid';
    if (this.#issuer !== undefined && head[TIMESTAMP_BYTES] !== this.#issuer) return 'stale'; // another worker's
    return age > lifetimeMs ? 'stale' : 'valid';
  }

  #mac(head: Buffer, realm: string): Buffer {
    // head has a fixed length, so head|realm is unambiguous without a separator.
    return createHmac('sha256', this.#secret).update(head).update(realm, 'utf8').digest().subarray(0, MAC_BYTES);
  }
}

/** Options of {@link NcTracker}. */
export interface NcTrackerOptions {
  /** Most nonces remembered at once; the least recently used is forgotten. Default 100 000. */
  maxEntries?: number;
}

/**
 * Remembers the highest nonce count seen per nonce to refuse replays (RFC 7616 §3.4:
 * the server can detect a replay by seeing the same nc value twice).
 *
 * Bounded: past `maxEntries` the least recently used nonce is forgotten, after which an
 * old nc for that nonce would be accepted again. Size it at least
 * (authenticated requests per second × nonce lifetime) so that nonces only fall out
 * after they have gone stale anyway. State is per process.
 */
export class NcTracker {
  readonly maxEntries: number;
  // A Map iterates in insertion order; re-inserting on use makes the first key the LRU one.
  readonly #highest = new Map<string, number>();

  constructor(options: NcTrackerOptions = {}) {
    const max = options.maxEntries ?? 100_000;
    if (!Number.isInteger(max) || max < 1) throw new AuthError('AUTH_ERR_CONFIG', `maxEntries ${max} is not a positive integer`);
    this.maxEntries = max;
  }

  /** Number of nonces currently remembered. */
  get size(): number {
    return this.#highest.size;
  }

  /**
   * Records `nc` for `nonce` if it is greater than every nc seen before for it.
   *
   * @param nc - the nonce count as a number or as the 8 hex digits of the header.
   * @returns false (a replay or a garbled nc) when `nc` is ≤ the last one seen.
   */
  accept(nonce: string, nc: number | string): boolean {
    const value = typeof nc === 'number' ? nc : /^[0-9a-fA-F]{1,8}$/.test(nc) ? parseInt(nc, 16) : NaN;
    if (!Number.isInteger(value) || value < 1) return false;
    const last = this.#highest.get(nonce);
    if (value <= (last ?? 0)) return false;
    if (last === undefined) {
      // The nonce is a slice of the request's text; kept as a key for the nonce lifetime, it
      // would keep the whole request text alive. Slicing a fresh concatenation gives a string
      // backed by a copy of its own (V8 flattens the concatenation first).
      this.#highest.set(` ${nonce}`.slice(1), value);
    } else {
      this.#highest.delete(nonce);
      this.#highest.set(nonce, value);
    }
    if (this.#highest.size > this.maxEntries) {
      const oldest = this.#highest.keys().next().value;
      if (oldest !== undefined) this.#highest.delete(oldest);
    }
    return true;
  }
}
