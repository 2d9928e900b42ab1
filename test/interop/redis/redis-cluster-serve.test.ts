/**
 * Issue 3: several `switchboard serve` processes on different ports share one real Redis.
 * A REGISTER at one (digest-authenticated) is found by a lookup at another at once: by the
 * operator command and by a call routed through the other process to the registered UA.
 * The nonce secret is shared through Redis, so a nonce issued by A verifies at B.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Managed, freePortBoth, startProcess } from '../../harness/processes.js';
import { SWITCHBOARD_CLI, runSwitchboard, startAnswer } from '../sipp/sipp.js';
import { startRedis } from './redis-server.js';

async function startServe(port: number, redisUrl: string, dir: string, name: string): Promise<Managed> {
  const cfg = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(cfg, [
    `listen: [udp:127.0.0.1:${port}]`,
    'domains: [example.test]',
    'roles: [registrar, proxy]',
    `store: ${redisUrl}`,
    'proxy: { authenticate: false }',
  ].join('\n'));
  return startProcess(process.execPath, [SWITCHBOARD_CLI, 'serve', '--config', cfg], { readyPattern: /serving domains/, timeoutMs: 15_000, maxLifetimeMs: 120_000 });
}

test('two serve processes share one Redis: REGISTER at A, lookup and call at B', { timeout: 90_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-redis-serve-'));
  const redis = await startRedis();
  const portA = await freePortBoth();
  const portB = await freePortBoth();
  const uaPort = await freePortBoth();
  const a = await startServe(portA, redis.url, dir, 'a');
  const b = await startServe(portB, redis.url, dir, 'b');
  const callee = await startAnswer({ port: uaPort, maxCalls: 1 });
  try {
    // The user, added through the store both processes share.
    const add = await runSwitchboard(['user', 'add', 'carol', '--password', 'pw-carol', '--domain', 'example.test', '--store', redis.url], 15_000);
    assert.equal(add.code, 0, add.stderr);

    const reg = await runSwitchboard(['register', 'sip:carol@example.test', '--registrar', `sip:127.0.0.1:${portA}`,
      '--user', 'carol', '--password', 'pw-carol', '--contact', `sip:carol@127.0.0.1:${uaPort}`, '--expires', '600'], 20_000);
    assert.equal(reg.code, 0, `register at A failed:\n${reg.stdout}\n${reg.stderr}`);

    // Seen at once through the shared store (a third process reading Redis).
    const list = await runSwitchboard(['location', 'list', 'sip:carol@example.test', '--json', '--store', redis.url], 15_000);
    assert.equal(list.code, 0, list.stderr);
    const bindings = JSON.parse(list.stdout) as Array<{ aor: string; contact: string; expires: number }>;
    assert.equal(bindings.length, 1);
    assert.equal(bindings[0]!.contact, `sip:carol@127.0.0.1:${uaPort}`);
    assert.ok(bindings[0]!.expires > 590 && bindings[0]!.expires <= 600);

    // B's proxy finds the binding A wrote and reaches the UA.
    const call = await runSwitchboard(['call', 'sip:carol@example.test', '--proxy', `sip:127.0.0.1:${portB}`, '--duration', '1'], 30_000);
    assert.equal(call.code, 0, `call through B failed:\n${call.stdout}\n${call.stderr}`);
    assert.match(call.stdout, /call established/);

    // A REGISTER refreshed at B with credentials: B verifies a nonce it challenged with the shared secret.
    const reg2 = await runSwitchboard(['register', 'sip:carol@example.test', '--registrar', `sip:127.0.0.1:${portB}`,
      '--user', 'carol', '--password', 'pw-carol', '--contact', `sip:carol@127.0.0.1:${uaPort}`, '--expires', '300'], 20_000);
    assert.equal(reg2.code, 0, reg2.stdout);
    const list2 = JSON.parse((await runSwitchboard(['location', 'list', '--json', '--store', redis.url], 15_000)).stdout) as Array<{ expires: number }>;
    assert.equal(list2.length, 1);
    assert.ok(list2[0]!.expires <= 300);
  } finally {
    await callee.stop();
    await a.stop();
    await b.stop();
    await redis.proc.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
