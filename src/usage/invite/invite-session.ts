/**
 * The invite usage of a dialog (RFC 3261 §13–§15, RFC 5057): one session set up by an INVITE,
 * as UAC or UAS, with an explicit state and checked transitions like the transaction machines,
 * its offer/answer state, the ACK and the 2xx retransmission, CANCEL, re-INVITE with glare, and
 * BYE. Requests within the dialog that are not the session's own (INFO, MESSAGE, NOTIFY …) go to
 * its owner.
 *
 * ```
 *  UAC: Calling ──1xx+tag──▶ Early ──2xx, ACK sent──▶ Confirmed ──BYE──▶ Terminating ──▶ Terminated
 *  UAS: Incoming ──1xx──▶ Early ──2xx sent──▶ WaitingForAck ──ACK──▶ Confirmed ──BYE──▶ …
 *       any state before Confirmed ──failure, CANCEL──▶ Terminated
 * ```
 *
 * @remarks Usage layer (`usage/invite`). Uses the element's UAC and UAS cores; SDP bodies are
 * the owner's ({@link InviteSessionEnv}), this file only keeps track of who offered what where.
 */
import { EventEmitter } from 'node:events';
import { type Dialog, OperationQueue, nextHop } from '../../dialog/index.js';
import { type HeaderList, type SipRequest, type SipResponse } from '../../sip/index.js';
import type { ServerTransaction } from '../../transaction/index.js';
import type { SipElement, Target } from '../../tu/index.js';
import { StateError } from '../../util/errors.js';
import { TwoXxRetransmitter } from './retransmit-2xx.js';
import { SessionTimer, type SessionTimerSettings, parseSessionExpires, uacSessionTimer } from './session-timer.js';
import { SessionOfferAnswer } from './session-offer-answer.js';

export type InviteSessionState = 'Calling' | 'Incoming' | 'Early' | 'WaitingForAck' | 'Confirmed' | 'Terminating' | 'Terminated';

const TRANSITIONS: Record<InviteSessionState, readonly InviteSessionState[]> = {
  Calling: ['Early', 'Confirmed', 'Terminated'],
  Incoming: ['Early', 'WaitingForAck', 'Terminated'],
  Early: ['Confirmed', 'WaitingForAck', 'Terminated'],
  WaitingForAck: ['Confirmed', 'Terminating', 'Terminated'],
  Confirmed: ['Terminating', 'Terminated'],
  Terminating: ['Terminated'],
  Terminated: [],
};

/** What the session needs from its owner (the user agent role, a B2BUA leg). */
export interface InviteSessionEnv {
  readonly element: SipElement;
  /** The session has a dialog: requests within it must reach {@link InviteSession.receiveRequest}. */
  bind(session: InviteSession): void;
  /** The session ended: forget it. */
  release(session: InviteSession): void;
  /**
   * An answer to `offer`; throws when nothing in it is acceptable (→ 488, RFC 3264 §6).
   * `previous`: our description in force, for a re-offer — the answer keeps its o= session id
   * and increments its version (RFC 3264 §8).
   */
  answer(offer: string, previous?: string): string;
  /** Session timers (RFC 4028) this owner runs; false or undefined: none. */
  readonly sessionTimer?: SessionTimerSettings | false;
}

/** A re-INVITE or UPDATE with an offer, waiting for its owner's answer (RFC 3261 §14.2). */
export interface ReOffer {
  readonly request: SipRequest;
  /** The offer, or undefined for a re-INVITE without one (we offer in the 2xx, §14.2). */
  readonly offer: string | undefined;
  /** 200 with `sdp` (default: the env's answer to the offer, or our current description). */
  accept(sdp?: string): void;
  /** A final error response (488, 491, 500 …): the session goes on as before (§14.2). */
  reject(status: number, reason?: string): void;
}

export declare interface InviteSession {
  on(event: 'progress', fn: (res: SipResponse) => void): this;
  on(event: 'established', fn: () => void): this;
  on(event: 'ended', fn: (reason: string) => void): this;
  /** A request within the dialog (after the session's own handling). */
  on(event: 'request', fn: (req: SipRequest) => void): this;
  /** A re-INVITE or UPDATE: answer it, now or later. Without a listener it is answered at once. */
  on(event: 'reoffer', fn: (r: ReOffer) => void): this;
  /** UAS: the ACK for our 2xx arrived (§13.3.1.4). */
  on(event: 'confirmed', fn: () => void): this;
  /** RFC 4028: no refresh came in time; the session is ended with BYE (end reason `session-expired`). */
  on(event: 'session-expired', fn: () => void): this;
}

