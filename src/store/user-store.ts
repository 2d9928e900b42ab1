/**
 * The user store: digest credentials as HA1 hashes (RFC 2617 / RFC 7616 §3.4.2), never the
 * password. HA1 = H(user ":" realm ":" password), hex, with H = MD5 and SHA-256.
 *
 * @remarks Store layer (`store/`), a leaf.
 */
import { createHash } from 'node:crypto';

/** Digest algorithms; the `-sess` variants start from the same stored HA1 (the verifier derives the rest). */
export type Ha1Algorithm = 'MD5' | 'SHA-256' | 'MD5-sess' | 'SHA-256-sess';

export interface UserStore {
  /** The stored HA1 (lower-case hex) or undefined for an unknown user/realm. */
  getHa1(user: string, realm: string, algorithm: Ha1Algorithm): Promise<string | undefined>;
  /** Adds or replaces a user; stores HA1 MD5 and HA1 SHA-256 only, never `password`. */
  add(user: string, realm: string, password: string): Promise<void>;
  /** Adds or replaces a user from precomputed hashes (either may be absent). */
  addHa1(user: string, realm: string, ha1: Ha1Pair): Promise<void>;
  /** Removes `user` in `realm`, or in every realm without one. Returns how many. */
  remove(user: string, realm?: string): Promise<number>;
  /** Users (sorted by realm then user), optionally of one realm. */
  list(realm?: string): Promise<Array<{ user: string; realm: string }>>;
  /** Imports `user,password[,domain]` lines; see {@link parseUserCsv}. */
  importCsv(text: string, defaultRealm: string): Promise<{ added: number; errors: string[] }>;
  close(): Promise<void>;
}

export interface Ha1Pair {
  md5?: string;
  sha256?: string;
}

/** HA1 = hex(H(user:realm:password)). */
export function computeHa1(user: string, realm: string, password: string, algorithm: 'MD5' | 'SHA-256'): string {
  return createHash(algorithm === 'MD5' ? 'md5' : 'sha256')
    .update(`${user}:${realm}:${password}`, 'utf8')
    .digest('hex');
}

export function ha1Pair(user: string, realm: string, password: string): Required<Ha1Pair> {
  return { md5: computeHa1(user, realm, password, 'MD5'), sha256: computeHa1(user, realm, password, 'SHA-256') };
}

/** Which stored hash an algorithm uses. */
export function ha1Field(algorithm: Ha1Algorithm): 'md5' | 'sha256' {
  switch (algorithm) {
    case 'MD5':
    case 'MD5-sess':
      return 'md5';
    case 'SHA-256':
    case 'SHA-256-sess':
      return 'sha256';
    default:
      throw new TypeError(`unsupported digest algorithm ${String(algorithm)}`);
  }
}

export function validateUser(user: string, realm: string): void {
  if (typeof user !== 'string' || user.length === 0) throw new TypeError('user must be a non-empty string');
  if (typeof realm !== 'string' || realm.length === 0) throw new TypeError('realm must be a non-empty string');
}

export function validateHa1(ha1: Ha1Pair): Ha1Pair {
  const out: Ha1Pair = {};
  if (ha1.md5 !== undefined) {
    if (!/^[0-9a-fA-F]{32}$/.test(ha1.md5)) throw new TypeError('ha1 MD5 must be 32 hex digits');
    out.md5 = ha1.md5.toLowerCase();
  }
  if (ha1.sha256 !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(ha1.sha256)) throw new TypeError('ha1 SHA-256 must be 64 hex digits');
    out.sha256 = ha1.sha256.toLowerCase();
  }
  if (out.md5 === undefined && out.sha256 === undefined) throw new TypeError('need at least one HA1');
  return out;
}

export interface CsvUser {
  user: string;
  password: string;
  realm: string;
  line: number;
}

/**
 * Parses `user,password[,domain]` lines (a missing or empty domain → `defaultRealm`).
 * Blank lines and lines starting with `#` are skipped, as is a first line `user,password[,domain]`
 * (header). Fields may be double-quoted (then may contain `,`; `""` is a literal quote);
 * unquoted fields are trimmed. Bad lines are reported as `line N: why` (never echoing the password).
 */
export function parseUserCsv(text: string, defaultRealm: string): { users: CsvUser[]; errors: string[] } {
  const users: CsvUser[] = [];
  const errors: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i]!;
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) continue;
    const fields = splitCsvLine(raw);
    if (typeof fields === 'string') {
      errors.push(`line ${n}: ${fields}`);
      continue;
    }
    if (users.length === 0 && errors.length === 0 && /^user$/i.test(fields[0] ?? '') && /^password$/i.test(fields[1] ?? '')) continue;
    if (fields.length < 2 || fields.length > 3) {
      errors.push(`line ${n}: expected user,password[,domain] (got ${fields.length} field${fields.length === 1 ? '' : 's'})`);
      continue;
    }
    const [user, password, domain] = fields as [string, string, string | undefined];
    if (user === '') {
      errors.push(`line ${n}: empty user`);
      continue;
    }
    if (password === '') {
      errors.push(`line ${n}: empty password for user ${JSON.stringify(user)}`);
      continue;
    }
    if (/[\s:]/.test(user)) {
      errors.push(`line ${n}: user ${JSON.stringify(user)} contains whitespace or ':'`);
      continue;
    }
    const realm = domain === undefined || domain === '' ? defaultRealm : domain;
    if (/\s/.test(realm)) {
      errors.push(`line ${n}: domain ${JSON.stringify(realm)} contains whitespace`);
      continue;
    }
    users.push({ user, password, realm, line: n });
  }
  return { users, errors };
}

/** Splits one CSV line; returns an error message for an unterminated or misplaced quote. */
function splitCsvLine(line: string): string[] | string {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= line.length) return 'unterminated quoted field';
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            v += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += line[i++];
      }
      while (line[i] === ' ' || line[i] === '\t') i++;
      if (i < line.length && line[i] !== ',') return 'text after a closing quote';
      out.push(v);
    } else {
      const end = line.indexOf(',', i);
      const v = (end < 0 ? line.slice(i) : line.slice(i, end)).trim();
      if (v.includes('"')) return 'quote inside an unquoted field';
      out.push(v);
      i = end < 0 ? line.length : end;
    }
    if (i >= line.length) return out;
    i++; // the comma
  }
}

/** `importCsv` on top of `add`, shared by the stores. */
export async function importUsersCsv(store: Pick<UserStore, 'add'>, text: string, defaultRealm: string): Promise<{ added: number; errors: string[] }> {
  const { users, errors } = parseUserCsv(text, defaultRealm);
  let added = 0;
  for (const u of users) {
    try {
      await store.add(u.user, u.realm, u.password);
      added++;
    } catch (e) {
      errors.push(`line ${u.line}: ${(e as Error).message}`);
    }
  }
  const lineOf = (m: string) => Number(/^line (\d+)/.exec(m)?.[1] ?? 0);
  return { added, errors: errors.sort((a, b) => lineOf(a) - lineOf(b)) };
}

export function compareUsers(a: { user: string; realm: string }, b: { user: string; realm: string }): number {
  if (a.realm !== b.realm) return a.realm < b.realm ? -1 : 1;
  return a.user < b.user ? -1 : a.user > b.user ? 1 : 0;
}
