/**
 * The gateway's keep-alives (docs/gateway.md):
 * - per dial-peer, IOS `voice-class sip options-keepalive`: OPTIONS to the peer's session target
 *   every up-interval; after `retry` pings in a row without an answer the peer is busied out (the
 *   hunt skips it) and pinged every down-interval until it answers again. Any response but a 503
 *   counts as an answer (the server is there; RFC 3261 §11 lets it refuse OPTIONS).
 * - towards the registrar, `gateway.keepalive` (IOS `sip-ua` NAT keep-alive): an OPTIONS or a
 *   double CRLF (RFC 5626 §3.5.1) every interval, from the socket the REGISTERs leave from, so
 *   that a NAT in front of the gateway keeps the mapping the registrar sends calls to.
 *
 * @remarks Role (`roles/gateway`).
 */
import { type DialPeer, type DialPlan, peerTarget } from '../../dialplan/index.js';
import { syntheticCause } from '../../transaction/index.js';
import type { Clock } from '../../util/clock.js';
import type { UserAgent } from '../user-agent/index.js';

/** IOS defaults of `voice-class sip options-keepalive`. */
export const OPTIONS_KEEPALIVE_DEFAULTS = Object.freeze({ upInterval: 60, downInterval: 30, retry: 5 });

type PeerHealth = { state: 'up' | 'down'; misses: number; timer?: ReturnType<Clock['setTimer']> };

export class DialPeerKeepalive {
  private readonly health = new Map<number, PeerHealth>();
  private stopped = false;

  constructor(
    private readonly ua: UserAgent,
    private readonly log: (line: string) => void,
  ) {}

  /** Starts (or, after a reload, restarts) pinging the peers of `plan` that ask for it. */
  start(plan: DialPlan | undefined): void {
    this.clear();
    this.stopped = false;
    for (const peer of plan?.peers ?? []) {
      if (!peer.optionsKeepalive) continue;
      let uri: string;
      try {
        const t = peerTarget(plan!, peer, 'keepalive');
        if (t.kind !== 'uri') continue; // the location service is not pinged
        uri = t.uri.replace(/^(sips?:)[^@]*@/, '$1');
      } catch {
        continue;
      }
      const h: PeerHealth = { state: 'up', misses: 0 };
      this.health.set(peer.tag, h);
      this.schedule(peer, uri, h, 0);
    }
  }

  /** Is the peer busied out (its pings unanswered `retry` times)? */
  busiedOut(peer: DialPeer): boolean {
    return this.health.get(peer.tag)?.state === 'down';
  }

  stop(): void {
    this.stopped = true;
    this.clear();
  }

  private clear(): void {
    for (const h of this.health.values()) if (h.timer) this.ua.element.clock.clearTimer(h.timer);
    this.health.clear();
  }

  private schedule(peer: DialPeer, uri: string, h: PeerHealth, ms: number): void {
    h.timer = this.ua.element.clock.setTimer(ms, () => void this.ping(peer, uri, h));
  }

  private async ping(peer: DialPeer, uri: string, h: PeerHealth): Promise<void> {
    const k = { ...OPTIONS_KEEPALIVE_DEFAULTS, ...peer.optionsKeepalive };
    let answered = false;
    let what: string;
    try {
      const res = await this.ua.options(uri);
      const synthetic = syntheticCause(res);
      answered = synthetic === undefined && res.status !== 503;
      what = synthetic ? `no answer (${synthetic})` : `${res.status} ${res.reason}`;
    } catch (e) {
      what = (e as Error).message;
    }
    if (this.stopped || this.health.get(peer.tag) !== h) return;
    if (answered) {
      if (h.state === 'down') this.log(`gateway: dial-peer ${peer.tag} (${uri}) answers OPTIONS again (${what}): in service`);
      h.state = 'up';
      h.misses = 0;
    } else if (h.state === 'up' && ++h.misses >= k.retry) {
      h.state = 'down';
      this.log(`gateway: dial-peer ${peer.tag} (${uri}): ${h.misses} OPTIONS unanswered (last: ${what}): busied out`);
    }
    this.schedule(peer, uri, h, (h.state === 'up' ? k.upInterval : k.downInterval) * 1000);
  }
}

/** The registrar NAT keep-alive (`gateway.keepalive`). */
export class RegistrarKeepalive {
  private timer: ReturnType<Clock['setTimer']> | undefined;

  constructor(
    private readonly ua: UserAgent,
    private readonly registrar: string,
    private readonly settings: { interval: number; method: 'options' | 'crlf' },
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    if (this.settings.interval <= 0) return;
    this.timer = this.ua.element.clock.setTimer(this.settings.interval * 1000, () => void this.tick());
  }

  stop(): void {
    if (this.timer) this.ua.element.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    try {
      if (this.settings.method === 'options') {
        const res = await this.ua.options(this.registrar);
        if (syntheticCause(res)) this.log(`gateway: keep-alive OPTIONS to ${this.registrar}: no answer (${syntheticCause(res)})`);
      } else {
        const [target] = await this.ua.element.uac.resolve(this.registrar);
        if (target) this.ua.transport.sendKeepAlive(target, (e) => this.log(`gateway: ${e.message}`));
      }
    } catch (e) {
      this.log(`gateway: keep-alive to ${this.registrar}: ${(e as Error).message}`);
    }
    if (this.timer !== undefined) this.start();
  }
}
