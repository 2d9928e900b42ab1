/**
 * Location store on SQLite (better-sqlite3): WAL mode, prepared statements only, schema created
 * on open. Every write runs in an IMMEDIATE transaction, so several processes may share the file.
 * With `commitDelayMs`, registrations ({@link SqliteLocationStore.apply}) are group-committed:
 * those arriving within the delay share one transaction (each in its own savepoint), and each
 * caller's promise settles only after that commit — the registrar's 200 still follows the write.
 * Bindings survive a restart with their absolute expiry; expired rows are purged on open and by
 * an unref'd sweeper.
 *
 * @remarks Store layer (`store/`), a leaf.
 */
import type { ApplyOptions, ApplyResult, Binding, LocationEvent, LocationListener } from './binding.js';
import { copyBinding, validateBinding } from './binding.js';
import type { LocationStore, LocationStoreOptions, Plan } from './location-store.js';
import { ChangeEmitter, DEFAULT_SWEEP_INTERVAL_MS, planApply, planSave } from './location-store.js';
import type { SqliteDatabase, SqliteSource } from './sqlite-db.js';
import { resolveSqlite } from './sqlite-db.js';
import { StoreError } from '../util/errors.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS bindings (
  aor TEXT NOT NULL,
  contact TEXT NOT NULL,
  expires INTEGER NOT NULL,
  q REAL NOT NULL,
  call_id TEXT NOT NULL,
  cseq INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  path TEXT,
  instance_id TEXT,
  reg_id INTEGER,
  received TEXT,
  user_agent TEXT,
  params TEXT,
  PRIMARY KEY (aor, contact)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bindings_expires ON bindings (expires);