export class InviteSession extends EventEmitter {
  private st: InviteSessionState;
  dialog: Dialog | undefined;
  /** The INVITE that created the session. */
  invite: SipRequest | undefined;
  /**
   * The far end is behind a NAT and reached at this address, not at its Contact (Kamailio's
   * fix_nated_contact, for a B2BUA leg): requests within the dialog go here while the dialog
   * has no route set. Set by the B2BUA from the source of a NATed caller's INVITE, or the flow
   * of a NATed callee's binding.
   */
  natFlow: Target | undefined;
  /** Final response to the INVITE (UAC), for failures: 486, 408, 503 … */
  finalResponse: SipResponse | undefined;
  readonly sdp = new SessionOfferAnswer();
  /** Why the session ended: 'local-bye', 'remote-bye', 'cancelled', 'no-ack', 'failed:486' … */
  endReason: string | undefined;
  /** Why a 2xx's SDP could not be used (RFC 3261 §13.2.2.4); the session was ended with BYE. */
  sdpFailure: string | undefined;
  readonly ended: Promise<string>;
  private endedResolve!: (reason: string) => void;
  /** Local in-dialog operations, one at a time (§14.1). */
  private readonly ops = new OperationQueue();
  /** Our re-INVITE is waiting for its final response (glare, §14.2). */
  private reinviting = false;
  /** The ACK sent for the 2xx of each INVITE of ours, sent again for a retransmitted 2xx (§13.2.2.4). */
  private lastAck: { ack: SipRequest; target: Target } | undefined;
  private retransmitter: TwoXxRetransmitter | undefined;
  /** RFC 4028: refresh or expiry of the session. */
  private timer: SessionTimer | undefined;

  constructor(
    readonly role: 'uac' | 'uas',
    protected readonly env: InviteSessionEnv,
  ) {
    super();
    this.st = role === 'uac' ? 'Calling' : 'Incoming';
    this.ended = new Promise((r) => (this.endedResolve = r));
  }

  get state(): InviteSessionState {
    return this.st;
  }

  /** Moves to `to`; a pair the table does not list is a bug, and throws. */
  protected move(to: InviteSessionState): void {
    if (this.st === to) return;
    if (!TRANSITIONS[this.st].includes(to)) throw new StateError('USAGE_ERR_INVITE_STATE', `invite session: illegal transition ${this.st}→${to}`);
    this.st = to;
  }

  get element(): SipElement {
    return this.env.element;
  }

  /** Ends the session (no message sent here): the dialog is terminated and the owner told. */
  end(reason: string): void {
    if (this.st === 'Terminated') return;
    this.move('Terminated');
    this.endReason = reason;
    this.dialog?.transition('Terminated');
    this.retransmitter?.stop();
    this.timer?.stop();
    this.env.release(this);
    this.endedResolve(reason);
    this.emit('ended', reason);
  }

  // ---- requests of ours within the dialog ---------------------------------------------

  /** Where requests within the dialog go (§12.2.1.1): the first route, else the remote target. */
  async targets(dialog: Dialog = this.dialog!): Promise<Target[]> {
    const { requestUri, routes } = dialog.requestTarget();
    // The connection the INVITE came on (TCP, TLS, WS): requests go back on it while it is open;
    // a WebSocket phone's Contact host (`….invalid`, RFC 7118 §5) resolves to nothing.
    const src = this.invite?.source;
    if (dialog.flowId !== undefined && routes.length === 0 && src !== undefined && src.connectionId === dialog.flowId) {
      return [{ kind: src.transport as Target['kind'], address: src.address, port: src.port, flowId: dialog.flowId }];
    }
    if (this.natFlow !== undefined && routes.length === 0) return [{ ...this.natFlow, flowId: dialog.flowId }];
    const targets = await this.element.uac.resolve(nextHop(routes, requestUri));
    if (dialog.flowId !== undefined && routes.length === 0) return targets.map((t) => ({ ...t, flowId: dialog.flowId }));
    return targets;
  }

