/**
 * Second-chance reading of a request that failed to parse, so it can still be answered
 * (400/505/513 with a reason naming the problem) when its Via, From, To, Call-ID and CSeq
 * lines can be copied. Error path only.
 *
 * @remarks Layer 2 (`transport/`).
 */
import { type SipRequest, parseMessage } from '../sip/index.js';

/** Returns the header section re-read under a neutral start line, or undefined. */
export function salvageRequest(bytes: Buffer): SipRequest | undefined {
  let start = 0;
  while (start < bytes.length && (bytes[start] === 0x0d || bytes[start] === 0x0a)) start++;
  if (bytes.subarray(start, start + 4).toString('latin1').toUpperCase() === 'SIP/') return undefined; // a response
  const firstLf = bytes.indexOf(0x0a, start);
  if (firstLf < 0) return undefined;
  let end = bytes.indexOf('\r\n\r\n', firstLf - 1);
  end = end < 0 ? Math.min(bytes.length, 16384) : end;
  const lines = bytes.subarray(firstLf + 1, end).toString('latin1').split(/\r?\n/);
  const kept: string[] = [];
  for (const line of lines) {
    const name = line.split(':', 1)[0]!.trim().toLowerCase();
    if (name === 'content-length' || name === 'l') continue;
    // A line that is not `token [blanks] ":"` (e.g. "Foobar roobar", "Bad Header: x") is what
    // failed; without it the copied headers parse, so the 400 naming it can be sent.
    if (!/^[ \t]/.test(line) && !/^[A-Za-z0-9.!%*_+`'~-]+[ \t]*:/.test(line)) continue;
    kept.push(line);
  }
  const method = bytes.subarray(start, firstLf).toString('latin1').split(' ', 1)[0] ?? 'X';
  const safeMethod = /^[A-Za-z0-9.!%*_+`'~-]+$/.test(method) ? method : 'UNKNOWN';
  const text = `${safeMethod} sip:invalid SIP/2.0\r\n${kept.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`;
  try {
    return parseMessage(Buffer.from(text, 'latin1')) as SipRequest;
  } catch {
    return undefined;
  }
}
