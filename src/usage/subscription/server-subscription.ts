/**
 * A subscription on the notifier's side (RFC 6665 §4.2), a usage of the dialog the SUBSCRIBE
 * made (RFC 5057): `pending` (waiting for the resource's authorisation) or `active` until its
 * expiry, a refresh or an unsubscribe, then `terminated` with a reason (§4.2.2). Every state
 * change is a NOTIFY carrying the resource's state and `Subscription-State`; NOTIFYs of one
 * subscription go one at a time, the newest state replacing any not yet sent (§4.2.2: the
 * notifier may coalesce). A NOTIFY answered 481, 408, or not at all ends the subscription
 * (§4.1.3, §4.2.2). Its data ({@link SubscriptionRecord}) is what a store keeps to restore it
 * after a restart.
 *
 * @remarks Usage layer (`usage/subscription`).
 */
import { EventEmitter } from 'node:events';
import { Dialog, nextHop } from '../../dialog/index.js';
import type { HeaderList, SipRequest, SipResponse } from '../../sip/index.js';
import type { ServerTransaction } from '../../transaction/index.js';
import { syntheticCause } from '../../transaction/index.js';
import { type SipElement, type Target, natReason } from '../../tu/index.js';
import type { Clock } from '../../util/clock.js';

export type ServerSubscriptionState = 'pending' | 'active' | 'terminated';

/** How far a restored subscription's CSeq moves past the stored one (more NOTIFYs than any subscription sends between two refreshes). */
export const RESTORED_CSEQ_STEP = 100_000;

/** RFC 6665 §4.2.2 / RFC 6665 §8.2.4 reasons for `terminated`. */
export type TerminationReason = 'deactivated' | 'probation' | 'rejected' | 'timeout' | 'giveup' | 'noresource' | 'invariant';

/** What a store keeps of a subscription (JSON-safe). */
export interface SubscriptionRecord {
  /** The dialog id (Call-ID, local tag, remote tag). */
  id: string;
  event: string;
  /** The `id` parameter of the Event header, if any (RFC 6665 §8.2.3). */
  eventId?: string;
  /** The resource watched: a canonical AOR (`sip:alice@example.com`). */
  resource: string;
  /** The watcher: the subscriber's From AOR (the authenticated user when authentication is on). */
  watcher: string;
  state: 'pending' | 'active';
  /** ms since the epoch. */
  expiresAt: number;
  /** Content types the subscriber accepts (its Accept). */
  accept: string[];
  dialog: {
    callId: string; localTag: string; remoteTag: string; localUri: string; remoteUri: string;
    localSeq?: number; remoteSeq?: number; remoteTarget: string; routeSet: string[]; localContact: string; secure: boolean;
  };
}

export interface NotifyContent {
  body?: string | Buffer;
  contentType?: string;
}

/**
 * Emits `terminated` (reason) once, and `request` for a request within its dialog that is not a
 * SUBSCRIBE (the owner answers it).
 */
export class ServerSubscription extends EventEmitter {
  private st: ServerSubscriptionState;
  private expiresAt: number;
  private timer: ReturnType<Clock['setTimer']> | undefined;
  private sending = false;
  /** The newest content not yet sent while a NOTIFY is in flight. */
  private queued: { content: NotifyContent; terminate?: TerminationReason } | undefined;
  private lastContent: NotifyContent | undefined;
  /**
   * The connection the SUBSCRIBE came on (TCP, TLS, WS): NOTIFYs go back on it while it is open
   * (RFC 3261 §18, RFC 7118 §5) — a WebSocket client's Contact host (`….invalid`) resolves to nothing.
   */
  private flow: Target | undefined;

  private constructor(
    readonly element: SipElement,
    readonly dialog: Dialog,
    readonly event: string,
    readonly eventId: string | undefined,
    readonly resource: string,
    readonly watcher: string,
    readonly accept: string[],
    state: 'pending' | 'active',
    expiresAt: number,
    private readonly now: () => number,
  ) {
    super();
    this.st = state;
    this.expiresAt = expiresAt;
    this.armExpiry();
  }