  /** ACK for a 2xx (§13.2.2.4): a new request within the dialog with the INVITE's CSeq number. */
  protected async sendAck(dialog: Dialog, cseq: number, body?: string, remember = true): Promise<void> {
    const t = (await this.targets(dialog))[0];
    if (!t) return;
    const ack = dialog.createRequest('ACK', { via: this.element.uac.via(t.kind), maxForwards: this.element.uac.maxForwards, cseq, body, headers: body ? [['Content-Type', 'application/sdp']] : [] });
    if (remember) {
      this.lastAck = { ack, target: t };
      // A 2xx is retransmitted for 64·T1 at most (§13.3.1.4): after that the ACK is not needed again.
      this.element.clock.setTimer(64 * this.element.timers.T1, () => {
        if (this.lastAck?.ack === ack) this.lastAck = undefined;
      });
    }
    this.element.uac.sendStateless(ack, t);
    ack.compact();
  }

  /** A retransmitted 2xx of our INVITE: the ACK is sent again (§13.2.2.4). True when it was ours. */
  reAck(res: SipResponse): boolean {
    const last = this.lastAck;
    if (last === undefined || last.ack.cseq.seq !== res.cseq.seq) return false;
    this.element.uac.sendStateless(last.ack, last.target);
    return true;
  }

  /**
   * Sends `method` within the dialog, after any local operation under way (§14.1), and resolves
   * with its final response. A re-INVITE's 2xx is ACKed; its offer/answer is tracked; a 491 to
   * it is retried once after the §14.1 interval (2.1–4 s when we own the Call-ID, else 0–2 s).
   */
  request(method: string, opts: { body?: string | Buffer; contentType?: string; headers?: HeaderList } = {}): Promise<SipResponse> {
    if (!this.dialog) throw new StateError('UA_ERR_NO_DIALOG', 'the call has no dialog');
    if (method === 'BYE') return this.sendInDialog(method, opts); // never waits behind a re-INVITE
    return this.ops.run(async () => {
      let res = await this.sendInDialog(method, opts);
      if (res.status === 491 && method === 'INVITE' && this.st === 'Confirmed') {
        const ms = this.role === 'uac' ? 2100 + Math.floor(Math.random() * 1900) : Math.floor(Math.random() * 2000);
        await new Promise<void>((r) => this.element.clock.setTimer(ms, r));
        if (this.st === 'Confirmed') res = await this.sendInDialog(method, opts);
      }
      return res;
    });
  }

  private async sendInDialog(method: string, opts: { body?: string | Buffer; contentType?: string; headers?: HeaderList }): Promise<SipResponse> {
    const dialog = this.dialog!;
    const targets = await this.targets(dialog);
    const headers: HeaderList = [...(opts.headers ?? [])];
    if (opts.body !== undefined) headers.push(['Content-Type', opts.contentType ?? 'application/sdp']);
    // RFC 4028 §7.4: a re-INVITE or UPDATE of ours is a refresh; it says who refreshes next.
    const refreshes = (method === 'INVITE' || method === 'UPDATE') && this.timer?.running === true && !headers.some(([n]) => /^(session-expires|x)$/i.test(n));
    if (refreshes) headers.push(['Session-Expires', `${this.timer!.seconds};refresher=${this.timer!.refreshing ? 'uac' : 'uas'}`], ['Supported', 'timer']);
    const offering = (method === 'INVITE' || method === 'UPDATE') && opts.body !== undefined && (opts.contentType ?? 'application/sdp') === 'application/sdp';
    if (method === 'INVITE') this.reinviting = true;
    let sent;
    try {
      sent = await this.element.uac.send(targets, (t) => {
        const req = dialog.createRequest(method, { via: this.element.uac.via(t.kind), maxForwards: this.element.uac.maxForwards, headers, body: opts.body });
        if (offering) {
          // A failover attempt (§8.1.3.1, RFC 3263) is a new transaction: the offer moves to it.
          const open = this.sdp.openOffer;
          if (open?.method === method && this.sdp.state === 'have-local-offer') this.sdp.rollback(open);
          this.sdp.localOffer(String(opts.body), { method, cseq: req.cseq.seq });
        }
        return req;
      });
    } finally {
      if (method === 'INVITE') this.reinviting = false;
    }
    const { response, request } = sent;
    dialog.receiveResponse(response);
    const ok = response.status >= 200 && response.status < 300;
    if (offering) {
      if (ok && response.body.length > 0 && this.sdp.carriedBy(method, request.cseq.seq)) this.sdp.remoteAnswer(response.body.toString('utf8'));
      else this.sdp.rollback({ method, cseq: request.cseq.seq });
    }
    if (method === 'INVITE' && ok) await this.sendAck(dialog, request.cseq.seq);
    if (ok && (method === 'INVITE' || method === 'UPDATE')) {
      // §7.4 / §10: the 2xx of a refresh restarts the timer with what it says (none: no timer).
      const st = uacSessionTimer(response);
      if (st !== undefined) this.runSessionTimer(st.seconds, st.refresher === 'uac');
      else if (refreshes) this.timer?.stop();
    }
    if ((response.status === 481 || response.status === 408) && method !== 'BYE') this.end(`failed:${response.status}`);
    return response;
  }

