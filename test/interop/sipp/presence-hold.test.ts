// 10,000 presence subscriptions held at once, refreshed, then removed (issue 16): SIPp makes one
// watcher per call (scenarios/presence-hold.xml: SUBSCRIBE → 200 → NOTIFY, 25 s, refresh →
// 200 → NOTIFY, 25 s, unsubscribe → 200 → NOTIFY terminated, every header checked) at 500 calls
// a second against a presence server in this process. None is lost: every call succeeds, the
// server holds all 10,000 at the peak and none at the end, and its heap (after a full GC) comes
// back to within a few MB of what it was before the run once its transactions are over.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { type RunningServer, createServer } from '../../../src/app/server.js';
import { stopAll } from '../../harness/processes.js';
import { freePorts } from '../callflows/callflow-harness.js';
import { SCENARIO_DIR, describeSipp, runSipp } from './sipp.js';

after(stopAll);

const CALLS = 10_000;
const RATE = 500;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

test(`${CALLS} subscriptions held at once, refreshed and removed: none lost, the heap back to its baseline`, { timeout: 150_000 }, async () => {
  const [port, warmPort, holdPort] = (await freePorts(3)) as [number, number, number];
  let server: RunningServer | undefined;
  try {
    server = await createServer({
      listen: [`udp:127.0.0.1:${port}`], domains: ['127.0.0.1'], store: 'memory',
      users: [{ user: 'alice', password: 'a' }],
      presence: { authenticate: false },
      // T1 100 ms on loopback: finished transactions are kept 64·T1 (Timer J, §17.2.2), 6.4 s
      // instead of 32 s, before the heap is measured.
      timers: { T1: 100, T2: 4000, T4: 5000 },
      // 10,000 watchers in 20 s come from one address: the flood screen must let them in.
      security: { rateLimit: { enabled: false } },
    });
    // A small run first, so that the baseline includes what the first subscriptions warm up.
    const warm = await runSipp({ scenario: join(SCENARIO_DIR, 'presence-subscribe-refresh.xml'), target: `127.0.0.1:${port}`, localPort: warmPort, calls: 5, rate: 5, timeoutS: 30 });
    assert.equal(warm.successful, 5, describeSipp(warm));
    const baseline = await heapAfterGc();

    let peak = 0;
    let peakHeap = 0;
    const poll = setInterval(() => {
      peak = Math.max(peak, server!.presence!.server.subscriptions().length);
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    }, 250);
    const run = await runSipp({
      scenario: join(SCENARIO_DIR, 'presence-hold.xml'), target: `127.0.0.1:${port}`, localPort: holdPort,
      calls: CALLS, rate: RATE, limit: CALLS, timeoutS: 120, extra: ['-max_socket', '20000'],
    });
    clearInterval(poll);
    const why = describeSipp(run);
    assert.equal(run.successful, CALLS, why);
    assert.equal(run.failed, 0, why);
    assert.equal(peak, CALLS, `all ${CALLS} subscriptions were alive at once (peak ${peak})`);
    assert.equal(server.presence!.server.subscriptions().length, 0, 'none left after the unsubscribes');
    // Every transaction over (Timers J and K) before the heap is compared.
    const until = Date.now() + 20_000;
    while (Date.now() < until) {
      const live = server.element.transactions.size;
      if (live.clients === 0 && live.servers === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const end = await heapAfterGc();
    const grew = (peakHeap - baseline) / 2 ** 20;
    const left = (end - baseline) / 2 ** 20;
    assert.ok(grew > 5, `the subscriptions took memory while held (+${grew.toFixed(1)} MB)`);
    assert.ok(left < 8, `heap back to baseline: ${(baseline / 2 ** 20).toFixed(1)} MB before, ${(end / 2 ** 20).toFixed(1)} MB after (+${left.toFixed(1)} MB; peak +${grew.toFixed(1)} MB)`);
  } finally {
    await server?.stop();
  }
});
