/**
 * Opening the SQLite database shared by the SQLite location and user stores.
 *
 * @remarks Store layer (`store/`), a leaf.
 */
import Database from 'better-sqlite3';

export type SqliteDatabase = Database.Database;

/**
 * How the file is shared. `shared` (default): WAL with file locks, so the CLI and other servers
 * can read and write it while this process runs; every statement pays for the lock round trip
 * (a few `fcntl` calls on the database and `-shm` files). `exclusive`: this process takes the
 * lock once and keeps it (SQLite `locking_mode=EXCLUSIVE`, the WAL index in heap memory), which
 * makes a registration's read and write several times cheaper, but no other process can open
 * the file until it exits. Durability is the same in both: every commit is in the WAL before
 * the statement returns (`synchronous=NORMAL`).
 */
export type SqliteLocking = 'shared' | 'exclusive';

/** Opens (creating if needed) `path` in WAL mode with a busy timeout. */
export function openSqlite(path: string, locking: SqliteLocking = 'shared'): SqliteDatabase {
  const db = new Database(path);
  try {
    // Exclusive must come first: set before the first WAL access, SQLite keeps the WAL index in
    // heap memory and never maps the -shm file.
    if (locking === 'exclusive') db.pragma('locking_mode = EXCLUSIVE');
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
