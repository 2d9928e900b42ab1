/**
 * Conformance suites every LocationStore / UserStore implementation must pass. Registered with
 * node:test by `*.test.ts` files (memory and SQLite here; Redis in test/interop/redis).
 *
 * @remarks Store layer (`store/`), test support only (not exported from the index).
 */
import type { CallDetailRecord, CdrStore } from './cdr-store.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ApplyOptions, Binding, BindingChange, LocationEvent } from './binding.js';
import type { LocationStore } from './location-store.js';
import type { UserStore } from './user-store.js';

export interface LocationHarness {
  name: string;
  /** A fresh, empty store. */
  open(): Promise<LocationStore>;
}

export interface UserHarness {
  name: string;
  open(): Promise<UserStore>;
}

/** Strings that must round-trip byte-exact (and must not break any query language). */
export const HOSTILE_STRINGS: readonly string[] = [
  'sip:"quoted"@example.com',
  "sip:o'brien@example.com;x=\"a'b\"",
  'sip:nul%00byte@example.com',
  'sip:real\u0000nul@example.com',
  "sip:x@example.com'; DROP TABLE bindings; --",
  "'); DELETE FROM users; --",
  '*3\r\n$3\r\nDEL\r\n$1\r\nx\r\n',
  'sip:ünïcødé@例え.jp;emoji=😀',
  'sip:{brace}@example.com',
  'sip:a}b{c@example.com',
  'sip:glob*?[x]\\y@example.com',
  'sip:tab\there@example.com\n',
  ' sip:leading-and-trailing@example.com ',
];

const T0 = Date.UTC(2030, 0, 1); // a fixed "now", far from the real clock
const AOR = 'sip:alice@example.com';

function change(contact: string, expires = 3600, extra: Partial<BindingChange> = {}): BindingChange {
  return { contact, expires, ...extra };
}

function ops(callId: string, cseq: number, changes: BindingChange[], extra: Partial<ApplyOptions> = {}): ApplyOptions {
  return { callId, cseq, now: T0, changes, ...extra };
}

function binding(aor: string, contact: string, extra: Partial<Binding> = {}): Binding {
  return { aor, contact, expires: T0 + 3_600_000, q: 1, callId: 'cid', cseq: 1, updated: T0, ...extra };
}

