/**
 * The UAC side of an invite session (RFC 3261 §13.2): the INVITE's provisional responses
 * (early dialogs of a {@link DialogSet}, one per fork), its final response (the dialog, the
 * offer/answer of §13.2.1 and §13.2.2.4's ACK-then-BYE when the 2xx's SDP cannot be used),
 * 2xx from other forks (ACK and BYE), and CANCEL (§9.1: only after a provisional response).
 *
 * @remarks Usage layer (`usage/invite`). The owner builds and sends the INVITE (it knows From,
 * credentials, the outbound proxy) and feeds the transaction's events here.
 */
import { type Dialog, DialogSet } from '../../dialog/index.js';
import { negotiate } from '../../sdp/index.js';
import type { HeaderList, SipResponse } from '../../sip/index.js';
import { type ClientTransaction, buildCancel } from '../../transaction/index.js';
import type { SendResult, Target } from '../../tu/index.js';
import { InviteSession, type InviteSessionEnv } from './invite-session.js';
import { requires100rel } from './reliable-provisional.js';
import { uacSessionTimer } from './session-timer.js';

/** What a UAC session needs beyond {@link InviteSessionEnv}. */
export interface ClientSessionEnv extends InviteSessionEnv {
  /** A valid answer refusing every stream of `offer` (port 0), for §13.2.2.4; undefined when none can be built. */
  rejectingAnswer(offer: string): string | undefined;
  /**
   * The answer to an offer in the 2xx (delayed offer) when it has to be fetched from elsewhere
   * (a B2BUA asks the other leg): the ACK waits for it. Rejects when none comes (§13.2.2.4 then).
   */
  answerLater?(offer: string): Promise<string>;
}

export class ClientInviteSession extends InviteSession {
  private tx: ClientTransaction | undefined;
  private target: Target | undefined;
  private cancelRequested = false;
  private provisionalSeen = false;
  private dialogSet: DialogSet | undefined;
  /** The last RSeq of each early dialog (RFC 3262 §4). */
  private readonly lastRSeq = new WeakMap<Dialog, number>();
  /** SDP of an unreliable 18x: a preview of the answer, for early media (RFC 6337 §3.1.1). */
  earlySdp: string | undefined;

  constructor(
    env: ClientSessionEnv,
    /** Our offer in the INVITE; undefined for a delayed offer (§13.2.1: the 2xx offers). A B2BUA may replace it before the INVITE is sent (its media relay's). */
    public offer: string | undefined,
    private readonly localContact: (target: Target) => string,
  ) {
    super('uac', env);
  }

  /** The client transaction of the INVITE exists (once per RFC 3263 attempt). */
  transactionStarted(tx: ClientTransaction, target: Target): void {
    this.tx = tx;
    this.target = target;
    this.invite = tx.request;
    this.dialogSet = new DialogSet(tx.request, this.localContact(target));
    const open = this.sdp.openOffer;
    if (open !== undefined) this.sdp.rollback(open);
    if (this.offer !== undefined) this.sdp.localOffer(this.offer, { method: 'INVITE', cseq: tx.request.cseq.seq });
  }

  /** A provisional response to the INVITE. */
  provisional(res: SipResponse): void {
    const early = this.dialogSet?.early(res);
    if (early !== undefined && this.dialog === undefined) {
      // The first early dialog takes requests within it (RFC 3311 §5.1: UPDATE; RFC 3891: Replaces).
      this.dialog = early;
      this.env.bind(this);
    }
    const reliable = early !== undefined && requires100rel(res);
    if (reliable && !this.takeReliable(res, early)) return; // a retransmission or out of order (RFC 3262 §4)
    this.provisionalSeen = true;
    if (res.status > 100 && this.state === 'Calling') this.move('Early');
    if (res.body.length > 0 && res.contentType === 'application/sdp') this.earlySdp = res.body.toString('utf8');
    this.emit('progress', res);
    if (this.cancelRequested) this.sendCancel();
  }

