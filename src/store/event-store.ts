/**
 * What the event server keeps (docs/presence.md): subscriptions and publications as records (a
 * key, the resource they are about, when they expire, and the role's JSON), and instant
 * messages waiting for a user to register (RFC 3428 offline delivery), per address-of-record
 * in arrival order, bounded per user. Memory, SQLite (tables `event_record`, `stored_message`)
 * or Redis (hashes and lists under the key prefix).
 *
 * @remarks Store layer (`store/`), a leaf: the records' contents are the role's business.
 */
import { randomBytes } from 'node:crypto';
import { type RedisClient, isCluster } from './redis-client.js';
import type { SqliteDatabase } from './sqlite-db.js';
import { StoreError } from '../util/errors.js';

/** One stored record: a subscription (kind `sub`), a publication (`pub`) or a watcher rule (`rule`). */
export interface EventRecord {
  kind: 'sub' | 'pub' | 'rule';
  id: string;
  resource: string;
  /** ms since the epoch. */
  expiresAt: number;
  /** The role's JSON. */
  data: string;
}

export interface StoredMessage {
  aor: string;
  /** ms since the epoch: received, and dropped after. */
  received: number;
  expiresAt: number;
  /** The role's JSON (headers and body). */
  data: string;
}

export interface EventStore {
  put(r: EventRecord): Promise<void>;
  remove(kind: EventRecord['kind'], id: string): Promise<void>;
  /** Every unexpired record of a kind (all resources). */
  all(kind: EventRecord['kind'], now?: number): Promise<EventRecord[]>;
  /** Queues a message for `aor`; false when the user already has `limit` waiting. */
  pushMessage(m: StoredMessage, limit: number): Promise<boolean>;
  /** Removes and returns the unexpired messages of `aor`, oldest first. */
  takeMessages(aor: string, now?: number): Promise<StoredMessage[]>;
  /** Messages waiting, per AOR (unexpired). */
  countMessages(now?: number): Promise<Map<string, number>>;
  /**
   * Tells the other processes sharing the store that `resource`'s records of `kind` changed
   * (Redis pub/sub; a no-op for stores one process owns).
   */
  announce(kind: EventRecord['kind'], resource: string): void;
  /** Another process announced a change; returns an unsubscribe function. */
  onAnnounce(listener: (kind: EventRecord['kind'], resource: string) => void): () => void;
  close(): Promise<void>;
}

function check(r: EventRecord): void {
  if (!r.id || !Number.isFinite(r.expiresAt)) throw new StoreError('STORE_ERR_INVALID', `invalid ${r.kind} record ${JSON.stringify(r.id)}`);
}

export class MemoryEventStore implements EventStore {
  private readonly records = new Map<string, EventRecord>();
  private readonly messages = new Map<string, StoredMessage[]>();
  constructor(private readonly now: () => number = Date.now) {}

  async put(r: EventRecord): Promise<void> {
    check(r);
    this.records.set(`${r.kind}|${r.id}`, { ...r });
  }

  async remove(kind: EventRecord['kind'], id: string): Promise<void> {
    this.records.delete(`${kind}|${id}`);
  }

  async all(kind: EventRecord['kind'], now = this.now()): Promise<EventRecord[]> {
    const out: EventRecord[] = [];
    for (const [k, r] of this.records) {
      if (r.expiresAt <= now) this.records.delete(k);
      else if (r.kind === kind) out.push({ ...r });
    }
    return out;
  }

  async pushMessage(m: StoredMessage, limit: number): Promise<boolean> {
    const q = (this.messages.get(m.aor) ?? []).filter((x) => x.expiresAt > this.now());
    if (q.length >= limit) return false;
    q.push({ ...m });
    this.messages.set(m.aor, q);
    return true;
  }

  async takeMessages(aor: string, now = this.now()): Promise<StoredMessage[]> {
    const q = this.messages.get(aor) ?? [];
    this.messages.delete(aor);
    return q.filter((m) => m.expiresAt > now);
  }

  announce(): void {}

  onAnnounce(): () => void {
    return () => {};
  }

