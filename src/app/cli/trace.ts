/**
 * `--trace`: every message sent and received, in full, headed `Sent:` / `Received:` with the
 * transport and addresses, like a gateway's `debug ccsip messages`.
 *
 * @remarks App layer (`app/cli`).
 */
import type { TraceEvent } from '../../transport/index.js';

export function printTrace(ev: TraceEvent, out: NodeJS.WritableStream = process.stderr, tag = ''): void {
  const arrow = ev.direction === 'Sent' ? `${ev.local} -> ${ev.remote}` : `${ev.remote} -> ${ev.local}`;
  const text = ev.bytes.toString('utf8').replace(/\r\n/g, '\n');
  out.write(`${tag}${ev.direction}: ${ev.kind.toUpperCase()} ${arrow} (${ev.bytes.length} bytes)\n${text}${text.endsWith('\n') ? '' : '\n'}\n`);
}
