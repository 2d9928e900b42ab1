/**
 * The 2xx a UAS core owes until the ACK arrives (RFC 3261 §13.3.1.4): sent again at T1, 2·T1 …
 * capped at T2 over an unreliable transport, and given up after 64·T1, when the session must be
 * ended with BYE. The INVITE server transaction is already gone (RFC 6026 §7.1: Accepted, then
 * Terminated), so the usage keeps this timer, keyed by Call-ID and CSeq.
 *
 * @remarks Usage layer (`usage/invite`). Used by the invite session of a UAS.
 */
import type { SipRequest, SipResponse } from '../../sip/index.js';
import { type TimerConfig, nextInterval } from '../../transaction/index.js';
import type { TransportLayer } from '../../transport/index.js';
import type { Clock, TimerHandle } from '../../util/clock.js';

export class TwoXxRetransmitter {
  private readonly pending = new Map<string, { stop: () => void }>();

  constructor(private readonly env: { clock: Clock; timers: TimerConfig; transport: TransportLayer }) {}

  /** Retransmits `res` (the 2xx to `req`) until {@link acked}; `onNoAck` after 64·T1 without one. */
  start(req: SipRequest, res: SipResponse, onNoAck: () => void): void {
    const key = keyOf(req);
    const { clock, timers, transport } = this.env;
    const reliable = (req.source?.transport ?? 'udp') !== 'udp';
    let interval = timers.T1;
    let elapsed = 0;
    let handle: TimerHandle | undefined;
    const deadline = 64 * timers.T1;
    const stop = () => {
      if (handle) clock.clearTimer(handle);
      this.pending.delete(key);
    };
    const tick = () => {
      elapsed += interval;
      if (elapsed >= deadline) {
        stop();
        onNoAck();
        return;
      }
      if (!reliable) transport.sendResponse(res, req);
      interval = reliable ? interval : nextInterval(interval, timers.T2);
      handle = clock.setTimer(reliable ? deadline - elapsed : interval, tick);
    };
    this.pending.get(key)?.stop();
    this.pending.set(key, { stop });
    handle = clock.setTimer(reliable ? deadline : interval, tick);
  }

  /** The ACK (or the end of the session) for the INVITE with this Call-ID and CSeq: stop. True when one was pending. */
  acked(req: SipRequest): boolean {
    const p = this.pending.get(keyOf(req));
    p?.stop();
    return p !== undefined;
  }

  /** The session ended: no more retransmissions of any 2xx of it. */
  stop(): void {
    for (const p of [...this.pending.values()]) p.stop();
  }

  get size(): number {
    return this.pending.size;
  }
}

/** An ACK carries its INVITE's Call-ID and CSeq number (§17.1.1.3). */
function keyOf(req: SipRequest): string {
  return `${req.callId}|${req.cseq.seq}`;
}
