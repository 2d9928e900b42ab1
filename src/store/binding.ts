/**
 * A registration binding: one Contact bound to one address-of-record (RFC 3261 §10.3), with the
 * RFC 3327 Path vector and the RFC 5626 instance-id / reg-id.
 *
 * @remarks Store layer (`store/`), a leaf: imports only node built-ins, better-sqlite3, ioredis.
 */

export interface Binding {
  /** Canonical AOR (§10.3 step 5), e.g. `sip:alice@example.com`. Stored and compared byte-exact. */
  aor: string;
  /** The Contact URI exactly as given (byte-exact; the key together with `aor`). */
  contact: string;
  /** Absolute expiry, ms since the epoch. The binding is live while `expires > now`. */
  expires: number;
  /** Contact preference 0..1 (default 1); higher first. */
  q: number;
  /** Call-ID of the REGISTER that last wrote this binding (§10.3 step 7). */
  callId: string;
  /** CSeq number of that REGISTER. */
  cseq: number;
  /** When the binding was last written, ms since the epoch (recency, the second sort key). */
  updated: number;
  /** RFC 3327 Path header values of the REGISTER, in order. */
  path?: string[];
  /** RFC 5626 `+sip.instance` (without the surrounding quotes). */
  instanceId?: string;
  /** RFC 5626 `reg-id`. */
  regId?: number;
  /** Where the REGISTER came from, e.g. `udp:192.0.2.1:5060` (for NAT traversal). */
  received?: string;
  userAgent?: string;
  /** Raw Contact header parameters to echo (e.g. `;transport=tcp;+sip.instance="…"`). */
  params?: string;
}

/** One Contact of a REGISTER, as the registrar hands it to {@link LocationStore.apply}. */
export interface BindingChange {
  contact: string;
  /** Seconds from `now`; 0 removes the binding. */
  expires: number;
  /** Default 1. */
  q?: number;
  path?: string[];
  instanceId?: string;
  regId?: number;
  received?: string;
  userAgent?: string;
  params?: string;
}

export interface ApplyOptions {
  callId: string;
  cseq: number;
  /** ms since the epoch; becomes `updated` and the base of `expires`. */
  now: number;
  changes: BindingChange[];
  /** `Contact: *` with `Expires: 0`: remove every binding of the AOR. */
  removeAll?: boolean;
  /** Most live bindings per AOR; a request that would grow the AOR beyond it changes nothing. */
  maxContacts?: number;
}

export type ApplyResult =
  | { ok: true; bindings: Binding[] }
  | { ok: false; reason: 'cseq-out-of-order' | 'too-many-contacts' };

export type LocationEventKind = 'added' | 'refreshed' | 'removed' | 'expired';

export interface LocationEvent {
  aor: string;
  kind: LocationEventKind;
  binding: Binding;
}

export type LocationListener = (ev: LocationEvent) => void;

/** Order of `lookup`: q descending, then most recently updated first, then contact (stable). */
export function compareBindings(a: Binding, b: Binding): number {
  if (a.q !== b.q) return b.q - a.q;
  if (a.updated !== b.updated) return b.updated - a.updated;
  return a.contact < b.contact ? -1 : a.contact > b.contact ? 1 : 0;
}

export function sortBindings(list: Binding[]): Binding[] {
  return list.sort(compareBindings);
}

/** A deep copy (so callers never alias a store's internal state). */
export function copyBinding(b: Binding): Binding {
  const c: Binding = { ...b };
  if (b.path) c.path = [...b.path];
  return c;
}

/** Throws a TypeError unless `b` is a well-formed binding. */
export function validateBinding(b: Binding): void {
  if (typeof b.aor !== 'string' || b.aor.length === 0) throw new TypeError('binding.aor must be a non-empty string');
  if (typeof b.contact !== 'string' || b.contact.length === 0) throw new TypeError('binding.contact must be a non-empty string');
  if (!Number.isFinite(b.expires)) throw new TypeError('binding.expires must be a finite number (ms epoch)');
  if (!(b.q >= 0 && b.q <= 1)) throw new TypeError('binding.q must be within 0..1');
  if (typeof b.callId !== 'string') throw new TypeError('binding.callId must be a string');
  if (!Number.isInteger(b.cseq) || b.cseq < 0) throw new TypeError('binding.cseq must be a non-negative integer');
  if (!Number.isFinite(b.updated)) throw new TypeError('binding.updated must be a finite number');
  if (b.path !== undefined && (!Array.isArray(b.path) || b.path.some((p) => typeof p !== 'string'))) throw new TypeError('binding.path must be string[]');
  if (b.regId !== undefined && !Number.isInteger(b.regId)) throw new TypeError('binding.regId must be an integer');
}

/** Serialised form used by the SQLite and Redis stores (undefined optionals omitted). */
export function bindingToJson(b: Binding): string {
  return JSON.stringify(b);
}

export function bindingFromJson(text: string): Binding {
  const o = JSON.parse(text) as Binding;
  const b: Binding = { aor: o.aor, contact: o.contact, expires: o.expires, q: o.q, callId: o.callId, cseq: o.cseq, updated: o.updated };
  if (o.path !== undefined) b.path = o.path;
  if (o.instanceId !== undefined) b.instanceId = o.instanceId;
  if (o.regId !== undefined) b.regId = o.regId;
  if (o.received !== undefined) b.received = o.received;
  if (o.userAgent !== undefined) b.userAgent = o.userAgent;
  if (o.params !== undefined) b.params = o.params;
  return b;
}
