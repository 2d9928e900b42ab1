/**
 * Dialogs by ID (RFC 3261 §12), bounded so a flood of dialogs cannot exhaust memory.
 *
 * @remarks TU building block (`dialog/`).
 */
import { Dialog, dialogId } from './dialog.js';

export class DialogTable<T extends { dialog: Dialog }> {
  private readonly byId = new Map<string, T>();
  constructor(private readonly max = 100_000) {}

  get size(): number {
    return this.byId.size;
  }

  add(entry: T): boolean {
    if (this.byId.size >= this.max) return false;
    this.byId.set(entry.dialog.id, entry);
    return true;
  }

  get(callId: string, localTag: string, remoteTag: string): T | undefined {
    return this.byId.get(dialogId(callId, localTag, remoteTag));
  }

  remove(entry: T): void {
    if (this.byId.get(entry.dialog.id) === entry) this.byId.delete(entry.dialog.id);
  }

  values(): IterableIterator<T> {
    return this.byId.values();
  }
}
