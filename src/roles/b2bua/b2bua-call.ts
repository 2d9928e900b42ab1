/**
 * One call through the B2BUA (the handbook's call flow 4): leg A is the caller's INVITE,
 * answered as a UAS; leg B a new INVITE of ours — new Call-ID, tags, CSeq, Via and Contact,
 * none of leg A's Via, Record-Route, Contact or tags — sent as a UAC. Each leg is an invite
 * session of `usage/invite` with its own offer/answer state; this file is the bridge between
 * them:
 *
 * - leg B's 180 → 180 on leg A; its 183 with SDP → 183 on leg A whose SDP lists the codecs both
 *   endpoints have at leg B's media address (media passthrough);
 * - leg B's 2xx → ACK (in the delayed-offer mode with the answer: the caller's address and the
 *   chosen codec), then 200 on leg A with the same answer as in the 183;
 * - no codec in common → 488 on leg A, leg B cancelled (before its final response) or ACKed and
 *   ended (after a 2xx); a failure on leg B → the same status on leg A (a timeout → 408);
 * - CANCEL on leg A → CANCEL on leg B, 487 on leg A; BYE on either leg → BYE on the other;
 * - re-INVITE (hold/resume) and INFO relayed to the other leg, answered with its answer.
 *
 * @remarks Role (`roles/b2bua`).
 */
import type { HeaderList, SipRequest, SipResponse } from '../../sip/index.js';
import { syntheticCause } from '../../transaction/index.js';
import type { SipElement } from '../../tu/index.js';
import { ClientInviteSession, type InviteSession, type ReOffer, type ServerInviteSession, type SessionTimerSettings, requires100rel } from '../../usage/index.js';
import { type SessionDescription, parseSdp, reoriginate } from '../../sdp/index.js';
import { placeLeg } from './b2bua-leg.js';
import { type LegDtmf, farEndDtmf, notifyOfferHeader } from './b2bua-dtmf.js';
import { type LegBRoute, calledUser } from './leg-b-route.js';
import { StateError } from '../../util/errors.js';
import { bridged, mediaOf, sideOf } from './sdp-policy.js';
import type { CallMedia } from '../media-relay/index.js';

export { ALLOW } from './b2bua-leg.js';

/** Which leg talks to which: each bridged leg maps to the other (a transfer re-pairs them). */
export type Partners = Map<InviteSession, InviteSession>;

export interface B2buaCallConfig {
  /** Leg B's Request-URI; `{user}` is leg A's Request-URI user. */
  target: string;
  /** `delayed`: leg B's INVITE carries no SDP (the handbook); `forward`: it carries the caller's offer. */
  offer: 'delayed' | 'forward';
  /** Header fields copied from leg A's INVITE to leg B's (names, case-insensitive; `X-*` for a prefix). */
  copyHeaders: readonly string[];
  /** Session timers (RFC 4028) on each leg, or false. */
  sessionTimer?: SessionTimerSettings | false;
  /** REFER: `handle` — the B2BUA transfers (default); `pass` — relayed to the other leg. */
  refer?: 'handle' | 'pass';
  /** The codecs that may cross (names; none: any the endpoints share). */
  codecs?: readonly string[];
  /** A leg B failure status → the status leg A gets (default: the same). */
  failureStatus?: Readonly<Record<string, number>>;
  /** Leg B's targets (location service, dial plan); without it, `target` with `{user}`. */
  route?: (req: SipRequest) => Promise<LegBRoute>;
  /** DTMF in NOTIFY/INFO: `convert` to the method each leg agreed on (default), `pass` as it came. */
  dtmf?: 'convert' | 'pass';
  /** The media relay for this call (rtpengine), when it is to be relayed; `callee` names a NATed callee. */
  media?: (req: SipRequest, callee: string | undefined) => CallMedia | undefined;
  /** Each change of a call's bridge state (the presence role's dialog package watches calls by it). */
  onState?: (call: B2buaCall, state: BridgeState) => void;
}

/** Where a bridged call stands. */
export type BridgeState = 'Routing' | 'Early' | 'Answered' | 'Ended';

