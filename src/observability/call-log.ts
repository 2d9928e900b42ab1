/**
 * Calls as the operator sees them (the admin API's `/api/calls`, the console's call list): one
 * entry per INVITE dialog's Call-ID, moved by the messages that cross the server —
 * trying → early (1xx) → confirmed (2xx) → ended (BYE), or → failed (a final ≥ 300). Which
 * final response decides depends on which way the INVITE went: for a call we received (as a
 * proxy or the B2BUA's leg A) it is the one we sent upstream, not a branch's failure while
 * another branch still rings (RFC 3261 §16.7); for a call we placed, the one we received.
 * The B2BUA's legs are linked so that a call shows all of them. Bounded: calls under way at most
 * `maxActive`, the last `maxRecent` ended ones; a call whose end is never seen (a proxy that left
 * the path, RFC 3261 §16.6 step 4) is forgotten after `staleMs`.
 *
 * @remarks Leaf (`observability/`).
 */
import type { MessageRecord } from './message-record.js';

export type CallState = 'trying' | 'early' | 'confirmed' | 'ended' | 'failed';

export interface CallSummary {
  callId: string;
  from: string;
  to: string;
  state: CallState;
  role: string;
  start: string;
  answer?: string;
  end?: string;
  status?: number;
  reason?: string;
  /** Every leg's Call-ID, this one included, leg A first. */
  legs: string[];
  messages: number;
}

/** What the call log needs of a message besides its record (the app layer parses it). */
export interface CallObservation {
  record: MessageRecord;
  /** From and To as URIs (display names and tags left out), read only for a new call. */
  parties?: () => { from: string; to: string };
  /** Does the request carry a To tag (within a dialog)? */
  inDialog?: boolean;
  /** A response's reason phrase. */
  reasonPhrase?: string;
}

interface CallEntry {
  callId: string;
  from: string;
  to: string;
  state: CallState;
  role: string;
  /** Which way the initial INVITE went. */
  origin: MessageRecord['direction'];
  start: number;
  answer?: number;
  end?: number;
  status?: number;
  reason?: string;
  messages: number;
  touched: number;
}

export interface CallLogOptions {
  maxActive?: number;
  maxRecent?: number;
  staleMs?: number;
  /** The role that handles a new call (the app knows its roles; the B2BUA's legs say `b2bua`). */
  roleOf?: (callId: string, origin: MessageRecord['direction']) => string;
  now?: () => number;
}

export class CallLog {
  private readonly active = new Map<string, CallEntry>();
  private readonly recent: CallEntry[] = [];
  /** The recent ones by Call-ID: messages after the end (the BYE's 200, an ACK) still count. */
  private readonly recentById = new Map<string, CallEntry>();
  /** Call-ID → the Call-IDs of its call's legs (shared array, leg A first). */
  private readonly legs = new Map<string, string[]>();
  private readonly maxActive: number;
  private readonly maxRecent: number;
  private readonly staleMs: number;
  private readonly now: () => number;
  private lastSweep = 0;
  total = 0;
  /** Called with each call that changed state. */
  onChange: ((c: CallSummary) => void) | undefined;

  constructor(private readonly opts: CallLogOptions = {}) {
    this.maxActive = opts.maxActive ?? 10_000;
    this.maxRecent = opts.maxRecent ?? 1000;
    this.staleMs = opts.staleMs ?? 12 * 3600_000;
    this.now = opts.now ?? Date.now;
  }

  /** The B2BUA paired two legs (leg A's Call-ID first). */
  link(a: string, b: string): void {
    const group = this.legs.get(a) ?? [a];
    if (!group.includes(b)) group.push(b);
    this.legs.set(a, group);
    this.legs.set(b, group);
  }

