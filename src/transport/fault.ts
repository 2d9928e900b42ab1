/**
 * Faults: a received message that made some layer throw. The receive paths answer what they
 * still can (a stateless 500), and report every fault here — never to `uncaughtException`, and
 * never silently: a counter in {@link TransportStats} and a report to whoever listens.
 *
 * @remarks Layer 2 (`transport/`). The TU layers above report their own faults through
 * {@link TransportLayer.reportFault} so that one counter and one log line cover them all.
 */
import diagnostics from 'node:diagnostics_channel';

/** One fault, as logged: what threw, where, and the message it was handling. */
export interface FaultReport {
  /** Where the boundary caught it: `receive`, `request`, `response`, `timer`, or a role's name. */
  where: string;
  error: unknown;
  /** `transport:address:port` the message came from, when there was one. */
  source?: string;
  callId?: string;
  /** Request method or response status line, when known. */
  message?: string;
  /** The status sent in answer (500), if any. */
  answered?: number;
}

/** Published for every fault (subscribers: logs, metrics). */
export const faultChannel = diagnostics.channel('sip:fault');

/** One line for a log: where, source, Call-ID, message and the error with its first frame. */
export function describeFault(f: FaultReport): string {
  const e = f.error as { name?: string; message?: string; stack?: string } | undefined;
  const frame = e?.stack?.split('\n').find((l) => l.trimStart().startsWith('at '))?.trim();
  const parts = [
    `fault in ${f.where}`,
    f.source ? `from ${f.source}` : undefined,
    f.callId !== undefined ? `Call-ID ${JSON.stringify(f.callId)}` : undefined,
    f.message ? `(${f.message})` : undefined,
    `: ${e?.name ?? 'Error'}: ${e?.message ?? String(f.error)}`,
    frame ? ` [${frame}]` : undefined,
    f.answered ? `; answered ${f.answered}` : '; dropped',
  ];
  return parts.filter((p) => p !== undefined).join(' ').replace(/ :/, ':').replace(/ ;/, ';');
}

/** The Call-ID of raw bytes that may not parse (error path only): the first `Call-ID:`/`i:` line. */
export function sniffCallId(bytes: Buffer): string | undefined {
  const head = bytes.subarray(0, 8192).toString('latin1');
  const m = /(?:^|\n)(?:call-id|i)[ \t]*:[ \t]*([^\r\n]{1,128})/i.exec(head);
  return m ? m[1]!.trim() : undefined;
}

/**
 * A log writer that passes at most `max` lines per `windowMs`, then one line saying how many it
 * held back: a flood of bad packets must not turn into a flood of log lines (RFC 3261 §26.1.5's
 * concern, for the log). The clock is injectable for tests.
 */
export function limitLines(write: (line: string) => void, max = 20, windowMs = 10_000, now: () => number = Date.now): (line: string) => void {
  let windowStart = -Infinity;
  let passed = 0;
  let held = 0;
  return (line: string) => {
    const t = now();
    if (t - windowStart >= windowMs) {
      if (held > 0) write(`${held} more fault line(s) held back in the last ${Math.round(windowMs / 1000)} s`);
      windowStart = t;
      passed = 0;
      held = 0;
    }
    if (passed < max) {
      passed++;
      write(line);
    } else held++;
  };
}