/** What a finished call reports (the B2BUA makes a call detail record of it). */
export interface CallOutcome {
  callId: string;
  callIdB: string | undefined;
  from: string;
  to: string;
  start: number;
  answer: number | undefined;
  end: number;
  status: number;
  endedBy: 'caller' | 'callee' | 'server';
  reason: string;
}

/** `codecs` without those the codec policy (`b2bua.codecs`) keeps from crossing. */
export function allowedCodecs(codecs: string[], policy: readonly string[] | undefined): string[] {
  if (!policy?.length) return codecs;
  const ok = policy.map((c) => c.toLowerCase());
  return codecs.filter((c) => ok.includes(c.toLowerCase()));
}

/** Leg A's offer as leg B gets it in the forward mode: as it is, or with only the codecs the policy lets cross. */
export function offerForLegB(offerA: string | undefined, policy: readonly string[] | undefined): string | undefined {
  if (offerA === undefined || !policy?.length) return offerA;
  const side = sideOf(offerA);
  return bridged(offerA, { codecs: allowedCodecs(side.codecs, policy), media: side.media }).sdp;
}

export class B2buaCall {
  private bridgeState: BridgeState = 'Routing';

  /** Where the bridge stands; each change is reported to `onState`. */
  get state(): BridgeState {
    return this.bridgeState;
  }

  set state(to: BridgeState) {
    if (this.bridgeState === to) return;
    this.bridgeState = to;
    this.cfg.onState?.(this, to);
  }
  private readonly startedAt: number;
  private answeredAt: number | undefined;
  /** The final status leg A got. */
  private statusA: number | undefined;
  private endedBy: CallOutcome['endedBy'] | undefined;
  private endReason: string | undefined;
  private reported = false;
  /** The answer leg A got (in a 183 or the 200): the same in both (the handbook's step 5). */
  private answerToA: string | undefined;
  /** The codecs leg A was given, in its order (leg B's answer keeps to them). */
  private chosenCodecs: string[] | undefined;
  /** Leg A's offer, parsed once for the call. */
  private parsedOfferA: SessionDescription | undefined;
  private readonly offerA: string | undefined;
  /** Leg A was cancelled or ended before leg B answered. */
  private abandoned = false;
  /** The media relay of this call, when it is relayed (media-relay/call-media.ts). */
  private media: CallMedia | undefined;
  /** Leg A's offer as rtpengine rewrote it: the media address leg B is given. */
  private relayedOfferA: string | undefined;

  /** Every leg this call has had (a transfer adds one): the record is made when all have ended. */
  private extraLegs: InviteSession[] | undefined;
  /** Each original leg's far-end DTMF methods (`dtmf: convert`); legs a transfer added have none. */
  private readonly dtmf = new Map<InviteSession, LegDtmf>();

  constructor(
    private readonly element: SipElement,
    private readonly cfg: B2buaCallConfig,
    readonly a: ServerInviteSession,
    /** Leg B; a new session for each target a hunt tries. */
    public b: ClientInviteSession,
    private readonly log: (line: string) => void,
    private readonly now: () => number = Date.now,
    /** Called once, when every leg has ended. */
    private readonly onDone: (outcome: CallOutcome) => void = () => {},
    /** The B2BUA's pairing of legs, shared by its calls (an attended transfer joins two calls' legs). */
    readonly partners: Partners = new Map(),
    /** A new leg B session (hunting to the next target); none: no hunting. */
    private readonly newLegB?: () => ClientInviteSession,
  ) {
    this.startedAt = now();
    this.offerA = a.offer;
    // We offer NOTIFY-based relay back to a caller that offered it: we can turn any digit into it.
    if (cfg.dtmf !== 'pass' && a.invite) {
      const far = farEndDtmf(a.invite, false);
      this.dtmf.set(a, { ...far, notifyOffered: far.notifyDuration !== undefined });
    }
    partners.set(a, b);
    partners.set(b, a);
    // Registered here rather than through attach(): the closures share one context (a held call's memory).
    a.on('ended', (reason) => this.legEnded(a, reason));
    b.on('ended', (reason) => this.legEnded(b, reason));
    a.on('reoffer', (r) => this.relayReoffer(a, r));
    b.on('reoffer', (r) => this.relayReoffer(b, r));
  }

