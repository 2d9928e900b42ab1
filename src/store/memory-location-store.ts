/**
 * In-process location store (a Map). Atomic by construction (every operation runs to completion
 * on the event loop); nothing survives a restart; bounded by `maxBindings`.
 *
 * @remarks Store layer (`store/`), a leaf.
 */
import type { ApplyOptions, ApplyResult, Binding, LocationListener } from './binding.js';
import { copyBinding, sortBindings, validateBinding } from './binding.js';
import type { LocationStore, LocationStoreOptions, Plan } from './location-store.js';
import { ChangeEmitter, DEFAULT_SWEEP_INTERVAL_MS, planApply, planSave } from './location-store.js';
import { StoreError } from '../util/errors.js';

export interface MemoryLocationStoreOptions extends LocationStoreOptions {
  /** Most bindings held in total (all AORs); a write beyond it throws. Default 1 000 000. */
  maxBindings?: number;
}

/** Thrown when a bounded store is full (after purging expired bindings). */
export class StoreFullError extends StoreError {
  constructor(limit: number) {
    super('STORE_ERR_FULL', `location store full (${limit} bindings)`);
    this.name = 'StoreFullError';
  }
}

export class MemoryLocationStore implements LocationStore {
  private readonly byAor = new Map<string, Map<string, Binding>>();
  private count = 0;
  private readonly emitter = new ChangeEmitter();
  private readonly now: () => number;
  private readonly maxBindings: number;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: MemoryLocationStoreOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.maxBindings = opts.maxBindings ?? 1_000_000;
    const every = opts.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    if (every > 0) {
      this.sweeper = setInterval(() => void this.purgeExpired().catch(() => undefined), every);
      this.sweeper.unref();
    }
  }

  private check(): void {
    if (this.closed) throw new StoreError('STORE_ERR_CLOSED', 'location store is closed');
  }

  private current(aor: string): Binding[] {
    const m = this.byAor.get(aor);
    return m ? [...m.values()] : [];
  }

  async lookup(aor: string, now = this.now()): Promise<Binding[]> {
    this.check();
    return sortBindings(this.current(aor).filter((b) => b.expires > now).map(copyBinding));
  }

  async bindings(aor: string): Promise<Binding[]> {
    this.check();
    return sortBindings(this.current(aor).map(copyBinding));
  }

  /** Applies a plan; throws StoreFullError (without changing anything) if it would overflow. */
  private commit(aor: string, plan: Plan): void {
    const existing = this.byAor.get(aor);
    const deleting = new Set(plan.del.filter((b) => existing?.has(b.contact)).map((b) => b.contact));
    const growth = plan.put.filter((b) => !existing?.has(b.contact) || deleting.has(b.contact)).length - deleting.size;
    if (growth > 0 && this.count + growth > this.maxBindings) {
      this.purgeSync(this.now(), aor);
      if (this.count + growth > this.maxBindings) throw new StoreFullError(this.maxBindings);
    }
    let m = this.byAor.get(aor);
    for (const b of plan.del) {
      if (m?.delete(b.contact)) this.count--;
    }
    if (plan.put.length > 0 && !m) {
      m = new Map();
      this.byAor.set(aor, m);
    }
    for (const b of plan.put) {
      if (!m!.has(b.contact)) this.count++;
      m!.set(b.contact, copyBinding(b));
    }
    if (m && m.size === 0) this.byAor.delete(aor);
    this.emitter.emit(plan.events);
  }

  async save(b: Binding): Promise<void> {
    this.check();
    validateBinding(b);
    this.commit(b.aor, planSave(this.current(b.aor), b));
  }

  async apply(aor: string, ops: ApplyOptions): Promise<ApplyResult> {
    this.check();
    const plan = planApply(aor, this.current(aor), ops);
    if (!plan.ok) return plan;
    this.commit(aor, plan);
    return { ok: true, bindings: plan.after.map(copyBinding) };
  }

  async remove(aor: string, contact?: string): Promise<number> {
    this.check();
    const m = this.byAor.get(aor);
    if (!m) return 0;
    const gone = contact === undefined ? [...m.values()] : m.has(contact) ? [m.get(contact)!] : [];
    if (gone.length === 0) return 0;
    this.commit(aor, { put: [], del: gone, events: gone.map((b) => ({ aor, kind: 'removed', binding: b })), after: [] });
    return gone.length;
  }

  removeAll(aor: string): Promise<number> {
    return this.remove(aor);
  }

  async listAors(): Promise<string[]> {
    this.check();
    return [...this.byAor.keys()].sort();
  }

  async all(): Promise<Binding[]> {
    this.check();
    const out: Binding[] = [];
    for (const aor of [...this.byAor.keys()].sort()) out.push(...sortBindings(this.current(aor).map(copyBinding)));
    return out;
  }

  private purgeSync(now: number, skipAor?: string): number {
    let n = 0;
    for (const [aor, m] of [...this.byAor]) {
      if (aor === skipAor) continue;
      const gone = [...m.values()].filter((b) => b.expires <= now);
      if (gone.length === 0) continue;
      for (const b of gone) m.delete(b.contact);
      this.count -= gone.length;
      n += gone.length;
      if (m.size === 0) this.byAor.delete(aor);
      this.emitter.emit(gone.map((b) => ({ aor, kind: 'expired', binding: b })));
    }
    return n;
  }

  async purgeExpired(now = this.now()): Promise<number> {
    this.check();
    return this.purgeSync(now);
  }

  onChange(listener: LocationListener): () => void {
    return this.emitter.on(listener);
  }

  /** Number of bindings held (all AORs, expired included until purged). */
  get size(): number {
    return this.count;
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.closed = true;
    this.emitter.clear();
  }
}
