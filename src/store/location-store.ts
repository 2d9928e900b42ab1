/**
 * The location service (RFC 3261 §10.3): the interface every location store implements, and the
 * store-independent §10.3 step 7 algorithm ({@link planApply}) that each store runs atomically.
 *
 * @remarks Store layer (`store/`), a leaf.
 */
import type { ApplyOptions, ApplyResult, Binding, LocationEvent, LocationListener } from './binding.js';
import { copyBinding, sortBindings } from './binding.js';

export interface LocationStore {
  /** Live bindings of `aor` (`expires > now`), q descending then most recently updated first. */
  lookup(aor: string, now?: number): Promise<Binding[]>;
  /** Every stored binding of `aor`, including expired ones not yet purged (same order). */
  bindings(aor: string): Promise<Binding[]>;
  /**
   * Upsert by (aor, contact). When `b.instanceId` and `b.regId` are both set, any other binding of
   * the same AOR with the same instance-id and reg-id is replaced (RFC 5626 §6).
   */
  save(b: Binding): Promise<void>;
  /** Removes one binding (by exact contact) or, without `contact`, all of the AOR. Returns how many. */
  remove(aor: string, contact?: string): Promise<number>;
  /** Same as `remove(aor)`. */
  removeAll(aor: string): Promise<number>;
  /** AORs with at least one stored binding. */
  listAors(): Promise<string[]>;
  /** Every stored binding (for `location list`), grouped by AOR. */
  all(): Promise<Binding[]>;
  /** Deletes bindings with `expires <= now`; emits `expired` for each. Returns how many. */
  purgeExpired(now?: number): Promise<number>;
  /**
   * The registrar's §10.3 step 7, atomically: either every change is applied or none is.
   * Returns the AOR's live bindings afterwards.
   */
  apply(aor: string, ops: ApplyOptions): Promise<ApplyResult>;
  /** Change notifications; returns an unsubscribe function. */
  onChange(listener: LocationListener): () => void;
  close(): Promise<void>;
}

/** Options shared by every location store. */
export interface LocationStoreOptions {
  /** Clock (ms epoch) for `lookup`/`purgeExpired` without an explicit `now`. Default Date.now. */
  now?: () => number;
  /** Period of the background purge of expired bindings, ms; 0 disables. Default 30 000. */
  sweepIntervalMs?: number;
}

/** The net effect of one write, computed against the AOR's current bindings. */
export interface Plan {
  /** Bindings to write (insert or replace by contact). */
  put: Binding[];
  /** Bindings to delete (by contact). */
  del: Binding[];
  events: LocationEvent[];
  /** The AOR's stored bindings afterwards, sorted. */
  after: Binding[];
}

/**
 * RFC 3261 §10.3 step 7 (with RFC 5626 §6 instance-id/reg-id replacement) over `current`, the
 * AOR's stored bindings. Pure: the caller applies the plan atomically.
 *
 *  - Expired bindings are treated as absent (and deleted, event `expired`).
 *  - For each Contact, the existing binding is the one with the same contact or, when the change
 *    has both instance-id and reg-id, the one with the same pair. If that binding was written
 *    under the same Call-ID with a CSeq ≥ the request's, the whole request is aborted
 *    (`cseq-out-of-order`); otherwise it is removed (expires 0) or updated, and a new contact is
 *    added. A contact listed twice in one request: the last one wins.
 *  - `removeAll` (`Contact: *`) removes every binding, with the same Call-ID/CSeq check.
 *  - `maxContacts`: a request that would leave more live bindings than the limit and more than
 *    the AOR had before is refused (`too-many-contacts`) without any change.
 */
