/**
 * IP literals as bytes, for the binary encodings that carry addresses (HEP, STUN).
 *
 * @remarks Utility (`util/`).
 */

/** A dotted-quad IPv4 literal as 4 bytes. */
export function ipv4Bytes(text: string): Buffer {
  return Buffer.from(text.split('.').map((p) => Number(p)));
}

/** An IPv6 literal (`isIP(text) === 6` already holds) as 16 bytes: expands `::`, a dotted-quad tail, and drops a `%zone`. */
export function ipv6Bytes(text: string): Buffer {
  let t = text;
  const pct = t.indexOf('%');
  if (pct >= 0) t = t.slice(0, pct);
  const lastColon = t.lastIndexOf(':');
  if (t.includes('.', lastColon)) {
    const q = ipv4Bytes(t.slice(lastColon + 1));
    t = `${t.slice(0, lastColon + 1)}${((q[0]! << 8) | q[1]!).toString(16)}:${((q[2]! << 8) | q[3]!).toString(16)}`;
  }
  const dbl = t.indexOf('::');
  const groupsOf = (s: string) => (s === '' ? [] : s.split(':'));
  const head = groupsOf(dbl >= 0 ? t.slice(0, dbl) : t);
  const tail = dbl >= 0 ? groupsOf(t.slice(dbl + 2)) : [];
  const groups = [...head, ...new Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
