#!/usr/bin/env node
// run-tests: run every compiled test file (dist/src/**, dist/test/** matching *.test.js) with
// node's built-in test runner, one file at a time (interop tests bind fixed ports).
//
//   node scripts/run-tests.mjs                 # everything
//   node scripts/run-tests.mjs sipp parser     # only files whose path contains "sipp" or "parser"
//
// Environment:
//   TEST_REPORTER          node --test reporter (default: tap, so the closing "# pass N" /
//                          "# fail N" lines are always printed)
//   TEST_RUN_TIMEOUT_S     hard bound for the whole run (default 2400 s); the runner is then killed
//
// Exit code is node's (non-zero if any test failed), 1 if no test file was found.

import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const ROOTS = ['dist/src', 'dist/test'];

function walk(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile() && e.name.endsWith('.test.js')) out.push(p);
    else if (e.isSymbolicLink()) {
      try {
        if (statSync(p).isFile() && e.name.endsWith('.test.js')) out.push(p);
      } catch { /* dangling */ }
    }
  }
}

const filters = process.argv.slice(2).filter((a) => a.length > 0);
let files = [];
for (const r of ROOTS) walk(join(root, r), files);
files = files.map((f) => relative(root, f)).sort();
if (filters.length > 0) files = files.filter((f) => filters.some((s) => f.includes(s)));

if (files.length === 0) {
  const where = ROOTS.filter((r) => existsSync(join(root, r)));
  process.stderr.write(
    `run-tests: no *.test.js found under ${ROOTS.join(', ')}` +
      (filters.length ? ` matching ${filters.map((s) => JSON.stringify(s)).join(' or ')}` : '') +
      (where.length === 0 ? ' (dist/ missing: run `npm run build` first)' : '') +
      '\n',
  );
  process.exit(1);
}

const args = ['--test'];
// --test-concurrency exists in node >= 20.10 / 21 (not in allowedNodeEnvironmentFlags, so ask
// `node --help`); only pass flags this node supports.
const help = spawnSync(process.execPath, ['--help'], { encoding: 'utf8', timeout: 10_000 }).stdout || '';
if (help.includes('--test-concurrency')) args.push('--test-concurrency=1');
else process.stdout.write('run-tests: this node has no --test-concurrency; running with its default\n');
if (help.includes('--test-reporter')) args.push(`--test-reporter=${process.env.TEST_REPORTER || 'tap'}`);
args.push(...files.map((f) => f.split(sep).join('/')));

process.stdout.write(`run-tests: ${files.length} test file(s): node ${args.filter((a) => a.startsWith('--')).join(' ')} …\n`);

const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });

const timeoutS = Number(process.env.TEST_RUN_TIMEOUT_S || 2400);
const timer = setTimeout(() => {
  process.stderr.write(`run-tests: test run exceeded ${timeoutS}s, killing pid ${child.pid}\n`);
  try { process.kill(child.pid, 'SIGTERM'); } catch { /* gone */ }
  setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000).unref();
}, timeoutS * 1000);
timer.unref();

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    try { process.kill(child.pid, sig); } catch { /* gone */ }
  });
}

child.on('error', (err) => {
  process.stderr.write(`run-tests: cannot start node: ${err}\n`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  clearTimeout(timer);
  if (signal) {
    process.stderr.write(`run-tests: test runner killed by ${signal}\n`);
    process.exit(1);
  }
  process.exit(code ?? 1);
});
