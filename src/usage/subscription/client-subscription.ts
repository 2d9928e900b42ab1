/**
 * A subscription on the subscriber's side (RFC 6665 §4.1): the SUBSCRIBE, the NOTIFYs that
 * carry the resource's state — the first may come before the SUBSCRIBE's 2xx, and each notifier
 * a SUBSCRIBE forked to makes its own dialog (§4.1.2.4, §4.5.2) — a refresh before expiry, and
 * an unsubscribe (`Expires: 0`). Timer N (64·T1) bounds the wait for the first NOTIFY after the
 * 2xx (§4.1.2.4). Events: `notify` (each NOTIFY, with the dialog's remote tag), `terminated`
 * (why: a NOTIFY's reason, `timer-n`, a refused SUBSCRIBE, `unsubscribed`).
 *
 * @remarks Usage layer (`usage/subscription`).
 */
import { EventEmitter } from 'node:events';
import { Dialog, nextHop } from '../../dialog/index.js';
import type { HeaderList, SipRequest, SipResponse } from '../../sip/index.js';
import type { ServerTransaction } from '../../transaction/index.js';
import type { SendResult, SipElement } from '../../tu/index.js';
import type { Clock } from '../../util/clock.js';
import { parseEvent } from './server-subscription.js';

/** A NOTIFY as the subscriber sees it. */
export interface SubscriptionNotify {
  request: SipRequest;
  /** `active`, `pending` or `terminated` (RFC 6665 §8.2.4). */
  state: string;
  reason?: string;
  /** Seconds the notifier says the subscription has left. */
  expires?: number;
  body: Buffer;
  contentType: string | undefined;
  /** The notifier's tag: one per dialog when the SUBSCRIBE forked. */
  remoteTag: string;
}

export interface ClientSubscriptionInit {
  element: SipElement;
  event: string;
  callId: string;
  fromTag: string;
  /** Asked for, seconds. */
  expires: number;
  /** Our Contact for the dialog. */
  contact: string;
  /** Extra header fields of each SUBSCRIBE (Accept …). */
  headers?: HeaderList;
  /** Refresh before expiry (default true); false lets the subscription run out (a fetch-like watch). */
  refresh?: boolean;
}

export class ClientSubscription extends EventEmitter {
  readonly event: string;
  readonly callId: string;
  readonly fromTag: string;
  private readonly dialogs = new Map<string, Dialog>();
  private st: 'subscribing' | 'active' | 'pending' | 'terminated' = 'subscribing';
  private timerN: ReturnType<Clock['setTimer']> | undefined;
  private refreshTimer: ReturnType<Clock['setTimer']> | undefined;
  private granted: number | undefined;
  /** The initial SUBSCRIBE (a dialog made by a NOTIFY takes its From/To from it). */
  private initial: SipRequest | undefined;
  /** The CSeq of the last initial SUBSCRIBE sent (a 401 retry takes the next number). */
  private sentSeq: number | undefined;

  constructor(private readonly init: ClientSubscriptionInit) {
    super();
    this.event = parseEvent(init.event).name;
    this.callId = init.callId;
    this.fromTag = init.fromTag;
  }

  get state(): 'subscribing' | 'active' | 'pending' | 'terminated' {
    return this.st;
  }

  /** The seconds the notifier granted (its 2xx's Expires). */
  get expires(): number | undefined {
    return this.granted;
  }

  /** Is this NOTIFY one of ours (Call-ID, our tag in To, the Event)? */
  matches(req: SipRequest): boolean {
    return req.method === 'NOTIFY' && req.callId === this.callId && req.to.tag === this.fromTag && parseEvent(req.header('Event') ?? '').name === this.event;
  }

  /** The initial SUBSCRIBE as it goes out (before any NOTIFY can arrive). */
  sending(req: SipRequest): void {
    this.sentSeq = req.cseq.seq;
  }

  /** The initial SUBSCRIBE's final response (the caller sent it with our Call-ID and tag). */
  subscribed(result: SendResult): void {
    const res = result.response;
    this.initial = result.request;
    if (res.status < 200 || res.status >= 300) {
      if (this.dialogs.size === 0) this.end(`rejected:${res.status}`);
      return;
    }
    this.granted = Number(res.header('Expires') ?? this.init.expires);
    if (!Number.isFinite(this.granted)) this.granted = this.init.expires;
    const tag = res.to.tag ?? '';
    if (!this.dialogs.has(tag)) this.dialogs.set(tag, Dialog.asUac(result.request, res, `<${this.init.contact}>`));
    // RFC 6665 §4.1.2.4: Timer N — no NOTIFY within 64·T1 of the 2xx ends the attempt.
    if (this.st === 'subscribing') this.timerN = this.init.element.clock.setTimer(64 * this.init.element.timers.T1, () => this.end('timer-n'));
    this.scheduleRefresh(this.granted);
  }

