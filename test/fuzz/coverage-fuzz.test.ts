/**
 * CI slice of the coverage-guided fuzzing (scripts/fuzz/coverage-fuzz.mjs, docs/fuzzing.md):
 * the parser target and the receive-path target, SLICE_SECONDS each (the two in parallel, one
 * child process each), fixed seeds; any crash fails the test, with the input and the stack in
 * the message (the crash file is in test/fuzz/crashes/). First, a planted bug
 * (canary.fixture.ts) checks that the driver finds, minimises and reports a crash at all.
 *
 * FUZZ_CI_SECONDS changes the slice (default 40).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SLICE_SECONDS = Number(process.env.FUZZ_CI_SECONDS ?? 40);

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above the test file');
    dir = up;
  }
  return dir;
}
const ROOT = repoRoot();
const DRIVER = path.join(ROOT, 'scripts/fuzz/coverage-fuzz.mjs');

interface CrashRecord {
  signature: string;
  file: string;
  count: number;
  reproduced: boolean;
  how?: string;
  stack?: string;
  input?: string;
}
interface FuzzResult {
  target: string;
  seed: number;
  execs: number;
  seconds: number;
  seeds: number;
  corpus: number;
  blocks: number;
  features: number;
  crashes: CrashRecord[];
}

/** Runs the driver in a child process, bounded by `limitMs` (then SIGKILL by PID). */
function runDriver(args: string[], limitMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; result: FuzzResult | undefined; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DRIVER, ...args, '--json', '--quiet'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
    });
    const timer = setTimeout(() => {
      stderr += `\n[coverage-fuzz.test: killed after ${limitMs} ms]`;
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, limitMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').reverse().find((l) => l.startsWith('FUZZ-RESULT '));
      resolve({ code, signal, result: line ? (JSON.parse(line.slice('FUZZ-RESULT '.length)) as FuzzResult) : undefined, stderr });
    });
  });
}

function describeCrashes(r: FuzzResult): string {
  return r.crashes
    .map((c) => {
      const input = c.input ? JSON.stringify(Buffer.from(c.input, 'base64').toString('latin1')) : '(too long: see the file)';
      return `• ${c.signature} (×${c.count}; reproduced: ${c.reproduced ? 'yes' : 'no'}${c.how ? `, ${c.how}` : ''})\n  file: ${path.relative(ROOT, c.file)}\n  input: ${input}\n  ${(c.stack ?? '').split('\n').slice(0, 25).join('\n  ')}`;
    })
    .join('\n');
}

test('the driver finds, minimises and reports a planted bug', async () => {
  const crashes = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-canary-'));
  try {
    const fixture = path.join(ROOT, 'dist/test/fuzz/canary.fixture.js');
    // Seeds without the planted pattern: the mutators must make it.
    const seeds = path.join(ROOT, 'test/fuzz/corpus/seeds');
    const args = [fixture, '--no-default-corpus', '--corpus', seeds, '--runs', '20000', '--seed', '7', '--stop-on-crash', '--minimize', '200', '--crashes', crashes];
    const { code, result, stderr } = await runDriver(args, 60_000);
    assert.ok(result, `no FUZZ-RESULT line; stderr:\n${stderr.slice(-3000)}`);
    assert.equal(code, 1, 'exit code 1 when a crash was found');
    assert.equal(result.crashes.length, 1, describeCrashes(result));
    const c = result.crashes[0]!;
    assert.match(c.signature, /^TypeError @ dist\/test\/fuzz\/canary\.fixture\.js/);
    assert.ok(result.execs > result.seeds, 'found by mutation, not in a seed');
    assert.ok(c.reproduced);
    const bytes = fs.readFileSync(c.file);
    assert.match(bytes.toString('latin1'), /^(?:via|v)[ \t]*:[^\r\n]*;x="open/im);
    assert.ok(bytes.length < 120, `minimised to ${bytes.length} bytes: ${JSON.stringify(bytes.toString('latin1'))}`);
    assert.match(fs.readFileSync(c.file.replace(/\.sip$/, '.txt'), 'utf8'), /TypeError/);
  } finally {
    fs.rmSync(crashes, { recursive: true, force: true });
  }
});

test(`coverage-guided fuzzing, ${SLICE_SECONDS} s per target: no crash`, { concurrency: true }, async (t) => {
  const slice = (target: string, seed: number, minExecs: number) =>
    t.test(target, async () => {
      const { code, signal, result, stderr } = await runDriver(
        // A crash costs at most 20 s more (triage and minimisation), so the test stays short.
        [target, '--seconds', String(SLICE_SECONDS), '--seed', String(seed), '--triage-seconds', '20', '--minimize', '100'],
        (SLICE_SECONDS + 150) * 1000,
      );
      assert.ok(result, `no FUZZ-RESULT line (exit ${code ?? signal}); stderr:\n${stderr.slice(-3000)}`);
      assert.equal(result.crashes.length, 0, `${result.crashes.length} crash(es) in ${result.execs} executions (seed ${result.seed}):\n${describeCrashes(result)}`);
      assert.equal(code, 0, stderr.slice(-3000));
      // The fuzzer ran and was guided: executions, coverage, and inputs kept beyond the seeds.
      assert.ok(result.execs >= minExecs, `only ${result.execs} executions`);
      assert.ok(result.blocks > 300, `only ${result.blocks} blocks covered`);
      assert.ok(result.corpus > result.seeds, `no input reached new coverage (corpus ${result.corpus}, seeds ${result.seeds})`);
      t.diagnostic(`${target}: ${result.execs} executions, ${result.blocks} blocks / ${result.features} features, corpus ${result.corpus}`);
    });
  await Promise.all([slice('parser', 1, 500), slice('receive-path', 1, 200)]);
});
