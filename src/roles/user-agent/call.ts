/**
 * A call: the application's handle on one invite session (RFC 3261 §13–§15, RFC 3264).
 *
 * @remarks Role (`roles/user-agent`). A façade over `usage/invite`'s {@link InviteSession}
 * (state, dialog, offer/answer); created by {@link UserAgent}; the application holds it.
 */
import { EventEmitter } from 'node:events';
import { type Dialog, referToReplacing } from '../../dialog/index.js';
import type { HeaderList, SipRequest, SipResponse } from '../../sip/index.js';
import { holdSdp, resumeSdp } from '../../sdp/index.js';
import { ClientInviteSession, type InviteSession, type ReOffer, type ReferOutcome, sendRefer } from '../../usage/index.js';
import { RequestError } from '../../util/errors.js';

export type CallState = 'calling' | 'early' | 'established' | 'terminated' | 'failed';

export declare interface Call {
  on(event: 'established', fn: () => void): this;
  on(event: 'ended', fn: (reason: string) => void): this;
  on(event: 'request', fn: (req: SipRequest) => void): this;
  on(event: 'progress', fn: (res: SipResponse) => void): this;
  /** A re-INVITE or UPDATE: `r.accept(sdp?)` or `r.reject(status)`, now or later (§14.2). Without a listener it is answered at once. */
  on(event: 'reoffer', fn: (r: ReOffer) => void): this;
  /** The peer REFERred us (RFC 3515) and we placed `next`, the call to the Refer-To target. */
  on(event: 'transferred', fn: (next: Call) => void): this;
  /** An INVITE with Replaces (RFC 3891) took this call's place: `next` is the new call; this one is ended. */
  on(event: 'replaced', fn: (next: Call) => void): this;
}

export class Call extends EventEmitter {
  constructor(
    readonly direction: 'outgoing' | 'incoming',
    /** The invite usage this call is a view of. */
    readonly session: InviteSession,
  ) {
    super();
    const relay = session as EventEmitter;
    for (const ev of ['established', 'ended', 'request', 'progress']) relay.on(ev, (...args: unknown[]) => this.emit(ev, ...args));
    // Only when the application listens is a re-offer left to it (the session answers otherwise).
    (this as EventEmitter).on('newListener', (ev: string) => {
      if (ev === 'reoffer' && this.listenerCount('reoffer') === 0) session.on('reoffer', (r) => this.emit('reoffer', r));
    });
  }

  get state(): CallState {
    switch (this.session.state) {
      case 'Calling':
      case 'Incoming':
        return 'calling';
      case 'Early':
        return 'early';
      case 'WaitingForAck':
      case 'Confirmed':
        return 'established';
      case 'Terminating':
        return 'terminated';
      case 'Terminated': {
        const r = this.session.endReason ?? '';
        return r.startsWith('failed') || r === 'cancelled' ? 'failed' : 'terminated';
      }
    }
  }

  get dialog(): Dialog | undefined {
    return this.session.dialog;
  }

  /** The INVITE that created the call. */
  get invite(): SipRequest | undefined {
    return this.session.invite;
  }

  /** Final response to the INVITE (outgoing calls), for failures: 486, 408, 503 … */
  get finalResponse(): SipResponse | undefined {
    return this.session.finalResponse;
  }

  /** Our session description in force (before an answer: the offer we sent). */
  get localSdp(): string | undefined {
    const s = this.session;
    return s.sdp.localSdp ?? (s instanceof ClientInviteSession ? s.offer : undefined);
  }

  /** The peer's session description in force (before an answer: an early 18x preview, or its offer). */
  get remoteSdp(): string | undefined {
    const s = this.session;
    return s.sdp.remoteSdp ?? (s instanceof ClientInviteSession ? s.earlySdp : s.sdp.offerSdp);
  }

  /** Why the call ended: 'local-bye', 'remote-bye', 'cancelled', 'no-ack', 'sdp-failed', 'failed:486' … */
  get endReason(): string | undefined {
    return this.session.endReason;
  }