  /**
   * Ends a session with BYE (§15.1.1), with `headers` such as a `Reason` (RFC 3326). Resolves
   * with the BYE's final response.
   */
  async bye(reason = 'local-bye', headers?: HeaderList): Promise<SipResponse | undefined> {
    if (this.st === 'Calling' || this.st === 'Early') return void (await this.hangUpEarly());
    if (this.st !== 'Confirmed' && this.st !== 'WaitingForAck') return undefined;
    this.move('Terminating');
    this.endReason = reason;
    try {
      return await this.sendInDialog('BYE', { headers });
    } finally {
      // The dialog ends with the BYE's final response, whatever it is (§15.1.1); until then
      // the peer's requests still find it.
      this.end(reason);
    }
  }

  /** Before a final response: a UAC cancels (§9.1); a UAS rejects with the role's answer. */
  protected async hangUpEarly(): Promise<void> {}

  // ---- requests of the peer within the dialog -----------------------------------------

  /**
   * A request within this session's dialog that made a server transaction. True when the
   * session answered it (BYE, re-INVITE, UPDATE, a CSeq out of order); false leaves the answer
   * to the owner (INFO, MESSAGE, NOTIFY …), after the 'request' event.
   */
  receiveRequest(req: SipRequest, tx: ServerTransaction): boolean {
    const dialog = this.dialog!;
    const uas = this.element.uas;
    if (!dialog.receiveRequest(req)) {
      // RFC 3261 §12.2.2: lower CSeq than the remote sequence number → 500.
      uas.respond(tx, req, 500, { reason: 'CSeq Out of Order' });
      return true;
    }
    switch (req.method) {
      case 'BYE':
        uas.respond(tx, req, 200);
        this.end('remote-bye');
        return true;
      case 'INVITE':
      case 'UPDATE':
        this.receiveReOffer(req, tx);
        return true;
      case 'PRACK':
        this.receivePrack(req, tx);
        return true;
      default:
        this.emit('request', req);
        return false;
    }
  }

  /** RFC 3262: a PRACK acknowledges a reliable provisional of a UAS session; anywhere else it matches nothing. */
  protected receivePrack(req: SipRequest, tx: ServerTransaction): void {
    this.element.uas.respond(tx, req, 481, { reason: 'No Matching Reliable Provisional' });
  }

