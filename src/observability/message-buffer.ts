/**
 * The recent messages, by Call-ID, for the admin API and the console's ladder diagrams: a
 * first-in first-out window bounded by count and by bytes (the oldest go first), so a flood or a
 * long run costs a fixed amount of memory. Nothing is kept when nobody configured it.
 *
 * @remarks Leaf (`observability/`).
 */
import type { MessageRecord } from './message-record.js';

export interface MessageBufferLimits {
  /** Messages kept at most (default 10,000; 0 keeps none). */
  count: number;
  /** Bytes of messages kept at most (default 32 MiB). */
  bytes: number;
}

export const DEFAULT_BUFFER_LIMITS: MessageBufferLimits = { count: 10_000, bytes: 32 * 1024 * 1024 };

export class MessageBuffer {
  /** Oldest first; `head` is the index of the oldest live entry (shifted in bulk, not one by one). */
  private ring: MessageRecord[] = [];
  private head = 0;
  private totalBytes = 0;
  private readonly byCallId = new Map<string, MessageRecord[]>();

  constructor(readonly limits: MessageBufferLimits = DEFAULT_BUFFER_LIMITS) {}

  get size(): number {
    return this.ring.length - this.head;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  add(r: MessageRecord): void {
    if (this.limits.count <= 0 || r.bytes.length > this.limits.bytes) return;
    this.ring.push(r);
    this.totalBytes += r.bytes.length;
    if (r.callId) {
      const list = this.byCallId.get(r.callId);
      if (list) list.push(r);
      else this.byCallId.set(r.callId, [r]);
    }
    while (this.size > this.limits.count || this.totalBytes > this.limits.bytes) this.evictOldest();
    // Compact the array once the evicted prefix is as long as what is left.
    if (this.head > 1024 && this.head * 2 > this.ring.length) {
      this.ring = this.ring.slice(this.head);
      this.head = 0;
    }
  }

  /** The messages of one Call-ID still in the window, oldest first. */
  messages(callId: string): readonly MessageRecord[] {
    return this.byCallId.get(callId) ?? [];
  }

  private evictOldest(): void {
    const r = this.ring[this.head]!;
    this.ring[this.head] = undefined as unknown as MessageRecord;
    this.head++;
    this.totalBytes -= r.bytes.length;
    if (!r.callId) return;
    const list = this.byCallId.get(r.callId);
    if (!list) return;
    // The oldest of the window is the oldest of its Call-ID too.
    list.shift();
    if (list.length === 0) this.byCallId.delete(r.callId);
  }
}
