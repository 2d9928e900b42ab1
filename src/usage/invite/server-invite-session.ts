/**
 * The UAS side of an invite session (RFC 3261 §13.3): provisional responses (early dialog),
 * the 2xx with the answer (or, for an INVITE without an offer, our offer, answered in the ACK,
 * §13.2.1) retransmitted until the ACK, a final error response, and CANCEL (§9.2: 487).
 *
 * @remarks Usage layer (`usage/invite`).
 */
import { Dialog } from '../../dialog/index.js';
import type { HeaderList, SipRequest } from '../../sip/index.js';
import type { InviteServerTransaction, ServerTransaction } from '../../transaction/index.js';
import type { TransportKind } from '../../transport/index.js';
import { InviteSession, type InviteSessionEnv } from './invite-session.js';
import { ReliableProvisionals, parseRAck, requires100rel } from './reliable-provisional.js';
import { tooSmall, uasSessionTimer } from './session-timer.js';

/** What a UAS session needs beyond {@link InviteSessionEnv}. */
export interface ServerSessionEnv extends InviteSessionEnv {
  /** Our offer, for an INVITE that had none (§13.2.1: the 2xx offers). */
  offer(): string;
  /** The Allow list sent in the 2xx (§13.3.1.4 SHOULD). */
  readonly allow: readonly string[];
  /** Our Contact for the transport the INVITE came on. */
  contact(kind: TransportKind): string;
}

export class ServerInviteSession extends InviteSession {
  /** A final response was sent (the server transaction is let go at that moment). */
  get answered(): boolean {
    return this.txn === undefined;
  }
  /** Reliable provisionals (RFC 3262) sent and waiting for their PRACK. */
  private reliable: ReliableProvisionals | undefined;
  /** A 2xx asked for while a reliable provisional with SDP waits for its PRACK (§3). */
  private deferredAccept: (() => void) | undefined;

  /** The INVITE's server transaction, until the final response is sent (then the session lets it go). */
  private txn: InviteServerTransaction | undefined;

  constructor(env: ServerSessionEnv, request: SipRequest, tx: InviteServerTransaction) {
    super('uas', env);
    this.txn = tx;
    this.invite = request;
    const offer = this.offer;
    if (offer !== undefined) this.sdp.remoteOffer(offer, { method: 'INVITE', cseq: request.cseq.seq });
  }

  /**
   * RFC 4028 §8.1: an INVITE asking for a session interval below our Min-SE is answered
   * `422 Session Interval Too Small` with our Min-SE. Returns false when it was (the session ended).
   */
  admitSessionInterval(): boolean {
    const settings = this.env.sessionTimer;
    if (!settings) return true;
    const min = tooSmall(this.invite!, settings);
    if (min === undefined) return true;
    this.element.uas.respond(this.txn!, this.invite!, 422, { headers: [['Min-SE', String(min)]] });
    this.txn = undefined;
    this.end('failed:422');
    return false;
  }

  /** The INVITE lets us send provisionals reliably (`Supported` or `Require: 100rel`, RFC 3262 §3). */
  get reliableAllowed(): boolean {
    const req = this.invite!;
    return req.optionTags('Supported').includes('100rel') || requires100rel(req);
  }

  /** The INVITE insists (`Require: 100rel`): every provisional but 100 goes reliably. */
  get reliableRequired(): boolean {
    return requires100rel(this.invite!);
  }

  /** The early dialog a reliable provisional creates (§12.1.1): PRACK and UPDATE are sent within it. */
  private earlyDialog(contact: string): Dialog {
    if (this.dialog === undefined) {
      const req = this.invite!;
      this.dialog = Dialog.asUas(req, this.element.uas.toTagFor(this.txn!), contact, 'Early');
      if (this.kind !== 'udp') this.dialog.flowId = req.source?.connectionId;
      this.env.bind(this);
    }
    return this.dialog;
  }

  /** The offer in the INVITE, or undefined for a delayed offer (RFC 3261 §13.2.1). */
  get offer(): string | undefined {
    const req = this.invite!;
    return req.body.length > 0 ? req.body.toString('utf8') : undefined;
  }

  private get kind(): TransportKind {
    return (this.invite!.source?.transport ?? 'udp') as TransportKind;
  }

  /**
   * 180 Ringing, or 183 Session Progress with SDP. Unreliable by default (its SDP a preview,
   * RFC 6337 §3.1.1); reliable (RFC 3262) when the INVITE requires it, or when `reliable` is asked
   * and the INVITE supports it: then it carries `Require: 100rel` and an `RSeq`, is retransmitted
   * until its PRACK, and its SDP is the answer to the INVITE's offer (or, for an INVITE without
   * one, our offer, answered in the PRACK).
   */
  progress(status: number, sdp?: string, opts: { reliable?: boolean } = {}): void {
    if (this.answered || this.txn?.state !== 'Proceeding') return;
    const contact = `<${(this.env as ServerSessionEnv).contact(this.kind)}>`;
    const headers: HeaderList = [['Contact', contact]];
    if (sdp) headers.push(['Content-Type', 'application/sdp']);
    const reliable = status > 100 && (this.reliableRequired || (opts.reliable === true && this.reliableAllowed));
    if (!reliable) {
      this.element.uas.respond(this.txn!, this.invite!, status, { headers, body: sdp });
      if (status > 100 && this.state === 'Incoming') this.move('Early');
      return;
    }
    this.earlyDialog(contact);
    this.reliable ??= new ReliableProvisionals(this.element, this.invite!, () => {
      // §3: no PRACK within 64·T1 — the INVITE is rejected with a 5xx.
      this.reject(504, 'No PRACK');
    });
    this.reliable.send((rseq) => {
      if (sdp !== undefined) {
        const carrier = { method: 'INVITE', cseq: this.invite!.cseq.seq, inResponse: true };
        if (this.sdp.state === 'have-remote-offer') this.sdp.localAnswer(sdp);
        else if (this.sdp.state === 'stable' && this.sdp.remoteSdp === undefined) this.sdp.localOffer(sdp, carrier);
      }
      if (this.state === 'Incoming') this.move('Early');
      return this.element.uas.respond(this.txn!, this.invite!, status, { headers: [...headers, ['Require', '100rel'], ['RSeq', String(rseq)]], body: sdp });
    }, sdp !== undefined);
  }

