/**
 * The B2BUA role (handbook §7.4, call flow 4): a transaction user of the server's element that
 * answers INVITEs as a UAS and calls the configured target as a UAC on a new call
 * ({@link B2buaCall}), and owns both legs' dialogs, so every request within either dialog comes
 * back here (the method router asks `hasDialog` first).
 *
 * @remarks Role (`roles/b2bua`).
 */
import { DialogTable, type Dialog } from '../../dialog/index.js';
import { rejectingAnswer } from '../../sdp/index.js';
import type { SipRequest, SipResponse } from '../../sip/index.js';
import type { InviteServerTransaction, ServerTransaction } from '../../transaction/index.js';
import type { CdrStore } from '../../store/index.js';
import { type SipElement, type TransactionUser, type UasPolicy, natReason } from '../../tu/index.js';
import { ClientInviteSession, type ClientSessionEnv, type InviteSession, ServerInviteSession, type ServerSessionEnv } from '../../usage/index.js';
import { ALLOW, B2buaCall, type B2buaCallConfig, type Partners, offerForLegB } from './b2bua-call.js';
import { type TransferContext, handleRefer } from './b2bua-transfer.js';
import { dtmfOf, dtmfRequestFor } from './b2bua-dtmf.js';
import { type LegBRouting, routeLegB } from './leg-b-route.js';


/** Header fields an in-dialog request keeps when it is relayed to the other leg (RFC 3515, RFC 6665, RFC 6086). */
const RELAYED_HEADERS = ['Refer-To', 'Referred-By', 'Event', 'Subscription-State', 'Info-Package'];

interface LegEntry {
  dialog: Dialog;
  session: InviteSession;
  call: B2buaCall;
}

export class B2bua implements TransactionUser {
  /** Reliable provisionals (RFC 3262) on both legs, each with its own RSeq space; session timers (RFC 4028) per leg. */
  readonly uas: UasPolicy;
  private readonly legs = new DialogTable<LegEntry>();
  private readonly byInvite = new WeakMap<SipRequest, B2buaCall>();
  private readonly callOf = new WeakMap<InviteSession, B2buaCall>();
  private readonly env: ServerSessionEnv & ClientSessionEnv;
  /** Calls with at least one leg not ended. */
  private live = 0;
  /** Which leg talks to which (shared by the calls: an attended transfer joins two calls' legs). */
  private readonly partners: Partners = new Map();
  private readonly transfers: TransferContext;

  constructor(
    private readonly element: SipElement,
    private cfg: B2buaCallConfig,
    private readonly log: (line: string) => void = () => {},
    /** Where a call detail record of each call goes (none: not recorded). */
    private readonly cdrs?: CdrStore,
    /** Wall-clock time for the records. */
    private readonly now: () => number = Date.now,
    /** What `target: location` and `target: dialplan` route by. */
    routing: Omit<LegBRouting, 'target' | 'log'> = { domains: [] },
  ) {
    if (cfg.target === 'location' || cfg.target === 'dialplan') {
      const r: LegBRouting = { ...routing, target: cfg.target, log };
      this.cfg = { ...cfg, route: (req) => routeLegB(r, req) };
    }
    this.uas = { allow: ALLOW, supported: cfg.sessionTimer ? ['100rel', 'timer'] : ['100rel'], accept: ['application/sdp'] };
    this.env = {
      element,
      allow: ALLOW,
      sessionTimer: cfg.sessionTimer,
      bind: (s) => {
        const call = this.callOf.get(s);
        if (call && s.dialog) this.legs.add({ dialog: s.dialog, session: s, call });
      },
      release: (s) => {
        const d = s.dialog;
        const e = d ? this.legs.get(d.callId, d.localTag, d.remoteTag) : undefined;
        if (e) this.legs.remove(e);
      },
      // Leg B's 2xx offers (delayed offer): the answer is made from leg A's offer.
      answer: (offer) => {
        throw new TypeError(`no bridge for this offer (${offer.length} bytes)`);
      },
      offer: () => {
        throw new TypeError('leg A without an offer is not supported');
      },
      rejectingAnswer: (offer) => {
        try {
          return rejectingAnswer(offer, { address: element.transport.sentBy('udp').host.replace(/[[\]]/g, '') });
        } catch {
          return undefined;
        }
      },
      contact: (kind) => element.uac.contactUri(kind, 'b2bua'),
    };
    this.transfers = {
      element,
      cfg,
      partners: this.partners,
      log,
      legOf: (callId, localTag, remoteTag) => this.legs.get(callId, localTag, remoteTag),
      newLeg: (call, offer) => {
        const n = new ClientInviteSession(this.env, offer, (t) => `<${this.element.uac.contactUri(t.kind, 'b2bua')}>`);
        this.callOf.set(n, call);
        return n;
      },
    };
  }

