/**
 * User store on Redis. Key layout (P = keyPrefix, default `sb:`):
 *
 *   P user:{<realm>}   HASH  field = user, value = JSON `{ "ha1_md5": "…", "ha1_sha256": "…" }`
 *
 * @remarks Store layer (`store/`), a leaf.
 */
import type { Ha1Algorithm, Ha1Pair, UserStore } from './user-store.js';
import { compareUsers, ha1Field, ha1Pair, importUsersCsv, validateHa1, validateUser } from './user-store.js';
import type { RedisClient, RedisSource } from './redis-client.js';
import { closeClient, connectRedis, escapeGlob, scanKeys } from './redis-client.js';
import { StoreError } from '../util/errors.js';

export interface RedisUserStoreOptions {
  /** Default `sb:`; must not contain `{`. */
  keyPrefix?: string;
}

export class RedisUserStore implements UserStore {
  readonly prefix: string;
  private closed = false;

  private constructor(private readonly client: RedisClient, private readonly owned: boolean, opts: RedisUserStoreOptions) {
    this.prefix = opts.keyPrefix ?? 'sb:';
    if (this.prefix.includes('{')) throw new StoreError('STORE_ERR_CONFIG', 'keyPrefix must not contain "{"');
  }

  /** Connects to `source` (a `redis://` URL, or an ioredis instance which the store does not close). */
  static async open(source: RedisSource, opts: RedisUserStoreOptions = {}): Promise<RedisUserStore> {
    const { client, owned } = await connectRedis(source);
    try {
      return new RedisUserStore(client, owned, opts);
    } catch (e) {
      if (owned) await closeClient(client);
      throw e;
    }
  }

  realmKey(realm: string): string {
    return `${this.prefix}user:{${realm}}`;
  }

  private check(): void {
    if (this.closed) throw new StoreError('STORE_ERR_CLOSED', 'user store is closed');
  }

  async getHa1(user: string, realm: string, algorithm: Ha1Algorithm): Promise<string | undefined> {
    this.check();
    const field = ha1Field(algorithm);
    const raw = await this.client.hget(this.realmKey(realm), user);
    if (raw === null) return undefined;
    try {
      const o = JSON.parse(raw) as { ha1_md5?: string; ha1_sha256?: string };
      return (field === 'md5' ? o.ha1_md5 : o.ha1_sha256) ?? undefined;
    } catch {
      return undefined;
    }
  }

  private async put(user: string, realm: string, h: Ha1Pair): Promise<void> {
    this.check();
    const v: { ha1_md5?: string; ha1_sha256?: string } = {};
    if (h.md5 !== undefined) v.ha1_md5 = h.md5;
    if (h.sha256 !== undefined) v.ha1_sha256 = h.sha256;
    await this.client.hset(this.realmKey(realm), user, JSON.stringify(v));
  }

  async add(user: string, realm: string, password: string): Promise<void> {
    validateUser(user, realm);
    if (typeof password !== 'string' || password.length === 0) throw new TypeError('password must be a non-empty string');
    await this.put(user, realm, ha1Pair(user, realm, password));
  }

  async addHa1(user: string, realm: string, ha1: Ha1Pair): Promise<void> {
    validateUser(user, realm);
    await this.put(user, realm, validateHa1(ha1));
  }

  private async realms(): Promise<string[]> {
    const head = `${this.prefix}user:{`;
    const keys = await scanKeys(this.client, `${escapeGlob(head)}*`);
    return keys.filter((k) => k.startsWith(head) && k.endsWith('}')).map((k) => k.slice(head.length, -1));
  }

  async remove(user: string, realm?: string): Promise<number> {
    this.check();
    const realms = realm === undefined ? await this.realms() : [realm];
    let n = 0;
    for (const r of realms) n += await this.client.hdel(this.realmKey(r), user);
    return n;
  }

  async list(realm?: string): Promise<Array<{ user: string; realm: string }>> {
    this.check();
    const realms = realm === undefined ? await this.realms() : [realm];
    const out: Array<{ user: string; realm: string }> = [];
    for (const r of realms) for (const u of await this.client.hkeys(this.realmKey(r))) out.push({ user: u, realm: r });
    return out.sort(compareUsers);
  }

  importCsv(text: string, defaultRealm: string): Promise<{ added: number; errors: string[] }> {
    return importUsersCsv(this, text, defaultRealm);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.owned) await closeClient(this.client);
  }
}
