// The store conformance suites against a 3-master Redis Cluster on loopback (redis-server
// processes started here, joined with `redis-cli --cluster create`), through ioredis' Cluster
// client. Proves the `{aor}` hash tags keep each AOR's keys in one slot (WATCH/MULTI works) and
// that SCAN-based listing covers every master.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import { stopAll } from '../../harness/processes.js';
import { locationConformance, userConformance } from '../../../src/store/conformance.js';
import { RedisLocationStore } from '../../../src/store/redis-location-store.js';
import { RedisUserStore } from '../../../src/store/redis-user-store.js';
import { startRedisCluster, type RedisCluster } from './redis-server.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-redis-cluster-'));
let started: Promise<RedisCluster> | undefined;
const cluster = (): Promise<RedisCluster> => (started ??= startRedisCluster(dir, 3));
const clients: Cluster[] = [];
let prefixN = 0;
const freshPrefix = (): string => `c${process.pid}-${++prefixN}:`;

async function client(): Promise<Cluster> {
  const c = await cluster();
  const cl = new Cluster(c.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), { redisOptions: { maxRetriesPerRequest: 3 } });
  cl.on('error', () => undefined);
  clients.push(cl);
  return cl;
}

after(async () => {
  for (const c of clients) c.disconnect();
  if (started) {
    const c = await started.catch(() => undefined);
    if (c) await c.stop();
  }
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

test('a 3-master Redis Cluster starts', { timeout: 60_000 }, async () => {
  const c = await cluster();
  assert.equal(c.nodes.length, 3);
});

locationConformance({
  name: 'redis cluster (3 masters)',
  open: async () => RedisLocationStore.open(await client(), { keyPrefix: freshPrefix(), sweepIntervalMs: 0 }),
});
userConformance({
  name: 'redis cluster (3 masters)',
  open: async () => RedisUserStore.open(await client(), { keyPrefix: freshPrefix() }),
});

describe('RedisLocationStore on a cluster', () => {
  test('AORs spread over several masters are all listed; each AOR’s two keys share a slot', { timeout: 30_000 }, async () => {
    const cl = await client();
    const s = await RedisLocationStore.open(cl, { keyPrefix: freshPrefix(), sweepIntervalMs: 0 });
    try {
      const now = Date.now();
      const aors = Array.from({ length: 40 }, (_, i) => `sip:user${i}@example.com`);
      for (const aor of aors) assert.ok((await s.apply(aor, { callId: 'c', cseq: 1, now, changes: [{ contact: `sip:${aor.slice(4)}`, expires: 60 }] })).ok);
      assert.deepEqual(await s.listAors(), [...aors].sort());
      const masters = cl.nodes('master');
      const perNode = await Promise.all(masters.map(async (m) => (await m.keys(`${s.prefix}loc:*`)).length));
      assert.ok(perNode.filter((x) => x > 0).length >= 2, `keys on more than one master: ${perNode.join(',')}`);
      for (const aor of aors.slice(0, 5)) {
        const [a, b] = await Promise.all([cl.cluster('KEYSLOT', s.hashKey(aor)), cl.cluster('KEYSLOT', s.expKey(aor))]);
        assert.equal(a, b);
      }
      assert.equal((await s.all()).length, 40);
    } finally {
      await s.close();
    }
  });
});
