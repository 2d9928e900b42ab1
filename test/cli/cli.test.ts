// The `switchboard` command line, run as a child process: usage errors, `options`, `--trace`,
// `call` against our own `answer` and against a SIPp uas that answers 486.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, freePortBoth, stopAll, type RunResult } from '../harness/processes.js';
import { describeSipp, runSwitchboard, SCENARIO_DIR, startAnswer, startSipp } from '../interop/sipp/sipp.js';

after(async () => {
  await stopAll();
});

function describeRun(r: RunResult): string {
  return `exit ${r.code}${r.signal ? ` signal ${r.signal}` : ''}${r.timedOut ? ' (timed out)' : ''}\n--- stdout ---\n${r.stdout.slice(-6000)}\n--- stderr ---\n${r.stderr.slice(-6000)}`;
}

// ---- usage errors: exit 2, one readable line on stderr, nothing on stdout --------------------

const USAGE_ERRORS: Array<{ name: string; args: string[]; mentions: RegExp }> = [
  { name: 'unknown command', args: ['frobnicate'], mentions: /unknown command "frobnicate"/ },
  { name: 'bad --listen', args: ['answer', '--listen', 'foo:1'], mentions: /listen.*"foo:1"/ },
  { name: 'bad --transport', args: ['options', 'sip:127.0.0.1:9', '--transport', 'pigeon'], mentions: /--transport "pigeon"/ },
  { name: 'missing uri (call)', args: ['call'], mentions: /missing target URI/ },
  { name: 'missing uri (options)', args: ['options'], mentions: /missing target URI/ },
  { name: '--duration abc', args: ['call', 'sip:service@127.0.0.1:9', '--duration', 'abc'], mentions: /--duration "abc"/ },
  { name: 'unknown option', args: ['call', 'sip:service@127.0.0.1:9', '--frob'], mentions: /--frob/ },
  { name: '--workers 0', args: ['serve', '--workers', '0'], mentions: /--workers "0"/ },
  { name: 'unknown cdr subcommand', args: ['cdr', 'frob'], mentions: /unknown cdr subcommand "frob" \(expected list\)/ },
  { name: '--session-timer below 90 s', args: ['call', 'sip:service@127.0.0.1:9', '--session-timer', '30'], mentions: /--session-timer "30": expected a whole number >= 90/ },
  { name: 'cdr list --limit 0', args: ['cdr', 'list', '--limit', '0'], mentions: /--limit "0"/ },
  { name: 'workers with a per-process store', args: ['serve', '--store', 'memory', '--listen', 'udp:127.0.0.1:5999', '--workers', '2'], mentions: /workers = 2: a memory store is private to each worker/ },
  { name: 'workers with a stream listener', args: ['serve', '--listen', 'udp:127.0.0.1:5999', '--listen', 'tcp:127.0.0.1:5999', '--workers', '2'], mentions: /listen = "tcp:127\.0\.0\.1:5999": with several workers every listener must be udp/ },
];

for (const c of USAGE_ERRORS) {
  test(`usage error, exit 2 with one line on stderr: ${c.name}`, { timeout: 20_000 }, async () => {
    const r = await runSwitchboard(c.args, 10_000);
    assert.equal(r.timedOut, false, describeRun(r));
    assert.equal(r.code, 2, describeRun(r));
    assert.equal(r.stdout, '', describeRun(r));
    const lines = r.stderr.split('\n').filter((l) => l.length > 0);
    assert.equal(lines.length, 1, `expected exactly one line on stderr\n${describeRun(r)}`);
    assert.match(lines[0]!, /^switchboard: /, describeRun(r));
    assert.match(lines[0]!, c.mentions, describeRun(r));
    assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/, 'no stack trace');
  });
}

// ---- options -------------------------------------------------------------------------------

test('options → answer: exit 0, prints the 200 OK with its Allow header', { timeout: 30_000 }, async () => {
  const port = await freePortBoth();
  const answer = await startAnswer({ port, maxLifetimeMs: 25_000 });
  try {
    const r = await runSwitchboard(['options', `sip:127.0.0.1:${port}`], 15_000);
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(r.stdout.startsWith('SIP/2.0 200 OK\n'), describeRun(r));
    assert.match(r.stdout, /^Allow: .*\bINVITE\b.*$/m, describeRun(r));
    assert.match(r.stdout, /^Allow: .*\bOPTIONS\b.*$/m, describeRun(r));
    assert.match(r.stdout, new RegExp(`^Call-ID: \\S+$`, 'm'), describeRun(r));
  } finally {
    await answer.stop();
  }
});