  /** §14.2 / RFC 3311: a re-INVITE or UPDATE — glare, then the owner's answer. */
  private receiveReOffer(req: SipRequest, tx: ServerTransaction): void {
    const uas = this.element.uas;
    const dialog = this.dialog!;
    const offer = req.body.length > 0 ? req.body.toString('utf8') : undefined;
    if (req.method === 'INVITE' && this.reinviting) {
      // RFC 3261 §14.2: our own re-INVITE is outstanding → 491; the peer retries later.
      uas.respond(tx, req, 491);
      return;
    }
    if (offer !== undefined) {
      try {
        this.sdp.remoteOffer(offer, { method: req.method, cseq: req.cseq.seq });
      } catch {
        // An offer crossing ours (glare) → 491; a second offer before our answer → 500 (§14.2).
        uas.respond(tx, req, this.sdp.state === 'have-local-offer' ? 491 : 500, { headers: [['Retry-After', '1']] });
        return;
      }
    }
    let answered = false;
    const answer = (status: number, body: string | undefined, reason?: string) => {
      if (answered) return;
      answered = true;
      if (status >= 200 && status < 300) {
        if (offer !== undefined && body !== undefined) this.sdp.localAnswer(body);
        const extra: HeaderList = body ? [['Content-Type', 'application/sdp']] : [];
        // RFC 4028 §9: a refresh from the peer restarts our timer; the 2xx says the interval and
        // who refreshes (the refresher the request named, else the one so far).
        const asked = parseSessionExpires(req);
        if (this.timer?.running || asked !== undefined) {
          const seconds = asked?.seconds ?? this.timer!.seconds;
          const peerRefreshes = asked?.refresher !== undefined ? asked.refresher === 'uac' : !(this.timer?.refreshing ?? false);
          extra.push(['Session-Expires', `${seconds};refresher=${peerRefreshes ? 'uac' : 'uas'}`]);
          if (peerRefreshes) extra.push(['Require', 'timer']);
          this.runSessionTimer(seconds, !peerRefreshes);
        }
        const res = uas.respond(tx, req, status, { headers: [['Contact', dialog.localContact], ...extra], body });
        if (req.method === 'INVITE') this.retransmit2xx(req, res);
      } else {
        this.sdp.rollback({ method: req.method, cseq: req.cseq.seq });
        uas.respond(tx, req, status, { reason });
      }
    };
    const reOffer: ReOffer = {
      request: req,
      offer,
      accept: (sdp) => {
        let body = sdp;
        if (body === undefined && offer !== undefined) {
          try {
            body = this.env.answer(offer, this.sdp.localSdp);
          } catch {
            return answer(488, undefined); // RFC 3264 §6: nothing acceptable
          }
        }
        answer(200, body ?? this.sdp.localSdp);
      },
      reject: (status, reason) => answer(status, undefined, reason),
    };
    if (this.listenerCount('reoffer') > 0) this.emit('reoffer', reOffer);
    else reOffer.accept();
    this.emit('request', req);
  }

  /**
   * RFC 4028 §10: as refresher, a re-INVITE with our current description at half the interval;
   * otherwise, BYE when no refresh came by the interval minus min(32 s, interval/3).
   */
  protected runSessionTimer(seconds: number, weRefresh: boolean): void {
    this.timer ??= new SessionTimer(
      this.element.clock,
      () => {
        if (this.st !== 'Confirmed') return;
        const sdp = this.sdp.localSdp;
        void this.request('INVITE', sdp !== undefined ? { body: sdp, contentType: 'application/sdp' } : {}).catch(() => {});
      },
      () => {
        this.emit('session-expired');
        void this.bye('session-expired').catch(() => {});
      },
    );
    this.timer.start(seconds, weRefresh);
  }

  /** The session timer's interval and whether we refresh (RFC 4028), while one runs. */
  get sessionInterval(): { seconds: number; refresher: boolean } | undefined {
    return this.timer?.running ? { seconds: this.timer.seconds, refresher: this.timer.refreshing } : undefined;
  }

  /** A 2xx of ours to an INVITE is sent again until its ACK (§13.3.1.4); none within 64·T1 ends the session. */
  protected retransmit2xx(req: SipRequest, res: SipResponse): void {
    this.retransmitter ??= new TwoXxRetransmitter(this.element);
    this.retransmitter.start(req, res, () => {
      // RFC 3261 §13.3.1.4: no ACK within 64·T1 — confirm the session, then end it with BYE.
      if (this.st === 'WaitingForAck') this.move('Confirmed');
      void this.bye('no-ack').catch(() => {});
    });
  }

  /** An ACK within the dialog (for a 2xx of ours). */
  receiveAck(ack: SipRequest): void {
    this.retransmitter?.acked(ack);
    // The answer in the ACK (delayed offer) is taken before 'confirmed' is told: a listener reads it.
    if (ack.body.length > 0 && ack.contentType === 'application/sdp' && this.sdp.state === 'have-local-offer' && this.sdp.carriedBy('INVITE', ack.cseq.seq)) {
      this.sdp.remoteAnswer(ack.body.toString('utf8'));
    }
    if (this.st === 'WaitingForAck') {
      this.move('Confirmed');
      this.emit('confirmed');
    }
  }
}
