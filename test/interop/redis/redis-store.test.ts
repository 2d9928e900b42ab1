// The store conformance suites against a real redis-server (standalone), plus what only Redis
// has: two store instances on separate connections, TTL-driven expiry, the documented key layout,
// cross-process change events. Fails (does not skip) if redis-server is missing.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { stopAll } from '../../harness/processes.js';
import { cdrConformance, locationConformance, userConformance } from '../../../src/store/conformance.js';
import { RedisLocationStore } from '../../../src/store/redis-location-store.js';
import { RedisUserStore } from '../../../src/store/redis-user-store.js';
import { openStores } from '../../../src/store/open-store.js';
import type { LocationEvent } from '../../../src/store/binding.js';
import { startRedis, type RedisInstance } from './redis-server.js';

let started: Promise<RedisInstance> | undefined;
const redis = (): Promise<RedisInstance> => (started ??= startRedis());
let prefixN = 0;
const freshPrefix = (): string => `t${process.pid}-${++prefixN}:`;

after(async () => {
  if (started) {
    const r = await started.catch(() => undefined);
    if (r) {
      const st = await r.proc.stop();
      assert.ok(st.signal === 'SIGTERM' || st.code === 0, `redis-server stopped by PID ${r.proc.pid}: ${JSON.stringify(st)}`);
    }
  }
  await stopAll();
});

test('redis-server is installed and starts', { timeout: 20_000 }, async () => {
  const r = await redis();
  assert.ok(r.proc.pid > 0);
});

locationConformance({
  name: 'redis (standalone)',
  open: async () => RedisLocationStore.open((await redis()).url, { keyPrefix: freshPrefix(), sweepIntervalMs: 0 }),
});
userConformance({
  name: 'redis (standalone)',
  open: async () => RedisUserStore.open((await redis()).url, { keyPrefix: freshPrefix() }),
});

const AOR = 'sip:alice@example.com';

