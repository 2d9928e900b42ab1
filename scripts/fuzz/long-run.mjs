#!/usr/bin/env node
// fuzz:long — the long fuzzing campaign (the CI slices in test/fuzz/ are its bounded cut):
//
//   npm run fuzz:long                                # 60 min per target, targets in parallel
//   npm run fuzz:long -- --minutes 480 --targets receive-path
//   npm run fuzz:long -- --engine coverage --props-runs 0
//
// Per target, one process (the targets run side by side; --sequential runs one after the other):
//  - engine `jazzer` (Jazzer.js, libFuzzer) where its addon loads, else `coverage`
//    (scripts/fuzz/coverage-fuzz.mjs); --engine forces one;
//  - the coverage engine runs in rounds of --round-minutes (default 10) with a new seed each,
//    and keeps what reached new coverage in .fuzz/corpus/<target>/ (not in git), which the next
//    round, and the next campaign, start from.
// Then the property tests with --props-runs runs each (default 20000) and a random seed.
// Crashes land in test/fuzz/crashes/ (see docs/fuzzing.md: each becomes a regression file).
// Exit code 1 when anything crashed or a property failed.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const say = (line) => process.stderr.write(`fuzz:long: ${line}\n`);

const opts = { minutes: 60, roundMinutes: 10, targets: ['parser', 'receive-path'], engine: 'auto', sequential: false, propsRuns: 20000 };
{
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--minutes') opts.minutes = Number(a[++i]);
    else if (a[i] === '--hours') opts.minutes = Number(a[++i]) * 60;
    else if (a[i] === '--round-minutes') opts.roundMinutes = Number(a[++i]);
    else if (a[i] === '--targets') opts.targets = String(a[++i]).split(',').filter(Boolean);
    else if (a[i] === '--engine') opts.engine = a[++i];
    else if (a[i] === '--sequential') opts.sequential = true;
    else if (a[i] === '--props-runs') opts.propsRuns = Number(a[++i]);
    else {
      say(`unknown argument ${a[i]} (see the head of scripts/fuzz/long-run.mjs)`);
      process.exit(2);
    }
  }
  if (!(opts.minutes > 0) || !(opts.roundMinutes > 0) || !['auto', 'jazzer', 'coverage'].includes(opts.engine)) {
    say('expected --minutes N > 0, --round-minutes N > 0, --engine auto|jazzer|coverage');
    process.exit(2);
  }
}

const jazzerLoads = spawnSync(process.execPath, [path.join(root, 'scripts/fuzz/jazzer.mjs'), '--check'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
let engine = opts.engine;
if (engine === 'auto') {
  engine = jazzerLoads.status === 0 ? 'jazzer' : 'coverage';
  if (engine === 'coverage') say(`${jazzerLoads.stderr.trim().replace(/^fuzz:jazzer: /, '')} Using the coverage driver.`);
} else if (engine === 'jazzer' && jazzerLoads.status !== 0) {
  say(jazzerLoads.stderr.trim());
  process.exit(1);
}

/** Runs a child to its end; resolves with its exit code and the FUZZ-RESULT lines it printed. */
function run(args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      process.stdout.write(d);
    });
    const stop = () => child.pid && process.kill(child.pid, 'SIGTERM');
    process.once('SIGINT', stop);
    child.on('close', (code, signal) => {
      process.off('SIGINT', stop);
      resolve({ code: code ?? (signal ? 1 : 0), results: out.split('\n').filter((l) => l.startsWith('FUZZ-RESULT ')).map((l) => JSON.parse(l.slice(12))) });
    });
  });
}

async function campaign(target) {
  const summary = { target, engine, execs: 0, rounds: 0, crashes: [], code: 0 };
  if (engine === 'jazzer') {
    const r = await run([path.join(root, 'scripts/fuzz/jazzer.mjs'), target, '--seconds', String(Math.round(opts.minutes * 60))]);
    summary.code = r.code;
    return summary;
  }
  const corpus = path.join(root, '.fuzz/corpus', target);
  fs.mkdirSync(corpus, { recursive: true });
  const end = Date.now() + opts.minutes * 60_000;
  while (Date.now() < end - 5000) {
    const seconds = Math.max(5, Math.min(opts.roundMinutes * 60, Math.round((end - Date.now()) / 1000)));
    const seed = Math.floor(Math.random() * 2 ** 31);
    const r = await run([path.join(root, 'scripts/fuzz/coverage-fuzz.mjs'), target, '--seconds', String(seconds), '--seed', String(seed), '--corpus', corpus, '--save-corpus', corpus, '--json', '--quiet']);
    summary.rounds++;
    for (const res of r.results) {
      summary.execs += res.execs ?? 0;
      summary.crashes.push(...(res.crashes ?? []));
    }
    if (r.code !== 0) summary.code = r.code;
  }
  return summary;
}

say(`${opts.targets.join(', ')}: ${opts.minutes} min each with ${engine}${opts.sequential ? ', one after the other' : ', side by side'}`);
const summaries = [];
if (opts.sequential) for (const t of opts.targets) summaries.push(await campaign(t));
else summaries.push(...(await Promise.all(opts.targets.map(campaign))));

let propsCode = 0;
if (opts.propsRuns > 0) {
  const seed = Math.floor(Math.random() * 2 ** 31);
  say(`property tests: ${opts.propsRuns} runs each, seed ${seed}`);
  propsCode = (await run(['--test', path.join(root, 'dist/test/fuzz/properties.test.js')], { FUZZ_PROPS_RUNS: String(opts.propsRuns), FUZZ_PROPS_SEED: String(seed) })).code;
}

for (const s of summaries) {
  const what = s.engine === 'jazzer' ? `exit ${s.code}` : `${s.rounds} round(s), ${s.execs} executions, ${s.crashes.length} crash(es)`;
  say(`${s.target} (${s.engine}): ${what}`);
  for (const c of s.crashes) say(`  ${c.signature} → ${path.relative(root, c.file)} (reproduced: ${c.reproduced ? 'yes' : 'no'})`);
}
if (opts.propsRuns > 0) say(`property tests: ${propsCode === 0 ? 'passed' : 'FAILED (the seed and the counterexample are above)'}`);
process.exit(summaries.some((s) => s.code !== 0 || s.crashes.length > 0) || propsCode !== 0 ? 1 : 0);
