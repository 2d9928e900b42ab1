/**
 * Keep-alives that hold the NAT mappings of registered phones open (Kamailio's nathelper
 * `natping`): every `interval`, each binding registered from behind a NAT over UDP (the
 * registrar marked its `received` `;nat`) gets an OPTIONS — or a bare CRLFCRLF for phones that
 * prefer it (RFC 5626 §3.5.1) — sent to the public address and port its REGISTER came from,
 * from the server's own SIP socket, so that the router's mapping stays the one the phone
 * registered (home routers forget idle UDP mappings after 20–60 s). The pings are spread over
 * the interval, not sent in a burst. An OPTIONS answered with any response proves the path; one
 * that times out counts a failure, and after `maxFailures` in a row the binding is removed —
 * the phone is gone, and calls to it get 480 at once instead of ringing into the void.
 *
 * @remarks Role (`roles/registrar`).
 */
import { buildRequest } from '../../sip/index.js';
import type { Binding, LocationStore } from '../../store/index.js';
import { syntheticCause } from '../../transaction/index.js';
import type { SipElement, Target } from '../../tu/index.js';
import { newCallId, newTag } from '../../util/ids.js';
import { bindingFlow } from './binding-flow.js';

export interface NatKeepaliveOptions {
  /** Seconds between two pings of one binding (default 15). 0 turns the pings off. */
  interval: number;
  /** `options` (an answer proves the path; failures remove the binding) or `crlf` (no answer). */
  method: 'options' | 'crlf';
  /** Unanswered OPTIONS in a row before the binding is removed (default 3). */
  maxFailures: number;
  /** The From of the OPTIONS: `sip:keepalive@DOMAIN`. */
  domain: string;
}

/** How often the pinger wakes up: each wake-up pings the share of bindings whose turn it is. */
const TICK_MS = 1000;

export class NatKeepalive {
  private timer: ReturnType<SipElement['clock']['setTimer']> | undefined;
  private tick = 0;
  private readonly failures = new Map<string, number>();
  private readonly inFlight = new Set<string>();
  private stopped = false;
  /** This interval's NATed UDP bindings. */
  private batch: Binding[] = [];
  /** Pings sent, answered, failed; bindings removed. */
  readonly stats = { sent: 0, answered: 0, failed: 0, removed: 0 };

  constructor(
    private readonly element: SipElement,
    private readonly location: LocationStore,
    private readonly opts: NatKeepaliveOptions,
    private readonly log: (line: string, fields?: Record<string, unknown>) => void = () => {},
  ) {}

  start(): void {
    if (this.opts.interval <= 0) return;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.element.clock.clearTimer(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.element.clock.setTimer(TICK_MS, () => {
      void this.round().finally(() => this.schedule());
    });
  }

  /** One wake-up: the NATed UDP bindings whose slot is this tick's. */
  private async round(): Promise<void> {
    const slots = Math.max(1, Math.round((this.opts.interval * 1000) / TICK_MS));
    const slot = this.tick++ % slots;
    // The NATed UDP bindings are read once per interval (at slot 0), not at every wake-up.
    if (slot === 0) {
      try {
        this.batch = (await this.location.all()).filter((b) => b.received?.startsWith('udp:') && b.received.endsWith(';nat'));
      } catch {
        return; // the store is down: its state is logged elsewhere
      }
    }
    const now = Date.now();
    for (const b of this.batch) {
      if (b.expires <= now) continue;
      const key = `${b.aor} ${b.contact}`;
      if (hashSlot(key, slots) !== slot || this.inFlight.has(key)) continue;
      const flow = bindingFlow(b);
      if (flow) this.ping(b, flow, key);
    }
  }

  private ping(b: Binding, flow: Target, key: string): void {
    this.stats.sent++;
    if (this.opts.method === 'crlf') {
      this.element.transport.sendKeepAlive(flow);
      return;
    }
    this.inFlight.add(key);
    const uac = this.element.uac;
    const tag = newTag();
    const callId = newCallId(this.element.transport.sentBy('udp').host.replace(/[[\]]/g, ''));
    uac.send([flow], (t) => buildRequest({
      method: 'OPTIONS',
      uri: b.contact,
      headers: [
        ['Via', uac.via(t.kind)],
        ['Max-Forwards', '70'],
        ['From', `<sip:keepalive@${this.opts.domain}>;tag=${tag}`],
        ['To', `<${b.contact}>`],
        ['Call-ID', callId],
        ['CSeq', '1 OPTIONS'],
        ['User-Agent', this.element.product],
      ],
    })).then(
      (r) => (syntheticCause(r.response) ? this.failed(b, key, `no answer (${r.response.status})`) : this.answered(key)),
      (e: unknown) => this.failed(b, key, (e as Error).message),
    ).finally(() => this.inFlight.delete(key));
  }

  private answered(key: string): void {
    this.stats.answered++;
    this.failures.delete(key);
  }

  private failed(b: Binding, key: string, why: string): void {
    this.stats.failed++;
    const n = (this.failures.get(key) ?? 0) + 1;
    if (n < this.opts.maxFailures) {
      this.failures.set(key, n);
      return;
    }
    this.failures.delete(key);
    void this.location.remove(b.aor, b.contact).then((removed) => {
      if (removed === 0) return;
      this.stats.removed++;
      this.log(`NAT keep-alive: ${b.aor} at ${b.contact} (via ${b.received}) did not answer ${n} OPTIONS in a row (${why}): binding removed`, { event: 'registration', kind: 'unreachable', aor: b.aor, contact: b.contact });
    }, () => undefined);
  }
}

/** A stable slot in [0, n) for a binding (FNV-1a). */
function hashSlot(key: string, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % n;
}