test('options --trace → answer: Sent/Received blocks with the OPTIONS and the 200', { timeout: 30_000 }, async () => {
  const port = await freePortBoth();
  const answer = await startAnswer({ port, maxLifetimeMs: 25_000 });
  try {
    const r = await runSwitchboard(['options', `sip:127.0.0.1:${port}`, '--trace'], 15_000);
    assert.equal(r.code, 0, describeRun(r));
    const peer = `127\\.0\\.0\\.1:${port}`;
    assert.match(r.stderr, new RegExp(`^Sent: UDP 127\\.0\\.0\\.1:\\d+ -> ${peer} \\(\\d+ bytes\\)\\nOPTIONS sip:127\\.0\\.0\\.1:${port} SIP/2\\.0$`, 'm'), describeRun(r));
    assert.match(r.stderr, new RegExp(`^Received: UDP ${peer} -> 127\\.0\\.0\\.1:\\d+ \\(\\d+ bytes\\)\\nSIP/2\\.0 200 OK$`, 'm'), describeRun(r));
    // The trace goes to stderr; stdout still has just the response.
    assert.ok(r.stdout.startsWith('SIP/2.0 200 OK\n'), describeRun(r));
    assert.doesNotMatch(r.stdout, /^(Sent|Received):/m);
  } finally {
    await answer.stop();
  }
});

// No --timeout flag exists: the OPTIONS NICT gives up after Timer F = 64·T1 = 32 s (T1 500 ms).
test('options → a UDP port that never answers: exit 3 after the transaction timeout', { timeout: 60_000 }, async () => {
  const port = await freePort('udp');
  const silent = dgram.createSocket('udp4');
  let received = 0;
  silent.on('message', () => received++);
  await new Promise<void>((resolve, reject) => {
    silent.once('error', reject);
    silent.bind(port, '127.0.0.1', () => resolve());
  });
  try {
    const started = Date.now();
    const r = await runSwitchboard(['options', `sip:127.0.0.1:${port}`], 50_000);
    const ms = Date.now() - started;
    assert.equal(r.timedOut, false, describeRun(r));
    assert.equal(r.code, 3, describeRun(r));
    assert.match(r.stdout, /^SIP\/2\.0 408 /, describeRun(r));
    assert.ok(ms >= 30_000, `gave up after ${ms} ms, before Timer F (32 s)`);
    // Retransmitted at T1, 2·T1, 4 s … (RFC 3261 §17.1.2.2): 11 copies within 32 s.
    assert.ok(received >= 8, `only ${received} OPTIONS copies reached the silent port`);
  } finally {
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});

// ---- call ----------------------------------------------------------------------------------

test('call → answer: exit 0, established and ended with BYE 200', { timeout: 70_000 }, async () => {
  const port = await freePortBoth();
  const answer = await startAnswer({ port, maxCalls: 1, maxLifetimeMs: 65_000 });
  try {
    const r = await runSwitchboard(['call', `sip:service@127.0.0.1:${port}`, '--duration', '1'], 15_000);
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, /^progress: 180 Ringing$/m, describeRun(r));
    assert.match(r.stdout, /^call established: \S+$/m, describeRun(r));
    assert.match(r.stdout, /^call ended: BYE 200 OK$/m, describeRun(r));
    // answer --max-calls 1 leaves after that call, which it saw ended by our BYE, once its
    // transactions are over (the INVITE's Timer L, 64·T1 = 32 s, is the longest).
    const st = await answer.waitExit(45_000);
    assert.deepEqual(st, { code: 0, signal: null }, answer.output().stdout + answer.output().stderr);
    assert.deepEqual(answer.endedReasons(), ['remote-bye']);
  } finally {
    await answer.stop();
  }
});

test('call → SIPp uas answering 486: exit 1, prints the 486', { timeout: 40_000 }, async () => {
  const port = await freePortBoth();
  const uas = await startSipp({ scenario: join(SCENARIO_DIR, 'uas-486.xml'), localPort: port, transport: 'u1', calls: 1, timeoutS: 30 });
  try {
    const r = await runSwitchboard(['call', `sip:service@127.0.0.1:${port}`, '--duration', '1'], 20_000);
    assert.equal(r.timedOut, false, describeRun(r));
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stdout, /^call failed: 486 Busy Here$/m, describeRun(r));
    assert.doesNotMatch(r.stdout, /call established/, describeRun(r));
    // SIPp got its ACK (-m 1: it exits by itself once the call is over).
    await uas.waitExit(10_000);
    const res = await uas.finish();
    assert.equal(res.successful, 1, describeSipp(res));
    assert.equal(res.failed, 0, describeSipp(res));
  } finally {
    const res = await uas.finish();
    rmSync(res.files.dir, { recursive: true, force: true });
  }
});
