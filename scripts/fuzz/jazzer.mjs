#!/usr/bin/env node
// fuzz:jazzer: runs the fuzz targets (dist/test/fuzz/targets/*.target.js) under Jazzer.js
// (@jazzer.js/core, libFuzzer inside), where its native addon loads.
//
//   npm run fuzz:jazzer                          # every target, 60 s each
//   npm run fuzz:jazzer -- parser --seconds 600  # one target
//   npm run fuzz:jazzer -- receive-path -- -max_len=2048 -jobs=2   # after --: libFuzzer flags
//
// Jazzer.js 4.0.0 ships one Linux x64 build of its addon, linked against glibc 2.38 and the
// libstdc++ of GCC 13 (GLIBCXX_3.4.32): on older systems (Debian 12 has glibc 2.36 and GCC 12) it
// does not load, and this script says so in one line and exits 1; scripts/fuzz/coverage-fuzz.mjs
// (npm run fuzz) runs the same targets there.
//
// Corpus: libFuzzer adds what it finds to the first corpus directory, .fuzz/jazzer/<target>/
// (not in git); the seeds are test/fuzz/corpus/seeds/ and ../shared/conformance/{rfc4475,rfc5118}.
// Crashes land in test/fuzz/crashes/<target>-crash-<sha1> (libFuzzer's -artifact_prefix).

import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const say = (line) => process.stderr.write(`fuzz:jazzer: ${line}\n`);

// ---- can Jazzer.js run here? -------------------------------------------------------------------
let cli;
try {
  cli = require.resolve('@jazzer.js/core/dist/cli.js');
} catch {
  say('Jazzer.js is not installed (npm install: @jazzer.js/core is a devDependency); use `npm run fuzz -- <target>` (scripts/fuzz/coverage-fuzz.mjs) instead.');
  process.exit(1);
}
try {
  require('@jazzer.js/fuzzer');
} catch (e) {
  const reason = String(e?.message ?? e).split('\n')[0];
  const glibc = /GLIBC_([\d.]+)' not found/.exec(reason);
  say(
    glibc
      ? `Jazzer.js cannot run here: its native addon needs glibc ${glibc[1]} (and the libstdc++ of GCC ≥ 13) and this system has glibc ${process.report?.getReport?.().header?.glibcVersionRuntime ?? 'older'}; use \`npm run fuzz -- <target>\` (scripts/fuzz/coverage-fuzz.mjs) instead.`
      : `Jazzer.js cannot run here: its native addon does not load (${reason}); use \`npm run fuzz -- <target>\` (scripts/fuzz/coverage-fuzz.mjs) instead.`,
  );
  process.exit(1);
}

// ---- arguments ---------------------------------------------------------------------------------
const argv = process.argv.slice(2);
if (argv[0] === '--check') process.exit(0); // the addon loads (npm run fuzz:jazzer checks before it builds)
const dd = argv.indexOf('--');
const ours = dd >= 0 ? argv.slice(0, dd) : argv;
const libfuzzer = dd >= 0 ? argv.slice(dd + 1) : [];
let seconds = 60;
const names = [];
for (let i = 0; i < ours.length; i++) {
  if (ours[i] === '--seconds') seconds = Number(ours[++i]);
  else names.push(ours[i]);
}
const targetsDir = path.join(root, 'dist/test/fuzz/targets');
if (!fs.existsSync(targetsDir)) {
  say('no compiled targets in dist/test/fuzz/targets (run `npm run build` first).');
  process.exit(1);
}
const all = fs.readdirSync(targetsDir).filter((f) => f.endsWith('.target.js')).map((f) => f.replace(/\.target\.js$/, '')).sort();
const targets = names.length > 0 ? names : all;
for (const t of targets) {
  if (!all.includes(t)) {
    say(`no target "${t}" (have: ${all.join(', ')}).`);
    process.exit(2);
  }
}

// ---- run ---------------------------------------------------------------------------------------
// Not test/fuzz/corpus/regressions: libFuzzer stops at a seed that crashes (an open regression).
const seedDirs = [
  path.join(root, 'test/fuzz/corpus/seeds'),
  path.resolve(root, '../shared/conformance/rfc4475'),
  path.resolve(root, '../shared/conformance/rfc5118'),
].filter((d) => fs.existsSync(d));
const crashDir = path.join(root, 'test/fuzz/crashes');
fs.mkdirSync(crashDir, { recursive: true });

let failed = false;
for (const t of targets) {
  const work = path.join(root, '.fuzz/jazzer', t);
  fs.mkdirSync(work, { recursive: true });
  const args = [
    cli,
    path.join(targetsDir, `${t}.target.js`),
    work,
    ...seedDirs,
    '--includes', path.join(root, 'dist/src'),
    '--timeout', '10000',
    // The parser target is synchronous; the receive path awaits its servers' answers, and its
    // harness sends datagrams on the loopback on purpose (confined: see the target's head), which
    // the SSRF bug detector would report.
    ...(t === 'parser' ? ['--sync'] : ['--disableBugDetectors', 'ssrf']),
    '--',
    `-max_total_time=${seconds}`,
    `-artifact_prefix=${path.join(crashDir, `${t}-`)}`,
    '-max_len=4096',
    ...libfuzzer,
  ];
  say(`${t}: ${seconds} s, corpus ${path.relative(root, work)}/ (+ ${seedDirs.length} seed folders)`);
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    failed = true;
    say(`${t}: jazzer exited with ${r.status ?? r.signal}; crash files (if any) are in ${path.relative(root, crashDir)}/`);
  }
}
process.exit(failed ? 1 : 0);
