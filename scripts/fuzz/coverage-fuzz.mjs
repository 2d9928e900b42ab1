#!/usr/bin/env node
// coverage-fuzz: a small coverage-guided fuzzer for the Jazzer.js-format fuzz targets
// (dist/test/fuzz/targets/*.target.js: modules exporting `fuzz(data: Buffer)`), for machines
// where Jazzer.js's native addon does not load. Plain Node, no dependencies.
//
//   node scripts/fuzz/coverage-fuzz.mjs parser --seconds 60 --seed 1
//   node scripts/fuzz/coverage-fuzz.mjs receive-path --runs 5000
//   node scripts/fuzz/coverage-fuzz.mjs parser --replay test/fuzz/corpus/regressions
//
// How it works: V8's block coverage through node:inspector (Profiler.startPreciseCoverage
// with callCount and detailed; takePreciseCoverage after each input, which also resets the
// counters). A feature is a block of a dist/src/ file with a bucketed hit count (1, 2, 3, 4-7,
// 8-15, 16-31, 32-127, 128+; libFuzzer's buckets). An input that reaches a new feature joins
// the in-memory corpus (and --save-corpus DIR). Inputs are mutated by byte-level and SIP-aware
// mutators (scripts/fuzz/mutators.mjs).
//
// Seeds: ../shared/conformance/rfc4475/*.dat and rfc5118/**/*.dat (beside the repository),
// every file under test/fuzz/corpus/, and --corpus DIRs.
//
// A crash is whatever `fuzz` throws (the target decides what is allowed: see its file), or an
// input that does not return within --timeout. The first input of each crash signature is
// written to --crashes DIR (default test/fuzz/crashes) as <target>-<sha1>.sip, with a .txt
// beside it (error, stack, how it was found). Before that the driver checks that the input
// crashes alone on a fresh target; for an async target that exports `settle(ms)` (the receive
// path: a crash may happen on a timer, after later inputs were sent) it bisects the recent
// inputs to find the one that does. Reproducible crashes are then minimised (header lines,
// then byte ranges). A seed file that crashes alone (an open regression) is reported as it is.
//
// Options:
//   --runs N | --seconds S   bound of the run (default: 60 seconds)
//   --seed N                 PRNG seed (default: random, printed)
//   --max-len N              longest mutated input (default 4096)
//   --corpus DIR             more seeds (repeatable); with --replay, what to replay
//   --no-default-corpus      no shared/conformance and test/fuzz/corpus seeds
//   --crashes DIR            where crash files go (default test/fuzz/crashes)
//   --save-corpus DIR        also write every input that reached new coverage there
//   --timeout MS             a single input may take this long (default 10000)
//   --minimize N             executions spent minimising each crash (default 300, 0: off)
//   --triage-seconds S       time bound of the triage and minimisation of one crash (default 90)
//   --stop-on-crash          end the run at the first crash (libFuzzer's default)
//   --replay                 run each seed (or each --corpus file) once, each alone on a fresh
//                            target, no mutation; the JSON result lists every file (`replayed`)
//   --settle MS              with --replay: wait this long after each input (targets with settle())
//   --json                   last line: FUZZ-RESULT {json summary}
//   --quiet                  no progress lines
// Exit code: 0 no crash, 1 crash(es) found, 2 usage or setup error.

import { Session } from 'node:inspector/promises';
import { Worker } from 'node:worker_threads';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Dictionary, makeMutator, prng, splitHead } from './mutators.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// ---- options ---------------------------------------------------------------------------------

function usage(msg) {
  process.stderr.write(`coverage-fuzz: ${msg}\nusage: node scripts/fuzz/coverage-fuzz.mjs <parser|receive-path|path/to/x.target.js> [--runs N | --seconds S] [--seed N] [--replay] … (see the file's head)\n`);
  process.exit(2);
}

