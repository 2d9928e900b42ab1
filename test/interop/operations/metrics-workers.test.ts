// `serve --workers 2 --admin …`: worker 0's /metrics has every worker's series (label worker="0",
// "1") and their sums (worker="all"), gathered through the cluster primary; ten OPTIONS spread
// over the workers by Call-ID add up. Real processes on loopback.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, freePortBoth, runProcess, startProcess, stopAll } from '../../harness/processes.js';
import { SWITCHBOARD_CLI } from '../sipp/sipp.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-metrics-workers-'));
after(async () => {
  await stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('with two workers /metrics shows each worker and the sum (worker="all")', { timeout: 60_000 }, async () => {
  const sip = await freePortBoth();
  const admin = await freePort('tcp');
  const serve = await startProcess(process.execPath, [SWITCHBOARD_CLI, 'serve', '--listen', `udp:127.0.0.1:${sip}`, '--domain', '127.0.0.1', '--db', path.join(dir, 'w.db'), '--workers', '2', '--admin', `127.0.0.1:${admin}`], {
    readyPattern: /running 2 workers/, timeoutMs: 20_000, maxLifetimeMs: 55_000,
  });
  try {
    for (let i = 0; i < 10; i++) {
      const r = await runProcess(process.execPath, [SWITCHBOARD_CLI, 'options', `sip:127.0.0.1:${sip}`], { timeoutMs: 10_000 });
      assert.equal(r.code, 0, r.stderr);
    }
    const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
    const sample = (worker: string) => Number(new RegExp(`^sip_requests_received_total\\{method="OPTIONS",worker="${worker}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
    assert.equal(sample('all'), 10, text.split('\n').filter((l) => l.startsWith('sip_requests_received_total')).join('\n'));
    assert.equal(sample('0') + sample('1'), 10, 'each worker counts its own');
    assert.ok(sample('0') > 0 && sample('1') > 0, `both workers took some (${sample('0')}, ${sample('1')}): the Call-IDs spread them`);
    // One family per metric: a HELP and a TYPE line each, once.
    assert.equal(text.match(/^# TYPE sip_requests_received_total counter$/gm)?.length, 1);
    assert.match(text, /^nodejs_eventloop_lag_p99_seconds\{worker="1"\} [\d.e-]+$/m);
  } finally {
    await serve.stop();
  }
});
