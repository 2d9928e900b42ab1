/**
 * User store on SQLite: table `users(user, realm, ha1_md5, ha1_sha256, PRIMARY KEY(user, realm))`,
 * prepared statements only. Can share the database file (and connection) with the location store.
 *
 * @remarks Store layer (`store/`), a leaf.
 */
import type { Ha1Algorithm, Ha1Pair, UserStore } from './user-store.js';
import { compareUsers, ha1Field, ha1Pair, parseUserCsv, validateHa1, validateUser } from './user-store.js';
import type { SqliteDatabase, SqliteSource } from './sqlite-db.js';
import { resolveSqlite } from './sqlite-db.js';
import { StoreError } from '../util/errors.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  user TEXT NOT NULL,
  realm TEXT NOT NULL,
  ha1_md5 TEXT,
  ha1_sha256 TEXT,
  PRIMARY KEY (user, realm)
) WITHOUT ROWID;
`;

type Statement<P extends unknown[], R = unknown> = import('better-sqlite3').Statement<P, R>;

export class SqliteUserStore implements UserStore {
  readonly db: SqliteDatabase;
  private readonly owned: boolean;
  private closed = false;
  private readonly st: {
    get: Statement<[string, string], { ha1_md5: string | null; ha1_sha256: string | null }>;
    upsert: Statement<[string, string, string | null, string | null]>;
    del: Statement<[string, string]>;
    delAll: Statement<[string]>;
    list: Statement<[], { user: string; realm: string }>;
    listRealm: Statement<[string], { user: string; realm: string }>;
  };

  /** @param source database file path (created if missing) or an open better-sqlite3 database. */
  constructor(source: SqliteSource) {
    const { db, owned } = resolveSqlite(source);
    this.db = db;
    this.owned = owned;
    db.exec(SCHEMA);
    this.st = {
      get: db.prepare('SELECT ha1_md5, ha1_sha256 FROM users WHERE user = ? AND realm = ?'),
      upsert: db.prepare('INSERT OR REPLACE INTO users (user, realm, ha1_md5, ha1_sha256) VALUES (?, ?, ?, ?)'),
      del: db.prepare('DELETE FROM users WHERE user = ? AND realm = ?'),
      delAll: db.prepare('DELETE FROM users WHERE user = ?'),
      list: db.prepare('SELECT user, realm FROM users ORDER BY realm, user'),
      listRealm: db.prepare('SELECT user, realm FROM users WHERE realm = ? ORDER BY user'),
    };
  }

  private check(): void {
    if (this.closed) throw new StoreError('STORE_ERR_CLOSED', 'user store is closed');
  }

  async getHa1(user: string, realm: string, algorithm: Ha1Algorithm): Promise<string | undefined> {
    this.check();
    const row = this.st.get.get(user, realm);
    if (!row) return undefined;
    return (ha1Field(algorithm) === 'md5' ? row.ha1_md5 : row.ha1_sha256) ?? undefined;
  }

  async add(user: string, realm: string, password: string): Promise<void> {
    validateUser(user, realm);
    if (typeof password !== 'string' || password.length === 0) throw new TypeError('password must be a non-empty string');
    const h = ha1Pair(user, realm, password);
    this.check();
    this.st.upsert.run(user, realm, h.md5, h.sha256);
  }

  async addHa1(user: string, realm: string, ha1: Ha1Pair): Promise<void> {
    validateUser(user, realm);
    const h = validateHa1(ha1);
    this.check();
    this.st.upsert.run(user, realm, h.md5 ?? null, h.sha256 ?? null);
  }

  async remove(user: string, realm?: string): Promise<number> {
    this.check();
    return (realm === undefined ? this.st.delAll.run(user) : this.st.del.run(user, realm)).changes;
  }

  async list(realm?: string): Promise<Array<{ user: string; realm: string }>> {
    this.check();
    const rows = realm === undefined ? this.st.list.all() : this.st.listRealm.all(realm);
    return rows.map((r) => ({ user: r.user, realm: r.realm })).sort(compareUsers);
  }

  async importCsv(text: string, defaultRealm: string): Promise<{ added: number; errors: string[] }> {
    this.check();
    const { users, errors } = parseUserCsv(text, defaultRealm);
    // One synchronous transaction for the whole file (all or nothing, and fast).
    const insert = this.db.transaction(() => {
      for (const u of users) {
        const h = ha1Pair(u.user, u.realm, u.password);
        this.st.upsert.run(u.user, u.realm, h.md5, h.sha256);
      }
    });
    insert.immediate();
    return { added: users.length, errors };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.owned) this.db.close();
  }
}
