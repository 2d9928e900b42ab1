// The store conformance suites against the memory and SQLite stores, plus what is specific to
// each: SQLite restart/persistence, plaintext never on disk, SQL injection inertness, shared DB
// file; memory bounds and the YAML-style user list; openStores.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { HOSTILE_STRINGS, locationConformance, userConformance } from './conformance.js';
import { MemoryLocationStore, StoreFullError } from './memory-location-store.js';
import { MemoryUserStore } from './memory-user-store.js';
import { SqliteLocationStore } from './sqlite-location-store.js';
import { SqliteUserStore } from './sqlite-user-store.js';
import { openStores } from './open-store.js';
import { planApply } from './location-store.js';
import type { Binding } from './binding.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-store-'));
let n = 0;
const freshDb = (): string => join(dir, `t${++n}.db`);
after(() => rmSync(dir, { recursive: true, force: true }));

locationConformance({ name: 'memory', open: async () => new MemoryLocationStore({ sweepIntervalMs: 0 }) });
locationConformance({ name: 'sqlite', open: async () => new SqliteLocationStore(freshDb(), { sweepIntervalMs: 0 }) });
locationConformance({ name: 'sqlite, group commit', open: async () => new SqliteLocationStore(freshDb(), { sweepIntervalMs: 0, commitDelayMs: 2 }) });
userConformance({ name: 'memory', open: async () => new MemoryUserStore() });
userConformance({ name: 'sqlite', open: async () => new SqliteUserStore(freshDb()) });

const AOR = 'sip:alice@example.com';

/** Every byte SQLite wrote for `file` (main file, WAL, shared memory). */
function dbBytes(file: string): Buffer {
  const base = file.split('/').pop()!;
  const parts = readdirSync(dir)
    .filter((f) => f.startsWith(base))
    .map((f) => readFileSync(join(dir, f)));
  return Buffer.concat(parts);
}