  /**
   * A reliable provisional (RFC 3262 §4): processed only when its RSeq is the next of its early
   * dialog; its SDP is the answer to our offer (or, for an INVITE without one, the offer, answered
   * in the PRACK); a PRACK with `RAck: rseq cseq INVITE` is sent within the early dialog.
   */
  private takeReliable(res: SipResponse, dialog: Dialog): boolean {
    const rseq = Number(res.header('RSeq'));
    if (!Number.isInteger(rseq) || rseq < 1) return false;
    const last = this.lastRSeq.get(dialog);
    if (last !== undefined && rseq !== last + 1) return false;
    this.lastRSeq.set(dialog, rseq);
    const invite = this.invite!;
    let body: string | undefined;
    if (res.body.length > 0 && res.contentType === 'application/sdp') {
      const sdp = res.body.toString('utf8');
      if (this.sdp.state === 'have-local-offer' && this.sdp.carriedBy('INVITE', invite.cseq.seq)) this.sdp.remoteAnswer(sdp);
      else if (this.sdp.state === 'stable' && this.sdp.remoteSdp === undefined) {
        this.sdp.remoteOffer(sdp, { method: 'INVITE', cseq: invite.cseq.seq, inResponse: true });
        try {
          body = this.env.answer(sdp);
          this.sdp.localAnswer(body);
        } catch (e) {
          this.sdpFailure = `offer in the reliable ${res.status} not acceptable: ${(e as Error).message}`;
          body = (this.env as ClientSessionEnv).rejectingAnswer(sdp);
        }
      }
    }
    void (async () => {
      const t = (await this.targets(dialog))[0];
      if (!t) return;
      const headers: HeaderList = [['RAck', `${rseq} ${invite.cseq.seq} INVITE`]];
      if (body !== undefined) headers.push(['Content-Type', 'application/sdp']);
      const prack = dialog.createRequest('PRACK', { via: this.element.uac.via(t.kind), maxForwards: this.element.uac.maxForwards, headers, body });
      await this.element.uac.send([t], () => prack);
      if (this.sdpFailure !== undefined) void this.cancel();
    })().catch(() => {});
    return true;
  }

