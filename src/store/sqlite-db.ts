/**
 * Opening the SQLite database shared by the SQLite location and user stores.
 *
 * @remarks Store layer (`store/`), a leaf.
 */
import Database from 'better-sqlite3';

export type SqliteDatabase = Database.Database;

/** Opens (creating if needed) `path` in WAL mode with a busy timeout, for several processes. */
export function openSqlite(path: string): SqliteDatabase {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

/** A constructor argument: a file path (the store opens and owns the database) or an open one. */
export type SqliteSource = string | SqliteDatabase;

export function resolveSqlite(src: SqliteSource): { db: SqliteDatabase; owned: boolean } {
  return typeof src === 'string' ? { db: openSqlite(src), owned: true } : { db: src, owned: false };
}
