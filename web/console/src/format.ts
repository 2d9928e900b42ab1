// Small formatting helpers shared by the views.

import type { CallSummary, MessageView } from './types.js';

/** 3725 → "1h 02m 05s"; 65 → "1m 05s"; 4 → "4s" ("4.2s" with `tenths`, below 10 s). */
export function duration(seconds: number, tenths = false): string {
  if (tenths && seconds < 10) return `${Math.max(0, seconds).toFixed(1)}s`;
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (d > 0) return `${d}d ${h}h ${pad(m)}m`;
  if (h > 0) return `${h}h ${pad(m)}m ${pad(s % 60)}s`;
  if (m > 0) return `${m}m ${pad(s % 60)}s`;
  return `${s}s`;
}

/** ISO time → "14:03:27" (local), with the date when it is not today. */
export function clock(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const time = d.toLocaleTimeString([], { hour12: false });
  return d.toDateString() === new Date().toDateString() ? time : `${d.toISOString().slice(0, 10)} ${time}`;
}

/** 1536 → "1.5 KiB". */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** A From/To value without its tag: `"Bob" <sip:bob@example.com>;tag=x` → `"Bob" <sip:bob@example.com>`. */
export function party(value: string): string {
  return value.replace(/;tag=[^;]*/i, '');
}

/** Talk time of a call (answer → end, or → now while it lasts), in seconds; undefined if never answered. */
export function talkTime(call: CallSummary, now: number): number | undefined {
  if (!call.answer) return undefined;
  const end = call.end ? Date.parse(call.end) : now;
  return (end - Date.parse(call.answer)) / 1000;
}

/** The ladder's label of a message: the method of a request, `status reason-phrase` of a response. */
export function messageLabel(m: Pick<MessageView, 'startLine' | 'method' | 'status'>): string {
  if (m.status === undefined) return m.method;
  const r = /^SIP\/2\.0\s+(\d{3})\s*(.*)$/.exec(m.startLine);
  return r ? `${r[1]} ${r[2]}`.trim() : String(m.status);
}

/** Seconds between two times in ms, as "+0.012 s". */
export function offset(ms: number): string {
  return `+${(Math.max(0, ms) / 1000).toFixed(3)} s`;
}
