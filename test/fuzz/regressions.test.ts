/**
 * Every input a fuzzer found a crash with (test/fuzz/corpus/regressions/, one message per file;
 * README.md there says what each one hit) is replayed through both fuzz targets:
 *  - parser: in this process; parse and read every lazy accessor, only SipParseError allowed;
 *  - receive path: by the driver's replay mode in a child process (a crash there may be an
 *    unhandled rejection, which node:test would otherwise take for its own): each file alone
 *    on fresh servers, then SETTLE_MS for what happens on a timer (the 100 Trying deadline,
 *    200 ms; Timers B, F, H, J at 64·T1 = 640 ms there).
 * See docs/fuzzing.md for how a crash file gets here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as parser from './targets/parser.target.js';

const SETTLE_MS = 800;

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
const DIR = path.join(ROOT, 'test/fuzz/corpus/regressions');
/** Every file but the notes (README.md, *.txt) and dotfiles. */
const files = fs
  .readdirSync(DIR)
  .filter((f) => !f.startsWith('.') && !/\.(md|txt)$/i.test(f))
  .sort();

const show = (bytes: Buffer) => `${bytes.length} bytes: ${JSON.stringify(bytes.toString('latin1').slice(0, 400))}`;

test('the regression corpus is there', () => {
  assert.ok(files.length > 0, `no regression inputs in ${DIR}`);
});

test('regressions: parser target (only SipParseError, from every accessor)', async (t) => {
  for (const f of files) {
    await t.test(f, () => {
      const bytes = fs.readFileSync(path.join(DIR, f));
      try {
        parser.fuzz(bytes);
      } catch (e) {
        assert.fail(`parser target crashed on ${f} (${show(bytes)})\n${e instanceof Error ? e.stack : String(e)}`);
      }
    });
  }
});

interface Replayed {
  file: string;
  crash: string | null;
  detail?: string;
}

function replayReceivePath(): Promise<{ replayed: Replayed[] | undefined; output: string }> {
  const args = ['scripts/fuzz/coverage-fuzz.mjs', 'receive-path', '--replay', '--no-default-corpus', '--corpus', DIR, '--settle', String(SETTLE_MS), '--json', '--quiet'];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const limit = (files.length * (SETTLE_MS + 3000) + 30_000);
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, limit);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', () => {
      clearTimeout(timer);
      const line = stdout.split('\n').reverse().find((l) => l.startsWith('FUZZ-RESULT '));
      resolve({ replayed: line ? (JSON.parse(line.slice('FUZZ-RESULT '.length)) as { replayed: Replayed[] }).replayed : undefined, output: stderr.slice(-4000) });
    });
  });
}

test('regressions: receive-path target (no uncaught exception, unhandled rejection, fault, silence or malformed output)', async (t) => {
  const { replayed, output } = await replayReceivePath();
  assert.ok(replayed, `the replay printed no result:\n${output}`);
  assert.deepEqual(replayed.map((r) => path.basename(r.file)).sort(), files, 'every file was replayed');
  for (const r of replayed) {
    await t.test(path.basename(r.file), () => {
      if (r.crash === null) return;
      const bytes = fs.readFileSync(path.join(ROOT, r.file));
      assert.fail(`receive path crashed on ${path.basename(r.file)} (${show(bytes)}): ${r.crash}\n${r.detail ?? ''}`);
    });
  }
});
