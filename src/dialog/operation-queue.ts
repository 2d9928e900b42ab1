/**
 * Local operations within one dialog, one at a time (RFC 3261 §14.1: "a UAC MUST NOT initiate
 * a re-INVITE while another INVITE transaction is in progress in either direction"): a
 * re-INVITE, an UPDATE or the BYE asked for while another is under way waits its turn instead of
 * racing it, as pion's operations queue does for WebRTC.
 *
 * @remarks TU building block (`dialog/`).
 */
export class OperationQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private running = 0;

  /** Runs `op` after every operation queued before it has settled. */
  run<T>(op: () => Promise<T>): Promise<T> {
    this.running++;
    const next = this.tail.then(op, op);
    this.tail = next.then(
      () => this.running--,
      () => this.running--,
    );
    return next;
  }

  /** Operations queued or under way. */
  get pending(): number {
    return this.running;
  }
}
