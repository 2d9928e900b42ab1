#!/usr/bin/env node
// held-memory.mjs — memory per held call through the B2BUA, measured inside the server process:
//   node --expose-gc bench/held-memory.mjs [CALLS=1000] [RATE=200] [HOLD_S=45]
// The B2BUA (examples/callflow-4-b2bua.yaml's settings, on 127.0.0.1:5070 → SIPp uas on 5090) runs
// in this process, so the V8 heap can be measured after a full GC: once idle (after a warm-up and
// after every transaction of it has ended), once while CALLS calls are held (measured when the
// set-up transactions have ended too, 34 s after the last call was answered, so only the calls
// remain), and once after every call ended and its transactions are gone. Prints one line
// `HELD_MEMORY {...}` (JSON). Needs sipp; uses UDP 5070, 5090, 5061 on 127.0.0.1.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { createServer } = await import(path.join(ROOT, 'dist/src/index.js'));
const [CALLS, RATE, HOLD_S] = [Number(process.argv[2] ?? 1000), Number(process.argv[3] ?? 200), Number(process.argv[4] ?? 45)];
if (typeof globalThis.gc !== 'function') {
  process.stderr.write('held-memory: run with node --expose-gc\n');
  process.exit(2);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const heap = () => {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
};
const procs = new Set();
function sipp(args, label) {
  const child = spawn('sipp', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  procs.add(child);
  let err = '';
  child.stderr.on('data', (d) => (err = (err + d).slice(-2000)));
  return new Promise((resolve) => child.on('close', (code) => {
    procs.delete(child);
    resolve({ code, err, label });
  }));
}
const stopAll = () => {
  for (const p of procs) p.kill('SIGTERM');
};
process.on('exit', stopAll);

const server = await createServer({
  listen: ['udp:127.0.0.1:5070'], domains: ['127.0.0.1'], roles: ['b2bua'], store: 'memory',
  b2bua: { target: 'sip:{user}@127.0.0.1:5090', offer: 'delayed' },
});
const tx = () => server.element.transactions.size;
const drained = async (limitS) => {
  for (let i = 0; i < limitS * 2 && (tx().clients > 0 || tx().servers > 0); i++) await sleep(500);
  return tx();
};
const uas = sipp(['-sn', 'uas', '-i', '127.0.0.1', '-p', '5090', '-nostdin', '-timeout', String(60 + 3 * HOLD_S + 120)], 'uas');
try {
  await sleep(500);
  const uac = (n, r, holdMs) => sipp(['-sn', 'uac', '127.0.0.1:5070', '-i', '127.0.0.1', '-p', '5061', '-m', String(n), '-r', String(r), '-l', String(n), '-d', String(holdMs), '-nostdin', '-timeout', String(Math.ceil(n / r) + holdMs / 1000 + 60), '-timeout_error'], 'uac');
  // Warm-up: the code paths compiled, pools and caches at their working size.
  const warm = await uac(500, 250, 0);
  if (warm.code !== 0) throw new Error(`warm-up failed: ${warm.err}`);
  const idleTx = await drained(40);
  const before = heap();
  if (process.env.HELD_SNAPSHOT) (await import('node:v8')).writeHeapSnapshot(`${process.env.HELD_SNAPSHOT}.idle`);
  const t0 = Date.now();
  const held = uac(CALLS, RATE, HOLD_S * 1000);
  // Every call answered by CALLS/RATE s; its set-up transactions end 32 s (64·T1) later.
  await sleep(Math.ceil(CALLS / RATE) * 1000 + 34_000);
  const whileHeld = heap();
  const heldTx = tx();
  // HELD_SNAPSHOT=FILE: a heap snapshot while the calls are held, to see what a call keeps.
  if (process.env.HELD_SNAPSHOT) (await import('node:v8')).writeHeapSnapshot(process.env.HELD_SNAPSHOT);
  const r = await held;
  const after0 = Date.now();
  const endTx = await drained(40);
  const after = heap();
  const out = {
    calls: CALLS, rate: RATE, hold_s: HOLD_S, uac_exit: r.code,
    heap_before: before, heap_held: whileHeld, heap_after: after,
    bytes_per_held_call: Math.round((whileHeld - before) / CALLS),
    after_minus_before: after - before,
    transactions_idle: idleTx, transactions_while_held: heldTx, transactions_after: endTx,
    measured_at_s: Math.round((Date.now() - t0) / 1000), drained_after_s: Math.round((Date.now() - after0) / 1000),
  };
  process.stdout.write(`HELD_MEMORY ${JSON.stringify(out)}\n`);
} finally {
  stopAll();
  await uas;
  await server.stop();
}
process.exit(0);
