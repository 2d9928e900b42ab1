import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { freePort, freePortBoth, isListening, runProcess, runningChildren, startProcess } from './processes.js';

const node = process.execPath;

test('runProcess collects output and exit code', { timeout: 10_000 }, async () => {
  const r = await runProcess(node, ['-e', 'console.log("out"); console.error("err"); process.exit(3)'], { timeoutMs: 5000 });
  assert.equal(r.code, 3);
  assert.equal(r.stdout.trim(), 'out');
  assert.equal(r.stderr.trim(), 'err');
  assert.equal(r.timedOut, false);
});

test('runProcess kills a command that outlives its timeout', { timeout: 10_000 }, async () => {
  const started = Date.now();
  const r = await runProcess(node, ['-e', 'setTimeout(() => {}, 60000)'], { timeoutMs: 300 });
  assert.equal(r.timedOut, true);
  assert.equal(r.signal, 'SIGTERM');
  assert.ok(Date.now() - started < 5000);
});

test('startProcess waits for readyPattern, stop() ends it by PID', { timeout: 10_000 }, async () => {
  const m = await startProcess(node, ['-e', 'setTimeout(() => console.log("READY now"), 200); setInterval(() => {}, 1000)'], {
    readyPattern: /READY/,
    timeoutMs: 5000,
  });
  assert.ok(runningChildren().includes(m.pid));
  assert.match(m.output().stdout, /READY now/);
  const st = await m.stop();
  assert.equal(st.signal, 'SIGTERM');
  assert.ok(!runningChildren().includes(m.pid));
});

test('stop() escalates to SIGKILL when SIGTERM is ignored', { timeout: 15_000 }, async () => {
  const m = await startProcess(node, ['-e', 'process.on("SIGTERM", () => {}); console.log("up"); setInterval(() => {}, 1000)'], {
    readyPattern: /up/,
    timeoutMs: 5000,
  });
  const st = await m.stop(500);
  assert.equal(st.signal, 'SIGKILL');
});

test('startProcess rejects with the output when the child exits early', { timeout: 10_000 }, async () => {
  await assert.rejects(
    startProcess(node, ['-e', 'console.error("boom"); process.exit(2)'], { readyPattern: /never/, timeoutMs: 5000 }),
    /exited \(code 2.*\n[\s\S]*boom/,
  );
});

test('startProcess rejects (and kills) on readiness timeout', { timeout: 10_000 }, async () => {
  const before = runningChildren().length;
  await assert.rejects(
    startProcess(node, ['-e', 'setInterval(() => {}, 1000)'], { readyPattern: /never/, timeoutMs: 300 }),
    /not ready within 300 ms/,
  );
  assert.equal(runningChildren().length, before);
});

test('freePort / freePortBoth / isListening', { timeout: 10_000 }, async () => {
  const u = await freePort('udp');
  const t = await freePort('tcp');
  assert.ok(u > 0 && t > 0);
  const both = await freePortBoth();
  assert.equal(isListening('udp', both), false);
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(both, '127.0.0.1', () => r()));
  try {
    assert.equal(isListening('udp', both), true);
  } finally {
    sock.close();
  }
});
