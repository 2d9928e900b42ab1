/**
 * The SIP gateway of the handbook (call flows 1 and 3, `sip-ua` settings; docs/gateway.md): a
 * user agent standing for the telephone network behind it. It registers its E.164 numbers with
 * a registrar (call flow 3 step 1: `sip-ua` `registrar`, `authentication username … password …`,
 * refreshed before they expire, removed when it stops), and answers the calls its inbound
 * dial-peers take (`incoming called-number`, docs/dialplan.md) — with early media (183 with the
 * answer) unless `disable-early-media` — refusing the others with the status of Q.850 cause 1
 * (unallocated number → 404) and a `Reason: Q.850;cause=1` (RFC 3326, RFC 3398). Calls from the
 * telephone network go out by the outbound dial-peers ({@link OutboundCalls}), which it keeps
 * alive with OPTIONS where they ask for it; the calls it ends carry the Q.850 cause in a Reason.
 *
 * @remarks Role (`roles/gateway`).
 */
import { type CauseMapping, type DialPlan, NORMAL_CLEARING, q850Reason, sipStatusForCause } from '../../dialplan/index.js';
import { type SipResponse, percentDecode } from '../../sip/index.js';
import type { Clock } from '../../util/clock.js';
import { type Call, type IncomingCall, type UserAgent, grantedExpires } from '../user-agent/index.js';
import { DialPeerKeepalive, RegistrarKeepalive } from './keepalive.js';
import { type OutboundCall, OutboundCalls } from './outbound.js';

export interface GatewayConfig {
  /** `sip-ua` / `registrar`: where the numbers register (none: no registration). */
  registrar?: string;
  /** Register the numbers (default true; false: the registrar serves `session target registrar` only). */
  register?: boolean;
  /** The E.164 numbers (or extensions) registered, each as `sip:NUMBER@domain`. */
  numbers: readonly string[];
  /** The AOR domain (default: the registrar's host). */
  domain?: string;
  /** `authentication username … password …`: digest credentials for the registrar. */
  credentials?: { username: string; password: string };
  /** `timers expires` / `registrar … expires`: the registration interval asked for, s. */
  expires: number;
  /** A 183 with the answer before the 200; false: `disable-early-media` (180, then 200). */
  earlyMedia: boolean;
  /** `set pstn-cause` / `set sip-status` over the RFC 3398 tables. */
  causes: CauseMapping;
  /** `redirection`: follow a 3xx on the gateway's own calls. */
  redirection?: boolean;
  /** `remote-party-id`: the calling number in a Remote-Party-ID. */
  remotePartyId?: boolean;
  /** `asserted-id pai|ppi` (RFC 3325). */
  assertedId?: 'pai' | 'ppi';
  /** `timers expires`: the Expires of an outbound INVITE, s (0: none). */
  inviteExpires?: number;
  /** `notify telephone-event max-duration`, ms. */
  notifyMaxDuration?: number;
  /** NAT keep-alive towards the registrar: OPTIONS or a double CRLF every `interval` s (0: off). */
  keepalive?: { interval: number; method: 'options' | 'crlf' };
}

/** How long a stop waits for the registrar to answer the removal of the registrations. */
export const UNREGISTER_WAIT_MS = 3000;

export class Gateway {
  private readonly timers = new Map<string, ReturnType<Clock['setTimer']>>();
  private stopped = false;
  private readonly peerKeepalive: DialPeerKeepalive;
  private readonly registrarKeepalive: RegistrarKeepalive | undefined;
  private readonly outbound: OutboundCalls;

  constructor(
    private readonly ua: UserAgent,
    private readonly cfg: GatewayConfig,
    private readonly dialPlan: () => DialPlan | undefined,
    private readonly log: (line: string) => void,
  ) {
    ua.on('invite', (inv) => this.answer(inv));
    this.peerKeepalive = new DialPeerKeepalive(ua, log);
    this.registrarKeepalive = cfg.registrar && cfg.keepalive && cfg.keepalive.interval > 0 ? new RegistrarKeepalive(ua, cfg.registrar, cfg.keepalive, log) : undefined;
    this.outbound = new OutboundCalls(ua, {
      domain: this.domain(),
      redirection: cfg.redirection ?? true,
      remotePartyId: cfg.remotePartyId ?? false,
      assertedId: cfg.assertedId,
      inviteExpires: cfg.inviteExpires ?? 0,
      notifyMaxDuration: cfg.notifyMaxDuration ?? 2000,
      registrar: cfg.registrar,
      causes: cfg.causes,
    }, dialPlan, (peer) => this.peerKeepalive.busiedOut(peer), log);
  }

  /**
   * A call from the telephone network to `called` (from `calling`): out by the outbound
   * dial-peers in hunt order. Resolves once it is answered or every peer tried has failed.
   */
  call(called: string, calling?: string): Promise<OutboundCall> {
    return this.outbound.place(called, calling);
  }

  /** The telephone side hangs up: BYE with `Reason: Q.850;cause=N` (RFC 3326; 16, normal clearing). */
  hangUp(call: Call, cause = NORMAL_CLEARING): Promise<SipResponse | undefined> {
    return call.bye('local-bye', [['Reason', q850Reason(cause)]]);
  }