  /**
   * Accepts a SUBSCRIBE (RFC 6665 §4.2.1.1): 200 with the granted `Expires` and our Contact, and
   * the dialog it makes. The first NOTIFY is the owner's to send ({@link notify}), at once.
   */
  static accept(element: SipElement, req: SipRequest, tx: ServerTransaction, o: { resource: string; watcher: string; state: 'pending' | 'active'; expires: number; contact: string; now: () => number; headers?: HeaderList }): ServerSubscription {
    const localTag = element.uas.toTagFor(tx);
    const dialog = Dialog.asUas(req, localTag, `<${o.contact}>`, 'Confirmed');
    const src = req.source;
    if (src !== undefined && src.transport !== 'udp') dialog.flowId = src.connectionId;
    const ev = parseEvent(req.header('Event') ?? '');
    const accept = req.headerValues('Accept').flatMap((v) => v.split(',')).map((s) => s.trim().split(';')[0]!.toLowerCase()).filter(Boolean);
    const sub = new ServerSubscription(element, dialog, ev.name, ev.id, o.resource, o.watcher, accept, o.state, o.now() + o.expires * 1000, o.now);
    if (src !== undefined && src.transport !== 'udp' && src.connectionId !== undefined) sub.flow = { kind: src.transport as Target['kind'], address: src.address, port: src.port, flowId: src.connectionId };
    // A watcher behind a NAT (a private Contact, a Via that is not its source): NOTIFYs go where
    // its SUBSCRIBE came from, through the NAT mapping, not to its private Contact.
    else if (src !== undefined && src.transport === 'udp' && natReason(req) !== undefined) sub.flow = { kind: 'udp', address: src.address, port: src.port, flow: true };
    element.uas.respond(tx, req, 200, { toTag: localTag, headers: [['Expires', String(o.expires)], ['Contact', `<${o.contact}>`], ...(o.headers ?? [])] });
    return sub;
  }

  /**
   * A subscription from its stored record (after a restart). The record is not written at every
   * NOTIFY, so the local CSeq is moved {@link RESTORED_CSEQ_STEP} past the stored one: the
   * subscriber must see every later NOTIFY in order (RFC 3261 §12.2.2). Store it again at once.
   */
  static restore(element: SipElement, r: SubscriptionRecord, now: () => number): ServerSubscription {
    const localSeq = Math.min((r.dialog.localSeq ?? 0) + RESTORED_CSEQ_STEP, 2 ** 31 - 1 - RESTORED_CSEQ_STEP);
    const dialog = new Dialog({ ...r.dialog, localSeq, remoteSeq: r.dialog.remoteSeq, routeSet: r.dialog.routeSet, state: 'Confirmed' });
    return new ServerSubscription(element, dialog, r.event, r.eventId, r.resource, r.watcher, r.accept, r.state, r.expiresAt, now);
  }

  get state(): ServerSubscriptionState {
    return this.st;
  }

  get id(): string {
    return this.dialog.id;
  }

  /** Seconds left (at least 0). */
  get remaining(): number {
    return Math.max(0, Math.round((this.expiresAt - this.now()) / 1000));
  }

  toRecord(): SubscriptionRecord {
    const d = this.dialog;
    return {
      id: this.id, event: this.event, eventId: this.eventId, resource: this.resource, watcher: this.watcher,
      state: this.st === 'pending' ? 'pending' : 'active', expiresAt: this.expiresAt, accept: this.accept,
      dialog: {
        callId: d.callId, localTag: d.localTag, remoteTag: d.remoteTag, localUri: d.localUri, remoteUri: d.remoteUri, localSeq: d.localSeq,
        remoteSeq: d.remoteSeq, remoteTarget: d.remoteTarget, routeSet: [...d.routeSet], localContact: d.localContact, secure: d.secure,
      },
    };
  }

  /**
   * A SUBSCRIBE within the dialog (RFC 6665 §4.2.1.2): a refresh with the granted `expires`, or
   * with 0 an unsubscribe — answered 200; the owner then sends the NOTIFY (a final one for 0).
   * False when the CSeq is out of order (answered 500).
   */
  refresh(req: SipRequest, tx: ServerTransaction, expires: number): boolean {
    if (!this.dialog.receiveRequest(req)) {
      this.element.uas.respond(tx, req, 500, { reason: 'CSeq Out of Order' });
      return false;
    }
    this.expiresAt = this.now() + expires * 1000;
    this.element.uas.respond(tx, req, 200, { headers: [['Expires', String(expires)]] });
    this.armExpiry();
    return true;
  }