const opts = {
  target: undefined, runs: undefined, seconds: undefined, seed: undefined, maxLen: 4096, corpus: [], defaultCorpus: true,
  crashes: path.join(root, 'test/fuzz/crashes'), saveCorpus: undefined, timeout: 10_000, minimize: 300, triageSeconds: 90,
  replay: false, settle: 0, json: false, quiet: false, stopOnCrash: false,
};
{
  const argv = process.argv.slice(2);
  const num = (i, name) => {
    const v = Number(argv[i]);
    if (argv[i] === undefined || !Number.isFinite(v) || v < 0) usage(`${name} needs a number`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') opts.runs = num(++i, a);
    else if (a === '--seconds') opts.seconds = num(++i, a);
    else if (a === '--seed') opts.seed = num(++i, a) >>> 0;
    else if (a === '--max-len') opts.maxLen = Math.max(1, num(++i, a));
    else if (a === '--corpus') opts.corpus.push(path.resolve(argv[++i] ?? usage('--corpus needs a path')));
    else if (a === '--no-default-corpus') opts.defaultCorpus = false;
    else if (a === '--crashes') opts.crashes = path.resolve(argv[++i] ?? usage('--crashes needs a path'));
    else if (a === '--save-corpus') opts.saveCorpus = path.resolve(argv[++i] ?? usage('--save-corpus needs a path'));
    else if (a === '--timeout') opts.timeout = Math.max(1, num(++i, a));
    else if (a === '--minimize') opts.minimize = num(++i, a);
    else if (a === '--triage-seconds') opts.triageSeconds = num(++i, a);
    else if (a === '--replay') opts.replay = true;
    else if (a === '--stop-on-crash') opts.stopOnCrash = true;
    else if (a === '--settle') opts.settle = num(++i, a);
    else if (a === '--json') opts.json = true;
    else if (a === '--quiet') opts.quiet = true;
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else if (opts.target === undefined) opts.target = a;
    else opts.corpus.push(path.resolve(a));
  }
  if (!opts.target) usage('no target given');
  if (opts.runs === undefined && opts.seconds === undefined) opts.seconds = 60;
  if (opts.seed === undefined) opts.seed = crypto.randomInt(0, 2 ** 31);
}

const targetFile = /[\\/]|\.m?js$/.test(opts.target)
  ? path.resolve(opts.target)
  : path.join(root, 'dist/test/fuzz/targets', `${opts.target}.target.js`);
const targetName = path.basename(targetFile).replace(/\.target\.m?js$/, '').replace(/\.m?js$/, '');
if (!fs.existsSync(targetFile)) usage(`no such target: ${path.relative(root, targetFile)} (run \`npm run build\` first?)`);

const log = (line) => {
  if (!opts.quiet) process.stderr.write(`coverage-fuzz[${targetName}]: ${line}\n`);
};

// ---- coverage ----------------------------------------------------------------------------------

const session = new Session();
session.connect();
await session.post('Profiler.enable');
// Started before the target (and the code under test) is loaded, so every function has block counters.
await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });

const SRC_PREFIX = pathToFileURL(path.join(root, 'dist/src')).href + '/';
/** function key (url#start) → its known blocks. */
const functions = new Map();
/** Per block id: bitmask of the hit-count buckets seen. */
const seenBuckets = [];
let blocksCovered = 0;
let featureCount = 0;

function bucket(c) {
  return c === 1 ? 0 : c === 2 ? 1 : c === 3 ? 2 : c < 8 ? 3 : c < 16 ? 4 : c < 32 ? 5 : c < 128 ? 6 : 7;
}

/**
 * Counts (and records) the new features in a coverage report. V8 reports each executed
 * function's ranges in pre-order and leaves out a nested block whose count equals its parent's;
 * so a known block's count is that of the innermost reported range that contains it. Blocks
 * become known the first time they are reported (V8 reports unexecuted blocks with count 0).
 */
