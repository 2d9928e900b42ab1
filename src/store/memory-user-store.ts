/**
 * In-process user store. Also built from a YAML-style list (the `users:` of a config file):
 * `[{ user, password, realm|domain }]` or `[{ user, ha1_md5, ha1_sha256, realm|domain }]`.
 * Only HA1s are kept, never a password.
 *
 * @remarks Store layer (`store/`), a leaf.
 */
import type { Ha1Algorithm, Ha1Pair, UserStore } from './user-store.js';
import { compareUsers, ha1Field, ha1Pair, importUsersCsv, validateHa1, validateUser } from './user-store.js';

export interface UserEntry {
  user: string;
  password?: string;
  ha1_md5?: string;
  ha1_sha256?: string;
  realm?: string;
  /** Alias of `realm` (the config file's spelling). */
  domain?: string;
}

export class MemoryUserStore implements UserStore {
  private readonly users = new Map<string, { user: string; realm: string; ha1: Ha1Pair }>();

  /**
   * @param entries initial users; an entry without realm/domain uses `defaultRealm`.
   * @throws TypeError for an entry with neither password nor HA1, or without any realm.
   */
  constructor(entries: readonly UserEntry[] = [], defaultRealm?: string) {
    entries.forEach((e, i) => {
      const realm = e.realm ?? e.domain ?? defaultRealm;
      if (realm === undefined) throw new TypeError(`users[${i}]: no realm (and no default realm)`);
      validateUser(e.user, realm);
      if (e.password !== undefined) this.put(e.user, realm, ha1Pair(e.user, realm, e.password));
      else if (e.ha1_md5 !== undefined || e.ha1_sha256 !== undefined) this.put(e.user, realm, validateHa1({ md5: e.ha1_md5, sha256: e.ha1_sha256 }));
      else throw new TypeError(`users[${i}]: needs password or ha1_md5/ha1_sha256`);
    });
  }

  private static key(user: string, realm: string): string {
    return JSON.stringify([user, realm]);
  }

  private put(user: string, realm: string, ha1: Ha1Pair): void {
    this.users.set(MemoryUserStore.key(user, realm), { user, realm, ha1 });
  }

  async getHa1(user: string, realm: string, algorithm: Ha1Algorithm): Promise<string | undefined> {
    return this.users.get(MemoryUserStore.key(user, realm))?.ha1[ha1Field(algorithm)];
  }

  async add(user: string, realm: string, password: string): Promise<void> {
    validateUser(user, realm);
    if (typeof password !== 'string' || password.length === 0) throw new TypeError('password must be a non-empty string');
    this.put(user, realm, ha1Pair(user, realm, password));
  }

  async addHa1(user: string, realm: string, ha1: Ha1Pair): Promise<void> {
    validateUser(user, realm);
    this.put(user, realm, validateHa1(ha1));
  }

  async remove(user: string, realm?: string): Promise<number> {
    let n = 0;
    for (const [k, v] of [...this.users]) {
      if (v.user === user && (realm === undefined || v.realm === realm)) {
        this.users.delete(k);
        n++;
      }
    }
    return n;
  }

  async list(realm?: string): Promise<Array<{ user: string; realm: string }>> {
    return [...this.users.values()]
      .filter((v) => realm === undefined || v.realm === realm)
      .map((v) => ({ user: v.user, realm: v.realm }))
      .sort(compareUsers);
  }

  importCsv(text: string, defaultRealm: string): Promise<{ added: number; errors: string[] }> {
    return importUsersCsv(this, text, defaultRealm);
  }

  async close(): Promise<void> {
    /* nothing to release */
  }
}