async function withStore(h: LocationHarness, fn: (s: LocationStore) => Promise<void>): Promise<void> {
  const s = await h.open();
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

const contacts = (bs: Binding[]): string[] => bs.map((b) => b.contact);

export function locationConformance(h: LocationHarness): void {
  describe(`LocationStore conformance: ${h.name}`, () => {
    test('save → lookup round-trips every field', () =>
      withStore(h, async (s) => {
        const b: Binding = {
          aor: AOR,
          contact: 'sip:alice@192.0.2.1:5060;transport=tcp',
          expires: T0 + 60_000,
          q: 0.5,
          callId: 'abc@host',
          cseq: 42,
          updated: T0 - 5,
          path: ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>'],
          instanceId: '<urn:uuid:00000000-0000-1000-8000-000A95A0E128>',
          regId: 1,
          received: 'udp:192.0.2.1:5060',
          userAgent: 'Test/1.0',
          params: ';+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1',
        };
        await s.save(b);
        assert.deepEqual(await s.lookup(AOR, T0), [b]);
        assert.deepEqual(await s.bindings(AOR), [b]);
        assert.deepEqual(await s.lookup('sip:bob@example.com', T0), []);
        const minimal = binding('sip:m@example.com', 'sip:m@h');
        await s.save(minimal);
        const [got] = await s.lookup('sip:m@example.com', T0);
        assert.deepEqual(got, minimal);
        assert.equal(Object.keys(got!).length, 7, 'absent optionals stay absent');
      }));

    test('apply adds, refreshes and removes; result equals lookup', () =>
      withStore(h, async (s) => {
        let r = await s.apply(AOR, ops('c1', 1, [change('sip:a@h1', 3600, { q: 0.7, path: ['<sip:edge;lr>'], received: 'tcp:[2001:db8::1]:5070' }), change('sip:a@h2', 60)]));
        assert.equal(r.ok, true);
        assert.ok(r.ok);
        assert.deepEqual(contacts(r.bindings), ['sip:a@h2', 'sip:a@h1']);
        const h1 = r.bindings.find((b) => b.contact === 'sip:a@h1')!;
        assert.equal(h1.expires, T0 + 3_600_000);
        assert.equal(h1.q, 0.7);
        assert.deepEqual(h1.path, ['<sip:edge;lr>']);
        assert.equal(h1.received, 'tcp:[2001:db8::1]:5070');
        assert.equal(h1.callId, 'c1');
        assert.equal(h1.cseq, 1);
        assert.deepEqual(await s.lookup(AOR, T0), r.bindings);
        r = await s.apply(AOR, { ...ops('c1', 2, [change('sip:a@h1', 0), change('sip:a@h2', 120)]), now: T0 + 1000 });
        assert.ok(r.ok);
        assert.deepEqual(contacts(r.bindings), ['sip:a@h2']);
        assert.equal(r.bindings[0]!.expires, T0 + 1000 + 120_000);
        assert.equal(r.bindings[0]!.cseq, 2);
        assert.deepEqual(await s.lookup(AOR, T0 + 1000), r.bindings);
        // Removing an unknown contact is not an error.
        r = await s.apply(AOR, ops('c9', 1, [change('sip:nobody@h', 0)]));
        assert.ok(r.ok);
        assert.equal(r.bindings.length, 1);
      }));

    test('§10.3 step 7: same Call-ID with CSeq ≤ stored aborts the whole request', () =>
      withStore(h, async (s) => {
        assert.ok((await s.apply(AOR, ops('call-A', 5, [change('sip:a@h1')]))).ok);
        const before = await s.bindings(AOR);
        for (const cseq of [5, 4, 1]) {
          const r = await s.apply(AOR, ops('call-A', cseq, [change('sip:new@h9'), change('sip:a@h1', 0)]));
          assert.deepEqual(r, { ok: false, reason: 'cseq-out-of-order' }, `cseq ${cseq}`);
        }
        assert.deepEqual(await s.bindings(AOR), before, 'nothing changed, not even the new contact');
        // A different Call-ID may carry any CSeq (another UA / a rebooted one).
        assert.ok((await s.apply(AOR, ops('call-B', 1, [change('sip:a@h1', 1800)]))).ok);
        const [b] = await s.lookup(AOR, T0);
        assert.equal(b!.callId, 'call-B');
        assert.equal(b!.cseq, 1);
        // Now call-B's CSeq 1 is the reference.
        assert.deepEqual(await s.apply(AOR, ops('call-B', 1, [change('sip:a@h1', 0)])), { ok: false, reason: 'cseq-out-of-order' });
        assert.ok((await s.apply(AOR, ops('call-B', 2, [change('sip:a@h1', 0)]))).ok);
        assert.deepEqual(await s.lookup(AOR, T0), []);
      }));

    test('a contact listed twice in one request: the last one wins', () =>
      withStore(h, async (s) => {
        const r = await s.apply(AOR, ops('c', 1, [change('sip:a@h', 60), change('sip:a@h', 120, { q: 0.3 })]));
        assert.ok(r.ok);
        assert.equal(r.bindings.length, 1);
        assert.equal(r.bindings[0]!.expires, T0 + 120_000);
        assert.equal(r.bindings[0]!.q, 0.3);
      }));

    test('lookup order: q descending, then most recently updated first', () =>
      withStore(h, async (s) => {
        await s.save(binding(AOR, 'sip:low-new@h', { q: 0.1, updated: T0 + 30 }));
        await s.save(binding(AOR, 'sip:high-old@h', { q: 0.9, updated: T0 + 10 }));
        await s.save(binding(AOR, 'sip:high-new@h', { q: 0.9, updated: T0 + 20 }));
        await s.save(binding(AOR, 'sip:default@h', { q: 1, updated: T0 }));
        const want = ['sip:default@h', 'sip:high-new@h', 'sip:high-old@h', 'sip:low-new@h'];
        assert.deepEqual(contacts(await s.lookup(AOR, T0)), want);
        assert.deepEqual(contacts(await s.bindings(AOR)), want);
      }));

    test('expiry: lookup hides expired bindings; apply treats them as absent; purgeExpired deletes them', () =>
      withStore(h, async (s) => {
        assert.ok((await s.apply(AOR, ops('c', 10, [change('sip:short@h', 60), change('sip:long@h', 3600)]))).ok);
        assert.equal((await s.lookup(AOR, T0 + 59_999)).length, 2);
        assert.deepEqual(contacts(await s.lookup(AOR, T0 + 60_000)), ['sip:long@h'], 'expires is exclusive: gone at exactly T0+60 s');
        // An expired binding no longer blocks an older CSeq of the same Call-ID.
        const r = await s.apply(AOR, { ...ops('c', 3, [change('sip:short@h', 60)]), now: T0 + 61_000 });
        assert.ok(r.ok, 'expired binding is not compared');
        assert.deepEqual(contacts(r.bindings).sort(), ['sip:long@h', 'sip:short@h']);
        // purge
        await s.save(binding('sip:other@example.com', 'sip:o@h', { expires: T0 + 1000 }));
        const n = await s.purgeExpired(T0 + 1_000_000);
        assert.equal(n, 2, 'sip:short@h (re-registered, expires T0+121 s) and sip:o@h');
        assert.deepEqual(contacts(await s.bindings(AOR)), ['sip:long@h']);
        assert.deepEqual(await s.listAors(), [AOR]);
        assert.equal(await s.purgeExpired(T0 + 1_000_000), 0);
        assert.equal(await s.purgeExpired(T0 + 3_600_000), 1);
        assert.deepEqual(await s.listAors(), []);
      }));

    test('removeAll (Contact: *) removes every binding, subject to the Call-ID/CSeq rule', () =>
      withStore(h, async (s) => {
        assert.ok((await s.apply(AOR, ops('c1', 7, [change('sip:a@h1')]))).ok);
        assert.ok((await s.apply(AOR, ops('c2', 1, [change('sip:a@h2')]))).ok);
        assert.deepEqual(await s.apply(AOR, ops('c1', 7, [], { removeAll: true })), { ok: false, reason: 'cseq-out-of-order' });
        assert.equal((await s.lookup(AOR, T0)).length, 2, 'aborted: nothing removed');
        const r = await s.apply(AOR, ops('c1', 8, [], { removeAll: true }));
        assert.deepEqual(r, { ok: true, bindings: [] });
        assert.deepEqual(await s.bindings(AOR), []);
        assert.deepEqual(await s.listAors(), []);
        // On an empty AOR it is a no-op.
        assert.deepEqual(await s.apply(AOR, ops('c3', 1, [], { removeAll: true })), { ok: true, bindings: [] });
      }));

    test('maxContacts: a request that would exceed it changes nothing', () =>
      withStore(h, async (s) => {
        assert.ok((await s.apply(AOR, ops('c', 1, [change('sip:1@h'), change('sip:2@h')], { maxContacts: 2 }))).ok);
        const before = await s.bindings(AOR);
        assert.deepEqual(await s.apply(AOR, ops('c', 2, [change('sip:3@h'), change('sip:1@h', 0), change('sip:4@h')], { maxContacts: 2 })), {
          ok: false,
          reason: 'too-many-contacts',
        });
        assert.deepEqual(await s.bindings(AOR), before);
        // Refreshing at the limit and swapping one for another are fine.
        assert.ok((await s.apply(AOR, ops('c', 3, [change('sip:1@h', 100), change('sip:2@h', 100)], { maxContacts: 2 }))).ok);
        const r = await s.apply(AOR, ops('c', 4, [change('sip:1@h', 0), change('sip:3@h')], { maxContacts: 2 }));
        assert.ok(r.ok);
        assert.deepEqual(contacts(r.bindings).sort(), ['sip:2@h', 'sip:3@h']);
        // Expired bindings do not count.
        const later = await s.apply(AOR, { ...ops('c', 5, [change('sip:5@h', 60), change('sip:6@h', 60)], { maxContacts: 2 }), now: T0 + 3_600_000 });
        assert.ok(later.ok);
        assert.deepEqual(contacts(later.bindings).sort(), ['sip:5@h', 'sip:6@h']);
      }));

    test('RFC 5626: same instance-id + reg-id replaces the old contact (apply and save)', () =>
      withStore(h, async (s) => {
        const inst = '<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>';
        assert.ok((await s.apply(AOR, ops('c1', 1, [change('sip:a@192.0.2.1:5060', 3600, { instanceId: inst, regId: 1 }), change('sip:a@192.0.2.1:5061', 3600, { instanceId: inst, regId: 2 })]))).ok);
        // The UA rebooted behind a new NAT binding: new Call-ID, new contact, same instance + reg-id 1.
        const r = await s.apply(AOR, ops('c2', 1, [change('sip:a@198.51.100.7:40000', 3600, { instanceId: inst, regId: 1 })]));
        assert.ok(r.ok);
        assert.deepEqual(contacts(r.bindings).sort(), ['sip:a@192.0.2.1:5061', 'sip:a@198.51.100.7:40000']);
        // The replaced binding's Call-ID/CSeq still guard the replacement.
        assert.deepEqual(await s.apply(AOR, ops('c2', 1, [change('sip:a@203.0.113.1:1', 3600, { instanceId: inst, regId: 1 })])), { ok: false, reason: 'cseq-out-of-order' });
        // Instance without reg-id: ordinary per-contact binding (no replacement).
        assert.ok((await s.apply(AOR, ops('c3', 1, [change('sip:a@203.0.113.9:1', 3600, { instanceId: inst })]))).ok);
        assert.equal((await s.lookup(AOR, T0)).length, 3);
        // save() follows the same rule.
        await s.save(binding(AOR, 'sip:a@203.0.113.50:9', { instanceId: inst, regId: 2 }));
        assert.deepEqual(contacts(await s.lookup(AOR, T0)).sort(), ['sip:a@198.51.100.7:40000', 'sip:a@203.0.113.50:9', 'sip:a@203.0.113.9:1']);
        // Other AORs are never touched.
        await s.save(binding('sip:bob@example.com', 'sip:b@h', { instanceId: inst, regId: 1 }));
        assert.equal((await s.lookup(AOR, T0)).length, 3);
      }));

    test('save upserts by (aor, contact)', () =>
      withStore(h, async (s) => {
        await s.save(binding(AOR, 'sip:a@h', { q: 0.2 }));
        await s.save(binding(AOR, 'sip:a@h', { q: 0.8, cseq: 2 }));
        await s.save(binding('sip:bob@example.com', 'sip:a@h'));
        const got = await s.lookup(AOR, T0);
        assert.equal(got.length, 1);
        assert.equal(got[0]!.q, 0.8);
        assert.equal(got[0]!.cseq, 2);
        assert.equal((await s.all()).length, 2);
      }));

    test('remove, removeAll, listAors, all', () =>
      withStore(h, async (s) => {
        await s.save(binding('sip:b@example.com', 'sip:1@h'));
        await s.save(binding('sip:b@example.com', 'sip:2@h', { q: 0.5 }));
        await s.save(binding('sip:a@example.com', 'sip:3@h'));
        await s.save(binding('sip:c@example.com', 'sip:4@h'));
        assert.deepEqual(await s.listAors(), ['sip:a@example.com', 'sip:b@example.com', 'sip:c@example.com']);
        assert.deepEqual(
          (await s.all()).map((b) => `${b.aor} ${b.contact}`),
          ['sip:a@example.com sip:3@h', 'sip:b@example.com sip:1@h', 'sip:b@example.com sip:2@h', 'sip:c@example.com sip:4@h'],
        );
        assert.equal(await s.remove('sip:b@example.com', 'sip:nope@h'), 0);
        assert.equal(await s.remove('sip:b@example.com', 'sip:1@h'), 1);
        assert.equal(await s.remove('sip:b@example.com', 'sip:1@h'), 0);
        assert.equal(await s.remove('sip:b@example.com'), 1);
        assert.equal(await s.removeAll('sip:c@example.com'), 1);
        assert.equal(await s.remove('sip:zzz@example.com'), 0);
        assert.deepEqual(await s.listAors(), ['sip:a@example.com']);
      }));

    test('hostile AORs, contacts and fields round-trip byte-exact and stay inert', () =>
      withStore(h, async (s) => {
        const saved: Binding[] = [];
        for (const [i, str] of HOSTILE_STRINGS.entries()) {
          const b = binding(str, str, { callId: str, path: [str, `<${str}>`], instanceId: str, regId: i, received: str, userAgent: str, params: str, updated: T0 + i });
          await s.save(b);
          saved.push(b);
          // and the same string as a contact of an ordinary AOR, via apply
          const r = await s.apply(AOR, ops(`c${i}`, 1, [change(str, 3600, { params: str })]));
          assert.ok(r.ok);
        }
        for (const b of saved) assert.deepEqual(await s.lookup(b.aor, T0), [b], JSON.stringify(b.aor));
        assert.deepEqual(new Set(contacts(await s.lookup(AOR, T0))), new Set(HOSTILE_STRINGS));
        assert.deepEqual(new Set(await s.listAors()), new Set([...HOSTILE_STRINGS, AOR]));
        assert.equal((await s.all()).length, HOSTILE_STRINGS.length * 2);
        // Near-misses do not match.
        assert.deepEqual(await s.lookup('sip:"quoted"@example.co', T0), []);
        assert.deepEqual(await s.lookup('sip:{brace}@example.com ', T0), []);
        for (const str of HOSTILE_STRINGS) assert.equal(await s.remove(AOR, str), 1, JSON.stringify(str));
        assert.deepEqual(await s.lookup(AOR, T0), []);
        for (const b of saved) assert.equal(await s.remove(b.aor), 1);
        assert.deepEqual(await s.listAors(), []);
        // The store still works (no table was dropped, no key deleted).
        await s.save(binding(AOR, 'sip:still@works'));
        assert.equal((await s.lookup(AOR, T0)).length, 1);
      }));

    test('onChange: added, refreshed, removed, expired; unsubscribe', () =>
      withStore(h, async (s) => {
        const seen: string[] = [];
        const off = s.onChange((ev: LocationEvent) => seen.push(`${ev.kind} ${ev.aor} ${ev.binding.contact}`));
        const throwing = s.onChange(() => {
          throw new Error('listener failure must not break the store');
        });
        assert.ok((await s.apply(AOR, ops('c', 1, [change('sip:a@h', 60), change('sip:b@h', 60)]))).ok);
        assert.ok((await s.apply(AOR, ops('c', 2, [change('sip:a@h', 60), change('sip:b@h', 0)]))).ok);
        await s.purgeExpired(T0 + 120_000);
        await s.save(binding(AOR, 'sip:c@h'));
        await s.remove(AOR, 'sip:c@h');
        await new Promise((r) => setTimeout(r, 20));
        assert.deepEqual(seen, [
          `added ${AOR} sip:a@h`,
          `added ${AOR} sip:b@h`,
          `removed ${AOR} sip:b@h`,
          `refreshed ${AOR} sip:a@h`,
          `expired ${AOR} sip:a@h`,
          `added ${AOR} sip:c@h`,
          `removed ${AOR} sip:c@h`,
        ]);
        off();
        throwing();
        await s.save(binding(AOR, 'sip:d@h'));
        await new Promise((r) => setTimeout(r, 20));
        assert.equal(seen.length, 7);
      }));

    test('concurrent applies on one AOR are atomic: the contact limit holds exactly', () =>
      withStore(h, async (s) => {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => s.apply(AOR, ops(`call-${i}`, 1, [change(`sip:ua${i}@h`)], { maxContacts: 10 }))),
        );
        assert.equal(results.filter((r) => r.ok).length, 10);
        assert.equal(results.filter((r) => !r.ok && r.reason === 'too-many-contacts').length, 10);
        assert.equal((await s.lookup(AOR, T0)).length, 10);
      }));

    test('save rejects malformed bindings', () =>
      withStore(h, async (s) => {
        await assert.rejects(s.save({ ...binding(AOR, 'sip:a@h'), q: 2 }), TypeError);
        await assert.rejects(s.save({ ...binding(AOR, ''), q: 1 }), TypeError);
        await assert.rejects(s.save({ ...binding(AOR, 'sip:a@h'), expires: Number.NaN }), TypeError);
        assert.deepEqual(await s.all(), []);
      }));
  });
}

