// While the Redis store is down, `serve` answers at once with 503 and Retry-After (RFC 3261
// §21.5.4: the client may try another server, RFC 3263 §4.3) instead of a 500 after ioredis's
// retries, logs the store's state once per change (not each reconnect attempt), and serves
// again when Redis is back. Real redis-server processes, UDP REGISTERs on loopback.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { stopAll } from '../../harness/processes.js';
import { startRedis } from './redis-server.js';
import { freePortBoth } from '../../harness/processes.js';
import { UdpSipClient, header, newCallId, registerText, startServe, tempDir, writeConfig } from '../registrar/registrar-helpers.js';

const dir = tempDir('redis-down');
after(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('Redis down: REGISTER gets 503 + Retry-After at once, one log line per change, 200 again when Redis is back', { timeout: 60_000 }, async () => {
  let redis = await startRedis();
  const port = await freePortBoth();
  const config = writeConfig(dir, 'redis-down.yaml', 'registrar:\n  authenticate: false\n');
  const serve = await startServe({ port, config, store: redis.url });
  const client = await UdpSipClient.open();
  const register = async () => {
    const branch = UdpSipClient.branch();
    const text = registerText({ ruri: 'sip:127.0.0.1', aorUri: 'sip:alice@127.0.0.1', localPort: client.port, branch, callId: newCallId(), cseq: 1, contacts: [`<sip:alice@127.0.0.1:${client.port}>`], expires: '300' });
    const t0 = Date.now();
    const r = await client.send(port, text, branch, 15_000);
    return { r, ms: Date.now() - t0 };
  };
  try {
    assert.equal((await register()).r.status, 200, 'registered while Redis is up');
    await redis.proc.stop();
    await waitFor('the store-down line', () => /store: redis:\/\/127\.0\.0\.1:\d+: \S+ .*answered 503/.test(serve.output().stderr));
    const down = await register();
    assert.equal(down.r.status, 503, down.r.raw);
    assert.equal(header(down.r, 'Retry-After'), '10', down.r.raw);
    assert.match(down.r.raw.split('\r\n')[0]!, /^SIP\/2\.0 503 Service Unavailable \(store unreachable\)$/);
    assert.ok(down.ms < 2000, `answered after ${down.ms} ms (ioredis's queue would hold it for seconds)`);
    // ioredis keeps trying to reconnect: still one line, not one per attempt.
    await sleep(2500);
    assert.equal((serve.output().stderr.match(/store: redis:/g) ?? []).length, 1, serve.output().stderr);
    assert.doesNotMatch(serve.output().stderr, /fault|Unhandled error event/i);

    redis = await startRedis(['--port', String(redis.port)]);
    await waitFor('the store-up line', () => /store: redis:\/\/127\.0\.0\.1:\d+ reachable again/.test(serve.output().stderr), 15_000);
    const back = await register();
    assert.equal(back.r.status, 200, back.r.raw);
  } finally {
    client.close();
    await serve.stop();
    await redis.proc.stop();
  }
});
