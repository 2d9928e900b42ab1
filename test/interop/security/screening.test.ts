// Screening on the wire (issue 13): SIPVicious (svwar, svcrack — Debian package sipvicious)
// and a brute-force client of our own against `switchboard serve`, from loopback addresses.
// The servers set `security.allow: []`: by default the host itself (127.0.0.0/8) is never
// screened, which is what keeps the benchmarks and the other tests out of it.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { UserAgent } from '../../../src/roles/user-agent/index.js';
import { type Managed, isListening, runProcess, startProcess } from '../../harness/processes.js';
import { SWITCHBOARD_CLI, freePorts, writeConfig, type TempConfig } from '../callflows/callflow-harness.js';

const cleanup: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function server(extra: string): Promise<{ port: number; proc: Managed }> {
  const [port] = (await freePorts(1)) as [number];
  const cfg: TempConfig = writeConfig(`listen: [udp:127.0.0.1:${port}]
domains: [127.0.0.1]
store: memory
users:
  - { user: '105', password: '1050' }
  - { user: '106', password: 'right-one' }
security:
  allow: []
${extra}`);
  // No --trace: what a flood sends would crowd the log lines out of the captured output.
  const proc = await startProcess(process.execPath, [SWITCHBOARD_CLI, 'serve', '--config', cfg.path], {
    readyPattern: /serving domains/,
    readyCheck: () => isListening('udp', port),
    timeoutMs: 20_000,
    maxLifetimeMs: 170_000,
  });
  cleanup.push(async () => {
    await proc.stop();
    cfg.cleanup();
  });
  return { port, proc };
}

async function registerFrom(address: string, port: number, user: string, password: string): Promise<number> {
  const ua = await UserAgent.start({ listen: [`udp:${address}:0`], from: `sip:${user}@127.0.0.1`, credentials: { username: user, password }, timers: { T1: 50 } });
  try {
    return (await ua.register(`sip:127.0.0.1:${port}`, { aor: `sip:${user}@127.0.0.1`, expires: 60 })).status;
  } finally {
    await ua.stop();
  }
}

test('svwar (extension enumeration) gets no answer and finds nothing; a real phone still registers', { timeout: 90_000 }, async () => {
  const { port, proc } = await server('');
  const r = await runProcess('svwar', ['-e100-110', '-m', 'REGISTER', `udp://127.0.0.1:${port}`], { timeoutMs: 60_000 });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.match(out, /found nothing/, out);
  assert.doesNotMatch(out, /\b105\b/, out);
  assert.equal(await registerFrom('127.0.0.3', port, '105', '1050'), 200);
  assert.equal(proc.exitStatus(), null, 'server alive');
  assert.match(proc.output().stderr, /security: dropping requests from 127\.0\.0\.1: scanner User-Agent "friendly-scanner"/);
});

test('svcrack (password cracking, scanner filter off): banned after 10 failures, never finds the password; another address registers', { timeout: 120_000 }, async () => {
  const { port, proc } = await server('  scanners: { enabled: false }\n');
  // The right password (1050) is the 51st it tries.
  const r = await runProcess('svcrack', ['-u', '105', '-r', '1000-1100', `udp://127.0.0.1:${port}`], { timeoutMs: 90_000 });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.match(out, /found nothing/, out);
  assert.doesNotMatch(out, /1050/, out);
  assert.match(proc.output().stderr, /security: ignoring 127\.0\.0\.1 for 600 s: 10 failed authentications/);
  assert.equal(await registerFrom('127.0.0.3', port, '105', '1050'), 200, 'the user from another address');
});

test('a brute-force client: answered until the threshold, then ignored, right password included; the ban expires', { timeout: 120_000 }, async () => {
  const { port, proc } = await server('  authBan: { banTime: 15 }\n');
  const statuses: number[] = [];
  let bannedAt = 0;
  for (let i = 0; i < 12; i++) {
    statuses.push(await registerFrom('127.0.0.4', port, '106', `guess-${i}`));
    if (i === 9) bannedAt = Date.now();
  }
  // Each guess is a fresh Call-ID (the registrar's per-Call-ID 403 never applies).
  assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401), statuses.join(' '));
  assert.deepEqual(statuses.slice(10), [408, 408], 'ignored: no answer, a timeout');
  assert.equal(await registerFrom('127.0.0.4', port, '106', 'right-one'), 408, 'the right password from the banned address');
  assert.equal(await registerFrom('127.0.0.5', port, '106', 'right-one'), 200, 'the user from elsewhere');
  await new Promise((r) => setTimeout(r, Math.max(0, bannedAt + 15_500 - Date.now())));
  assert.equal(await registerFrom('127.0.0.4', port, '106', 'right-one'), 200, 'after the ban');
  // The log is written once per event-loop turn: the line may follow the response by a moment.
  for (let i = 0; i < 40 && !/security: ban of 127\.0\.0\.4 ended/.test(proc.output().stderr); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(proc.output().stderr, /security: ban of 127\.0\.0\.4 ended/);
});