  /** pending → active (the watcher was authorised); the owner sends the NOTIFY. */
  activate(): void {
    if (this.st === 'pending') this.st = 'active';
  }

  /** Sends the resource's state (RFC 6665 §4.2.2); resolves when that NOTIFY (or a newer one) was answered. */
  notify(content: NotifyContent): Promise<void> {
    if (this.st === 'terminated') return Promise.resolve();
    return this.enqueue({ content });
  }

  /** Ends the subscription with a final NOTIFY (`terminated;reason=…`). */
  terminate(reason: TerminationReason, content: NotifyContent = this.lastContent ?? {}): Promise<void> {
    if (this.st === 'terminated') return Promise.resolve();
    return this.enqueue({ content, terminate: reason });
  }

  /** Ends it without a NOTIFY (the dialog is gone: 481, the server stops). */
  drop(reason: string): void {
    if (this.st === 'terminated') return;
    this.st = 'terminated';
    if (this.timer) this.element.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.emit('terminated', reason);
  }

  private armExpiry(): void {
    if (this.timer) this.element.clock.clearTimer(this.timer);
    // RFC 6665 §4.2.2: at expiry the notifier sends a final NOTIFY, reason=timeout.
    this.timer = this.element.clock.setTimer(Math.max(0, this.expiresAt - this.now()), () => void this.terminate('timeout'));
  }

  private async enqueue(item: { content: NotifyContent; terminate?: TerminationReason }): Promise<void> {
    if (this.sending) {
      // Coalesce: the newest state wins; a termination is never replaced by a plain update.
      if (!this.queued?.terminate) this.queued = item;
      return;
    }
    this.sending = true;
    let next: typeof item | undefined = item;
    try {
      while (next) {
        const current = next;
        this.queued = undefined;
        await this.send(current);
        if (this.st === 'terminated') break;
        next = this.queued;
      }
    } finally {
      this.sending = false;
    }
  }

  private async send(item: { content: NotifyContent; terminate?: TerminationReason }): Promise<void> {
    const { content, terminate } = item;
    this.lastContent = content;
    const state = terminate ? `terminated;reason=${terminate}` : `${this.st};expires=${this.remaining}`;
    if (terminate) {
      this.st = 'terminated';
      if (this.timer) this.element.clock.clearTimer(this.timer);
      this.timer = undefined;
    }
    const headers: HeaderList = [['Event', this.eventId !== undefined ? `${this.event};id=${this.eventId}` : this.event], ['Subscription-State', state]];
    if (content.body !== undefined) headers.push(['Content-Type', content.contentType ?? 'application/octet-stream']);
    const d = this.dialog;
    let res: SipResponse | undefined;
    try {
      const { requestUri, routes } = d.requestTarget();
      let targets: Target[];
      if (this.flow && routes.length === 0) targets = [this.flow];
      else {
        // An IP literal (the usual Contact) needs no lookup: resolved at once, not per NOTIFY.
        const hop = nextHop(routes, requestUri);
        targets = this.element.uac.resolveSync(hop) ?? (await this.element.uac.resolve(hop));
        if (d.flowId !== undefined && routes.length === 0) targets = targets.map((t) => ({ ...t, flowId: d.flowId }));
      }
      res = (await this.element.uac.send(targets, (t) => d.createRequest('NOTIFY', { via: this.element.uac.via(t.kind), maxForwards: this.element.uac.maxForwards, headers, body: content.body }))).response;
    } catch {
      res = undefined;
    }
    if (terminate) {
      this.emit('terminated', terminate);
      return;
    }
    // RFC 6665 §4.2.2: a 481, a timeout or a transport failure removes the subscription.
    const failed = res === undefined || res.status === 481 || syntheticCause(res) !== undefined || res.status === 408;
    if (failed) this.drop(res === undefined ? 'unreachable' : `notify-failed:${res.status}`);
  }
}

/** `presence;id=abc` → name and id (RFC 6665 §8.2.1, §8.2.3). */
export function parseEvent(value: string): { name: string; id: string | undefined } {
  const [name, ...params] = value.split(';');
  const id = params.map((p) => p.trim()).find((p) => /^id=/i.test(p))?.slice(3);
  return { name: (name ?? '').trim().toLowerCase(), id };
}
