/**
 * The header-line index of a parsed message, built on the first lookup by name.
 *
 * @remarks Layer 1 (`sip/`). {@link parseMessage} checks every header line while scanning but
 * records only the routing headers (see ROUTING_SIZE); most messages are routed without looking
 * at any other header, so the offsets of all lines are only worked out here, on demand, from the
 * same bytes. The bytes were accepted by the scanner, so this pass re-checks nothing and cannot
 * fail: it must give the offsets the scanner's rules imply, line for line.
 */
import { TOKEN } from '../headers/params.js';

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;

// Module-local copy: reads of imported bindings are slower in hot loops.
const TOK: Uint8Array = TOKEN.slice();

/**
 * Offsets of every header line in `[start, end)` (`end`: the body start), HEADER_STRIDE numbers
 * per line: name start, name end, value start, value end. The value is trimmed of blanks; a
 * folded value (RFC 3261 §7.3.1) spans its continuation lines. `text` is the latin1 text of
 * (at least) the same bytes.
 */
export function indexHeaderLines(raw: Uint8Array, text: string, start: number, end: number): number[] {
  const ix: number[] = [];
  let p = start;
  while (p < end) {
    const c = raw[p]!;
    // The empty line ends the header section (the scanner let no other line start with CR).
    if (c === CR || c === LF) break;
    let eol = text.indexOf('\n', p);
    if (eol < 0) eol = end;
    let vEnd = eol > p && raw[eol - 1] === CR ? eol - 1 : eol;
    const n = ix.length;
    if (c === SP || c === HT) {
      // Continuation line: extends the previous value (the scanner saw a header line before it).
      while (vEnd > p && (raw[vEnd - 1] === SP || raw[vEnd - 1] === HT)) vEnd--;
      if (vEnd > p) {
        if (ix[n - 2] === ix[n - 1]) {
          // Previous value was empty: it starts at the first non-blank of this line.
          let s = p;
          while (s < vEnd && (raw[s] === SP || raw[s] === HT)) s++;
          ix[n - 2] = s;
        }
        ix[n - 1] = vEnd;
      }
      p = eol + 1;
      continue;
    }
    // token, blanks, colon, blanks, value (RFC 3261 §7.3.1 HCOLON).
    let q = p;
    while (TOK[raw[q]!] === 1) q++;
    const nameEnd = q;
    while (raw[q] !== COLON) q++;
    q++;
    while (q < vEnd && (raw[q] === SP || raw[q] === HT)) q++;
    let ve = vEnd;
    while (ve > q && (raw[ve - 1] === SP || raw[ve - 1] === HT)) ve--;
    ix.push(p, nameEnd, q, ve);
    p = eol + 1;
  }
  return ix;
}