  /** Calls under way (both legs, or one leg not yet ended). */
  get activeCalls(): number {
    return this.live;
  }

  hasDialog(req: SipRequest): boolean {
    return this.legs.get(req.callId, req.to.tag ?? '', req.from.tag ?? '') !== undefined;
  }

  receiveRequest(req: SipRequest, tx: ServerTransaction): void {
    const entry = req.to.tag !== undefined ? this.legs.get(req.callId, req.to.tag, req.from.tag ?? '') : undefined;
    if (entry) return this.receiveInDialog(req, tx, entry);
    if (req.method === 'OPTIONS') {
      return void this.element.uas.respond(tx, req, 200, { headers: [['Allow', ALLOW.join(', ')], ['Accept', 'application/sdp']] });
    }
    if (req.method !== 'INVITE') return void this.element.uas.respond(tx, req, 481);
    const a = new ServerInviteSession(this.env, req, tx as InviteServerTransaction);
    // A caller behind a NAT (nat-detect.ts) is reached where its INVITE came from, not at its
    // private Contact: our BYE and re-INVITEs on leg A go there (responses follow rport anyway).
    const src = req.source;
    if (src?.transport === 'udp' && natReason(req) !== undefined) a.natFlow = { kind: 'udp', address: src.address, port: src.port, flow: true };
    if (!a.admitSessionInterval()) return; // 422 (RFC 4028 §8.1)
    const call = this.bridge(req, a);
    call.start().catch((e: unknown) => {
      this.element.requestFailed('b2bua', req, tx, e, 'B2BUA Error');
      if (call.b.invite === undefined) call.b.end('error');
      else void call.b.cancel();
      if (a.state !== 'Terminated') a.end('error');
    });
  }

  /**
   * Leg B and the bridge for leg A. Its own scope on purpose: the closures made here live as long
   * as the call, and must not keep leg A's server transaction (and its messages) alive with them.
   */
  private bridge(req: SipRequest, a: ServerInviteSession): B2buaCall {
    let call: B2buaCall | undefined;
    // A phone without an offer (delayed offer on leg A): leg B's 2xx offer goes to the phone in
    // its 200, and the phone's answer in its ACK comes back in leg B's ACK.
    const legEnv: ClientSessionEnv = a.offer === undefined
      ? { ...this.env, answerLater: (offer) => call!.offerToA(offer) }
      : { ...this.env, answer: (offer) => call!.answerForB(offer), answerLater: (offer) => call!.answerForBLater(offer) };
    // Forward mode: leg B's INVITE carries leg A's offer; delayed: none (leg B's 2xx offers).
    let forwarded: string | undefined;
    try {
      forwarded = this.cfg.offer === 'forward' ? offerForLegB(a.offer, this.cfg.codecs) : undefined;
    } catch {
      forwarded = a.offer; // nothing the policy allows: leg B's answer then fails the call with 488
    }
    const legB = () => {
      const b = new ClientInviteSession(legEnv, forwarded, (t) => `<${this.element.uac.contactUri(t.kind, 'b2bua')}>`);
      if (call) this.callOf.set(b, call);
      return b;
    };
    const b = legB();
    call = new B2buaCall(this.element, this.cfg, a, b, this.log, this.now, (outcome) => {
      this.live--;
      this.cdrs?.add(outcome).catch((e: unknown) => this.log(`b2bua: ${outcome.callId}: the call detail record could not be stored: ${(e as Error).message}`));
    }, this.partners, legB);
    this.callOf.set(a, call);
    this.callOf.set(b, call);
    this.byInvite.set(req, call);
    this.live++;
    return call;
  }