  /** The dial plan was reloaded: its options-keepalives start again. */
  dialPlanReloaded(): void {
    this.peerKeepalive.start(this.dialPlan());
  }

  private domain(): string {
    return this.cfg.domain ?? /^sips?:(?:[^@]*@)?([^;:>]+|\[[^\]]+\])/.exec(this.cfg.registrar ?? '')?.[1] ?? this.ua.transport.sentBy('udp').host;
  }

  /** The AOR of a number: `sip:NUMBER@domain`. */
  aorOf(number: string): string {
    return `sip:${number}@${this.cfg.domain ?? /^sips?:(?:[^@]*@)?([^;:>]+|\[[^\]]+\])/.exec(this.cfg.registrar ?? '')?.[1] ?? 'localhost'}`;
  }

  /** Registers every number (call flow 3 step 1); resolves once each has its first answer. */
  async start(): Promise<void> {
    this.peerKeepalive.start(this.dialPlan());
    this.registrarKeepalive?.start();
    if (!this.cfg.registrar || this.cfg.register === false) return;
    await Promise.all(this.cfg.numbers.map((n) => this.register(n)));
  }

  private async register(number: string): Promise<void> {
    if (this.stopped) return;
    const aor = this.aorOf(number);
    const clock = this.ua.element.clock;
    let retryS = 30;
    try {
      const res = await this.ua.register(this.cfg.registrar!, {
        aor,
        contact: this.contactFor(number),
        expires: this.cfg.expires,
        credentials: this.cfg.credentials ? { username: this.cfg.credentials.username, password: this.cfg.credentials.password } : undefined,
      });
      if (res.status >= 200 && res.status < 300) {
        const granted = grantedExpires(res, this.cfg.expires);
        this.log(`gateway: ${aor} registered at ${this.cfg.registrar} for ${granted} s`);
        // RFC 3261 §10.2.4: refresh before the binding expires.
        retryS = Math.max(5, Math.floor(granted * 0.8));
      } else this.log(`gateway: ${aor} not registered at ${this.cfg.registrar}: ${res.status} ${res.reason}; again in ${retryS} s`);
    } catch (e) {
      this.log(`gateway: ${aor} not registered at ${this.cfg.registrar}: ${(e as Error).message}; again in ${retryS} s`);
    }
    if (this.stopped) return;
    this.timers.set(number, clock.setTimer(retryS * 1000, () => void this.register(number)));
  }

  private contactFor(number: string): string {
    const base = this.ua.element.uac.contactUri('udp');
    return base.replace(/^(sips?:)(?:[^@]*@)?/, `$1${number}@`);
  }

  /** An incoming call: answered when an inbound dial-peer takes the called number (or there is no plan). */
  private answer(inv: IncomingCall): void {
    const req = inv.request;
    const u = req.uri;
    const called = u.kind === 'sip' ? percentDecode(u.user ?? '') : u.kind === 'tel' ? u.number : '';
    const plan = this.dialPlan();
    if (plan) {
      const fu = req.from.uri;
      const calling = fu.kind === 'sip' && fu.user !== undefined ? percentDecode(fu.user) : undefined;
      const peer = plan.inbound(called, calling);
      if (!peer) {
        // No inbound dial-peer: Q.850 cause 1, unallocated number (RFC 3398 §7.2.4.1: 404).
        const status = sipStatusForCause(1, this.cfg.causes);
        this.log(`gateway: ${req.callId}: no inbound dial-peer for ${called}: ${status} (Q.850 cause 1)`);
        inv.reject(status, status === 404 ? 'Unallocated Number' : undefined, [['Reason', q850Reason(1)]]);
        return;
      }
    }
    const offer = inv.offer;
    if (this.cfg.earlyMedia && offer !== undefined) {
      let sdp: string;
      try {
        sdp = this.ua.answerFor(offer);
      } catch {
        inv.reject(488, undefined, [['Reason', q850Reason(65)]]); // bearer capability not implemented
        return;
      }
      inv.progress(183, sdp);
      inv.accept(sdp);
      return;
    }
    inv.progress(180);
    inv.accept();
  }

  /**
   * Stops refreshing and removes the registrations (Expires: 0), waiting for the registrar's
   * answers at most {@link UNREGISTER_WAIT_MS}: a registrar that is down must not hold up a stop.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.peerKeepalive.stop();
    this.registrarKeepalive?.stop();
    for (const t of this.timers.values()) this.ua.element.clock.clearTimer(t);
    this.timers.clear();
    if (!this.cfg.registrar || this.cfg.register === false) return;
    const removals = Promise.all(this.cfg.numbers.map((n) => this.ua.register(this.cfg.registrar!, {
      aor: this.aorOf(n), contact: this.contactFor(n), expires: 0,
      credentials: this.cfg.credentials ? { username: this.cfg.credentials.username, password: this.cfg.credentials.password } : undefined,
    }).catch(() => undefined)));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), UNREGISTER_WAIT_MS)));
    if ((await Promise.race([removals, late])) === 'late') this.log(`gateway: the registrar did not answer the removals within ${UNREGISTER_WAIT_MS / 1000} s; stopping anyway`);
    clearTimeout(timer);
  }
}
