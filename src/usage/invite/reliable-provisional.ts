/**
 * Reliable provisional responses (RFC 3262, "100rel"), the UAS side: a 101–199 response sent
 * with `Require: 100rel` and an `RSeq` is retransmitted at T1, 2·T1, 4·T1 … until its PRACK
 * arrives, and given up after 64·T1 (§3: the INVITE should then be rejected with a 5xx). One at
 * a time: a second reliable provisional waits until the first is acknowledged (§3).
 *
 * @remarks Usage layer (`usage/invite`). Used by the UAS invite session.
 */
import type { SipRequest, SipResponse } from '../../sip/index.js';
import type { TimerConfig } from '../../transaction/index.js';
import type { TransportLayer } from '../../transport/index.js';
import type { Clock, TimerHandle } from '../../util/clock.js';

/** RAck (RFC 3262 §7.2): `response-num CSeq-num Method`. */
export interface RAck {
  rseq: number;
  cseq: number;
  method: string;
}

export function parseRAck(value: string | undefined): RAck | undefined {
  const m = /^\s*(\d{1,10})\s+(\d{1,10})\s+([A-Za-z!%*_+`'~.-]+)\s*$/.exec(value ?? '');
  if (!m) return undefined;
  const rseq = Number(m[1]);
  const cseq = Number(m[2]);
  if (rseq < 1 || rseq >= 2 ** 32 || cseq >= 2 ** 31) return undefined;
  return { rseq, cseq, method: m[3]! };
}

/** Does a message name `100rel` in `Require` (a reliable provisional, or an INVITE that insists)? */
export function requires100rel(m: { optionTags(name: string): string[] }): boolean {
  return m.optionTags('Require').includes('100rel');
}

interface Pending {
  rseq: number;
  /** The response carried SDP (an offer or an answer): a 2xx must wait for its PRACK (§3). */
  withSdp: boolean;
  timer: TimerHandle | undefined;
}

export class ReliableProvisionals {
  /** §3: the first RSeq is chosen between 1 and 2^31 - 1; each next one is one higher. */
  private nextRSeq = 1 + Math.floor(Math.random() * 0x3fffffff);
  private pending: Pending | undefined;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly env: { clock: Clock; timers: TimerConfig; transport: TransportLayer },
    private readonly invite: SipRequest,
    /** No PRACK within 64·T1 (§3). */
    private readonly onGiveUp: () => void,
  ) {}

  /** A reliable provisional is unacknowledged. */
  get unacknowledged(): boolean {
    return this.pending !== undefined;
  }

  /** One whose SDP must be acknowledged before a 2xx (§3). */
  get unacknowledgedSdp(): boolean {
    return this.pending?.withSdp ?? false;
  }

  /**
   * Sends a reliable provisional: `build(rseq)` makes it (and sends it through the transaction
   * the first time); it is then retransmitted until its PRACK. Runs now, or after the PRACK of
   * the one before it.
   */
  send(build: (rseq: number) => SipResponse, withSdp: boolean): void {
    if (this.pending !== undefined) {
      this.waiting.push(() => this.send(build, withSdp));
      return;
    }
    const rseq = this.nextRSeq++;
    const res = build(rseq);
    const p: Pending = { rseq, withSdp, timer: undefined };
    this.pending = p;
    const { clock, timers, transport } = this.env;
    const limit = 64 * timers.T1;
    const giveUp = () => {
      this.pending = undefined;
      this.waiting.length = 0;
      this.onGiveUp();
    };
    // Over a connection the response arrives or the connection fails: only the deadline runs.
    if ((this.invite.source?.transport ?? 'udp') !== 'udp') {
      p.timer = clock.setTimer(limit, giveUp);
      return;
    }
    let interval = timers.T1;
    let elapsed = 0;
    const tick = () => {
      elapsed += interval;
      if (elapsed >= limit) return giveUp();
      transport.sendResponse(res, this.invite);
      interval = Math.min(interval * 2, limit - elapsed);
      p.timer = clock.setTimer(interval, tick);
    };
    p.timer = clock.setTimer(interval, tick);
  }

  /** A PRACK's RAck: true when it acknowledges the pending one (then the next may go). */
  acknowledge(rack: RAck): boolean {
    const p = this.pending;
    if (p === undefined || rack.rseq !== p.rseq || rack.cseq !== this.invite.cseq.seq || rack.method !== 'INVITE') return false;
    if (p.timer) this.env.clock.clearTimer(p.timer);
    this.pending = undefined;
    this.waiting.shift()?.();
    return true;
  }

  /** The INVITE got its final response: no more retransmissions. */
  stop(): void {
    if (this.pending?.timer) this.env.clock.clearTimer(this.pending.timer);
    this.pending = undefined;
    this.waiting.length = 0;
  }
}