/** HA1 computed independently of the store code. */
function md5(s: string): string {
  return createHash('md5').update(s).digest('hex');
}
function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

async function withUsers(h: UserHarness, fn: (s: UserStore) => Promise<void>): Promise<void> {
  const s = await h.open();
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

export function userConformance(h: UserHarness): void {
  describe(`UserStore conformance: ${h.name}`, () => {
    test('HA1 MD5 and SHA-256 of user:realm:password', () =>
      withUsers(h, async (s) => {
        await s.add('alice', 'example.com', 'secret');
        // Known answers (md5sum / sha256sum of the string), and node:crypto agrees.
        assert.equal(md5('alice:example.com:secret'), 'b1726872c344b6dc8365b774f8fd6412');
        assert.equal(sha256('alice:example.com:secret'), 'ed8925b20f9a77b8f8f8d5f8e4467fe32b866f7208ab9e4b20595e9821a0fdee');
        assert.equal(await s.getHa1('alice', 'example.com', 'MD5'), 'b1726872c344b6dc8365b774f8fd6412');
        assert.equal(await s.getHa1('alice', 'example.com', 'MD5'), md5('alice:example.com:secret'));
        assert.equal(await s.getHa1('alice', 'example.com', 'SHA-256'), sha256('alice:example.com:secret'));
        assert.equal(await s.getHa1('alice', 'example.com', 'MD5-sess'), md5('alice:example.com:secret'));
        assert.equal(await s.getHa1('alice', 'example.com', 'SHA-256-sess'), sha256('alice:example.com:secret'));
        assert.equal(await s.getHa1('alice', 'example.org', 'MD5'), undefined);
        assert.equal(await s.getHa1('bob', 'example.com', 'MD5'), undefined);
        assert.equal(await s.getHa1('Alice', 'example.com', 'MD5'), undefined, 'user names are case-sensitive');
        // Replacing the password replaces the hashes.
        await s.add('alice', 'example.com', 'other');
        assert.equal(await s.getHa1('alice', 'example.com', 'MD5'), md5('alice:example.com:other'));
      }));

    test('addHa1 stores precomputed hashes', () =>
      withUsers(h, async (s) => {
        const m = md5('carol:r:pw');
        await s.addHa1('carol', 'r', { md5: m.toUpperCase() });
        assert.equal(await s.getHa1('carol', 'r', 'MD5'), m);
        assert.equal(await s.getHa1('carol', 'r', 'SHA-256'), undefined);
        await assert.rejects(s.addHa1('carol', 'r', { md5: 'xyz' }), TypeError);
        await assert.rejects(s.add('', 'r', 'pw'), TypeError);
        await assert.rejects(s.add('u', 'r', ''), TypeError);
      }));

    test('remove and list', () =>
      withUsers(h, async (s) => {
        await s.add('bob', 'b.example', 'x');
        await s.add('alice', 'b.example', 'x');
        await s.add('alice', 'a.example', 'x');
        assert.deepEqual(await s.list(), [
          { user: 'alice', realm: 'a.example' },
          { user: 'alice', realm: 'b.example' },
          { user: 'bob', realm: 'b.example' },
        ]);
        assert.deepEqual(await s.list('a.example'), [{ user: 'alice', realm: 'a.example' }]);
        assert.equal(await s.remove('alice', 'b.example'), 1);
        assert.equal(await s.remove('alice', 'b.example'), 0);
        await s.add('alice', 'b.example', 'x');
        assert.equal(await s.remove('alice'), 2);
        assert.deepEqual(await s.list(), [{ user: 'bob', realm: 'b.example' }]);
        assert.equal(await s.remove('nobody'), 0);
      }));

    test('hostile user names and realms round-trip', () =>
      withUsers(h, async (s) => {
        for (const str of HOSTILE_STRINGS) await s.add(str, str, 'pw');
        for (const str of HOSTILE_STRINGS) assert.equal(await s.getHa1(str, str, 'MD5'), md5(`${str}:${str}:pw`), JSON.stringify(str));
        assert.equal((await s.list()).length, HOSTILE_STRINGS.length);
        for (const str of HOSTILE_STRINGS) assert.equal(await s.remove(str, str), 1);
        assert.deepEqual(await s.list(), []);
      }));

    test('importCsv: header, comments, quotes, default realm, bad lines with line numbers', () =>
      withUsers(h, async (s) => {
        const csv = [
          'user,password,domain', // 1 header
          'alice,secret', // 2
          '# a comment', // 3
          '', // 4
          '"bob","p,w ""quoted""",other.example', // 5
          'carol', // 6 too few fields
          ',nopass-user', // 7 empty user
          'dave,', // 8 empty password
          '"unterminated,pw', // 9
          'eve,pw,dom,extra', // 10 too many
          '  frank , pw2 ,  ', // 11 trimmed, empty domain → default
          'ann:x,pw', // 12 colon in user
        ].join('\r\n');
        const r = await s.importCsv(csv, 'example.com');
        assert.equal(r.added, 3);
        assert.equal(r.errors.length, 6, r.errors.join('\n'));
        assert.deepEqual(
          r.errors.map((e) => Number(/^line (\d+):/.exec(e)?.[1])),
          [6, 7, 8, 9, 10, 12],
        );
        for (const e of r.errors) assert.ok(!e.includes('pw2') && !e.includes('secret'), 'errors never echo passwords');
        assert.equal(await s.getHa1('alice', 'example.com', 'MD5'), md5('alice:example.com:secret'));
        assert.equal(await s.getHa1('bob', 'other.example', 'MD5'), md5('bob:other.example:p,w "quoted"'));
        assert.equal(await s.getHa1('frank', 'example.com', 'SHA-256'), sha256('frank:example.com:pw2'));
        const empty = await s.importCsv('', 'example.com');
        assert.deepEqual(empty, { added: 0, errors: [] });
      }));
  });
}

/** A call detail record for the conformance suite. */
export const cdrRecord = (n: number, extra: Partial<CallDetailRecord> = {}): CallDetailRecord => {
  const r: CallDetailRecord = {
    callId: `a-${n}`, callIdB: `b-${n}`, from: 'sip:phone@192.0.2.1', to: 'sip:2000@192.0.2.3', start: 1_000 * n, answer: 1_000 * n + 200, end: 1_000 * n + 5_000,
    status: 200, endedBy: 'caller', reason: 'remote-bye', ...extra,
  };
  // A field given as undefined is absent (as a store returns it).
  for (const k of Object.keys(r) as Array<keyof CallDetailRecord>) if (r[k] === undefined) delete r[k];
  return r;
};

/** What every {@link CdrStore} must do (memory, SQLite, Redis). */
export async function cdrConformance(store: CdrStore): Promise<void> {
  await store.add(cdrRecord(1));
  await store.add(cdrRecord(2, { callIdB: undefined, answer: undefined, status: 486, endedBy: 'callee', reason: 'failed:486' }));
  await store.add(cdrRecord(3));
  const all = await store.list();
  assert.deepEqual(all.map((r) => r.callId), ['a-3', 'a-2', 'a-1'], 'newest first');
  assert.deepEqual(all[1], cdrRecord(2, { callIdB: undefined, answer: undefined, status: 486, endedBy: 'callee', reason: 'failed:486' }));
  assert.ok(!('answer' in all[1]!) && !('callIdB' in all[1]!), 'absent fields stay absent');
  assert.deepEqual((await store.list(2)).map((r) => r.callId), ['a-3', 'a-2']);
  await assert.rejects(store.add({ ...cdrRecord(4), callId: '' }), /invalid call detail record/);
}

