/**
 * Time source and timers behind one interface, so every layer can run in virtual time
 * (STYLE §8.5, §11.2).
 *
 * @remarks Utility (`util/`), importable by every layer. Transactions, dialogs and roles take a
 * {@link Clock} at construction and never call `setTimeout` themselves. Production code uses
 * {@link systemClock}; tests use {@link VirtualClock} and call {@link VirtualClock.advance}.
 */

declare const timerHandleBrand: unique symbol;

/** Opaque handle of an armed timer; only the clock that issued it can clear it. */
export type TimerHandle = { readonly [timerHandleBrand]: true };

/** A monotonic time source with one-shot timers. */
export interface Clock {
  /** Milliseconds on a monotonic scale (not wall-clock time). */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds (0 or less: as soon as possible, never synchronously). */
  setTimer(ms: number, fn: () => void): TimerHandle;
  /** Cancels a timer; clearing a fired or already-cleared timer is a no-op. */
  clearTimer(h: TimerHandle): void;
}

/**
 * The real clock: `performance.now()` and `setTimeout`, unref'd so that pending protocol
 * timers (Timer D, J, L … up to 32 s) never keep the process alive on their own.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(ms: number, fn: () => void): TimerHandle {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return t as unknown as TimerHandle;
  },
  clearTimer(h: TimerHandle): void {
    clearTimeout(h as unknown as NodeJS.Timeout);
  },
};

interface VirtualTimer {
  readonly seq: number;
  readonly due: number;
  readonly fn: () => void;
  cleared: boolean;
}

/**
 * A clock that only moves when told to. Timers fire in order of due time, ties in the order
 * they were set; a timer set by a callback fires within the same {@link advance} call when it
 * falls due before the target time.
 */
export class VirtualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly timers = new Set<VirtualTimer>();

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const t: VirtualTimer = { seq: this.seq++, due: this.current + Math.max(0, ms), fn, cleared: false };
    this.timers.add(t);
    return t as unknown as TimerHandle;
  }

  clearTimer(h: TimerHandle): void {
    const t = h as unknown as VirtualTimer;
    t.cleared = true;
    this.timers.delete(t);
  }

  /** Number of armed timers (for tests). */
  get pending(): number {
    return this.timers.size;
  }

  /** Due time of the next armed timer, or undefined. */
  nextDue(): number | undefined {
    return this.next()?.due;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    if (ms < 0) throw new RangeError('VirtualClock cannot go back in time');
    const target = this.current + ms;
    for (;;) {
      const t = this.next();
      if (t === undefined || t.due > target) break;
      this.timers.delete(t);
      this.current = t.due;
      t.fn();
    }
    this.current = target;
  }

  /** Fires timers until none is left or `limitMs` of virtual time has passed. */
  runAll(limitMs = 3_600_000): void {
    const end = this.current + limitMs;
    for (;;) {
      const due = this.nextDue();
      if (due === undefined || due > end) break;
      this.advance(due - this.current);
    }
  }

  private next(): VirtualTimer | undefined {
    let best: VirtualTimer | undefined;
    for (const t of this.timers) {
      if (best === undefined || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t;
    }
    return best;
  }
}

/**
 * `inner` with every timer callback run inside a boundary: a callback that throws is reported
 * to `onFault` instead of escaping to the event loop (where a real timer's exception ends the
 * process). Protocol timers fire on behalf of received messages, so a message that makes one
 * of them throw must cost that message, not the server.
 */
export function guardedClock(inner: Clock, onFault: (err: unknown) => void): Clock {
  return {
    now: () => inner.now(),
    setTimer(ms: number, fn: () => void): TimerHandle {
      return inner.setTimer(ms, () => {
        try {
          fn();
        } catch (err) {
          onFault(err);
        }
      });
    },
    clearTimer: (h) => inner.clearTimer(h),
  };
}
