// Presence across processes (docs/presence.md, issue 16 "Cluster"): two `serve` processes on one
// real redis-server. Bob watches Alice at server A; Alice registers and publishes at server B.
// Bob's NOTIFYs (parsed as PIDF) follow what happened at B: open on her REGISTER (location events
// by Redis pub/sub), busy on her PUBLISH (the publication announced on the event channel and
// read back from Redis by A), closed again when she unregisters and removes the publication.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePidf } from '../../../src/content/index.js';
import { buildPidf } from '../../../src/content/index.js';
import { UserAgent } from '../../../src/roles/user-agent/index.js';
import type { SubscriptionNotify } from '../../../src/usage/index.js';
import { stopAll } from '../../harness/processes.js';
import { freePorts, startServe, writeConfig } from '../callflows/callflow-harness.js';
import { type RedisInstance, startRedis } from '../redis/redis-server.js';

let redis: RedisInstance | undefined;
after(async () => {
  if (redis) await redis.proc.stop();
  await stopAll();
});

function config(port: number, url: string) {
  return writeConfig([
    `listen: [udp:127.0.0.1:${port}]`,
    'domains: [example.com]',
    `store: '${url}'`,
    `redisPrefix: 'presence-${process.pid}:'`,
    'users: [{user: alice, password: a}, {user: bob, password: b}]',
    '',
  ].join('\n'));
}

test('a PUBLISH and a REGISTER at one serve process reach the watcher subscribed at another (Redis pub/sub)', { timeout: 60_000 }, async () => {
  redis = await startRedis();
  const [portA, portB] = (await freePorts(2)) as [number, number];
  const cfgA = config(portA, redis.url);
  const cfgB = config(portB, redis.url);
  const a = await startServe(cfgA.path, { udpPorts: [portA], hop: 'a' });
  const b = await startServe(cfgB.path, { udpPorts: [portB], hop: 'b' });
  const bob = await UserAgent.start({ listen: ['udp:127.0.0.1:0'], from: 'sip:bob@example.com', credentials: { username: 'bob', password: 'b' }, outboundProxy: `sip:127.0.0.1:${portA}` });
  const alice = await UserAgent.start({ listen: ['udp:127.0.0.1:0'], from: 'sip:alice@example.com', credentials: { username: 'alice', password: 'a' }, outboundProxy: `sip:127.0.0.1:${portB}` });
  try {
    const seen: Array<{ basic: string; activities: string[] }> = [];
    const sub = await bob.subscribe('sip:alice@example.com', 'presence', { expires: 600 });
    sub.on('notify', (n: SubscriptionNotify) => {
      const d = parsePidf(n.body);
      seen.push({ basic: d.tuples.some((t) => t.basic === 'open') ? 'open' : 'closed', activities: d.activities });
    });
    const waitFor = async (pred: () => boolean, what: string) => {
      const end = Date.now() + 8000;
      while (!pred()) {
        if (Date.now() > end) assert.fail(`${what}: NOTIFYs so far ${JSON.stringify(seen)}\n--- A ---\n${a.output().stderr.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    assert.equal(sub.state === 'terminated', false, 'the subscription was accepted at A');
    await waitFor(() => seen.length >= 1, 'the first NOTIFY');
    assert.deepEqual(seen[0], { basic: 'closed', activities: [] });

    const reg = await alice.register(`sip:example.com`, { aor: 'sip:alice@example.com', expires: 300 });
    assert.equal(reg.status, 200);
    await waitFor(() => seen.some((s) => s.basic === 'open'), 'open after the REGISTER at B');

    const pub = await alice.publish('sip:alice@example.com', { body: buildPidf({ entity: 'sip:alice@example.com', tuples: [{ id: 'desk', basic: 'open' }], activities: ['busy'], notes: [] }), expires: 300 });
    assert.equal(pub.status, 200, 'PUBLISH taken at B');
    await waitFor(() => seen.some((s) => s.activities.includes('busy')), 'busy after the PUBLISH at B');

    const removed = await alice.publish('sip:alice@example.com', { etag: pub.header('SIP-ETag'), expires: 0 });
    assert.equal(removed.status, 200);
    await alice.register(`sip:example.com`, { aor: 'sip:alice@example.com', expires: 0 });
    await waitFor(() => seen.length > 0 && seen[seen.length - 1]!.basic === 'closed' && seen[seen.length - 1]!.activities.length === 0, 'closed after the removal and the un-REGISTER at B');
    assert.ok(!/watches sip:alice@example\.com/.test(b.output().stderr), 'the subscription lives at A only');
  } finally {
    await bob.stop();
    await alice.stop();
    await a.stop();
    await b.stop();
    cfgA.cleanup();
    cfgB.cleanup();
  }
});
