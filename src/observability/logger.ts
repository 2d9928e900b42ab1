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
import { Writable } from 'node:stream';
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

/** pino's own keys, left out of a text line's key=value tail. */
const PINO_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'msg']);
/** Fields for machines (`event` names the kind of line), left out of text lines. */
const TEXT_SKIPPED = new Set(['event', 'server', 'worker']);

export function createLogger(opts: LoggerOptions = {}): Logger {
  const out = opts.destination ?? process.stderr;
  const options = { level: opts.level ?? 'info', base: { ...(opts.base ?? {}) }, timestamp: pino.stdTimeFunctions.isoTime };
  if ((opts.format ?? 'text') === 'json') return pino(options, { write: (line: string) => void out.write(line) });
  const prefix = opts.prefix ?? 'switchboard: ';
  return pino(options, new Writable({
    write(chunk: Buffer, _enc, done) {
      out.write(textLine(chunk.toString('utf8'), prefix));
      done();
    },
  }));
}

/** A pino JSON line as `prefix` + message + ` key=value` for each field of the event. */
function textLine(json: string, prefix: string): string {
  let ev: Record<string, unknown>;
  try {
    ev = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return prefix + json;
  }
  const tail: string[] = [];
  const msg = String(ev.msg ?? '');
  for (const [k, v] of Object.entries(ev)) {
    // A terminal reader has the sentence: what it already says is not repeated as key=value.
    if (PINO_KEYS.has(k) || TEXT_SKIPPED.has(k) || v === undefined || (k === 'held' && v === 0)) continue;
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    if (msg.includes(text)) continue;
    tail.push(`${k}=${/[\s"=]/.test(text) ? JSON.stringify(text) : text}`);
  }
  const level = typeof ev.level === 'number' && ev.level >= 50 ? 'error: ' : typeof ev.level === 'number' && ev.level >= 40 ? 'warning: ' : '';
  return `${prefix}${level}${msg}${tail.length > 0 ? ` ${tail.join(' ')}` : ''}\n`;
}
