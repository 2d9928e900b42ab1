/**
 * `--trace`: every message sent and received, in full, headed `Sent:` / `Received:` with the
 * transport and addresses, like a gateway's `debug ccsip messages`; a line with the time (UTC,
 * milliseconds) before each. Bytes that are not printable text (binary junk, a scanner's
 * probe) are shown as `\xNN`, so a terminal is never fed control characters.
 * `--trace-filter TEXT` (repeatable) keeps the messages whose Call-ID, method, From/To user
 * or addresses contain one of the texts (case-insensitive).
 *
 * @remarks App layer (`app/cli`).
 */
import type { TraceEvent } from '../../transport/index.js';

export function printTrace(ev: TraceEvent, out: NodeJS.WritableStream = process.stderr, tag = ''): void {
  const arrow = ev.direction === 'Sent' ? `${ev.local} -> ${ev.remote}` : `${ev.remote} -> ${ev.local}`;
  const text = printable(ev.bytes).replace(/\r\n/g, '\n');
  out.write(`${tag}[${new Date().toISOString()}]\n${tag}${ev.direction}: ${ev.kind.toUpperCase()} ${arrow} (${ev.bytes.length} bytes)\n${text}${text.endsWith('\n') ? '' : '\n'}\n`);
}

/** The message as text; control characters (but CR, LF, tab) and invalid UTF-8 as `\xNN`. */
export function printable(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  // U+FFFD marks bytes that were not UTF-8: show those bytes instead.
  if (!/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]/.test(text)) return text;
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x0d || b === 0x0a || b === 0x09 || (b >= 0x20 && b < 0x7f)) out += String.fromCharCode(b);
    else if (b >= 0xc2 && b <= 0xf4) {
      // A well-formed UTF-8 sequence stays as it is.
      const len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      const seq = bytes.subarray(i, i + len);
      const ch = seq.length === len && seq.subarray(1).every((c) => (c & 0xc0) === 0x80) ? seq.toString('utf8') : '\ufffd';
      if (ch !== '\ufffd') {
        out += ch;
        i += len - 1;
      } else out += `\\x${b.toString(16).padStart(2, '0')}`;
    } else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** `--trace-filter`: does the message match one of `filters` (Call-ID, method, From/To, addresses)? */
export function traceFilter(filters: string[]): ((ev: TraceEvent) => boolean) | undefined {
  if (filters.length === 0) return undefined;
  const wanted = filters.map((f) => f.toLowerCase());
  return (ev) => {
    const head = ev.bytes.toString('latin1', 0, Math.min(ev.bytes.length, 4096));
    const lines = head.split('\r\n');
    const fields = [ev.local, ev.remote, lines[0] ?? ''];
    for (const l of lines.slice(1)) {
      if (l === '') break;
      if (/^(call-id|i|from|f|to|t|cseq)\s*:/i.test(l)) fields.push(l);
    }
    const hay = fields.join('\n').toLowerCase();
    return wanted.some((w) => hay.includes(w));
  };
}