  /** Every leg this call has had: A, B and any a transfer added. */
  private get legs(): InviteSession[] {
    return this.extraLegs ? [this.a, this.b, ...this.extraLegs] : [this.a, this.b];
  }

  /** A leg of this call: its end ends its partner; its re-offers go to its partner. */
  attach(leg: InviteSession): void {
    (this.extraLegs ??= []).push(leg);
    leg.on('ended', (reason) => this.legEnded(leg, reason));
    // Re-offers (hold/resume, RFC 3264 §8) and other in-dialog requests go to the other leg.
    leg.on('reoffer', (r) => this.relayReoffer(leg, r));
  }

  private relayReoffer(from: InviteSession, r: ReOffer): void {
    // A session refresh (RFC 4028: the same description again, or none) is this leg's own
    // business; only a changed offer (hold, resume, a new codec) goes to the other leg.
    if (r.offer === undefined || r.offer === from.sdp.remoteSdp) return r.accept(r.offer === undefined ? undefined : from.sdp.localSdp);
    const to = this.partners.get(from);
    if (to === undefined) return r.reject(491); // being transferred: the join re-offers it
    // An UPDATE in an early dialog (RFC 3311 §5.1) goes on in the other leg's early dialog,
    // which exists once a reliable provisional made it (RFC 3262).
    if (to.state === 'Early' && r.request.method === 'UPDATE') {
      if (to.dialog === undefined) return r.reject(488, 'No Early Dialog on the Other Leg');
    } else if (to.state !== 'Confirmed' && to.state !== 'WaitingForAck') return r.reject(491);
    // Each leg keeps its own o= line (RFC 3264 §8): the relayed offer and answer get the origin
    // of what we last sent on the leg they go to, its version incremented. A relayed call's
    // offer and answer pass through rtpengine on the way (the legs' own sides of it).
    const media = this.media !== undefined && (from === this.a || from === this.b) && (to === this.a || to === this.b) ? this.media : undefined;
    const side = from === this.a ? 'caller' : 'callee';
    const sourceOf = (leg: InviteSession) => (leg === this.a ? (this.a.invite?.source ? { address: this.a.invite.source.address } : undefined) : this.sourceOfB());
    const offer = r.offer;
    // A failed ng command leaves that SDP as it was (logged), as in the proxy.
    const unchanged = (what: string, sdp: string) => (e: unknown) => {
      this.log(`b2bua: ${this.a.invite!.callId}: media relay: rtpengine ${what} for a ${r.request.method} failed (${media!.failed(e)}): its SDP passes unchanged`);
      return sdp;
    };
    void (async () => {
      const out = media === undefined ? offer : await media.offer(side, offer, sourceOf(from)).catch(unchanged('offer', offer));
      const res = await to.request(r.request.method, { body: reoriginate(out, to.sdp.localSdp), contentType: 'application/sdp' });
      if (res.status < 200 || res.status >= 300) return r.reject(res.status);
      let answer = res.body.length > 0 ? res.body.toString('utf8') : undefined;
      if (answer !== undefined && media !== undefined) answer = await media.answer(side === 'caller' ? 'callee' : 'caller', answer, sourceOf(to)).catch(unchanged('answer', answer));
      r.accept(answer === undefined ? undefined : reoriginate(answer, from.sdp.localSdp));
    })().catch(() => r.reject(500));
  }

  /** What `leg`'s far end takes for DTMF (undefined: not known, digits pass as they came). */
  dtmfOf(leg: InviteSession): LegDtmf | undefined {
    return this.dtmf.get(leg);
  }

  /** Our Call-Info for leg A's 200 when the caller offered NOTIFY-based relay. */
  private dtmfHeadersForA(): HeaderList {
    const a = this.dtmf.get(this.a);
    return a?.notifyOffered ? notifyOfferHeader(this.element.uac.contactUri('udp', 'b2bua'), a.notifyDuration) : [];
  }

  get callIdB(): string | undefined {
    return this.b.invite?.callId;
  }

  /** Leg B's targets, one after the other while they fail with a cause to hunt on. */
  private async route(req: SipRequest): Promise<LegBRoute> {
    if (this.cfg.route) return this.cfg.route(req);
    return { kind: 'targets', targets: [{ uri: this.cfg.target.replaceAll('{user}', calledUser(req)), next: () => false }] };
  }

