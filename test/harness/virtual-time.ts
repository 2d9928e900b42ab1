// Driving a VirtualClock in scenario tests: run the clock until a promise settles.
import type { VirtualClock } from '../../src/util/clock.js';

/**
 * Runs the clock until `p` settles: between timer firings the event loop gets a turn, so the
 * promise continuations the timers set off run before virtual time moves on.
 */
export async function drive<T>(clock: VirtualClock, p: Promise<T>, limitMs = 200_000): Promise<T> {
  let settled = false;
  p.then(() => (settled = true), () => (settled = true));
  const end = clock.now() + limitMs;
  let idle = 0;
  while (!settled) {
    await new Promise((r) => setImmediate(r));
    if (settled) break;
    const due = clock.nextDue();
    if (due === undefined) {
      if (++idle > 50) throw new Error('nothing scheduled and the promise is still pending');
      continue;
    }
    idle = 0;
    if (due > end) throw new Error(`not settled after ${limitMs} ms of virtual time`);
    clock.advance(due - clock.now());
  }
  return p;
}