  /** The INVITE's final response (after RFC 3263 failover and digest retries). */
  async final({ response, request, target }: SendResult): Promise<void> {
    this.invite = request;
    this.finalResponse = response;
    const set = this.dialogSet ?? new DialogSet(request, this.localContact(target));
    if (response.status < 200 || response.status >= 300) {
      this.tx = undefined;
      set.terminateEarly();
      this.end(`failed:${response.status}`);
      return;
    }
    const { dialog } = set.answered(response);
    set.terminateEarly();
    // Another fork answered than the one whose early dialog was bound: that one is let go.
    if (this.dialog !== undefined && this.dialog !== dialog) this.env.release(this);
    this.dialog = dialog;
    this.tx = undefined;
    if (target.kind !== 'udp') dialog.flowId = undefined;
    const env = this.env as ClientSessionEnv;
    const remote = response.body.length > 0 ? response.body.toString('utf8') : undefined;
    const carrier = { method: 'INVITE', cseq: request.cseq.seq };
    let ackBody: string | undefined;
    // Offer and answer already exchanged in a reliable provisional and its PRACK (RFC 3262):
    // the 2xx's SDP, if any, repeats the answerer's description.
    const settled = this.sdp.state === 'stable' && this.sdp.remoteSdp !== undefined;
    if (settled) {
      /* nothing to negotiate */
    } else if (this.offer === undefined && remote !== undefined) {
      // Delayed offer: the 2xx carries the offer, the ACK the answer (RFC 3261 §13.2.1).
      this.sdp.remoteOffer(remote, { ...carrier, inResponse: true });
      try {
        ackBody = env.answerLater ? await env.answerLater(remote) : env.answer(remote);
        this.sdp.localAnswer(ackBody);
      } catch (e) {
        // §13.2.2.4: "generate a valid answer in the ACK and then send a BYE immediately".
        this.sdpFailure = `offer in the 2xx not acceptable: ${(e as Error).message}`;
        ackBody = env.rejectingAnswer(remote);
      }
    } else if (this.offer === undefined) {
      this.sdpFailure = 'no offer in the 2xx to an INVITE without one (RFC 3261 §13.2.1)';
    } else if (remote !== undefined) {
      try {
        negotiate(this.offer, remote);
        if (this.sdp.carriedBy('INVITE', request.cseq.seq)) this.sdp.remoteAnswer(remote);
      } catch (e) {
        this.sdpFailure = `answer in the 2xx not usable: ${(e as Error).message}`;
      }
    }
    this.env.bind(this);
    this.move('Confirmed');
    // The 2xx is ACKed whatever its SDP (the dialog exists, §13.2.2.4); a session that cannot be
    // used is then ended with BYE.
    await this.sendAck(dialog, request.cseq.seq, ackBody);
    if (this.sdpFailure !== undefined) {
      await this.bye('sdp-failed');
      return;
    }
    // A 2xx crossed our CANCEL: the call is up, so end it with BYE (RFC 3261 §9.1).
    if (this.cancelRequested) {
      await this.bye();
      return;
    }
    // RFC 4028 §7.2: a Session-Expires in the 2xx starts the session timer (we refresh when it names the UAC).
    const timer = this.env.sessionTimer ? uacSessionTimer(response) : undefined;
    if (timer !== undefined) this.runSessionTimer(timer.seconds, timer.refresher === 'uac');
    // Held for the whole call: the INVITE and its 2xx keep their bytes, not their decoded headers;
    // the forks' 2xx come within 64·T1 (the ICT's Accepted state, RFC 6026), the dialog set no later.
    request.compact();
    response.compact();
    this.element.clock.setTimer(64 * this.element.timers.T1, () => {
      if (this.dialogSet === set) this.dialogSet = undefined;
    });
    this.emit('established');
  }

  /** A 2xx after the first: a retransmission is ACKed again; another fork's is ACKed, then ended with BYE. */
  extra2xx(res: SipResponse): void {
    if (this.dialog !== undefined && res.to.tag === this.dialog.remoteTag) {
      this.reAck(res);
      return;
    }
    const set = this.dialogSet;
    if (set === undefined || this.invite === undefined) return;
    const { dialog } = set.answered(res);
    const cseq = this.invite.cseq.seq;
    void (async () => {
      await this.sendAck(dialog, cseq, undefined, false);
      const t = (await this.targets(dialog))[0];
      if (!t) return;
      const bye = dialog.createRequest('BYE', { via: this.element.uac.via(t.kind), maxForwards: this.element.uac.maxForwards });
      await this.element.uac.send([t], () => bye);
      dialog.transition('Terminated');
    })().catch(() => {});
  }

  /** CANCEL (§9.1): sent once a provisional response came; the INVITE then ends with 487. */
  /** The INVITE transaction a CANCEL was sent for. */
  private cancelSentFor: ClientTransaction | undefined;

  async cancel(): Promise<void> {
    if ((this.state !== 'Calling' && this.state !== 'Early') || this.cancelRequested) return;
    this.cancelRequested = true;
    if (this.provisionalSeen) this.sendCancel();
  }

  protected override async hangUpEarly(): Promise<void> {
    await this.cancel();
  }

  private sendCancel(): void {
    const tx = this.tx;
    if (!tx || !this.target || (tx.state !== 'Proceeding' && tx.state !== 'Calling')) return;
    // One CANCEL per INVITE (§9.1): cancel() from a 'progress' listener has sent it already, and
    // each later provisional would send it again.
    if (this.cancelSentFor === tx) return;
    this.cancelSentFor = tx;
    const cancel = buildCancel(tx.request);
    void this.element.uac.send([this.target], () => cancel);
  }
}
