/**
 * The black-box campaign (scripts/fuzz-campaign.mjs, docs/fuzzing.md "Black-box campaign"):
 * a bounded slice of it, a check that it can fail (a killed server, a frozen one), and the
 * replay of every input it has saved under test/fuzz/corpus/regressions (issue 12: "no input
 * may crash a server").
 *
 * Each test runs the script as a child process against `node dist/src/app/cli/main.js serve`
 * on 127.0.0.1 and a free port; the script stops its server by PID, and this file stops the
 * script by PID if it overruns.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return start;
    dir = up;
  }
}

const root = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));
const script = path.join(root, 'scripts', 'fuzz-campaign.mjs');
const regressions = path.join(root, 'test', 'fuzz', 'corpus', 'regressions');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

/** Runs the script; SIGTERM by PID after timeoutMs (it then stops its server), SIGKILL 5 s later. */
function runScript(args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [script, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString('utf8');
      if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
    });
    const kill = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(child.pid!, 'SIGTERM');
      } catch {
        /* gone */
      }
      setTimeout(() => {
        try {
          process.kill(child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 5000).unref();
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(kill);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0, timedOut });
    });
  });
}

function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `sb-campaign-test-${tag}-`));
}

/** The run and, on failure, what the campaign saved (crash reports with the server's stack). */
function describe(r: Run, out?: string): string {
  let saved = '';
  if (out && fs.existsSync(out)) {
    for (const f of fs.readdirSync(out).filter((f) => f.endsWith('.txt'))) {
      const text = fs.readFileSync(path.join(out, f), 'utf8');
      saved += `\n--- ${f} (server stderr and triage; inputs beside it) ---\n${text.replace(/--- inputs[\s\S]*?(?=\n--- triage|$)/, '[input index omitted]\n').slice(0, 12_000)}`;
    }
  }
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}${r.timedOut ? ', timed out' : ''} after ${r.ms} ms\n--- stdout ---\n${r.stdout}\n--- stderr (tail) ---\n${r.stderr.slice(-6000)}${saved}`;
}

/** The script's --json output (see printSummary in the script). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- plain JSON read back
type Summary = any;

function readSummary(file: string, r: Run, out?: string): Summary {
  assert.ok(fs.existsSync(file), `no JSON summary written\n${describe(r, out)}`);
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

test('campaign slice: 8,000 mutated messages over UDP and TCP from many loopback addresses; server alive, memory bounded, store intact, bindings kept', { timeout: 150_000 }, async () => {
  const out = tmpDir('slice');
  const json = path.join(out, 'summary.json');
  try {
    const r = await runScript(['--messages', '8000', '--seed', '20261205', '--rate', '3000', '--out', out, '--json', json], 120_000);
    const s = readSummary(json, r, out);
    assert.equal(r.code, 0, describe(r, out));
    assert.equal(s.result, 'PASS', describe(r, out));
    assert.equal(s.sentTotal, 8000);
    assert.ok(s.sent.udp > 2000 && s.sent.tcp > 2000, `udp ${s.sent.udp}, tcp ${s.sent.tcp}`);
    // The server answered over both transports (most mutated requests get a 4xx).
    assert.ok(s.responsesBy.udp > 1000, `udp responses ${s.responsesBy.udp}\n${describe(r)}`);
    assert.ok(s.responsesBy.tcp > 100, `tcp responses ${s.responsesBy.tcp}\n${describe(r)}`);
    assert.ok(s.responses['4xx'] > 1000, JSON.stringify(s.responses));
    // Requests reached the registered contacts through the proxy (the forwarding path ran).
    assert.ok(s.sink.requests > 50, `proxied ${s.sink.requests}`);
    // A probe every 1,000 messages over UDP and over a new TCP connection, all answered.
    assert.ok(s.probes.sent >= 16, `probes ${s.probes.sent}`);
    assert.equal(s.probes.ok, s.probes.sent);
    assert.ok(s.maxRssKb > 0 && s.maxRssKb < s.rssLimitMb * 1024, `max RSS ${s.maxRssKb} kB`);
    assert.equal(s.checks.finalProbe, 'ok');
    assert.equal(s.checks.stop, 'exit code 0');
    assert.equal(s.checks.integrity, 'ok');
    assert.equal(s.checks.bindingsExpected, 20);
    assert.equal(s.checks.bindingsListed, 20);
    assert.deepEqual(s.checks.bindingsExtra, []);
    assert.deepEqual(s.failures, []);
    assert.deepEqual(fs.readdirSync(out).filter((f) => f.endsWith('.sip')), [], 'no crash inputs saved');
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('the campaign fails on a dead server: --kill-after SIGKILLs it mid-run → exit 1, the last 200 inputs and the server stderr saved, triage runs', { timeout: 120_000 }, async () => {
  const out = tmpDir('kill');
  const json = path.join(out, 'summary.json');
  try {
    const r = await runScript(['--messages', '3000', '--seed', '7', '--kill-after', '1500', '--probe-every', '500', '--out', out, '--json', json], 100_000);
    const s = readSummary(json, r, out);
    assert.equal(r.code, 1, describe(r, out));
    assert.equal(s.result, 'FAIL');
    assert.equal(s.failures.length, 1, describe(r, out));
    assert.equal(s.failures[0].kind, 'crash');
    assert.equal(s.failures[0].exit.signal, 'SIGKILL');
    assert.ok(s.failures[0].atMessage >= 1500 && s.failures[0].atMessage <= 2000, `detected after ${s.failures[0].atMessage}`);
    // Killed from outside, so no input reproduces it: the whole window stays.
    assert.deepEqual(s.failures[0].culprits, []);
    const sips = fs.readdirSync(out).filter((f) => /^campaign-\d{8}T\d{9}Z-\d{3}-(udp|tcp)\.sip$/.test(f));
    assert.equal(sips.length, 200, `saved ${sips.length}`);
    assert.ok(sips.some((f) => f.endsWith('-udp.sip')) && sips.some((f) => f.endsWith('-tcp.sip')));
    const txt = fs.readdirSync(out).filter((f) => f.endsWith('.txt'));
    assert.equal(txt.length, 1);
    const report = fs.readFileSync(path.join(out, txt[0]!), 'utf8');
    assert.match(report, /CRASH: the server exited \(killed by SIGKILL\)/);
    assert.match(report, /--- triage ---\nnot reproduced/);
    // The store survived the kill.
    assert.equal(s.checks.integrity, 'ok');
    assert.equal(s.checks.bindingsListed, 20);
    assert.match(r.stdout, /result\s+FAIL: crash after \d+ messages \(killed by SIGKILL\)/);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('the campaign fails on a frozen server: --stop-after SIGSTOPs it → the next probe times out → exit 1, the last 1,000 inputs saved', { timeout: 90_000 }, async () => {
  const out = tmpDir('hang');
  const json = path.join(out, 'summary.json');
  try {
    const r = await runScript(['--messages', '3000', '--seed', '8', '--stop-after', '1200', '--probe-every', '500', '--probe-timeout', '1000', '--no-triage', '--out', out, '--json', json], 80_000);
    const s = readSummary(json, r, out);
    assert.equal(r.code, 1, describe(r, out));
    assert.equal(s.failures.length, 1, describe(r, out));
    assert.equal(s.failures[0].kind, 'hang');
    assert.equal(s.failures[0].atMessage, 1500);
    const sips = fs.readdirSync(out).filter((f) => f.endsWith('.sip'));
    assert.equal(sips.length, 1000);
    assert.match(r.stdout, /result\s+FAIL: hang after 1500 messages/);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

const saved = fs.existsSync(regressions) ? fs.readdirSync(regressions).filter((f) => /^campaign-.*\.sip$/.test(f)).sort() : [];

test(`regressions: each of the ${saved.length} campaign input(s) in test/fuzz/corpus/regressions leaves the server alive`, { skip: saved.length === 0 ? 'no campaign-*.sip saved yet' : false, timeout: 240_000 }, async () => {
  const json = path.join(tmpDir('replay'), 'replay.json');
  try {
    const r = await runScript(['--replay', ...saved.map((f) => path.join(regressions, f)), '--json', json], 200_000);
    assert.equal(r.code, 0, describe(r));
    const s = readSummary(json, r);
    assert.equal(s.files, saved.length);
    assert.deepEqual(s.culprits, []);
  } finally {
    fs.rmSync(path.dirname(json), { recursive: true, force: true });
  }
});
