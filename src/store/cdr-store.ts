/**
 * Call detail records: one per call through the B2BUA, for operators — both Call-IDs, who
 * called whom, when it started, was answered and ended, the final status and who hung up.
 * Memory (a bounded ring), SQLite (table `cdr`) or Redis (a bounded list), newest first.
 *
 * @remarks Store layer (`store/`), a leaf.
 */
import type { RedisClient } from './redis-client.js';
import type { SqliteDatabase } from './sqlite-db.js';
import { StoreError } from '../util/errors.js';

export interface CallDetailRecord {
  /** Leg A's Call-ID (the caller's). */
  callId: string;
  /** Leg B's Call-ID (the B2BUA's own call), when one was sent. */
  callIdB?: string;
  from: string;
  to: string;
  /** ms since the epoch: the INVITE arrived, leg A was answered (2xx), the call ended. */
  start: number;
  answer?: number;
  end: number;
  /** The final status leg A got (200 for an answered call). */
  status: number;
  /** Who ended it: the caller (BYE, CANCEL), the callee (BYE, a failure), or the server (no codec in common, no ACK, an error). */
  endedBy: 'caller' | 'callee' | 'server';
  /** Why, in the session's words: remote-bye, cancelled, failed:486, sdp-failed … */
  reason: string;
}

export interface CdrStore {
  add(record: CallDetailRecord): Promise<void>;
  /** The newest `limit` records (default 100), newest first. */
  list(limit?: number): Promise<CallDetailRecord[]>;
  close(): Promise<void>;
}

/** How many records a memory or Redis store keeps (the oldest go first). */
export const DEFAULT_MAX_CDRS = 100_000;

function check(r: CallDetailRecord): void {
  if (!r.callId || !Number.isFinite(r.start) || !Number.isFinite(r.end) || !Number.isInteger(r.status)) {
    throw new StoreError('STORE_ERR_INVALID', `invalid call detail record for Call-ID ${JSON.stringify(r.callId)}`);
  }
}

export class MemoryCdrStore implements CdrStore {
  private readonly records: CallDetailRecord[] = [];
  constructor(private readonly max = DEFAULT_MAX_CDRS) {}

  async add(record: CallDetailRecord): Promise<void> {
    check(record);
    this.records.push({ ...record });
    if (this.records.length > this.max) this.records.splice(0, this.records.length - this.max);
  }

  async list(limit = 100): Promise<CallDetailRecord[]> {
    return this.records.slice(-limit).reverse().map((r) => ({ ...r }));
  }

  async close(): Promise<void> {}
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS cdr (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  call_id TEXT NOT NULL,
  call_id_b TEXT,
  from_uri TEXT NOT NULL,
  to_uri TEXT NOT NULL,
  start_ms INTEGER NOT NULL,
  answer_ms INTEGER,
  end_ms INTEGER NOT NULL,
  status INTEGER NOT NULL,
  ended_by TEXT NOT NULL,
  reason TEXT NOT NULL
);
`;

interface CdrRow {
  call_id: string;
  call_id_b: string | null;
  from_uri: string;
  to_uri: string;
  start_ms: number;
  answer_ms: number | null;
  end_ms: number;
  status: number;
  ended_by: CallDetailRecord['endedBy'];
  reason: string;
}

/** Table `cdr` in the server's SQLite file: kept until an operator deletes it. */
export class SqliteCdrStore implements CdrStore {
  private readonly insert;
  private readonly select;

  constructor(db: SqliteDatabase) {
    db.exec(SCHEMA);
    this.insert = db.prepare<[string, string | null, string, string, number, number | null, number, number, string, string]>(
      'INSERT INTO cdr (call_id, call_id_b, from_uri, to_uri, start_ms, answer_ms, end_ms, status, ended_by, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.select = db.prepare<[number], CdrRow>('SELECT * FROM cdr ORDER BY id DESC LIMIT ?');
  }

  async add(r: CallDetailRecord): Promise<void> {
    check(r);
    this.insert.run(r.callId, r.callIdB ?? null, r.from, r.to, r.start, r.answer ?? null, r.end, r.status, r.endedBy, r.reason);
  }

  async list(limit = 100): Promise<CallDetailRecord[]> {
    return this.select.all(limit).map((row) => {
      const r: CallDetailRecord = { callId: row.call_id, from: row.from_uri, to: row.to_uri, start: row.start_ms, end: row.end_ms, status: row.status, endedBy: row.ended_by, reason: row.reason };
      if (row.call_id_b !== null) r.callIdB = row.call_id_b;
      if (row.answer_ms !== null) r.answer = row.answer_ms;
      return r;
    });
  }

  async close(): Promise<void> {}
}

/** A Redis list `<prefix>cdr`, newest first, trimmed to `max` entries. */
export class RedisCdrStore implements CdrStore {
  private readonly key: string;
  constructor(private readonly client: RedisClient, prefix = 'sb:', private readonly max = DEFAULT_MAX_CDRS) {
    this.key = `${prefix}cdr`;
  }

  async add(r: CallDetailRecord): Promise<void> {
    check(r);
    await this.client.lpush(this.key, JSON.stringify(r));
    await this.client.ltrim(this.key, 0, this.max - 1);
  }

  async list(limit = 100): Promise<CallDetailRecord[]> {
    const raw = await this.client.lrange(this.key, 0, limit - 1);
    return raw.map((s) => JSON.parse(s) as CallDetailRecord);
  }

  async close(): Promise<void> {}
}