describe('SqliteLocationStore persistence', () => {
  test('restart: unexpired bindings come back with the same expiry; expired ones are gone', async () => {
    const file = freshDb();
    const now = Date.now();
    let s = new SqliteLocationStore(file, { sweepIntervalMs: 0 });
    const r = await s.apply(AOR, {
      callId: 'c1',
      cseq: 1,
      now,
      changes: [
        { contact: 'sip:a@192.0.2.1', expires: 3600, q: 0.5, path: ['<sip:edge;lr>'], instanceId: '<urn:uuid:1>', regId: 1, received: 'udp:192.0.2.1:5060', params: ';ob' },
        { contact: 'sip:b@192.0.2.2', expires: 7200 },
      ],
    });
    assert.ok(r.ok);
    for (const str of HOSTILE_STRINGS) await s.save({ aor: str, contact: str, expires: now + 600_000, q: 1, callId: str, cseq: 1, updated: now });
    await s.save({ aor: AOR, contact: 'sip:stale@h', expires: now - 1000, q: 1, callId: 'old', cseq: 1, updated: now - 5000 });
    await s.save({ aor: 'sip:gone@example.com', contact: 'sip:stale@h', expires: now - 1, q: 1, callId: 'old', cseq: 1, updated: now - 5000 });
    await s.close();

    s = new SqliteLocationStore(file, { sweepIntervalMs: 0 });
    try {
      assert.deepEqual(await s.lookup(AOR, now), r.bindings);
      const a = (await s.bindings(AOR)).find((b) => b.contact === 'sip:a@192.0.2.1')!;
      assert.equal(a.expires, now + 3_600_000, 'absolute expiry kept across the restart');
      assert.deepEqual(contactsOf(await s.bindings(AOR)), ['sip:a@192.0.2.1', 'sip:b@192.0.2.2'].sort(), 'expired purged on open');
      assert.ok(!(await s.listAors()).includes('sip:gone@example.com'));
      for (const str of HOSTILE_STRINGS) assert.equal((await s.lookup(str, now))[0]?.contact, str);
    } finally {
      await s.close();
    }
  });

  test('a second store on the same file sees writes (WAL, two connections)', async () => {
    const file = freshDb();
    const a = new SqliteLocationStore(file, { sweepIntervalMs: 0 });
    const b = new SqliteLocationStore(file, { sweepIntervalMs: 0 });
    try {
      const now = Date.now();
      assert.ok((await a.apply(AOR, { callId: 'x', cseq: 1, now, changes: [{ contact: 'sip:a@h', expires: 60 }] })).ok);
      assert.equal((await b.lookup(AOR, now)).length, 1);
      assert.deepEqual(await b.apply(AOR, { callId: 'x', cseq: 1, now, changes: [{ contact: 'sip:a@h', expires: 0 }] }), { ok: false, reason: 'cseq-out-of-order' });
      assert.equal(String(a.db.pragma('journal_mode', { simple: true })), 'wal');
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('group commit: applies within the window share one transaction; a refused one does not undo the others', async () => {
    const file = freshDb();
    const s = new SqliteLocationStore(file, { sweepIntervalMs: 0, commitDelayMs: 20 });
    const now = Date.now();
    try {
      assert.ok((await s.apply(AOR, { callId: 'x', cseq: 5, now, changes: [{ contact: 'sip:a@h', expires: 60 }] })).ok);
      const peek = new Database(file, { readonly: true });
      const rows = () => (peek.prepare('SELECT count(*) AS n FROM bindings').get() as { n: number }).n;
      const group = [
        s.apply('sip:b@example.com', { callId: 'y', cseq: 1, now, changes: [{ contact: 'sip:b@h', expires: 60 }] }),
        s.apply(AOR, { callId: 'x', cseq: 4, now, changes: [{ contact: 'sip:a@h', expires: 30 }] }), // older CSeq: refused
        s.apply('sip:c@example.com', { callId: 'z', cseq: 1, now, changes: [{ contact: 'sip:c@h', expires: 60 }] }),
      ];
      assert.equal(rows(), 1, 'nothing is written before the window closes');
      const [b, a, c] = await Promise.all(group);
      assert.ok(b!.ok && c!.ok);
      assert.deepEqual(a, { ok: false, reason: 'cseq-out-of-order' });
      assert.equal(rows(), 3, 'the group is committed when the promises settle');
      peek.close();
      const late = s.apply('sip:d@example.com', { callId: 'w', cseq: 1, now, changes: [{ contact: 'sip:d@h', expires: 60 }] });
      await s.close(); // flushes the waiting group
      assert.ok((await late).ok);
    } finally {
      await s.close();
    }
    const again = new SqliteLocationStore(file, { sweepIntervalMs: 0 });
    assert.equal((await again.lookup('sip:d@example.com', now)).length, 1);
    await again.close();
  });

  test('dbLocking exclusive: the server keeps the file to itself; bindings still persist across a reopen', async () => {
    const file = freshDb();
    const stores = await openStores({ store: 'sqlite', dbPath: file, dbLocking: 'exclusive', sweepIntervalMs: 0 });
    const now = Date.now();
    try {
      assert.ok((await stores.location.apply(AOR, { callId: 'x', cseq: 1, now, changes: [{ contact: 'sip:a@h', expires: 60 }] })).ok);
      const other = new Database(file, { timeout: 50 });
      try {
        assert.throws(() => other.prepare('SELECT count(*) FROM bindings').get(), /locked|busy/i);
      } finally {
        other.close();
      }
    } finally {
      await stores.close();
    }
    const shared = await openStores({ store: 'sqlite', dbPath: file, sweepIntervalMs: 0 });
    try {
      assert.equal((await shared.location.lookup(AOR, now)).length, 1, 'committed before close, readable by the next process');
    } finally {
      await shared.close();
    }
  });

  test("injection strings are data: the bindings table survives `'; DROP TABLE bindings; --`", async () => {
    const file = freshDb();
    const s = new SqliteLocationStore(file, { sweepIntervalMs: 0 });
    const evil = "x'); DROP TABLE bindings; --";
    await s.save({ aor: evil, contact: evil, expires: Date.now() + 60_000, q: 1, callId: evil, cseq: 1, updated: 1, params: evil });
    assert.equal(await s.remove(evil, evil), 1);
    await s.close();
    const db = new Database(file, { readonly: true });
    try {
      const t = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?").get('bindings');
      assert.ok(t, 'table still exists');
    } finally {
      db.close();
    }
  });

  test('sweeper purges expired rows in the background', async () => {
    let clock = 1_000_000;
    const s = new SqliteLocationStore(freshDb(), { sweepIntervalMs: 20, now: () => clock });
    try {
      const seen: string[] = [];
      s.onChange((ev) => seen.push(ev.kind));
      await s.save({ aor: AOR, contact: 'sip:a@h', expires: clock + 1000, q: 1, callId: 'c', cseq: 1, updated: clock });
      clock += 2000;
      await new Promise((r) => setTimeout(r, 120));
      assert.deepEqual(await s.all(), []);
      assert.deepEqual(seen, ['added', 'expired']);
    } finally {
      await s.close();
    }
  });
});

function contactsOf(bs: Binding[]): string[] {
  return bs.map((b) => b.contact).sort();
}

describe('SqliteUserStore', () => {
  test('the password never reaches the database file', async () => {
    const file = freshDb();
    const password = 'Pl41nT3xt-Must-Not-Appear';
    const s = new SqliteUserStore(file);
    await s.add('alice', 'example.com', password);
    await s.importCsv(`bob,${password}-csv\n"carol","${password}-quoted",x.example`, 'example.com');
    assert.equal(await s.getHa1('alice', 'example.com', 'MD5'), createHash('md5').update(`alice:example.com:${password}`).digest('hex'));
    const live = dbBytes(file);
    await s.close();
    for (const bytes of [live, dbBytes(file)]) {
      assert.ok(bytes.length > 0);
      assert.equal(bytes.indexOf(Buffer.from(password)), -1, 'plaintext password found in the DB file');
      assert.equal(bytes.indexOf(Buffer.from('Pl41nT3xt')), -1);
    }
    // The columns are exactly the documented ones.
    const db = new Database(file, { readonly: true });
    try {
      const cols = (db.prepare('PRAGMA table_info(users)').all() as Array<{ name: string }>).map((c) => c.name);
      assert.deepEqual(cols, ['user', 'realm', 'ha1_md5', 'ha1_sha256']);
    } finally {
      db.close();
    }
  });

  test('users and bindings share one file through openStores', async () => {
    const file = freshDb();
    let st = await openStores({ store: 'sqlite', dbPath: file, sweepIntervalMs: 0 });
    await st.users.add('alice', 'example.com', 'secret');
    const now = Date.now();
    assert.ok((await st.location.apply(AOR, { callId: 'c', cseq: 1, now, changes: [{ contact: 'sip:a@h', expires: 60 }] })).ok);
    await st.close();
    await st.close(); // idempotent
    const db = new Database(file, { readonly: true });
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>).map((t) => t.name);
    db.close();
    assert.ok(tables.includes('users') && tables.includes('bindings'), tables.join());
    st = await openStores({ store: 'sqlite', dbPath: file, sweepIntervalMs: 0 });
    try {
      assert.equal((await st.location.lookup(AOR)).length, 1);
      assert.ok(await st.users.getHa1('alice', 'example.com', 'SHA-256'));
    } finally {
      await st.close();
    }
  });
});

describe('memory stores', () => {
  test('MemoryLocationStore is bounded by maxBindings (expired ones are purged to make room)', async () => {
    let clock = 0;
    const s = new MemoryLocationStore({ maxBindings: 3, sweepIntervalMs: 0, now: () => clock });
    const save = (aor: string, c: string, expires = 10_000) => s.save({ aor, contact: c, expires, q: 1, callId: 'c', cseq: 1, updated: clock });
    await save('sip:a@x', 'sip:1@h', 100);
    await save('sip:a@x', 'sip:2@h');
    await save('sip:b@x', 'sip:3@h');
    assert.equal(s.size, 3);
    await save('sip:b@x', 'sip:3@h'); // refresh: no growth
    await assert.rejects(save('sip:c@x', 'sip:4@h'), StoreFullError);
    const r = await s.apply('sip:c@x', { callId: 'z', cseq: 1, now: clock, changes: [{ contact: 'sip:4@h', expires: 60 }] }).catch((e: unknown) => e);
    assert.ok(r instanceof StoreFullError);
    clock = 200; // sip:1@h has expired: room for one
    await save('sip:c@x', 'sip:4@h');
    assert.equal(s.size, 3);
    assert.deepEqual(await s.listAors(), ['sip:a@x', 'sip:b@x', 'sip:c@x']);
    await s.close();
    await assert.rejects(s.lookup('sip:a@x'), /closed/);
  });

  test('MemoryUserStore from a YAML-style list (password or HA1s)', async () => {
    const md5 = createHash('md5').update('bob:b.example:pw').digest('hex');
    const sha = createHash('sha256').update('bob:b.example:pw').digest('hex');
    const s = new MemoryUserStore(
      [
        { user: 'alice', password: 'secret' },
        { user: 'bob', ha1_md5: md5, ha1_sha256: sha, realm: 'b.example' },
        { user: 'carol', password: 'x', domain: 'c.example' },
      ],
      'example.com',
    );
    assert.equal(await s.getHa1('alice', 'example.com', 'MD5'), 'b1726872c344b6dc8365b774f8fd6412');
    assert.equal(await s.getHa1('bob', 'b.example', 'SHA-256'), sha);
    assert.deepEqual(await s.list(), [
      { user: 'carol', realm: 'c.example' },
      { user: 'alice', realm: 'example.com' },
      { user: 'bob', realm: 'b.example' },
    ].sort((a, b) => (a.realm < b.realm ? -1 : 1)));
    assert.throws(() => new MemoryUserStore([{ user: 'x' }], 'r'), /password or ha1/);
    assert.throws(() => new MemoryUserStore([{ user: 'x', password: 'p' }]), /no realm/);
    assert.throws(() => new MemoryUserStore([{ user: 'x', ha1_md5: 'nothex', realm: 'r' }]), TypeError);
  });

  test('openStores: memory, and a clear error for an unknown store', async () => {
    const st = await openStores({ store: 'memory' });
    await st.users.add('a', 'r', 'p');
    assert.ok(await st.users.getHa1('a', 'r', 'MD5'));
    await st.close();
    await assert.rejects(openStores({ store: 'postgres' }), /unknown store/);
    await assert.rejects(openStores({ store: 'redis://127.0.0.1:1' }), /cannot connect/);
  });
});

describe('planApply (pure §10.3 step 7)', () => {
  test('reports removals of expired bindings and keeps the rest untouched', () => {
    const b = (contact: string, expires: number): Binding => ({ aor: AOR, contact, expires, q: 1, callId: 'c', cseq: 1, updated: 0 });
    const p = planApply(AOR, [b('sip:old@h', 50), b('sip:live@h', 500)], { callId: 'd', cseq: 1, now: 100, changes: [{ contact: 'sip:new@h', expires: 1 }] });
    assert.ok(p.ok);
    assert.deepEqual(p.del.map((x) => x.contact), ['sip:old@h']);
    assert.deepEqual(p.put.map((x) => x.contact), ['sip:new@h']);
    assert.deepEqual(p.events.map((e) => e.kind), ['expired', 'added']);
    assert.deepEqual(p.after.map((x) => x.contact).sort(), ['sip:live@h', 'sip:new@h']);
  });
});
