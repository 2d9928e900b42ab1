/**
 * The SIP gateway of the handbook (call flows 1 and 3, `sip-ua` settings; docs/gateway.md): a
 * user agent standing for the telephone network behind it. It registers its E.164 numbers with
 * a registrar (call flow 3 step 1: `sip-ua` `registrar`, `authentication username … password …`,
 * refreshed before they expire, removed when it stops), and answers the calls its inbound
 * dial-peers take (`incoming called-number`, docs/dialplan.md) — with early media (183 with the
 * answer) unless `disable-early-media` — refusing the others with the status of Q.850 cause 1
 * (unallocated number → 404) and a `Reason: Q.850;cause=1` (RFC 3326, RFC 3398).
 *
 * @remarks Role (`roles/gateway`).
 */
import { type CauseMapping, type DialPlan, q850Reason, sipStatusForCause } from '../../dialplan/index.js';
import { percentDecode } from '../../sip/index.js';
import type { Clock } from '../../util/clock.js';
import { type IncomingCall, type UserAgent, grantedExpires } from '../user-agent/index.js';

export interface GatewayConfig {
  /** `sip-ua` / `registrar`: where the numbers register (none: no registration). */
  registrar?: string;
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
}

export class Gateway {
  private readonly timers = new Map<string, ReturnType<Clock['setTimer']>>();
  private stopped = false;

  constructor(
    private readonly ua: UserAgent,
    private readonly cfg: GatewayConfig,
    private readonly dialPlan: () => DialPlan | undefined,
    private readonly log: (line: string) => void,
  ) {
    ua.on('invite', (inv) => this.answer(inv));
  }

  /** The AOR of a number: `sip:NUMBER@domain`. */
  aorOf(number: string): string {
    const domain = this.cfg.domain ?? /^sips?:(?:[^@]*@)?([^;:>]+|\[[^\]]+\])/.exec(this.cfg.registrar ?? '')?.[1] ?? 'localhost';
    return `sip:${number}@${domain}`;
  }

  /** Registers every number (call flow 3 step 1); resolves once each has its first answer. */
  async start(): Promise<void> {
    if (!this.cfg.registrar) return;
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

  /** Stops refreshing and removes the registrations (Expires: 0). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) this.ua.element.clock.clearTimer(t);
    this.timers.clear();
    if (!this.cfg.registrar) return;
    await Promise.all(this.cfg.numbers.map((n) => this.ua.register(this.cfg.registrar!, {
      aor: this.aorOf(n), contact: this.contactFor(n), expires: 0,
      credentials: this.cfg.credentials ? { username: this.cfg.credentials.username, password: this.cfg.credentials.password } : undefined,
    }).catch(() => undefined)));
  }
}
