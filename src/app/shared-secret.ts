/**
 * The nonce secret every process of a deployment shares, so a nonce issued by one process
 * verifies at any other (RFC 7616 §3.3, stateless nonces). Taken from config when set; else
 * created once and kept in the store (SQLite file or Redis), so restarts and cluster members
 * agree. With the memory store it is per process.
 *
 * @remarks App layer (`app/`).
 */
import crypto from 'node:crypto';
import Database from 'better-sqlite3';
import { connectRedis } from '../store/index.js';

export async function sharedSecret(store: string, dbPath: string, prefix: string): Promise<string> {
  const fresh = crypto.randomBytes(32).toString('hex');
  if (store === 'memory') return fresh;
  if (store === 'sqlite') {
    const db = new Database(dbPath);
    try {
      db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
      db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run('nonce-secret', fresh);
      return (db.prepare('SELECT value FROM meta WHERE key = ?').get('nonce-secret') as { value: string }).value;
    } finally {
      db.close();
    }
  }
  const { client: redis } = await connectRedis(store);
  try {
    const key = `${prefix}meta:nonce-secret`;
    await redis.set(key, fresh, 'NX');
    return (await redis.get(key)) ?? fresh;
  } finally {
    redis.disconnect();
  }
}