export function planApply(aor: string, current: Binding[], ops: ApplyOptions): { ok: false; reason: 'cseq-out-of-order' | 'too-many-contacts' } | ({ ok: true } & Plan) {
  const { now, callId, cseq } = ops;
  const original = new Map<string, Binding>();
  const expired: Binding[] = [];
  for (const b of current) {
    if (b.expires <= now) expired.push(b);
    else original.set(b.contact, b);
  }
  const state = new Map(original);
  const outOfOrder = (b: Binding): boolean => b.callId === callId && b.cseq >= cseq;
  const touched = new Set<string>();

  if (ops.removeAll) {
    for (const b of state.values()) if (outOfOrder(b)) return { ok: false, reason: 'cseq-out-of-order' };
    state.clear();
  }
  for (const ch of ops.changes) {
    const matches: Binding[] = [];
    const byContact = state.get(ch.contact);
    if (byContact) matches.push(byContact);
    if (ch.instanceId !== undefined && ch.regId !== undefined) {
      for (const b of state.values()) {
        if (b !== byContact && b.instanceId === ch.instanceId && b.regId === ch.regId) matches.push(b);
      }
    }
    for (const m of matches) {
      if (!touched.has(m.contact) && original.get(m.contact) === m && outOfOrder(m)) return { ok: false, reason: 'cseq-out-of-order' };
    }
    for (const m of matches) state.delete(m.contact);
    if (ch.expires > 0) {
      const nb: Binding = { aor, contact: ch.contact, expires: now + ch.expires * 1000, q: ch.q ?? 1, callId, cseq, updated: now };
      if (ch.path !== undefined && ch.path.length > 0) nb.path = [...ch.path];
      if (ch.instanceId !== undefined) nb.instanceId = ch.instanceId;
      if (ch.regId !== undefined) nb.regId = ch.regId;
      if (ch.received !== undefined) nb.received = ch.received;
      if (ch.userAgent !== undefined) nb.userAgent = ch.userAgent;
      if (ch.params !== undefined) nb.params = ch.params;
      state.set(ch.contact, nb);
    }
    touched.add(ch.contact);
  }
  if (ops.maxContacts !== undefined && state.size > ops.maxContacts && state.size > original.size) {
    return { ok: false, reason: 'too-many-contacts' };
  }

  const put: Binding[] = [];
  const del: Binding[] = [...expired];
  const events: LocationEvent[] = expired.map((b) => ({ aor, kind: 'expired', binding: copyBinding(b) }));
  for (const [contact, b] of original) {
    if (!state.has(contact)) {
      del.push(b);
      events.push({ aor, kind: 'removed', binding: copyBinding(b) });
    }
  }
  for (const [contact, b] of state) {
    if (original.get(contact) === b) continue;
    put.push(b);
    events.push({ aor, kind: original.has(contact) ? 'refreshed' : 'added', binding: copyBinding(b) });
  }
  return { ok: true, put, del, events, after: sortBindings([...state.values()]) };
}

/** `save(b)` as a plan: upsert by contact, replacing the same instance-id + reg-id (RFC 5626). */
export function planSave(current: Binding[], b: Binding): Plan {
  const put = [copyBinding(b)];
  const del: Binding[] = [];
  const events: LocationEvent[] = [];
  let existed = false;
  const after: Binding[] = [];
  for (const c of current) {
    if (c.contact === b.contact) {
      existed = true;
      continue;
    }
    if (b.instanceId !== undefined && b.regId !== undefined && c.instanceId === b.instanceId && c.regId === b.regId) {
      del.push(c);
      events.push({ aor: b.aor, kind: 'removed', binding: copyBinding(c) });
      continue;
    }
    after.push(c);
  }
  after.push(put[0]!);
  events.push({ aor: b.aor, kind: existed ? 'refreshed' : 'added', binding: copyBinding(b) });
  return { put, del, events, after: sortBindings(after) };
}

/** Listener registry shared by the stores; a throwing listener never breaks the store. */
export class ChangeEmitter {
  private readonly listeners = new Set<LocationListener>();

  on(listener: LocationListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  get size(): number {
    return this.listeners.size;
  }

  emit(events: readonly LocationEvent[]): void {
    if (this.listeners.size === 0) return;
    for (const ev of events) {
      for (const l of this.listeners) {
        try {
          l({ aor: ev.aor, kind: ev.kind, binding: copyBinding(ev.binding) });
        } catch {
          /* a listener's failure is its own business */
        }
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}

export const DEFAULT_SWEEP_INTERVAL_MS = 30_000;
