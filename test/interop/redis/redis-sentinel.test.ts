/**
 * Redis Sentinel (and the Cluster URL) as the location service's store, with real processes on
 * loopback: a master, a replica and one Sentinel started here.
 *
 * - The store conformance suites through `redis-sentinel://127.0.0.1:S/sbmaster` (ioredis asks
 *   the Sentinel for the master's address).
 * - `switchboard serve` with that URL: a REGISTER is stored; the master is killed; the Sentinel
 *   promotes the replica; the binding made before the failover is still listed, and a REGISTER
 *   after it is stored too — through the same serve process, which found the new master itself.
 * - `serve --store redis-cluster://…` on a 3-master Cluster: REGISTER, then `location list`.
 * - Bad URLs: one readable line, exit 2.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Managed, freePort, freePortBoth, runProcess, startProcess, stopAll } from '../../harness/processes.js';
import { SWITCHBOARD_CLI, runSwitchboard } from '../sipp/sipp.js';
import { locationConformance, userConformance } from '../../../src/store/conformance.js';
import { RedisLocationStore } from '../../../src/store/redis-location-store.js';
import { RedisUserStore } from '../../../src/store/redis-user-store.js';
import { redisOptionsFromUrl } from '../../../src/store/redis-client.js';
import { REDIS_BIN, REDIS_CLI, startRedis, startRedisCluster, type RedisInstance } from './redis-server.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-redis-sentinel-'));
const MASTER = 'sbmaster';

interface SentinelSetup {
  master: RedisInstance;
  replica: RedisInstance;
  sentinel: Managed;
  sentinelPort: number;
  url: string;
}

async function redisCli(port: number, ...args: string[]): Promise<string> {
  const r = await runProcess(REDIS_CLI, ['-p', String(port), ...args], { timeoutMs: 5000 });
  if (r.code !== 0) throw new Error(`redis-cli -p ${port} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

async function startSentinelSetup(): Promise<SentinelSetup> {
  // In the scratch folder: the replica's full sync writes an RDB file into its working directory.
  const master = await startRedis([], dir);
  const replica = await startRedis(['--replicaof', '127.0.0.1', String(master.port)], dir);
  const sentinelPort = await freePort('tcp');
  // Sentinel rewrites its config file, so it gets a writable copy of its own.
  const conf = path.join(dir, `sentinel-${sentinelPort}.conf`);
  fs.writeFileSync(conf, [
    `port ${sentinelPort}`,
    'bind 127.0.0.1',
    `sentinel monitor ${MASTER} 127.0.0.1 ${master.port} 1`,
    `sentinel down-after-milliseconds ${MASTER} 1000`,
    `sentinel failover-timeout ${MASTER} 10000`,
    '',
  ].join('\n'));
  const sentinel = await startProcess(REDIS_BIN, [conf, '--sentinel'], { readyPattern: /\+monitor master/, timeoutMs: 10_000, maxLifetimeMs: 10 * 60_000, cwd: dir });
  // Ready when the master reports its replica in sync and the Sentinel knows the master.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const info = await redisCli(master.port, 'info', 'replication');
    if (/connected_slaves:1/.test(info) && /state=online/.test(info)) break;
    if (Date.now() > deadline) throw new Error(`replica never came online:\n${info}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { master, replica, sentinel, sentinelPort, url: `redis-sentinel://127.0.0.1:${sentinelPort}/${MASTER}` };
}

let setup: Promise<SentinelSetup> | undefined;
const sentinelSetup = (): Promise<SentinelSetup> => (setup ??= startSentinelSetup());
let prefixN = 0;
const freshPrefix = (): string => `s${process.pid}-${++prefixN}:`;

after(async () => {
  await stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('store URLs: sentinel and cluster forms are read, bad ones named', () => {
  assert.deepEqual(redisOptionsFromUrl('redis-sentinel://127.0.0.1:26380,[::1]/mymaster/2'), {
    kind: 'sentinel', sentinels: [{ host: '127.0.0.1', port: 26380 }, { host: '::1', port: 26379 }], name: 'mymaster', password: undefined, db: 2,
  });
  assert.deepEqual(redisOptionsFromUrl('redis-sentinel://:s%40cret@h1:1/m'), { kind: 'sentinel', sentinels: [{ host: 'h1', port: 1 }], name: 'm', password: 's@cret', db: 0 });
  assert.deepEqual(redisOptionsFromUrl('redis-cluster://a:7000,b:7001'), { kind: 'cluster', nodes: [{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }], password: undefined });
  assert.deepEqual(redisOptionsFromUrl('redis://x:1/3'), { kind: 'single', url: 'redis://x:1/3' });
  assert.throws(() => redisOptionsFromUrl('redis-sentinel://127.0.0.1:26379'), /needs the master's name/);
  assert.throws(() => redisOptionsFromUrl('redis-sentinel://h:99999/m'), /bad host:port 'h:99999'/);
  assert.throws(() => redisOptionsFromUrl('redis-cluster://h:1/0'), /takes no path/);
  assert.throws(() => redisOptionsFromUrl('redis-sentinel://:pw@h:1/m/x'), (e: Error) => /bad database number/.test(e.message) && !e.message.includes('pw@'));
});

test('serve --store with a bad Redis URL: one line naming it, exit 2', { timeout: 20_000 }, async () => {
  const r = await runSwitchboard(['location', 'list', '--store', 'redis-sentinel://127.0.0.1:1'], 10_000);
  assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /redis-sentinel/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  const pw = await runSwitchboard(['location', 'list', '--store', 'redis-sentinel://:hunter2@127.0.0.1:1/m/x'], 10_000);
  assert.equal(pw.code, 2, `${pw.stdout}\n${pw.stderr}`);
  assert.match(pw.stderr, /bad database number 'x'/);
  assert.doesNotMatch(pw.stderr, /hunter2/, 'the password is not echoed');
});

test('a master, a replica and a Sentinel start', { timeout: 60_000 }, async () => {
  const s = await sentinelSetup();
  assert.match(await redisCli(s.sentinelPort, 'sentinel', 'get-master-addr-by-name', MASTER), new RegExp(`127\\.0\\.0\\.1\\s+${s.master.port}`));
});

locationConformance({
  name: 'redis sentinel (master + replica)',
  open: async () => RedisLocationStore.open((await sentinelSetup()).url, { keyPrefix: freshPrefix(), sweepIntervalMs: 0 }),
});
userConformance({
  name: 'redis sentinel (master + replica)',
  open: async () => RedisUserStore.open((await sentinelSetup()).url, { keyPrefix: freshPrefix() }),
});

async function startServe(port: number, store: string, name: string): Promise<Managed> {
  const cfg = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(cfg, [
    `listen: [udp:127.0.0.1:${port}]`,
    'domains: [example.test]',
    'roles: [registrar]',
    `store: "${store}"`,
    `redisPrefix: "${name}:"`,
  ].join('\n'));
  return startProcess(process.execPath, [SWITCHBOARD_CLI, 'serve', '--config', cfg], { readyPattern: /serving domains/, timeoutMs: 15_000, maxLifetimeMs: 180_000 });
}

async function register(port: number, user: string, contact: string): Promise<void> {
  const reg = await runSwitchboard(['register', `sip:${user}@example.test`, '--registrar', `sip:127.0.0.1:${port}`,
    '--user', user, '--password', `pw-${user}`, '--contact', contact, '--expires', '600'], 20_000);
  assert.equal(reg.code, 0, `register ${user} failed:\n${reg.stdout}\n${reg.stderr}`);
}

async function contacts(store: string, prefix: string, aor: string): Promise<string[]> {
  const cfg = path.join(dir, `list-${prefix}.yaml`);
  fs.writeFileSync(cfg, `store: "${store}"\nredisPrefix: "${prefix}:"\n`);
  const list = await runSwitchboard(['location', 'list', aor, '--json', '--config', cfg], 15_000);
  assert.equal(list.code, 0, list.stderr);
  return (JSON.parse(list.stdout) as Array<{ contact: string }>).map((b) => b.contact);
}

test('serve on Sentinel: a binding survives the master\'s death, and the same serve process stores the next one on the promoted replica', { timeout: 120_000 }, async () => {
  const s = await sentinelSetup();
  const port = await freePortBoth();
  const serve = await startServe(port, s.url, 'fo');
  try {
    const cfgUser = path.join(dir, 'user-fo.yaml');
    fs.writeFileSync(cfgUser, `store: "${s.url}"\nredisPrefix: "fo:"\n`);
    const add2 = await runSwitchboard(['user', 'add', 'dora', '--password', 'pw-dora', '--domain', 'example.test', '--config', cfgUser], 15_000);
    assert.equal(add2.code, 0, add2.stderr);

    await register(port, 'dora', 'sip:dora@127.0.0.1:5999');
    assert.deepEqual(await contacts(s.url, 'fo', 'sip:dora@example.test'), ['sip:dora@127.0.0.1:5999']);

    // Every write so far is on the replica before the master dies (WAIT numreplicas timeout).
    assert.equal(await redisCli(s.master.port, 'wait', '1', '5000'), '1');
    await s.master.proc.stop();
    const deadline = Date.now() + 60_000;
    for (;;) {
      const addr = await redisCli(s.sentinelPort, 'sentinel', 'get-master-addr-by-name', MASTER);
      if (new RegExp(`\\b${s.replica.port}\\b`).test(addr)) break;
      if (Date.now() > deadline) throw new Error(`no failover within 60 s; sentinel says ${addr}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.match(await redisCli(s.replica.port, 'role'), /^master/);

    // The binding from before the failover is still there, read through the Sentinel.
    assert.deepEqual(await contacts(s.url, 'fo', 'sip:dora@example.test'), ['sip:dora@127.0.0.1:5999']);
    // The running serve process writes the next REGISTER to the new master (it may take
    // ioredis a reconnect round to ask the Sentinel again: a REGISTER answered 500 meanwhile is
    // retried by the client here, as a UA would on its next refresh).
    let stored = false;
    for (let i = 0; i < 10 && !stored; i++) {
      const reg = await runSwitchboard(['register', 'sip:dora@example.test', '--registrar', `sip:127.0.0.1:${port}`,
        '--user', 'dora', '--password', 'pw-dora', '--contact', 'sip:dora@127.0.0.1:6001', '--expires', '600'], 20_000);
      stored = reg.code === 0;
      if (!stored) await new Promise((r) => setTimeout(r, 1000));
    }
    assert.ok(stored, 'REGISTER after the failover stored');
    assert.deepEqual((await contacts(s.url, 'fo', 'sip:dora@example.test')).sort(), ['sip:dora@127.0.0.1:5999', 'sip:dora@127.0.0.1:6001']);
    assert.equal(serve.exitStatus(), null, 'serve is still running');
  } finally {
    await serve.stop();
  }
});

test('serve --store redis-cluster://…: REGISTER stored across a 3-master Cluster, listed by location list', { timeout: 90_000 }, async () => {
  const cdir = fs.mkdtempSync(path.join(dir, 'cluster-'));
  const cluster = await startRedisCluster(cdir, 3);
  const url = `redis-cluster://${cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
  const port = await freePortBoth();
  let serve: Managed | undefined;
  try {
    const cfgUser = path.join(dir, 'user-cl.yaml');
    fs.writeFileSync(cfgUser, `store: "${url}"\nredisPrefix: "cl:"\n`);
    for (const u of ['erin', 'fred', 'gina']) {
      const add = await runSwitchboard(['user', 'add', u, '--password', `pw-${u}`, '--domain', 'example.test', '--config', cfgUser], 15_000);
      assert.equal(add.code, 0, add.stderr);
    }
    serve = await startServe(port, url, 'cl');
    for (const [i, u] of ['erin', 'fred', 'gina'].entries()) await register(port, u, `sip:${u}@127.0.0.1:${7000 + i}`);
    for (const [i, u] of ['erin', 'fred', 'gina'].entries()) {
      assert.deepEqual(await contacts(url, 'cl', `sip:${u}@example.test`), [`sip:${u}@127.0.0.1:${7000 + i}`]);
    }
    assert.equal(serve.exitStatus(), null, 'serve is still running');
  } finally {
    await serve?.stop();
    await cluster.stop();
  }
});