function newFeatures(result, record) {
  let fresh = 0;
  for (const script of result) {
    if (!script.url.startsWith(SRC_PREFIX)) continue;
    for (const fn of script.functions) {
      const ranges = fn.ranges;
      if (ranges.length === 0 || ranges[0].count === 0) continue;
      const key = `${script.url}#${ranges[0].startOffset}`;
      let rec = functions.get(key);
      if (rec === undefined) functions.set(key, (rec = { blocks: [], keys: new Set() }));
      for (const r of ranges) {
        const k = r.startOffset * 1e7 + r.endOffset;
        if (!rec.keys.has(k)) {
          rec.keys.add(k);
          rec.blocks.push({ s: r.startOffset, e: r.endOffset, id: seenBuckets.length });
          seenBuckets.push(0);
        }
      }
      for (const b of rec.blocks) {
        let c = ranges[0].count;
        for (let i = 1; i < ranges.length; i++) {
          const r = ranges[i];
          if (r.startOffset > b.s) break;
          if (b.e <= r.endOffset) c = r.count;
        }
        if (c === 0) continue;
        const bit = 1 << bucket(c);
        const had = seenBuckets[b.id];
        if ((had & bit) !== 0) continue;
        fresh++;
        if (record) {
          if (had === 0) blocksCovered++;
          featureCount++;
          seenBuckets[b.id] = had | bit;
        }
      }
    }
  }
  return fresh;
}

async function takeCoverage() {
  return (await session.post('Profiler.takePreciseCoverage')).result;
}

// ---- watchdog: an input that blocks the event loop -----------------------------------------

const ctl = new Int32Array(new SharedArrayBuffer(12)); // [sequence, running, length]
const current = new Uint8Array(new SharedArrayBuffer(1 << 20));
const watchdog = new Worker(
  `const { workerData: w } = require('node:worker_threads');
   const fs = require('node:fs'), path = require('node:path'), crypto = require('node:crypto');
   const c = new Int32Array(w.ctl);
   let last = -1, since = Date.now();
   setInterval(() => {
     const s = Atomics.load(c, 0);
     if (Atomics.load(c, 1) === 0 || s !== last) { last = s; since = Date.now(); return; }
     if (Date.now() - since < w.timeout + 1000) return;
     const input = Buffer.from(new Uint8Array(w.buf, 0, Atomics.load(c, 2)));
     const sha = crypto.createHash('sha1').update(input).digest('hex');
     fs.mkdirSync(w.dir, { recursive: true });
     const file = path.join(w.dir, w.target + '-' + sha + '.sip');
     fs.writeFileSync(file, input);
     fs.writeFileSync(file.replace(/\\.sip$/, '.txt'), 'timeout: the target blocked the event loop for more than ' + w.timeout + ' ms\\n');
     fs.writeSync(2, 'coverage-fuzz[' + w.target + ']: TIMEOUT: the target blocked the event loop for more than ' + w.timeout + ' ms; input written to ' + file + '\\n');
     if (w.json) fs.writeSync(1, 'FUZZ-RESULT ' + JSON.stringify({ target: w.target, seed: w.seed, crashes: [{ signature: 'timeout (event loop blocked)', file, count: 1, reproduced: false, input: input.length <= 8192 ? input.toString('base64') : undefined }] }) + '\\n');
     process.kill(process.pid, 'SIGKILL');
   }, 200);`,
  { eval: true, workerData: { ctl: ctl.buffer, buf: current.buffer, timeout: opts.timeout, dir: opts.crashes, target: targetName, seed: opts.seed, json: opts.json } },
);
watchdog.unref();

// ---- the target --------------------------------------------------------------------------------

const target = await import(pathToFileURL(targetFile).href);
if (typeof target.fuzz !== 'function') usage(`${path.relative(root, targetFile)} exports no fuzz function`);
const canSettle = typeof target.settle === 'function';

class Timeout extends Error {
  name = 'Timeout';
  signature = 'timeout';
}

