/**
 * The UAS side of an invite session (RFC 3261 §13.3): provisional responses (early dialog),
 * the 2xx with the answer (or, for an INVITE without an offer, our offer, answered in the ACK,
 * §13.2.1) retransmitted until the ACK, a final error response, and CANCEL (§9.2: 487).
 *
 * @remarks Usage layer (`usage/invite`).
 */
import { Dialog } from '../../dialog/index.js';
import type { HeaderList, SipRequest } from '../../sip/index.js';
import type { InviteServerTransaction } from '../../transaction/index.js';
import type { TransportKind } from '../../transport/index.js';
import { InviteSession, type InviteSessionEnv } from './invite-session.js';

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
  /** A final response was sent. */
  answered = false;

  constructor(env: ServerSessionEnv, request: SipRequest, private readonly tx: InviteServerTransaction) {
    super('uas', env);
    this.invite = request;
    const offer = this.offer;
    if (offer !== undefined) this.sdp.remoteOffer(offer, { method: 'INVITE', cseq: request.cseq.seq });
  }

  /** The offer in the INVITE, or undefined for a delayed offer (RFC 3261 §13.2.1). */
  get offer(): string | undefined {
    const req = this.invite!;
    return req.body.length > 0 ? req.body.toString('utf8') : undefined;
  }

  private get kind(): TransportKind {
    return (this.invite!.source?.transport ?? 'udp') as TransportKind;
  }

  /** 180 Ringing, or 183 Session Progress with early media SDP (an unreliable preview, RFC 6337). */
  progress(status: number, sdp?: string): void {
    if (this.answered || this.tx.state !== 'Proceeding') return;
    const headers: HeaderList = [['Contact', `<${(this.env as ServerSessionEnv).contact(this.kind)}>`]];
    if (sdp) headers.push(['Content-Type', 'application/sdp']);
    this.element.uas.respond(this.tx, this.invite!, status, { headers, body: sdp });
    if (status > 100 && this.state === 'Incoming') this.move('Early');
  }

  /**
   * 200 OK. `sdp` defaults to the answer to the INVITE's offer (488 when nothing in it is
   * acceptable, RFC 3264 §6) or, for an INVITE without one, our offer. Returns false when the
   * call could not be accepted.
   */
  accept(sdp?: string): boolean {
    if (this.answered || this.tx.state !== 'Proceeding') return false;
    const env = this.env as ServerSessionEnv;
    const req = this.invite!;
    const offer = this.offer;
    let body = sdp;
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
    this.answered = true;
    const kind = this.kind;
    const contact = `<${env.contact(kind)}>`;
    const localTag = this.element.uas.toTagFor(this.tx);
    const dialog = Dialog.asUas(req, localTag, contact, 'Confirmed');
    if (kind !== 'udp') dialog.flowId = req.source?.connectionId;
    this.dialog = dialog;
    if (offer !== undefined) this.sdp.localAnswer(body);
    else this.sdp.localOffer(body, { method: 'INVITE', cseq: req.cseq.seq, inResponse: true });
    this.env.bind(this);
    const res = this.element.uas.respond(this.tx, req, 200, {
      toTag: localTag,
      headers: [['Contact', contact], ['Allow', env.allow.join(', ')], ['Content-Type', 'application/sdp']],
      body,
    });
    this.move('WaitingForAck');
    this.retransmit2xx(req, res);
    this.emit('established');
    return true;
  }

  /** A final error response: 486 Busy Here, 603 Decline, 488 … */
  reject(status: number, reason?: string): void {
    if (this.answered || this.tx.state !== 'Proceeding') return;
    this.answered = true;
    this.element.uas.respond(this.tx, this.invite!, status, { reason });
    this.end(`failed:${status}`);
  }

  protected override async hangUpEarly(): Promise<void> {
    this.reject(480, 'Temporarily Unavailable');
  }

  /** The INVITE was cancelled (§9.2): 487 while no final response was sent. */
  cancelled(): void {
    if (!this.answered && this.tx.state === 'Proceeding') {
      this.answered = true;
      this.element.uas.respond(this.tx, this.invite!, 487);
    }
    if (this.state === 'Incoming' || this.state === 'Early') this.end('cancelled');
  }
}