`;

interface Row {
  aor: string;
  contact: string;
  expires: number;
  q: number;
  call_id: string;
  cseq: number;
  updated: number;
  path: string | null;
  instance_id: string | null;
  reg_id: number | null;
  received: string | null;
  user_agent: string | null;
  params: string | null;
}

function fromRow(r: Row): Binding {
  const b: Binding = { aor: r.aor, contact: r.contact, expires: r.expires, q: r.q, callId: r.call_id, cseq: r.cseq, updated: r.updated };
  if (r.path !== null) b.path = JSON.parse(r.path) as string[];
  if (r.instance_id !== null) b.instanceId = r.instance_id;
  if (r.reg_id !== null) b.regId = r.reg_id;
  if (r.received !== null) b.received = r.received;
  if (r.user_agent !== null) b.userAgent = r.user_agent;
  if (r.params !== null) b.params = r.params;
  return b;
}

function toParams(b: Binding): Record<string, string | number | null> {
  return {
    aor: b.aor,
    contact: b.contact,
    expires: Math.round(b.expires),
    q: b.q,
    call_id: b.callId,
    cseq: b.cseq,
    updated: Math.round(b.updated),
    path: b.path !== undefined ? JSON.stringify(b.path) : null,
    instance_id: b.instanceId ?? null,
    reg_id: b.regId ?? null,
    received: b.received ?? null,
    user_agent: b.userAgent ?? null,
    params: b.params ?? null,
  };
}

const ORDER = 'ORDER BY q DESC, updated DESC, contact ASC';

/** Options of {@link SqliteLocationStore}. */
export interface SqliteLocationStoreOptions extends LocationStoreOptions {
  /**
   * Group commit: how long an `apply` may wait for others to share its transaction, ms. One
   * commit writes each changed page once for the whole group instead of once per registration.
   * 0 (default): every `apply` commits on its own, synchronously.
   */
  commitDelayMs?: number;
}

interface PendingApply {
  aor: string;
  ops: ApplyOptions;
  resolve: (r: ApplyResult) => void;
  reject: (e: unknown) => void;
}

export class SqliteLocationStore implements LocationStore {
  readonly db: SqliteDatabase;
  private readonly owned: boolean;
  private readonly emitter = new ChangeEmitter();
  private readonly now: () => number;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly commitDelayMs: number;
  private pending: PendingApply[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly groupTx: (batch: PendingApply[]) => Array<{ ok: true; plan: Plan } | { ok: false; result?: ApplyResult; error?: unknown }>;
  private readonly st: {
    byAor: import('better-sqlite3').Statement<[string], Row>;
    live: import('better-sqlite3').Statement<[string, number], Row>;
    upsert: import('better-sqlite3').Statement<[Record<string, string | number | null>]>;
    del: import('better-sqlite3').Statement<[string, string]>;
    aors: import('better-sqlite3').Statement<[], { aor: string }>;
    all: import('better-sqlite3').Statement<[], Row>;
    expired: import('better-sqlite3').Statement<[number], Row>;
    delExpired: import('better-sqlite3').Statement<[number]>;
  };
  private readonly commitTx: (aor: string, read: (current: Binding[]) => Plan | { abort: ApplyResult }) => Plan | { abort: ApplyResult };
  private readonly purgeTx: (now: number) => Binding[];

  /** @param source database file path (created if missing) or an open better-sqlite3 database. */
  constructor(source: SqliteSource, opts: SqliteLocationStoreOptions = {}) {
    const { db, owned } = resolveSqlite(source);
    this.db = db;
    this.owned = owned;
    this.now = opts.now ?? Date.now;
    this.commitDelayMs = Math.max(0, opts.commitDelayMs ?? 0);
    db.exec(SCHEMA);
    const cols = 'aor, contact, expires, q, call_id, cseq, updated, path, instance_id, reg_id, received, user_agent, params';
    this.st = {
      byAor: db.prepare(`SELECT ${cols} FROM bindings WHERE aor = ? ${ORDER}`),
      live: db.prepare(`SELECT ${cols} FROM bindings WHERE aor = ? AND expires > ? ${ORDER}`),
      upsert: db.prepare(
        `INSERT OR REPLACE INTO bindings (${cols}) VALUES (@aor, @contact, @expires, @q, @call_id, @cseq, @updated, @path, @instance_id, @reg_id, @received, @user_agent, @params)`,
      ),
      del: db.prepare('DELETE FROM bindings WHERE aor = ? AND contact = ?'),
      aors: db.prepare('SELECT DISTINCT aor FROM bindings ORDER BY aor'),
      all: db.prepare(`SELECT ${cols} FROM bindings ORDER BY aor, q DESC, updated DESC, contact ASC`),
      expired: db.prepare(`SELECT ${cols} FROM bindings WHERE expires <= ?`),
      delExpired: db.prepare('DELETE FROM bindings WHERE expires <= ?'),
    };
    const tx = db.transaction((aor: string, read: (current: Binding[]) => Plan | { abort: ApplyResult }) => {
      const plan = read(this.st.byAor.all(aor).map(fromRow));
      if ('abort' in plan) return plan;
      for (const b of plan.del) this.st.del.run(b.aor, b.contact);
      for (const b of plan.put) this.st.upsert.run(toParams(b));
      return plan;
    });
    this.commitTx = (aor, read) => tx.immediate(aor, read);
    // One transaction for a group; each apply in a savepoint (a nested better-sqlite3
    // transaction), so one that fails leaves the others' writes in place.
    const group = db.transaction((batch: PendingApply[]) =>
      batch.map((p) => {
        try {
          const r = tx(p.aor, (current) => {
            const plan = planApply(p.aor, current, p.ops);
            return plan.ok ? plan : { abort: plan };
          });
          return 'abort' in r ? { ok: false as const, result: r.abort } : { ok: true as const, plan: r };
        } catch (error) {
          return { ok: false as const, error };
        }
      }),
    );
    this.groupTx = (batch) => group.immediate(batch);
    const purge = db.transaction((now: number) => {
      const rows = this.st.expired.all(now).map(fromRow);
      this.st.delExpired.run(now);
      return rows;
    });
    this.purgeTx = (now) => purge.immediate(now);
    this.purgeTx(this.now());
    const every = opts.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    if (every > 0) {
      this.sweeper = setInterval(() => void this.purgeExpired().catch(() => undefined), every);
      this.sweeper.unref();
    }
  }

  private check(): void {
    if (this.closed) throw new StoreError('STORE_ERR_CLOSED', 'location store is closed');
  }

  async lookup(aor: string, now = this.now()): Promise<Binding[]> {
    this.check();
    return this.st.live.all(aor, now).map(fromRow);
  }

  async bindings(aor: string): Promise<Binding[]> {
    this.check();
    return this.st.byAor.all(aor).map(fromRow);
  }

  async save(b: Binding): Promise<void> {
    this.check();
    this.flush();
    validateBinding(b);
    const plan = this.commitTx(b.aor, (current) => planSave(current, b)) as Plan;
    this.emitter.emit(plan.events);
  }

  async apply(aor: string, ops: ApplyOptions): Promise<ApplyResult> {
    this.check();
    if (this.commitDelayMs > 0) {
      return new Promise<ApplyResult>((resolve, reject) => {
        this.pending.push({ aor, ops, resolve, reject });
        this.flushTimer ??= setTimeout(() => this.flush(), this.commitDelayMs);
      });
    }
    const r = this.commitTx(aor, (current) => {
      const p = planApply(aor, current, ops);
      return p.ok ? p : { abort: p };
    });
    if ('abort' in r) return r.abort;
    this.emitter.emit(r.events);
    return { ok: true, bindings: r.after.map(copyBinding) };
  }

  /** Commits the waiting group (see `commitDelayMs`) and settles its callers. */
  private flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    let results;
    try {
      results = this.groupTx(batch);
    } catch (e) {
      for (const p of batch) p.reject(e); // the COMMIT itself failed: nothing was written
      return;
    }
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      const r = results[i]!;
      if (r.ok) {
        this.emitter.emit(r.plan.events);
        p.resolve({ ok: true, bindings: r.plan.after.map(copyBinding) });
      } else if (r.result !== undefined) p.resolve(r.result);
      else p.reject(r.error);
    }
  }

  async remove(aor: string, contact?: string): Promise<number> {
    this.check();
    this.flush(); // writes stay in the order they were asked for
    const plan = this.commitTx(aor, (current) => {
      const gone = current.filter((b) => contact === undefined || b.contact === contact);
      const events: LocationEvent[] = gone.map((b) => ({ aor, kind: 'removed', binding: b }));
      return { put: [], del: gone, events, after: [] };
    }) as Plan;
    this.emitter.emit(plan.events);
    return plan.del.length;
  }

  removeAll(aor: string): Promise<number> {
    return this.remove(aor);
  }

  async listAors(): Promise<string[]> {
    this.check();
    return this.st.aors.all().map((r) => r.aor).sort();
  }

  async all(): Promise<Binding[]> {
    this.check();
    const rows = this.st.all.all().map(fromRow);
    // Group by AOR in JS string order (the same order as the other stores).
    return rows.sort((a, b) => (a.aor < b.aor ? -1 : a.aor > b.aor ? 1 : 0));
  }

  async purgeExpired(now = this.now()): Promise<number> {
    this.check();
    this.flush();
    const gone = this.purgeTx(now);
    this.emitter.emit(gone.map((b) => ({ aor: b.aor, kind: 'expired', binding: b })));
    return gone.length;
  }

  onChange(listener: LocationListener): () => void {
    return this.emitter.on(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.emitter.clear();
    if (this.owned) this.db.close();
  }
}