describe('RedisLocationStore across processes', () => {
  test('two instances on separate connections see each other at once', { timeout: 20_000 }, async () => {
    const { url } = await redis();
    const keyPrefix = freshPrefix();
    const a = await RedisLocationStore.open(url, { keyPrefix, sweepIntervalMs: 0 });
    const b = await RedisLocationStore.open(url, { keyPrefix, sweepIntervalMs: 0, subscribeEvents: true });
    try {
      const remote: string[] = [];
      b.onChange((ev: LocationEvent) => remote.push(`${ev.kind} ${ev.binding.contact}`));
      const now = Date.now();
      const r = await a.apply(AOR, { callId: 'c1', cseq: 3, now, changes: [{ contact: 'sip:a@192.0.2.1', expires: 60, path: ['<sip:edge;lr>'] }] });
      assert.ok(r.ok);
      assert.deepEqual(await b.lookup(AOR), r.bindings, 'visible through the other connection immediately');
      assert.deepEqual(await b.listAors(), [AOR]);
      // b enforces a's Call-ID/CSeq.
      assert.deepEqual(await b.apply(AOR, { callId: 'c1', cseq: 2, now, changes: [{ contact: 'sip:a@192.0.2.1', expires: 0 }] }), { ok: false, reason: 'cseq-out-of-order' });
      assert.equal(await b.remove(AOR, 'sip:a@192.0.2.1'), 1);
      assert.deepEqual(await a.lookup(AOR), []);
      // b's subscriber saw a's write (but not its own removal twice).
      const deadline = Date.now() + 2000;
      while (!remote.includes('added sip:a@192.0.2.1') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
      assert.deepEqual(remote, ['added sip:a@192.0.2.1', 'removed sip:a@192.0.2.1']);
      // Concurrent writers on two instances (WATCH/MULTI retries): the contact limit holds exactly.
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).apply(AOR, { callId: `k${i}`, cseq: 1, now, changes: [{ contact: `sip:ua${i}@h`, expires: 60 }], maxContacts: 7 })),
      );
      assert.equal(results.filter((x) => x.ok).length, 7);
      assert.equal((await a.lookup(AOR)).length, 7);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('expiry through key TTL: a 1 s binding is gone after 1.5 s, keys included', { timeout: 20_000 }, async () => {
    const { url } = await redis();
    const keyPrefix = freshPrefix();
    const s = await RedisLocationStore.open(url, { keyPrefix, sweepIntervalMs: 0 });
    const raw = new Redis(url);
    try {
      const r = await s.apply(AOR, { callId: 'c', cseq: 1, now: Date.now(), changes: [{ contact: 'sip:short@h', expires: 1 }] });
      assert.ok(r.ok);
      const pttl = await raw.pttl(s.hashKey(AOR));
      assert.ok(pttl > 0 && pttl <= 1000, `PTTL ${pttl}`);
      assert.ok((await raw.pttl(s.expKey(AOR))) > 0);
      assert.equal((await s.lookup(AOR)).length, 1);
      await new Promise((res) => setTimeout(res, 1500));
      assert.deepEqual(await s.lookup(AOR), []);
      assert.equal(await raw.exists(s.hashKey(AOR), s.expKey(AOR)), 0, 'Redis dropped both keys by TTL');
      assert.deepEqual(await s.listAors(), []);
    } finally {
      raw.disconnect();
      await s.close();
    }
  });

  test('key layout is the documented one', { timeout: 20_000 }, async () => {
    const { url } = await redis();
    const keyPrefix = freshPrefix();
    const s = await RedisLocationStore.open(url, { keyPrefix, sweepIntervalMs: 0 });
    const raw = new Redis(url);
    try {
      const now = Date.now();
      const r = await s.apply(AOR, { callId: 'c', cseq: 1, now, changes: [{ contact: 'sip:a@h', expires: 30, q: 0.5 }, { contact: 'sip:b@h', expires: 90 }] });
      assert.ok(r.ok);
      assert.equal(s.hashKey(AOR), `${keyPrefix}loc:{${AOR}}`);
      assert.equal(s.expKey(AOR), `${keyPrefix}loc-exp:{${AOR}}`);
      assert.deepEqual((await raw.keys(`${keyPrefix}*`)).sort(), [`${keyPrefix}loc-exp:{${AOR}}`, `${keyPrefix}loc:{${AOR}}`]);
      assert.deepEqual(JSON.parse((await raw.hget(s.hashKey(AOR), 'sip:a@h'))!), r.bindings.find((b) => b.contact === 'sip:a@h'));
      assert.equal(Number(await raw.zscore(s.expKey(AOR), 'sip:b@h')), now + 90_000);
      const pexp = await raw.pexpiretime(s.hashKey(AOR));
      assert.equal(pexp, now + 90_000, 'key TTL = latest binding expiry');
      // Users
      const st = await openStores({ store: url, redisPrefix: keyPrefix, sweepIntervalMs: 0 });
      try {
        await st.users.add('alice', 'example.com', 'secret');
        const v = JSON.parse((await raw.hget(`${keyPrefix}user:{example.com}`, 'alice'))!);
        assert.deepEqual(Object.keys(v).sort(), ['ha1_md5', 'ha1_sha256']);
        assert.equal(v.ha1_md5, 'b1726872c344b6dc8365b774f8fd6412');
        const dump = JSON.stringify(await raw.hgetall(`${keyPrefix}user:{example.com}`));
        assert.ok(!dump.includes('secret'), 'no plaintext in Redis');
        assert.equal((await st.location.lookup(AOR)).length, 2, 'openStores sees the same bindings');
      } finally {
        await st.close();
      }
    } finally {
      raw.disconnect();
      await s.close();
    }
  });

  test('purgeExpired removes lapsed bindings and reports them', { timeout: 20_000 }, async () => {
    const { url } = await redis();
    const s = await RedisLocationStore.open(url, { keyPrefix: freshPrefix(), sweepIntervalMs: 0 });
    try {
      const now = Date.now();
      const seen: string[] = [];
      s.onChange((ev) => seen.push(`${ev.kind} ${ev.binding.contact}`));
      assert.ok((await s.apply(AOR, { callId: 'c', cseq: 1, now, changes: [{ contact: 'sip:a@h', expires: 1 }, { contact: 'sip:b@h', expires: 600 }] })).ok);
      await new Promise((res) => setTimeout(res, 1100));
      assert.equal(await s.purgeExpired(), 1);
      assert.deepEqual((await s.bindings(AOR)).map((b) => b.contact), ['sip:b@h']);
      assert.deepEqual(seen, ['added sip:a@h', 'added sip:b@h', 'expired sip:a@h']);
    } finally {
      await s.close();
    }
  });

  test('an adopted ioredis instance is not closed by the store', { timeout: 20_000 }, async () => {
    const { url } = await redis();
    const client = new Redis(url);
    try {
      const s = await RedisLocationStore.open(client, { keyPrefix: freshPrefix(), sweepIntervalMs: 0 });
      const u = await RedisUserStore.open(client, { keyPrefix: freshPrefix() });
      await s.save({ aor: AOR, contact: 'sip:a@h', expires: Date.now() + 60_000, q: 1, callId: 'c', cseq: 1, updated: Date.now() });
      await s.close();
      await u.close();
      assert.equal(await client.ping(), 'PONG');
      await assert.rejects(s.lookup(AOR), /closed/);
    } finally {
      client.disconnect();
    }
  });
});

test('call detail records in Redis: a list, newest first, shared by every process of the store', { timeout: 20_000 }, async () => {
  const url = (await redis()).url;
  const prefix = freshPrefix();
  const stores = await openStores({ store: url, redisPrefix: prefix });
  try {
    await cdrConformance(stores.cdrs);
    const other = await openStores({ store: url, redisPrefix: prefix });
    assert.deepEqual((await other.cdrs.list()).map((r) => r.callId), ['a-3', 'a-2', 'a-1']);
    await other.close();
  } finally {
    await stores.close();
  }
});
