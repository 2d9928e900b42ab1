/**
 * mulberry32: a small seeded pseudo-random generator (numbers in [0, 1)), for what must come
 * out the same for the same seed — a virtual network's losses, a fuzzer's mutations. Not for
 * anything secret (tags, branches and nonces use node:crypto).
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