  /** A NOTIFY of this subscription: answered 200 (481 once it is over), reported, state kept. */
  receiveNotify(req: SipRequest, tx: ServerTransaction): void {
    const uas = this.init.element.uas;
    if (this.st === 'terminated') return void uas.respond(tx, req, 481, { reason: 'Subscription Does Not Exist' });
    const tag = req.from.tag ?? '';
    let dialog = this.dialogs.get(tag);
    if (!dialog) {
      // RFC 6665 §4.1.2.4: a NOTIFY before (or without) the 2xx makes the dialog; its From tag is the remote tag.
      dialog = Dialog.asUas(req, this.fromTag, `<${this.init.contact}>`, 'Confirmed');
      // RFC 3261 §12.2.1.1: our next request in it (a refresh) follows the SUBSCRIBE's CSeq —
      // a fresh random number could be lower, and the notifier would refuse it (500).
      dialog.localSeq = this.sentSeq;
      this.dialogs.set(tag, dialog);
    } else if (!dialog.receiveRequest(req)) return void uas.respond(tx, req, 500, { reason: 'CSeq Out of Order' });
    if (this.timerN) this.init.element.clock.clearTimer(this.timerN);
    this.timerN = undefined;
    const ss = parseSubscriptionState(req.header('Subscription-State') ?? '');
    uas.respond(tx, req, 200);
    if (ss.state === 'active' || ss.state === 'pending') this.st = ss.state;
    const n: SubscriptionNotify = { request: req, state: ss.state, reason: ss.reason, expires: ss.expires, body: req.body, contentType: req.contentType, remoteTag: tag };
    this.emit('notify', n);
    if (ss.state === 'terminated') {
      this.dialogs.delete(tag);
      if (this.dialogs.size === 0) this.end(ss.reason ?? 'terminated');
    } else if (ss.expires !== undefined && this.granted !== undefined && ss.expires < this.granted) {
      // §4.1.2.1: the notifier may shorten the subscription; refresh before its new end.
      this.granted = ss.expires;
      this.scheduleRefresh(ss.expires);
    }
  }

  /** Refreshes every dialog of the subscription (§4.1.2.2); resolves with the first response. */
  refresh(expires = this.init.expires): Promise<SipResponse | undefined> {
    return this.subscribeInDialogs(expires);
  }

  /**
   * Unsubscribes (§4.1.2.3: `Expires: 0`). The notifier's final NOTIFY (`terminated`) ends the
   * subscription with its reason; without one within 64·T1 it ends as `unsubscribed`.
   */
  async unsubscribe(): Promise<SipResponse | undefined> {
    if (this.refreshTimer) this.init.element.clock.clearTimer(this.refreshTimer);
    this.refreshTimer = undefined;
    const res = await this.subscribeInDialogs(0);
    if (this.st === 'terminated') return res;
    if (res === undefined || res.status >= 300) this.end('unsubscribed');
    else this.refreshTimer = this.init.element.clock.setTimer(64 * this.init.element.timers.T1, () => this.end('unsubscribed'));
    return res;
  }

  private scheduleRefresh(granted: number): void {
    if (this.refreshTimer) this.init.element.clock.clearTimer(this.refreshTimer);
    if (granted <= 0 || this.init.refresh === false) return;
    // Refresh at most 5 minutes before expiry, and no later than halfway for short ones.
    const before = Math.min(300, granted / 2);
    this.refreshTimer = this.init.element.clock.setTimer((granted - before) * 1000, () => void this.refresh().catch(() => undefined));
  }

  private async subscribeInDialogs(expires: number): Promise<SipResponse | undefined> {
    let first: SipResponse | undefined;
    for (const [tag, d] of [...this.dialogs]) {
      const { requestUri, routes } = d.requestTarget();
      let res: SipResponse;
      try {
        const targets = await this.init.element.uac.resolve(nextHop(routes, requestUri));
        const headers: HeaderList = [['Event', this.init.event], ['Expires', String(expires)], ...(this.init.headers ?? [])];
        res = (await this.init.element.uac.send(targets, (t) => d.createRequest('SUBSCRIBE', { via: this.init.element.uac.via(t.kind), maxForwards: this.init.element.uac.maxForwards, headers }))).response;
      } catch {
        continue;
      }
      first ??= res;
      d.receiveResponse(res);
      if (res.status >= 200 && res.status < 300) {
        const g = Number(res.header('Expires') ?? expires);
        if (expires > 0 && Number.isFinite(g)) {
          this.granted = g;
          this.scheduleRefresh(g);
        }
      } else if (res.status === 481 || res.status === 408) {
        this.dialogs.delete(tag);
        if (this.dialogs.size === 0) this.end(`refresh-failed:${res.status}`);
      }
    }
    return first;
  }

  private end(reason: string): void {
    if (this.st === 'terminated') return;
    this.st = 'terminated';
    if (this.timerN) this.init.element.clock.clearTimer(this.timerN);
    if (this.refreshTimer) this.init.element.clock.clearTimer(this.refreshTimer);
    this.timerN = this.refreshTimer = undefined;
    this.emit('terminated', reason);
  }
}

/** `active;expires=600`, `terminated;reason=timeout;retry-after=30` (RFC 6665 §8.2.4). */
export function parseSubscriptionState(value: string): { state: string; reason?: string; expires?: number; retryAfter?: number } {
  const [state, ...params] = value.split(';').map((s) => s.trim());
  const p = new Map(params.map((x) => {
    const i = x.indexOf('=');
    return i < 0 ? [x.toLowerCase(), ''] : [x.slice(0, i).toLowerCase(), x.slice(i + 1)];
  }));
  const num = (k: string) => (p.has(k) && /^\d+$/.test(p.get(k)!) ? Number(p.get(k)) : undefined);
  return { state: (state ?? '').toLowerCase(), reason: p.get('reason') || undefined, expires: num('expires'), retryAfter: num('retry-after') };
}