  async countMessages(now = this.now()): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const [aor, q] of this.messages) {
      const n = q.filter((m) => m.expiresAt > now).length;
      if (n > 0) out.set(aor, n);
    }
    return out;
  }

  async close(): Promise<void> {}
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS event_record (
  kind TEXT NOT NULL,
  id TEXT NOT NULL,
  resource TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS stored_message (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  aor TEXT NOT NULL,
  received INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS stored_message_aor ON stored_message (aor, seq);
`;

interface RecordRow { kind: EventRecord['kind']; id: string; resource: string; expires_at: number; data: string }
interface MessageRow { seq: number; aor: string; received: number; expires_at: number; data: string }

/** Tables in the server's SQLite file: a restart finds every subscription, publication and message. */
export class SqliteEventStore implements EventStore {
  private readonly upsert;
  private readonly del;
  private readonly selectKind;
  private readonly purge;
  private readonly insertMsg;
  private readonly countFor;
  private readonly selectMsgs;
  private readonly delMsgs;
  private readonly countAll;
  private readonly take;

  constructor(db: SqliteDatabase, private readonly now: () => number = Date.now) {
    db.exec(SCHEMA);
    this.upsert = db.prepare<[string, string, string, number, string]>('INSERT INTO event_record (kind, id, resource, expires_at, data) VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET resource = excluded.resource, expires_at = excluded.expires_at, data = excluded.data');
    this.del = db.prepare<[string, string]>('DELETE FROM event_record WHERE kind = ? AND id = ?');
    this.selectKind = db.prepare<[string, number], RecordRow>('SELECT * FROM event_record WHERE kind = ? AND expires_at > ?');
    this.purge = db.prepare<[number]>('DELETE FROM event_record WHERE expires_at <= ?');
    this.insertMsg = db.prepare<[string, number, number, string]>('INSERT INTO stored_message (aor, received, expires_at, data) VALUES (?, ?, ?, ?)');
    this.countFor = db.prepare<[string, number], { n: number }>('SELECT COUNT(*) AS n FROM stored_message WHERE aor = ? AND expires_at > ?');
    this.selectMsgs = db.prepare<[string, number], MessageRow>('SELECT * FROM stored_message WHERE aor = ? AND expires_at > ? ORDER BY seq');
    this.delMsgs = db.prepare<[string]>('DELETE FROM stored_message WHERE aor = ?');
    this.countAll = db.prepare<[number], { aor: string; n: number }>('SELECT aor, COUNT(*) AS n FROM stored_message WHERE expires_at > ? GROUP BY aor');
    // Reading and deleting a user's messages is one transaction: two deliveries never both get them.
    this.take = db.transaction((aor: string, now: number) => {
      const rows = this.selectMsgs.all(aor, now);
      this.delMsgs.run(aor);
      return rows;
    });
  }

  async put(r: EventRecord): Promise<void> {
    check(r);
    this.upsert.run(r.kind, r.id, r.resource, r.expiresAt, r.data);
  }

  async remove(kind: EventRecord['kind'], id: string): Promise<void> {
    this.del.run(kind, id);
  }

  async all(kind: EventRecord['kind'], now = this.now()): Promise<EventRecord[]> {
    this.purge.run(now);
    return this.selectKind.all(kind, now).map((r) => ({ kind: r.kind, id: r.id, resource: r.resource, expiresAt: r.expires_at, data: r.data }));
  }

  async pushMessage(m: StoredMessage, limit: number): Promise<boolean> {
    if (this.countFor.get(m.aor, this.now())!.n >= limit) return false;
    this.insertMsg.run(m.aor, m.received, m.expiresAt, m.data);
    return true;
  }

  async takeMessages(aor: string, now = this.now()): Promise<StoredMessage[]> {
    return (this.take(aor, now) as MessageRow[]).map((r) => ({ aor: r.aor, received: r.received, expiresAt: r.expires_at, data: r.data }));
  }

  async countMessages(now = this.now()): Promise<Map<string, number>> {
    return new Map(this.countAll.all(now).map((r) => [r.aor, r.n]));
  }

  announce(): void {}

  onAnnounce(): () => void {
    return () => {};
  }

  async close(): Promise<void> {}
}

/**
 * Redis: a hash `<prefix>ev:<kind>` (id → JSON record) and a list `<prefix>msg:<aor>` per user,
 * with the set `<prefix>msg-aors` of users who have some.
 */
export class RedisEventStore implements EventStore {
  /** Tells our own announcements apart from the others' on the shared channel. */
  private readonly origin = randomBytes(8).toString('hex');
  private subscriber: RedisClient | undefined;
  private readonly listeners = new Set<(kind: EventRecord['kind'], resource: string) => void>();

  constructor(private readonly client: RedisClient, private readonly prefix = 'sb:', private readonly now: () => number = Date.now) {}

  private get channel(): string {
    return `${this.prefix}ev:changes`;
  }

  announce(kind: EventRecord['kind'], resource: string): void {
    this.client.publish(this.channel, JSON.stringify({ origin: this.origin, kind, resource })).catch(() => undefined);
  }

  onAnnounce(listener: (kind: EventRecord['kind'], resource: string) => void): () => void {
    this.listeners.add(listener);
    if (!this.subscriber) {
      // A second connection: one in subscriber mode can issue no other command.
      const sub: RedisClient = isCluster(this.client) ? this.client.duplicate() : this.client.duplicate();
      sub.on('error', () => undefined);
      sub.on('message', (channel: string, message: string) => {
        if (channel !== this.channel) return;
        try {
          const m = JSON.parse(message) as { origin: string; kind: EventRecord['kind']; resource: string };
          if (m.origin === this.origin) return;
          for (const l of this.listeners) l(m.kind, m.resource);
        } catch {
          /* not ours */
        }
      });
      void sub.subscribe(this.channel).catch(() => undefined);
      this.subscriber = sub;
    }
    return () => this.listeners.delete(listener);
  }

  async put(r: EventRecord): Promise<void> {
    check(r);
    await this.client.hset(`${this.prefix}ev:${r.kind}`, r.id, JSON.stringify(r));
  }

  async remove(kind: EventRecord['kind'], id: string): Promise<void> {
    await this.client.hdel(`${this.prefix}ev:${kind}`, id);
  }

  async all(kind: EventRecord['kind'], now = this.now()): Promise<EventRecord[]> {
    const raw = await this.client.hgetall(`${this.prefix}ev:${kind}`);
    const out: EventRecord[] = [];
    const stale: string[] = [];
    for (const [id, json] of Object.entries(raw)) {
      const r = JSON.parse(json) as EventRecord;
      if (r.expiresAt <= now) stale.push(id);
      else out.push(r);
    }
    if (stale.length > 0) await this.client.hdel(`${this.prefix}ev:${kind}`, ...stale);
    return out;
  }

  async pushMessage(m: StoredMessage, limit: number): Promise<boolean> {
    const key = `${this.prefix}msg:${m.aor}`;
    if ((await this.client.llen(key)) >= limit) return false;
    await this.client.rpush(key, JSON.stringify(m));
    await this.client.sadd(`${this.prefix}msg-aors`, m.aor);
    return true;
  }

  async takeMessages(aor: string, now = this.now()): Promise<StoredMessage[]> {
    const key = `${this.prefix}msg:${aor}`;
    // MULTI: read and delete at once (another process delivering at the same time gets none).
    const res = await this.client.multi().lrange(key, 0, -1).del(key).srem(`${this.prefix}msg-aors`, aor).exec();
    const raw = (res?.[0]?.[1] as string[] | undefined) ?? [];
    return raw.map((s) => JSON.parse(s) as StoredMessage).filter((m) => m.expiresAt > now);
  }

  async countMessages(now = this.now()): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const aor of await this.client.smembers(`${this.prefix}msg-aors`)) {
      const raw = await this.client.lrange(`${this.prefix}msg:${aor}`, 0, -1);
      const n = raw.filter((s) => (JSON.parse(s) as StoredMessage).expiresAt > now).length;
      if (n > 0) out.set(aor, n);
    }
    return out;
  }

  async close(): Promise<void> {
    this.listeners.clear();
    if (this.subscriber) {
      const s = this.subscriber;
      this.subscriber = undefined;
      await s.quit().catch(() => s.disconnect());
    }
  }
}