  /**
   * A PRACK within the early dialog (RFC 3262 §3): it acknowledges the reliable provisional its
   * RAck names (else 481); an answer in it completes the offer of that provisional, an offer in
   * it is answered in its 200.
   */
  protected override receivePrack(req: SipRequest, tx: ServerTransaction): void {
    const uas = this.element.uas;
    const rack = parseRAck(req.header('RAck'));
    if (rack === undefined || this.reliable === undefined || !this.reliable.acknowledge(rack)) {
      uas.respond(tx, req, 481, { reason: 'No Matching Reliable Provisional' });
      return;
    }
    let body: string | undefined;
    if (req.body.length > 0 && req.contentType === 'application/sdp') {
      const sdp = req.body.toString('utf8');
      if (this.sdp.state === 'have-local-offer') this.sdp.remoteAnswer(sdp);
      else {
        try {
          this.sdp.remoteOffer(sdp, { method: 'PRACK', cseq: req.cseq.seq });
          body = this.env.answer(sdp, this.sdp.localSdp);
          this.sdp.localAnswer(body);
        } catch {
          uas.respond(tx, req, 488);
          return;
        }
      }
    }
    uas.respond(tx, req, 200, body ? { headers: [['Content-Type', 'application/sdp']], body } : {});
    if (!this.reliable.unacknowledgedSdp && this.deferredAccept) {
      const go = this.deferredAccept;
      this.deferredAccept = undefined;
      go();
    }
  }

  /**
   * 200 OK. `sdp` defaults to the answer to the INVITE's offer (488 when nothing in it is
   * acceptable, RFC 3264 §6) or, for an INVITE without one, our offer. Returns false when the
   * call could not be accepted.
   */
  accept(sdp?: string, extraHeaders: HeaderList = []): boolean {
    if (this.answered || this.txn?.state !== 'Proceeding') return false;
    if (this.reliable?.unacknowledgedSdp) {
      // RFC 3262 §3: no 2xx while a reliable provisional with SDP waits for its PRACK.
      this.deferredAccept = () => void this.accept(sdp, extraHeaders);
      return true;
    }
    const env = this.env as ServerSessionEnv;
    const req = this.invite!;
    const offer = this.offer;
    // The offer/answer already done in a reliable provisional and its PRACK: the 2xx repeats our description.
    const settled = this.sdp.state === 'stable' && this.sdp.localSdp !== undefined;
    let body = sdp ?? (settled ? this.sdp.localSdp : undefined);
    if (body === undefined) {
      if (offer !== undefined) {
        try {
          body = env.answer(offer);
        } catch {
          this.reject(488);
          return false;
        }
      } else body = env.offer();
    }
    const kind = this.kind;
    const contact = `<${env.contact(kind)}>`;
    const localTag = this.element.uas.toTagFor(this.txn!);
    const early = this.dialog;
    const dialog = early ?? Dialog.asUas(req, localTag, contact, 'Confirmed');
    dialog.transition('Confirmed');
    if (kind !== 'udp') dialog.flowId = req.source?.connectionId;
    this.dialog = dialog;
    this.reliable?.stop();
    if (!settled) {
      if (offer !== undefined) this.sdp.localAnswer(body);
      else this.sdp.localOffer(body, { method: 'INVITE', cseq: req.cseq.seq, inResponse: true });
    }
    if (early === undefined) this.env.bind(this);
    // RFC 4028 §9: the interval and refresher, when the UAC asked for or supports session timers.
    const timer = env.sessionTimer ? uasSessionTimer(req, env.sessionTimer) : undefined;
    const res = this.element.uas.respond(this.txn!, req, 200, {
      toTag: localTag,
      headers: [['Contact', contact], ['Allow', env.allow.join(', ')], ['Content-Type', 'application/sdp'], ...(timer?.headers ?? []), ...extraHeaders],
      body,
    });
    this.move('WaitingForAck');
    this.txn = undefined;
    // Held for the whole call: the INVITE keeps its bytes, not its decoded headers.
    req.compact();
    this.retransmit2xx(req, res);
    if (timer !== undefined) this.runSessionTimer(timer.seconds, timer.refresher === 'uas');
    this.emit('established');
    return true;
  }

  /** A final error response: 486 Busy Here, 603 Decline, 488 … */
  reject(status: number, reason?: string, headers?: HeaderList): void {
    if (this.answered || this.txn?.state !== 'Proceeding') return;
    this.reliable?.stop();
    this.deferredAccept = undefined;
    this.element.uas.respond(this.txn!, this.invite!, status, { reason, headers });
    this.txn = undefined;
    this.end(`failed:${status}`);
  }

  protected override async hangUpEarly(): Promise<void> {
    this.reject(480, 'Temporarily Unavailable');
  }

  /** The INVITE was cancelled (§9.2): 487 while no final response was sent. */
  cancelled(): void {
    if (!this.answered && this.txn?.state === 'Proceeding') {
      this.element.uas.respond(this.txn!, this.invite!, 487);
      this.txn = undefined;
    }
    if (this.state === 'Incoming' || this.state === 'Early') this.end('cancelled');
  }
}