  /** Sends leg B's INVITE (to each target of a hunt in turn) and bridges its responses to leg A. */
  async start(): Promise<void> {
    const req = this.a.invite!;
    const route = await this.route(req);
    if (route.kind === 'respond') return this.fail(route.status, route.reason);
    const targets = route.targets;
    if (!(await this.startRelay(req, targets.find((t) => t.destination)?.uri))) {
      // Leg B was never sent: it ends here, so the call can be reported (and the relay released).
      if (this.b.invite === undefined) this.b.end(this.abandoned ? 'cancelled' : 'media-relay');
      return;
    }
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i]!;
      if (i > 0) this.nextLegB();
      const result = await placeLeg(this.element, this.b, {
        target: target.uri,
        destination: target.destination,
        fromUser: req.from.uri.kind === 'sip' ? (req.from.uri.user ?? 'anonymous') : 'anonymous',
        display: req.from.displayName || undefined,
        body: this.b.offer, // forward mode: leg A's offer (within the codec policy); delayed: none
        maxForwards: Math.min(70, Math.max(0, (req.maxForwards ?? 70) - 1)),
        // Leg B is offered NOTIFY-based relay too (`dtmf: convert`): whatever it sends, leg A gets by its own method.
        headers: [...this.copiedHeaders(req), ...(this.cfg.dtmf !== 'pass' ? notifyOfferHeader(this.element.uac.contactUri('udp', 'b2bua'), undefined) : [])],
        sessionTimer: this.cfg.sessionTimer,
        // Without the phone's offer, an offer in a reliable 183 of GW-B's could not be answered in its
        // PRACK; with the media relay, not at once (the PRACK's answer is made synchronously).
        reliable: this.offerA !== undefined && this.media === undefined,
        onProvisional: (res) => this.relayProvisional(res),
        abandoned: () => this.abandoned,
      });
      if (result === undefined) {
        this.log(`b2bua: ${req.callId}: leg B target ${target.uri} does not resolve${i + 1 < targets.length ? ', next target' : ': 404 to leg A'}`);
        if (i + 1 < targets.length && !this.abandoned) continue;
        this.fail(404, 'No Route to Leg B');
        this.b.end('no-route');
        return;
      }
      const callId = result.request.callId;
      const res = result.response;
      if (res.status >= 200 && res.status < 300) {
        if (this.cfg.dtmf !== 'pass') this.dtmf.set(this.b, farEndDtmf(res, true));
        await this.b.final(result);
        if (this.b.sdpFailure !== undefined) {
          this.log(`b2bua: ${req.callId}: leg B ${callId} answered with SDP that cannot be bridged (${this.b.sdpFailure}): 488 to leg A, leg B ended`);
          return this.fail(488, 'Not Acceptable Here');
        }
        if (this.abandoned || this.a.state === 'Terminated') return; // the 2xx crossed a CANCEL: b.final sent BYE
        if (this.offerA === undefined) return; // leg A was answered with leg B's offer (offerToA)
        await this.answerA(res);
        return;
      }
      // A hunt goes on from a failure it hunts on (the route's rule), unless the caller gave up.
      const hunt = i + 1 < targets.length && !this.abandoned && target.next(res);
      if (hunt) {
        this.retire(this.b);
        await this.b.final(result);
        continue;
      }
      await this.b.final(result);
      if (this.abandoned) return;
      const cause = syntheticCause(res);
      const status = cause === 'timeout' ? 408 : cause === 'transport-error' ? 503 : res.status;
      const mapped = this.cfg.failureStatus?.[String(status)] ?? status;
      this.log(`b2bua: ${req.callId}: leg B ${callId} failed with ${res.status}${cause ? ` (${cause})` : ''}: ${mapped} to leg A${mapped !== status ? ` (failureStatus maps ${status})` : ''}`);
      this.fail(mapped, cause || mapped !== status ? undefined : res.reason, cause ? 'server' : 'callee');
      return;
    }
  }

  /** Legs a hunt moved on from: their end ends nothing and says nothing in the record. */
  private retired: WeakSet<InviteSession> | undefined;

  private retire(leg: InviteSession): void {
    this.partners.delete(leg);
    (this.retired ??= new WeakSet()).add(leg);
  }

  /** The next target of a hunt gets a new leg B (a new call: Call-ID, tags, CSeq). */
  private nextLegB(): void {
    if (!this.newLegB) throw new StateError('B2BUA_ERR_NO_HUNT', 'no way to make a new leg B');
    const b = this.newLegB();
    if (this.relayedOfferA !== undefined && b.offer !== undefined) b.offer = offerForLegB(this.relayedOfferA, this.cfg.codecs);
    this.b = b;
    // The answer leg A may get comes from the new target: a preview of the last one does not count.
    if (this.a.sdp.localSdp === undefined) this.answerToA = undefined;
    this.partners.set(this.a, b);
    this.partners.set(b, this.a);
    b.on('ended', (reason) => this.legEnded(b, reason));
    b.on('reoffer', (r) => this.relayReoffer(b, r));
  }

  private allowed(codecs: string[]): string[] {
    return allowedCodecs(codecs, this.cfg.codecs);
  }

  private copiedHeaders(req: SipRequest): HeaderList {
    if (this.cfg.copyHeaders.length === 0) return [];
    const names = this.cfg.copyHeaders.map((n) => n.toLowerCase());
    const out: HeaderList = [];
    for (const [name, value] of req.headerLines()) {
      const n = name.toLowerCase();
      if (names.some((p) => (p.endsWith('*') ? n.startsWith(p.slice(0, -1)) : n === p))) out.push([name, value]);
    }
    return out;
  }

  /** Leg B's 180/183 on leg A; a 183 with SDP gets the bridged answer (its address, the common codecs). */
  private relayProvisional(res: SipResponse): void {
    if (res.status === 100 || this.abandoned || this.a.answered) return;
    const sdp = res.body.length > 0 && res.contentType === 'application/sdp' ? res.body.toString('utf8') : undefined;
    // A reliable provisional on leg B is sent reliably on leg A too when the caller supports it
    // (each leg PRACKs its own, RFC 3262); a caller that requires 100rel gets them reliably anyway.
    const reliable = requires100rel(res);
    if (sdp === undefined || this.offerA === undefined) {
      this.a.progress(res.status, undefined, { reliable });
      this.state = 'Early';
      return;
    }
    if (this.media !== undefined) {
      // The relay's address for leg A first; the 200 may have answered leg A meanwhile.
      const media = this.media;
      void media.answer('callee', sdp, this.sourceOfB()).then(
        (relayed) => {
          if (!this.abandoned && !this.a.answered) this.earlyAnswer(res, relayed, reliable);
        },
        (e: unknown) => this.log(`b2bua: ${this.a.invite!.callId}: media relay: rtpengine answer for leg B's ${res.status} failed (${media.failed(e)}): no early media`),
      );
      return;
    }
    this.earlyAnswer(res, sdp, reliable);
  }

  /** Leg A's 183 with the answer made from leg B's (possibly relayed) SDP. */
  private earlyAnswer(res: SipResponse, sdp: string, reliable: boolean): void {
    try {
      this.answerForA(sdp);
    } catch (e) {
      this.log(`b2bua: ${this.a.invite!.callId}: no codec in common with leg B's ${res.status} (${(e as Error).message}): 488 to leg A, leg B cancelled`);
      this.fail(488, 'Not Acceptable Here');
      void this.b.cancel();
      return;
    }
    this.a.progress(res.status, this.answerToA, { reliable });
    this.state = 'Early';
  }

  /** Leg B answered: leg A gets 200 with the answer it got in the 183, or one made from leg B's SDP now. */
  private async answerA(res: SipResponse): Promise<void> {
    let sdp = this.answerToA;
    if (sdp === undefined && this.offerA !== undefined) {
      let theirs = this.b.sdp.remoteSdp ?? (res.body.length > 0 ? res.body.toString('utf8') : undefined);
      if (this.media !== undefined && theirs !== undefined) {
        // Leg A is given the relay's address for leg B's media (one rtpengine answer for a 183 and the 200 alike).
        const media = this.media;
        const own = theirs;
        theirs = await media.answer('callee', own, this.sourceOfB()).catch((e: unknown) => {
          this.log(`b2bua: ${this.a.invite!.callId}: media relay: rtpengine answer for leg B's 200 failed (${media.failed(e)}): leg A gets leg B's own address`);
          return own;
        });
        if (this.abandoned || this.a.state === 'Terminated') return;
      }
      try {
        sdp = this.answerToA ?? this.answerForA(theirs ?? '');
      } catch {
        sdp = undefined;
      }
      if (sdp === undefined) {
        void this.b.bye('sdp-failed');
        return this.fail(488, 'Not Acceptable Here');
      }
    }
    this.parsedOfferA = undefined; // not needed once both legs have their answers
    if (this.a.accept(sdp, this.dtmfHeadersForA())) {
      this.state = 'Answered';
      this.statusA = 200;
      this.answeredAt = this.now();
    } else void this.b.bye('leg-a-gone');
  }

  /**
   * The phone sent no offer (RFC 3261 §13.2.1): leg B's 2xx offer is leg A's offer, in leg A's
   * 200; leg A's answer, in its ACK, is leg B's answer, in leg B's ACK (RFC 3725 flow I).
   */
  async offerToA(offerB: string): Promise<string> {
    const media = this.media;
    const forA = media === undefined ? offerB : await media.offer('callee', offerB, this.sourceOfB());
    if (this.abandoned || !this.a.accept(forA, this.dtmfHeadersForA())) throw new StateError('B2BUA_ERR_LEG_GONE', 'leg A is gone');
    this.state = 'Answered';
    this.statusA = 200;
    this.answeredAt = this.now();
    if (this.a.state === 'WaitingForAck') {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.a.off('confirmed', done);
          this.a.off('ended', done);
          resolve();
        };
        this.a.on('confirmed', done);
        this.a.on('ended', done);
      });
    }
    const answer = this.a.sdp.remoteSdp;
    if (answer === undefined) throw new StateError('B2BUA_ERR_NO_ANSWER', `no answer in leg A's ACK (${this.a.endReason ?? this.a.state})`);
    const src = this.a.invite?.source;
    return media === undefined ? answer : media.answer('caller', answer, src ? { address: src.address } : undefined);
  }

  /**
   * The answer leg B gets to an offer in its 2xx (delayed offer): the caller's address (the
   * relay's, for a relayed call), the codec leg A was given. `sideB` is what leg A's answer is
   * made from: leg B's offer, or the relay's rewrite of it.
   */
  answerForB(offerB: string, sideB: string = offerB): string {
    const offerA = this.offerA;
    if (offerA === undefined) throw new TypeError('leg A made no offer');
    const parsedB = parseSdp(offerB);
    if (this.answerToA === undefined) this.answerForA(sideB === offerB ? parsedB : sideB);
    const mediaA = this.relayedOfferA !== undefined ? mediaOf(this.relayedOfferA) : mediaOf(this.offerAParsed());
    return bridged(parsedB, { codecs: this.chosenCodecs!, media: mediaA }).sdp;
  }

  /** {@link answerForB} for a relayed call: leg B's offer goes through rtpengine first. */
  async answerForBLater(offerB: string): Promise<string> {
    const media = this.media;
    if (media === undefined) return this.answerForB(offerB);
    const relayed = await media.answer('callee', offerB, this.sourceOfB()).catch((e: unknown) => {
      this.log(`b2bua: ${this.a.invite!.callId}: media relay: rtpengine answer for leg B's offer failed (${media.failed(e)}): leg A gets leg B's own address`);
      return offerB;
    });
    return this.answerForB(offerB, relayed);
  }

  /** Where leg B's messages come from (its binding's flow), for the relay's NAT rule. */
  private sourceOfB(): { address: string } | undefined {
    const f = this.b.natFlow ?? this.b.finalResponse?.source;
    return f ? { address: f.address } : undefined;
  }

  /**
   * Decides whether the call goes through the media relay and, when leg A offered, has
   * rtpengine take that offer (leg B is then given the relay's address). False when the relay
   * is needed and does not answer: leg A has had its 503.
   */
  private async startRelay(req: SipRequest, callee: string | undefined): Promise<boolean> {
    this.media = this.cfg.media?.(req, callee);
    const media = this.media;
    if (media === undefined) return true;
    if (this.offerA === undefined) {
      this.log(`b2bua: ${req.callId}: media relay: relayed (${media.why}); the offer comes from leg B`);
      return true;
    }
    try {
      this.relayedOfferA = await media.offer('caller', this.offerA, req.source ? { address: req.source.address } : undefined);
    } catch (e) {
      this.log(`b2bua: ${req.callId}: media relay: rtpengine offer failed (${media.failed(e)}): 503 to leg A (${media.why})`);
      this.media = undefined;
      media.end('offer failed');
      this.fail(503, 'Media Relay Unavailable');
      return false;
    }
    this.log(`b2bua: ${req.callId}: media relay: through rtpengine ${media.instance ?? '?'} (${media.why})`);
    if (this.b.offer !== undefined) this.b.offer = offerForLegB(this.relayedOfferA, this.cfg.codecs);
    return !this.abandoned;
  }

  private offerAParsed(): SessionDescription {
    return (this.parsedOfferA ??= parseSdp(this.offerA!));
  }

  /** Leg A's answer from what leg B said (its codecs and media address); remembered for the 183 and the 200. */
  private answerForA(other: string | SessionDescription): string {
    const side = sideOf(other);
    const r = bridged(this.offerAParsed(), { codecs: this.allowed(side.codecs), media: side.media });
    this.answerToA = r.sdp;
    this.chosenCodecs = r.codecs;
    return r.sdp;
  }

  private fail(status: number, reason?: string, by: CallOutcome['endedBy'] = 'server'): void {
    this.endedBy ??= by;
    if (!this.a.answered) {
      this.statusA = status;
      this.a.reject(status, reason);
    }
    this.state = 'Ended';
  }

  /** CANCEL on leg A (§9.2: 487 there): leg B is cancelled too. */
  cancelled(): void {
    this.abandoned = true;
    this.endedBy ??= 'caller';
    if (!this.a.answered) this.statusA = 487;
    this.a.cancelled();
    void this.b.cancel();
  }

  /** One leg ended: its partner ends too (BYE after a 2xx, CANCEL before). */
  private legEnded(leg: InviteSession, reason: string): void {
    if (this.retired?.has(leg)) return;
    this.endReason ??= reason;
    this.endedBy ??= reason === 'remote-bye' || reason === 'cancelled' ? (leg === this.a ? 'caller' : 'callee') : reason.startsWith('failed:') && leg === this.b ? 'callee' : 'server';
    if (leg === this.a && reason !== 'failed:488') this.abandoned = true;
    const other = this.partners.get(leg);
    this.partners.delete(leg);
    if (other !== undefined && this.partners.get(other) === leg) {
      this.partners.delete(other);
      if (other.state === 'Confirmed' || other.state === 'WaitingForAck') void other.bye(`other-leg:${reason}`).catch(() => {});
      else if (other instanceof ClientInviteSession) void other.cancel();
    }
    if (!this.legs.some((l) => this.partners.has(l))) this.state = 'Ended';
    this.reportWhenAllEnded();
  }

  /** The call detail record once every leg this call had has ended. */
  reportWhenAllEnded(): void {
    const open = this.legs.find((l) => l.state !== 'Terminated');
    if (open === undefined) this.report();
    else open.once('ended', () => this.reportWhenAllEnded());
  }

  /** A transfer moved the call on: the record says so rather than who hung up first. */
  transferred(): void {
    this.endReason ??= 'transferred';
  }

  private report(): void {
    if (this.reported) return;
    this.reported = true;
    this.media?.end(this.endReason ?? 'call ended');
    const req = this.a.invite!;
    this.onDone({
      callId: req.callId,
      callIdB: this.b.invite?.callId,
      from: req.from.uri.toString(),
      to: req.uriText,
      start: this.startedAt,
      answer: this.answeredAt,
      end: this.now(),
      status: this.statusA ?? this.b.finalResponse?.status ?? 500,
      endedBy: this.endedBy ?? 'server',
      reason: this.endReason ?? 'unknown',
    });
  }
}