  observe(o: CallObservation): void {
    const r = o.record;
    if (!r.callId) return;
    let call = this.active.get(r.callId);
    if (!call) {
      const ended = this.recentById.size > 0 ? this.recentById.get(r.callId) : undefined;
      if (ended && !(r.method === 'INVITE' && r.status === undefined && !o.inDialog)) {
        ended.messages++;
        return;
      }
      if (r.status !== undefined || r.method !== 'INVITE' || o.inDialog) return;
      this.sweep(r.time);
      // RFC 3261 §22.2: the INVITE again with credentials after a 401/407 is the same call.
      const again = ended && (ended.status === 401 || ended.status === 407) ? ended : undefined;
      if (again) {
        call = again;
        this.recent.splice(this.recent.indexOf(again), 1);
        this.recentById.delete(call.callId);
        Object.assign(call, { state: 'trying', end: undefined, status: undefined, reason: undefined, touched: r.time, messages: call.messages + 1 });
        this.active.set(r.callId, call);
        this.changed(call);
        return;
      }
      const who = o.parties?.() ?? { from: '', to: '' };
      call = {
        callId: r.callId, from: who.from, to: who.to, state: 'trying', origin: r.direction, start: r.time, messages: 0, touched: r.time,
        role: this.opts.roleOf?.(r.callId, r.direction) ?? 'proxy',
      };
      if (this.active.size >= this.maxActive) this.retire(this.active.values().next().value!);
      this.active.set(r.callId, call);
      this.total++;
      call.messages++;
      this.changed(call);
      return;
    }
    call.messages++;
    call.touched = r.time;
    const before = call.state;
    if (r.status === undefined) {
      if (r.method === 'BYE' && (call.state === 'confirmed' || call.state === 'early')) {
        call.state = 'ended';
        call.end = r.time;
        call.reason = `BYE ${r.direction === 'received' ? 'received' : 'sent'}`;
      }
    } else if (r.method === 'INVITE' && (call.state === 'trying' || call.state === 'early')) {
      if (r.status >= 200 && r.status < 300) {
        call.state = 'confirmed';
        call.answer = r.time;
        call.status = r.status;
      } else if (r.status > 100 && r.status < 200) {
        call.state = 'early';
        call.status = r.status;
      } else if (r.status >= 300 && r.direction !== call.origin) {
        call.state = 'failed';
        call.end = r.time;
        call.status = r.status;
        call.reason = o.reasonPhrase;
      }
    }
    if (call.state === before) return;
    this.changed(call);
    if (call.state === 'ended' || call.state === 'failed') this.retire(call);
  }

  /**
   * Calls under way and the recent ended ones, newest first; `q` filters by Call-ID, From or To.
   * A bridged call is listed once, by its leg A (its `legs` name the others).
   */
  list(q?: string, limit = 200): CallSummary[] {
    const needle = q?.toLowerCase();
    // `recent` grows to twice its bound before it is cut (in one go, not a shift per call).
    const all = [...this.active.values(), ...this.recent.slice(-this.maxRecent)].sort((a, b) => b.start - a.start);
    const out: CallSummary[] = [];
    for (const c of all) {
      const legs = this.legs.get(c.callId);
      if (legs && legs[0] !== c.callId) continue;
      if (needle && !c.callId.toLowerCase().includes(needle) && !c.from.toLowerCase().includes(needle) && !c.to.toLowerCase().includes(needle)) continue;
      out.push(this.summary(c));
      if (out.length >= limit) break;
    }
    return out;
  }

  get(callId: string): CallSummary | undefined {
    const c = this.active.get(callId) ?? this.recentById.get(callId);
    return c && this.summary(c);
  }

  /** The Call-IDs of every leg of `callId`'s call (itself alone when it has one). */
  legsOf(callId: string): string[] {
    return [...(this.legs.get(callId) ?? [callId])];
  }

  /** Calls under way by state. */
  counts(): Record<'trying' | 'early' | 'confirmed', number> {
    const n = { trying: 0, early: 0, confirmed: 0 };
    for (const c of this.active.values()) n[c.state as keyof typeof n]++;
    return n;
  }

  get activeCount(): number {
    return this.active.size;
  }

  private summary(c: CallEntry): CallSummary {
    const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
    return {
      callId: c.callId, from: c.from, to: c.to, state: c.state, role: c.role, start: iso(c.start)!, answer: iso(c.answer), end: iso(c.end),
      status: c.status, reason: c.reason, legs: this.legsOf(c.callId), messages: c.messages,
    };
  }

  private changed(c: CallEntry): void {
    this.onChange?.(this.summary(c));
  }

  private retire(c: CallEntry): void {
    this.active.delete(c.callId);
    if (c.state !== 'ended' && c.state !== 'failed') {
      c.state = 'ended';
      c.end = c.touched;
      c.reason = 'forgotten (end not seen)';
    }
    this.recent.push(c);
    this.recentById.set(c.callId, c);
    if (this.recent.length > this.maxRecent * 2) this.recent.splice(0, this.recent.length - this.maxRecent).forEach((gone) => this.forgetRecent(gone));
  }

  /** An ended call leaves the recent list (its legs' link too, once none of them is under way). */
  private forgetRecent(gone: CallEntry): void {
    if (this.recentById.get(gone.callId) === gone) this.recentById.delete(gone.callId);
    const group = this.legs.get(gone.callId);
    if (group && group.every((id) => id === gone.callId || !this.active.has(id))) for (const id of group) this.legs.delete(id);
  }

  /** Forgets calls whose end was never seen: at most once a minute. */
  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const c of [...this.active.values()]) {
      const limit = c.state === 'confirmed' ? this.staleMs : 5 * 60_000;
      if (now - c.touched > limit) this.retire(c);
    }
  }
}