  /**
   * Why a 2xx's SDP could not be used (no common codec, a malformed answer, no offer): the call
   * was ACKed and at once ended with BYE (RFC 3261 §13.2.2.4), end reason `sdp-failed`.
   */
  get sdpFailure(): string | undefined {
    return this.session.sdpFailure;
  }

  /** Resolves when the call is over, with the reason. */
  get ended(): Promise<string> {
    return this.session.ended;
  }

  /** True once a 2xx was sent or received (and the call not ended). */
  get established(): boolean {
    return this.state === 'established';
  }

  /**
   * Ends an established call with BYE (RFC 3261 §15.1.1), `headers` added to it (e.g. `Reason`,
   * RFC 3326); cancels one still ringing.
   */
  bye(reason = 'local-bye', headers?: HeaderList): Promise<SipResponse | undefined> {
    return this.session.bye(reason, headers);
  }

  /** CANCEL an outgoing call that has not been answered (RFC 3261 §9.1). */
  async cancel(): Promise<void> {
    if (this.session instanceof ClientInviteSession) await this.session.cancel();
  }

  /** Sends a re-INVITE with a new offer (RFC 3261 §14.1); a 491 is retried once after the §14.1 interval. */
  reinvite(sdp: string): Promise<SipResponse> {
    return this.session.request('INVITE', { body: sdp, contentType: 'application/sdp' });
  }

  /** Puts the call on hold with a sendonly (or inactive) re-offer (RFC 3264 §8.4). */
  hold(mode: 'sendonly' | 'inactive' = 'sendonly'): Promise<SipResponse> {
    const local = this.localSdp;
    if (!local) throw new RequestError('UA_ERR_NO_SDP', 'no local SDP to modify');
    return this.reinvite(holdSdp(local, mode));
  }

  /** Resumes a held call (sendrecv). */
  unhold(): Promise<SipResponse> {
    const local = this.localSdp;
    if (!local) throw new RequestError('UA_ERR_NO_SDP', 'no local SDP to modify');
    return this.reinvite(resumeSdp(local));
  }

  /**
   * Transfer (RFC 3515): REFER the peer to `target`; resolves with the REFER's response and the
   * final status of the peer's call to the target, from its NOTIFYs. When that call was answered
   * (2xx), this call is ended with BYE (end reason `transferred`).
   *
   * `target` a URI: blind transfer. `target` another established call of ours: attended transfer
   * (RFC 5589 §7) — the peer is sent to that call's remote target with a Replaces naming it
   * (RFC 3891), so that the two peers end up talking and that call ends too.
   */
  async transfer(target: string | Call, opts: { timeoutMs?: number } = {}): Promise<ReferOutcome> {
    const dialog = this.session.dialog;
    if (!dialog) throw new RequestError('UA_ERR_NO_DIALOG', 'the call has no dialog');
    let referTo: string;
    if (typeof target === 'string') referTo = target;
    else {
      const other = target.dialog;
      if (!other || !target.established) throw new RequestError('UA_ERR_NO_DIALOG', 'attended transfer needs an established call to replace');
      referTo = referToReplacing(other.remoteTarget, other);
    }
    const outcome = await sendRefer(this.session, referTo, { referredBy: dialog.localUri, timeoutMs: opts.timeoutMs ?? 64 * this.session.element.timers.T1 });
    if (outcome.final !== undefined && outcome.final >= 200 && outcome.final < 300) await this.bye('transferred');
    return outcome;
  }

  /** INFO within the dialog (RFC 6086), e.g. DTMF as application/dtmf-relay. */
  info(body: string, contentType = 'application/dtmf-relay'): Promise<SipResponse> {
    return this.session.request('INFO', { body, contentType });
  }

  /** Any other request within the dialog. */
  request(method: string, opts?: { body?: string | Buffer; contentType?: string; headers?: HeaderList }): Promise<SipResponse> {
    return this.session.request(method, opts);
  }

  /** @internal Ends the call without sending anything. */
  end(reason: string): void {
    this.session.end(reason);
  }
}