/** Error class and the first two stack frames in the project's compiled code. */
function signatureOf(error) {
  if (error && typeof error.signature === 'string') return error.signature;
  if (!(error instanceof Error)) return `non-Error ${typeof error}`;
  const frames = (error.stack ?? '')
    .split('\n')
    .filter((l) => /^\s+at /.test(l) && /\/dist\/(src|test)\//.test(l))
    .slice(0, 2)
    .map((l) => l.replace(/^.*\/dist\//, 'dist/').replace(/\)$/, ''));
  return `${error.name}${error.code ? `(${error.code})` : ''} @ ${frames.join(' < ') || '?'}`;
}

/** Runs one input; returns the error it threw (or a Timeout), or undefined. */
async function run(buf) {
  const n = Math.min(buf.length, current.length);
  current.set(buf.subarray(0, n));
  Atomics.store(ctl, 2, n);
  Atomics.add(ctl, 0, 1);
  Atomics.store(ctl, 1, 1);
  try {
    const r = target.fuzz(buf);
    if (r && typeof r.then === 'function') {
      let timer;
      await Promise.race([r, new Promise((_, reject) => (timer = setTimeout(() => reject(new Timeout(`no return within ${opts.timeout} ms`)), opts.timeout)))]).finally(() => clearTimeout(timer));
    }
    return undefined;
  } catch (e) {
    return e ?? new Error('threw undefined');
  } finally {
    Atomics.store(ctl, 1, 0);
  }
}

async function settle(ms) {
  if (!canSettle || ms <= 0) return undefined;
  try {
    await target.settle(ms);
    return undefined;
  } catch (e) {
    return e;
  }
}

async function fresh() {
  if (typeof target.close === 'function') await target.close();
}

// ---- corpus ------------------------------------------------------------------------------------

function filesUnder(p, out = []) {
  let st;
  try {
    st = fs.statSync(p);
  } catch {
    return out;
  }
  if (st.isFile()) {
    out.push(p);
    return out;
  }
  for (const e of fs.readdirSync(p, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.name.startsWith('.')) continue;
    const q = path.join(p, e.name);
    if (e.isDirectory()) filesUnder(q, out);
    else if (e.isFile() && !/\.(md|txt|tsv|json)$/i.test(e.name) && e.name !== 'SHA256SUMS') out.push(q);
  }
  return out;
}

function seedFiles() {
  const files = [];
  if (opts.defaultCorpus && !(opts.replay && opts.corpus.length > 0)) {
    const shared = path.resolve(root, '../shared/conformance');
    for (const suite of ['rfc4475', 'rfc5118']) files.push(...filesUnder(path.join(shared, suite)).filter((f) => f.endsWith('.dat')));
    if (files.length === 0) log(`no seeds in ${shared} (rfc4475, rfc5118): starting from test/fuzz/corpus only`);
    files.push(...filesUnder(path.join(root, 'test/fuzz/corpus')));
  }
  for (const c of opts.corpus) files.push(...filesUnder(c));
  return files;
}

const sha1 = (b) => crypto.createHash('sha1').update(b).digest('hex');

// ---- crashes -----------------------------------------------------------------------------------

const crashes = new Map(); // signature → record
/**
 * How long triage waits after an input for a crash on a timer: the receive-path target's
 * longest timers (Timers B, F, H, J: 64·T1 = 640 ms there) and the 100 Trying (200 ms) fire within it.
 */
const SETTLE_MS = 800;
const history = []; // the most recent inputs (async targets: a crash may belong to an earlier one)
const HISTORY = 512;
let started = Date.now();
let execs = 0;

/** The first `n` lines, each cut at 400 characters (an error message may quote a whole input). */
const firstLines = (s, n) =>
  String(s ?? '')
    .split('\n')
    .slice(0, n)
    .map((l) => (l.length > 400 ? `${l.slice(0, 400)}… [${l.length - 400} more characters]` : l))
    .join('\n');

/** Does `inputs` (on fresh servers, in order, then a settle) crash with `sig`? */
async function crashesWith(inputs, sig, settleMs) {
  await fresh();
  for (const x of inputs) {
    const e = await run(x);
    execs++;
    if (e && signatureOf(e) === sig) return e;
  }
  const e = await settle(settleMs);
  return e && signatureOf(e) === sig ? e : undefined;
}

/** Finds which recent input the crash belongs to (see the file head). */
async function triage(input, sig, deadline) {
  const settleMs = canSettle ? SETTLE_MS : 0;
  let e = await crashesWith([input], sig, 0);
  if (e) return { input, error: e, how: 'reproduced alone' };
  if (canSettle) {
    e = await crashesWith([input], sig, settleMs);
    if (e) return { input, error: e, how: `reproduced alone, ${settleMs} ms after the input (a timer)` };
  }
  if (!canSettle || history.length <= 1) return { input, error: undefined, how: 'did not reproduce alone' };
  let cands = history.slice();
  e = await crashesWith(cands, sig, settleMs);
  if (!e) return { input, error: undefined, how: `did not reproduce, alone or after the last ${cands.length} inputs` };
  while (cands.length > 1 && Date.now() < deadline) {
    const half = Math.ceil(cands.length / 2);
    const later = cands.slice(half);
    const earlier = cands.slice(0, half);
    if ((e = await crashesWith(later, sig, settleMs))) cands = later;
    else if ((e = await crashesWith(earlier, sig, settleMs))) cands = earlier;
    else break;
  }
  if (cands.length === 1) {
    const alone = await crashesWith(cands, sig, settleMs);
    if (alone) return { input: cands[0], error: alone, how: `an earlier input (${history.length - 1 - history.lastIndexOf(cands[0])} before the one running), found by bisecting the recent inputs; crashes alone within ${settleMs} ms` };
  }
  return { input, error: undefined, sequence: cands, how: `needs ${cands.length} inputs together (kept in the .txt as base64)` };
}

/** Removes header lines, then byte ranges, as long as the crash signature stays. */
async function minimize(input, sig, settleMs, deadline) {
  let best = input;
  let budget = opts.minimize;
  const still = async (cand) => {
    budget--;
    if (Date.now() > deadline) budget = 0;
    return (await crashesWith([cand], sig, settleMs)) !== undefined;
  };
  // Header lines (the start line stays).
  for (let changed = true; changed && budget > 0; ) {
    changed = false;
    const s = best.toString('latin1');
    const { head, tail } = splitHead(s);
    const eol = head.includes('\r\n') ? '\r\n' : '\n';
    const ls = head.split(eol);
    for (let k = ls.length - 1; k >= 1 && budget > 0; k--) {
      const cand = Buffer.from([...ls.slice(0, k), ...ls.slice(k + 1)].join(eol) + tail, 'latin1');
      if (await still(cand)) {
        best = cand;
        changed = true;
        break;
      }
    }
  }
  // Byte ranges, halving the chunk size.
  for (let chunk = Math.max(1, best.length >> 2); chunk >= 1 && budget > 0; chunk >>= 1) {
    for (let i = 0; i + chunk <= best.length && budget > 0; ) {
      const cand = Buffer.concat([best.subarray(0, i), best.subarray(i + chunk)]);
      if (await still(cand)) best = cand;
      else i += chunk;
    }
  }
  return best;
}

async function onCrash(input, error, replayedFile) {
  const sig = signatureOf(error);
  const known = crashes.get(sig);
  if (known) {
    known.count++;
    return;
  }
  const rec = { signature: sig, count: 1, file: undefined, reproduced: false, how: '', stack: '', input: undefined };
  crashes.set(sig, rec);
  log(`CRASH ${sig}\n${firstLines(error.stack ?? error, 12)}`);
  let culprit = input;
  let err = error;
  let sequence;
  // A seed file that crashes alone (an open regression) is its own record: nothing is written.
  // (A crash on a timer may surface during a later seed: then it is triaged like any other.)
  const seedAlone = replayedFile && !opts.replay ? await crashesWith([input], sig, canSettle ? SETTLE_MS : 0) : undefined;
  if (replayedFile && (opts.replay || seedAlone)) {
    Object.assign(rec, { reproduced: true, how: opts.replay ? 'replayed' : 'a seed file', file: replayedFile, stack: firstLines((seedAlone ?? error)?.stack ?? String(error), 40) });
    rec.input = input.length <= 8192 ? input.toString('base64') : undefined;
    await fresh();
    return;
  } else {
    // One time bound for the bisection and the minimisation of this crash.
    const deadline = Date.now() + opts.triageSeconds * 1000;
    const t = await triage(input, sig, deadline);
    culprit = t.input;
    sequence = t.sequence;
    rec.how = t.how;
    rec.reproduced = t.error !== undefined;
    if (t.error) err = t.error;
    if (rec.reproduced && opts.minimize > 0) {
      const settleMs = /timer/.test(t.how) || /bisect/.test(t.how) ? SETTLE_MS : 0;
      const small = await minimize(culprit, sig, settleMs, deadline);
      if (small.length < culprit.length) {
        rec.how += `; minimised from ${culprit.length} to ${small.length} bytes`;
        culprit = small;
        // The error as the minimised input gives it (the report shows what this input does).
        err = (await crashesWith([culprit], sig, settleMs)) ?? err;
      }
    }
    await fresh();
  }
  const sha = sha1(culprit);
  fs.mkdirSync(opts.crashes, { recursive: true });
  rec.file = path.join(opts.crashes, `${targetName}-${sha}.sip`);
  fs.writeFileSync(rec.file, culprit);
  rec.stack = firstLines(err?.stack ?? String(err), 40);
  rec.input = culprit.length <= 8192 ? culprit.toString('base64') : undefined;
  const report = [
    `target: ${targetName}`,
    `signature: ${sig}`,
    `found: ${new Date().toISOString()}, seed ${opts.seed}, after ${execs} executions`,
    `reproduced: ${rec.reproduced ? 'yes' : 'no'} (${rec.how})`,
    `input (${culprit.length} bytes, JSON string): ${JSON.stringify(culprit.toString('latin1'))}`,
    '',
    rec.stack,
    ...(sequence ? ['', 'inputs that crash together (base64, in order):', ...sequence.map((b) => b.toString('base64'))] : []),
    '',
  ].join('\n');
  fs.writeFileSync(rec.file.replace(/\.sip$/, '.txt'), report);
  log(`crash written to ${path.relative(root, rec.file)} (reproduced: ${rec.reproduced ? 'yes' : 'no'}, ${rec.how})`);
}

// ---- main --------------------------------------------------------------------------------------

const rnd = prng(opts.seed);
const dict = new Dictionary();
const corpus = [];
const seeds = seedFiles();
log(`target ${path.relative(root, targetFile)}, seed ${opts.seed}, ${seeds.length} seed file(s)${opts.replay ? ', replay' : ''}`);
await takeCoverage(); // what loading the target ran

let lastReport = Date.now();
const progress = (force = false) => {
  if (!force && Date.now() - lastReport < 5000) return;
  lastReport = Date.now();
  const s = (Date.now() - started) / 1000;
  log(`#${execs} ${s.toFixed(0)}s cov: ${blocksCovered} blocks, ${featureCount} features, corpus ${corpus.length}, ${(execs / Math.max(s, 0.001)).toFixed(0)} exec/s, crashes ${crashes.size}`);
};

async function execute(buf, { keep, file } = {}) {
  const error = await run(buf);
  execs++;
  const result = await takeCoverage();
  if (canSettle) {
    history.push(buf);
    if (history.length > HISTORY) history.shift();
  }
  if (error !== undefined) {
    // A seed file that crashes (an open regression) is reported as it is: it is a file already.
    if (file) log(`${path.relative(root, file)}: ${signatureOf(error)}`);
    await onCrash(buf, error, file);
    history.length = 0;
    return;
  }
  const n = newFeatures(result, true);
  if (n > 0 || keep) {
    corpus.push(buf);
    dict.learn(buf.toString('latin1'));
    if (opts.saveCorpus && n > 0 && !keep) {
      fs.mkdirSync(opts.saveCorpus, { recursive: true });
      fs.writeFileSync(path.join(opts.saveCorpus, `${targetName}-${sha1(buf)}.sip`), buf);
    }
  }
}

started = Date.now();
const done = () =>
  (opts.runs !== undefined && execs >= opts.runs) || (opts.seconds !== undefined && Date.now() - started >= opts.seconds * 1000) || (opts.stopOnCrash && crashes.size > 0);

/** --replay: one entry per file, `crash` the signature or null. */
const replayed = [];
if (opts.replay) {
  // Each file alone, on a fresh target (for the receive path: fresh servers), then --settle ms.
  for (const f of seeds) {
    const buf = fs.readFileSync(f);
    await fresh();
    let e = await run(buf);
    execs++;
    newFeatures(await takeCoverage(), true);
    if (e === undefined) e = await settle(opts.settle);
    const rel = path.relative(root, f);
    replayed.push({ file: rel, crash: e === undefined ? null : signatureOf(e), detail: e === undefined ? undefined : firstLines(e.stack ?? String(e), 40) });
    if (e !== undefined) {
      log(`${rel}: ${signatureOf(e)}`);
      await onCrash(buf, e, f);
    }
  }
} else {
  for (const f of seeds) {
    if (done()) break;
    await execute(fs.readFileSync(f), { keep: true, file: f });
    progress();
  }
  if (corpus.length === 0) corpus.push(Buffer.from('OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n'));
  const others = () => corpus[Math.floor(rnd() * corpus.length)].toString('latin1');
  const mutate = makeMutator(rnd, dict, others);
  while (!done()) {
    // Half the time one of the latest finds (they are where the frontier is), else any entry.
    const i = rnd() < 0.5 ? corpus.length - 1 - Math.floor(rnd() * Math.min(32, corpus.length)) : Math.floor(rnd() * corpus.length);
    const input = Buffer.from(mutate(corpus[i].toString('latin1'), opts.maxLen), 'latin1');
    await execute(input);
    progress();
  }
}

progress(true);
await fresh();
await session.post('Profiler.stopPreciseCoverage').catch(() => {});
session.disconnect();

const seconds = (Date.now() - started) / 1000;
const summary = {
  target: targetName,
  seed: opts.seed,
  mode: opts.replay ? 'replay' : 'fuzz',
  execs,
  seconds: Number(seconds.toFixed(1)),
  execsPerSecond: Math.round(execs / Math.max(seconds, 0.001)),
  seeds: seeds.length,
  corpus: corpus.length,
  blocks: blocksCovered,
  features: featureCount,
  crashes: [...crashes.values()],
  ...(opts.replay ? { replayed } : {}),
};
const plural = (n, w) => `${n} ${w}${n === 1 ? '' : 's'}`;
process.stderr.write(
  `coverage-fuzz[${targetName}]: ${plural(execs, 'execution')} in ${summary.seconds} s (${summary.execsPerSecond}/s), ${summary.blocks} blocks / ${summary.features} features covered, corpus ${summary.corpus}, ${(crashes.size === 1 ? '1 crash' : `${crashes.size} crashes`)}` +
    (crashes.size ? `:\n${summary.crashes.map((c) => `  ${c.signature} ×${c.count} → ${path.relative(root, c.file)}`).join('\n')}` : '') + '\n',
);
process.exitCode = crashes.size > 0 ? 1 : 0;
// The target's servers are closed; leftover handles (a worker, an inspector session) must not
// keep us. Exit once the result line is written out (a pipe is written asynchronously).
const exit = () => process.exit(process.exitCode);
if (opts.json) process.stdout.write(`FUZZ-RESULT ${JSON.stringify(summary)}\n`, exit);
else setTimeout(exit, 50);