  private receiveInDialog(req: SipRequest, tx: ServerTransaction, entry: LegEntry): void {
    const { session, call } = entry;
    if (session.receiveRequest(req, tx)) return;
    if (req.method === 'REFER' && this.cfg.refer !== 'pass') return handleRefer(this.transfers, req, tx, session, call);
    // INFO (RFC 6086), REFER in `pass` mode (RFC 3515: the far end does the transfer) and its
    // NOTIFYs: relayed to the partner leg, answered with its final response.
    const other = this.partners.get(session);
    if (other === undefined) return void this.element.uas.respond(tx, req, 481, { reason: 'Leg Not Bridged' });
    if (this.cfg.dtmf !== 'pass' && this.relayDtmf(req, tx, other)) return;
    const body = req.body.length > 0 ? req.body : undefined;
    const headers: Array<[string, string]> = [];
    for (const name of RELAYED_HEADERS) for (const v of req.headers(name)) headers.push([name, v]);
    void other.request(req.method, { body, contentType: req.contentType, headers }).then(
      (res: SipResponse) => this.element.uas.respond(tx, req, res.status, { reason: res.reason }),
      () => this.element.uas.respond(tx, req, 500, { reason: 'Other Leg Unreachable' }),
    );
  }

  /**
   * A DTMF NOTIFY or INFO (`dtmf: convert`): sent on the other leg by the method that leg agreed
   * on (b2bua-dtmf.ts), answered with that leg's final response. False: not a digit, or the other
   * leg's methods are not known (relayed as it came).
   */
  private relayDtmf(req: SipRequest, tx: ServerTransaction, to: InviteSession): boolean {
    const d = dtmfOf(req);
    const cap = d ? this.callOf.get(to)?.dtmfOf(to) : undefined;
    if (!d || !cap) return false;
    const out = dtmfRequestFor(cap, d.digit, d.duration);
    if (!out) {
      this.log(`b2bua: ${req.callId}: DTMF ${d.digit} (${d.method}) dropped: the other leg's far end takes neither NOTIFY nor INFO`);
      this.element.uas.respond(tx, req, 200);
      return true;
    }
    if (out.via !== d.method) this.log(`b2bua: ${req.callId}: DTMF ${d.digit} ${d.method} → ${out.via} on ${to.dialog?.callId ?? 'the other leg'}`);
    void to.request(out.method, { body: out.body, contentType: out.contentType, headers: out.headers }).then(
      (res: SipResponse) => this.element.uas.respond(tx, req, res.status, { reason: res.reason }),
      () => this.element.uas.respond(tx, req, 500, { reason: 'Other Leg Unreachable' }),
    );
    return true;
  }

  receiveAck(ack: SipRequest): void {
    this.legs.get(ack.callId, ack.to.tag ?? '', ack.from.tag ?? '')?.session.receiveAck(ack);
  }

  receiveCancel(_cancel: SipRequest, invite: InviteServerTransaction): void {
    const call = this.byInvite.get(invite.request);
    if (call) call.cancelled();
    else if (invite.state === 'Proceeding') this.element.uas.respond(invite, invite.request, 487);
  }

  receiveStrayResponse(res: SipResponse): boolean {
    if (res.cseq.method !== 'INVITE' || res.status < 200 || res.status >= 300) return false;
    return this.legs.get(res.callId, res.from.tag ?? '', res.to.tag ?? '')?.session.reAck(res) ?? false;
  }
}
