/**
 * The server's log, with pino: one line per significant event — start, stop, listeners,
 * registrations added and removed, calls started and ended with their cause, authentication
 * failures with their source, faults — with the Call-ID on every call's line.
 *
 * Two formats: `json` (pino's own line, for journald, Loki, Elasticsearch …) and `text`
 * (`switchboard: message key=value …`, for a terminal). The level can be changed while running
 * (`POST /api/reload`, SIGHUP with a new config).
 *
 * @remarks Leaf (`observability/`).
 */
import pino, { type Logger } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type LogFormat = 'json' | 'text';

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go (default stderr). */
  destination?: NodeJS.WritableStream;
  /** Fields on every line (`server`, `worker`). */
  base?: Record<string, unknown>;
  /** Text format: what each line starts with (default `switchboard: `). */
  prefix?: string;
}

export type { Logger };

/** Fields for machines (`event` names the kind of line), left out of text lines. */
const TEXT_SKIPPED = new Set(['event', 'server', 'worker']);

export function createLogger(opts: LoggerOptions = {}): Logger {
  // stderr, coalesced per event-loop turn: a line never costs the SIP path a write of its own.
  const out: { write(s: string): unknown } = opts.destination ?? stderrCoalesced();
  const options = { level: opts.level ?? 'info', base: { ...(opts.base ?? {}) }, timestamp: pino.stdTimeFunctions.isoTime };
  if ((opts.format ?? 'text') === 'json') return pino(options, out as NodeJS.WritableStream);
  const prefix = opts.prefix ?? 'switchboard: ';
  // The text line is written from the call itself (pino's logMethod hook): no JSON is built for it.
  return pino({
    ...options,
    hooks: {
      logMethod(args: unknown[], _method: unknown, level: number) {
        const [first, second] = args;
        const fields = typeof first === 'object' && first !== null && !(first instanceof Error) ? (first as Record<string, unknown>) : undefined;
        const msg = fields ? String(second ?? '') : first instanceof Error ? first.message : String(first ?? '');
        out.write(textLine(prefix, level, msg, fields));
      },
    },
  }, out as NodeJS.WritableStream);
}

/**
 * stderr, one write per turn of the event loop: the lines logged while the loop handles a
 * burst of messages go out together right after it (setImmediate), so a flood of calls costs a
 * write per turn, not per line, and no line waits longer than the turn that logged it. What is
 * pending when the process exits is written then.
 */
const exitFlushes = new Set<() => void>();
let exitHooked = false;

function stderrCoalesced(): { write(s: string): boolean } {
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', () => {
      for (const f of exitFlushes) f();
    });
  }
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const data = pending.join('');
    pending = [];
    process.stderr.write(data);
  };
  exitFlushes.add(flush);
  return {
    write(line: string) {
      pending.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
      return true;
    },
  };
}

/** `prefix` + message + ` key=value` for each field the message does not already say. */
function textLine(prefix: string, level: number, msg: string, fields: Record<string, unknown> | undefined): string {
  let tail = '';
  if (fields) {
    for (const k in fields) {
      const v = fields[k];
      // A terminal reader has the sentence: what it already says is not repeated as key=value.
      if (v === undefined || TEXT_SKIPPED.has(k) || (k === 'held' && v === 0)) continue;
      const text = typeof v === 'string' ? v : JSON.stringify(v);
      if (msg.includes(text)) continue;
      tail += ` ${k}=${/[\s"=]/.test(text) ? JSON.stringify(text) : text}`;
    }
  }
  const tag = level >= 50 ? 'error: ' : level >= 40 ? 'warning: ' : '';
  return `${prefix}${tag}${msg}${tail}\n`;
}
