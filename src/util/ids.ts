/**
 * Identifiers with enough randomness to be globally unique: Via branch (RFC 3261 §8.1.1.7),
 * From/To tag (§19.3) and Call-ID (§8.1.1.4).
 *
 * @remarks Utility (`util/`). Randomness comes from `crypto.randomBytes` (drawn in 4 KiB blocks) unless a test installs
 * a deterministic source with {@link setRandomSource} (STYLE §8.5).
 */
import { randomBytes } from 'node:crypto';

/** Returns `size` random bytes. */
export type RandomSource = (size: number) => Buffer;

/**
 * `crypto.randomBytes` per identifier is one getrandom(2) call each — measured at ~15 µs here,
 * a large share of a registration. Draw 4 KiB at a time and hand out slices.
 */
const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let poolOffset = POOL_SIZE;
export function pooledRandomBytes(size: number): Buffer {
  if (size > POOL_SIZE) return randomBytes(size);
  if (poolOffset + size > pool.length) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + size);
  poolOffset += size;
  return out;
}

let source: RandomSource = pooledRandomBytes;

/**
 * Replaces the random source (tests); call without an argument to restore `crypto.randomBytes`.
 * @returns the previous source, so a test can put it back.
 */
export function setRandomSource(next?: RandomSource): RandomSource {
  const prev = source;
  source = next ?? pooledRandomBytes;
  return prev;
}

/** A deterministic source for tests: a counter run through the bytes, never for production. */
export function sequentialRandomSource(seed = 1): RandomSource {
  let n = seed >>> 0;
  return (size: number) => {
    const b = Buffer.alloc(size);
    for (let i = 0; i < size; i++) {
      n = (Math.imul(n, 1103515245) + 12345) >>> 0;
      b[i] = n >>> 16;
    }
    return b;
  };
}

function hex(bytes: number, rng: RandomSource): string {
  return rng(bytes).toString('hex');
}

/** The RFC 3261 magic cookie that starts every branch we generate (§8.1.1.7). */
const MAGIC_COOKIE = 'z9hG4bK';

/** A new Via branch: the magic cookie plus 96 random bits (RFC 3261 §8.1.1.7). */
export function newBranch(rng: RandomSource = source): string {
  return MAGIC_COOKIE + hex(12, rng);
}

/** A new From/To tag: 64 random bits (RFC 3261 §19.3 asks for at least 32). */
export function newTag(rng: RandomSource = source): string {
  return hex(8, rng);
}

/** A new Call-ID: 128 random bits, `@host` appended when given (RFC 3261 §8.1.1.4). */
export function newCallId(host?: string, rng: RandomSource = source): string {
  const id = hex(16, rng);
  return host ? `${id}@${host}` : id;
}
