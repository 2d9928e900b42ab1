#!/usr/bin/env node
/**
 * Switchboard benchmark runner: the parser micro-benchmark, and Switchboard against Kamailio
 * (the reference) as a registrar and as a proxy, measured side by side in one run with the
 * SIPp load harness of ../shared/bench (see its README.md and BENCHMARKS.md).
 *
 * Usage (after `npm run build`; `npm run bench` builds first):
 *   node bench/run-bench.mjs [parser|register|proxy|b2bua|dialplan|presence|operations|nat|all]      (default all)
 *
 * `presence` (issue 16; not part of `all`) is Switchboard's presence role against Kamailio's
 * presence + presence_xml + db_sqlite (bench/kamailio/presence.cfg, one UDP worker), with the raw
 * SIP client bench/presence-fanout.mjs instead of SIPp: CPU per SUBSCRIBE/NOTIFY pair over 1,000
 * initial subscriptions, and NOTIFYs/s when one PUBLISH fans out to those 1,000 watchers.
 *
 * `nat` (issue 18; not part of `all`) is the proxy with the media relay on for every call: SIPp's
 * `call` (its INVITE carries an SDP offer, the uas's 200 the answer) through Kamailio's rtpengine
 * module (bench/kamailio/nat-rtpengine.cfg: rtpengine_offer/answer/delete) and Switchboard's relay
 * (bench/nat-bench.yaml, `media.relay: always`), each driving its own rtpengine (/usr/bin/rtpengine,
 * userspace, started per round and stopped by pid; ng udp:127.0.0.1:22231 / 22232, RTP ports
 * 61000-62999 / 63000-64999), at BENCH_NAT_RATE calls/s. The proxy's CPU per call and rtpengine's
 * are reported apart, with rtpengine's own count of offers/answers/deletes (every call must have
 * had each, and no session may be left), and by default the two proxies without the relay.
 *
 * Environment (all optional):
 *   BENCH_ROUNDS=3        interleaved rounds (Kamailio, then Switchboard) per scenario
 *   BENCH_RATE=1000       calls (registrations) per second of the fixed-rate runs
 *   BENCH_DURATION=15     seconds of load per run
 *   BENCH_FIND_MAX=1      0 skips the highest-rate searches (find-max.sh)
 *   BENCH_MAX_CEILING=8000  cap of the highest-rate searches (calls or registrations per second)
 *   BENCH_MAX_START_CALL=500, BENCH_MAX_START_REGISTER=250  first rate of the searches
 *   BENCH_PAUSE_S=3       rest between runs
 *   BENCH_WARMUP_S=5      seconds of load at BENCH_RATE right before each fixed-rate run, on the
 *                         same server process (every server, Kamailio too); recorded, not counted
 *   BENCH_PROXY_WORKERS=2 the proxy part also measures `serve --workers N` (1: only the single process)
 *   BENCH_FLOOR=1         the register part also measures bench/udp-floor.mjs, the least a Node.js
 *                         process can do to pass the scenario (0: not)
 *   BENCH_PRESENCE_WATCHERS=1000  watchers (subscriptions) of the presence part
 *   BENCH_PRESENCE_RATE=1000      SUBSCRIBEs per second (at most 200 unfinished at once)
 *   BENCH_PRESENCE_PUBLISHES=5    measured fan-outs per server start (after 1 warm-up fan-out)
 *   BENCH_PRESENCE_MEMORY=1       also Switchboard with `--store memory` (0: only `--store sqlite`)
 *   BENCH_PRESENCE_KAM_CHILDREN=1 Kamailio's UDP workers in the presence part (see presence.cfg)
 *   BENCH_NAT_RATE=200            calls per second of the nat part (warm-up included)
 *   BENCH_NAT_BASELINE=1          the nat part also measures both proxies without the relay (0: not)
 *   BENCH_NAT_SWITCHBOARD=1       0: the nat part measures Kamailio only (with and without rtpengine)
 *   SHARED_BENCH=../shared/bench   the harness (relative to the repo root)
 *
 * Everything runs on 127.0.0.1 (server 5070, SIPp uas 5090, SIPp uac 5061), every run is
 * bounded in time (sipp-load.sh bounds SIPp itself; this script adds a hard timeout per
 * command), and every process started here is stopped by its pid (Kamailio through
 * `kamailio.sh stop 5070`, which stops it by the pid in its pid file).
 *
 * Output: progress on stderr, a summary table on stdout, and in bench/results/:
 *   <stamp>-<selection>.log   machine, commands, every raw PARSER_BENCH / SIPP_LOAD / MAX line
 *   <stamp>-<selection>.json  the same, parsed, with the medians and ratios of the summary
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const SHARED = path.resolve(ROOT, process.env.SHARED_BENCH ?? '../shared/bench');
const CLI = path.join(ROOT, 'dist/src/app/cli/main.js');
const PARSER_JS = path.join(ROOT, 'dist/bench/parse.bench.js');
const PROXY_CFG = path.join(ROOT, 'examples/proxy-bench.yaml');
const REGISTRAR_CFG = path.join(HERE, 'registrar-bench.yaml');
const B2BUA_CFG = path.join(ROOT, 'examples/callflow-4-b2bua.yaml');
const PRESENCE_CFG = path.join(HERE, 'presence-bench.yaml');
const KAM_PRESENCE_CFG = path.join(HERE, 'kamailio/presence.cfg');
const FANOUT_JS = path.join(HERE, 'presence-fanout.mjs');
const RESULTS = path.join(HERE, 'results');

const env = (k, d) => {
  const v = process.env[k];
  if (v === undefined || v === '') return d;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) die(`${k} must be a non-negative number (got '${v}')`);
  return n;
};
const ROUNDS = env('BENCH_ROUNDS', 3);
const RATE = env('BENCH_RATE', 1000);
const DURATION = env('BENCH_DURATION', 15);
const FIND_MAX = env('BENCH_FIND_MAX', 1) !== 0;
const MAX_CEILING = env('BENCH_MAX_CEILING', 8000);
const MAX_START = { call: env('BENCH_MAX_START_CALL', 500), register: env('BENCH_MAX_START_REGISTER', 250) };
const PAUSE_S = env('BENCH_PAUSE_S', 3);
const PROXY_WORKERS = env('BENCH_PROXY_WORKERS', 2);
const WARMUP_S = env('BENCH_WARMUP_S', 5);
const FLOOR = env('BENCH_FLOOR', 1) !== 0;
// The b2bua part's held calls: how many, set up at what rate, held how long (0 calls: skipped).
const HELD_CALLS = env('BENCH_HELD_CALLS', 1000);
const HELD_RATE = env('BENCH_HELD_RATE', 200);
const HELD_S = env('BENCH_HELD_S', 45);
// The presence part.
const PRESENCE_WATCHERS = env('BENCH_PRESENCE_WATCHERS', 1000);
const PRESENCE_RATE = env('BENCH_PRESENCE_RATE', 1000);
const PRESENCE_PUBLISHES = env('BENCH_PRESENCE_PUBLISHES', 5);
const PRESENCE_MEMORY = env('BENCH_PRESENCE_MEMORY', 1) !== 0;
const PRESENCE_KAM_CHILDREN = env('BENCH_PRESENCE_KAM_CHILDREN', 1);

const PORT = 5070;
const TARGET = `127.0.0.1:${PORT}`;
const PORTS = [PORT, 5090, 5061];

// ---- small helpers ---------------------------------------------------------------------------

function die(msg) {
  process.stderr.write(`run-bench: ${msg}\n`);
  process.exit(2);
}
const log = (msg) => process.stderr.write(`[run-bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const raw = []; // every line for the .log file
function record(line) {
  raw.push(line);
  if (logFile) fs.appendFileSync(logFile, line + '\n');
}

/** key=value pairs of a SIPP_LOAD / MAX / PARSER_BENCH line. */
function kv(line) {
  const o = {};
  for (const tok of line.trim().split(/\s+/).slice(1)) {
    const i = tok.indexOf('=');
    if (i > 0) o[tok.slice(0, i)] = tok.slice(i + 1);
  }
  return o;
}

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}
const num = (x) => (x === undefined || x === 'na' || x === '' ? null : Number(x));

/** Processes started by this script that are still alive: pid -> description. */
const live = new Map();

/**
 * Runs a command to completion with a hard timeout (SIGTERM to its pid, SIGKILL 5 s later);
 * stdout is returned, stderr passed through with a prefix.
 */
function run(cmd, args, { timeoutMs, label, input, env: extraEnv } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: extraEnv ? { ...process.env, ...extraEnv } : process.env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const desc = `${label ?? path.basename(cmd)} (${[cmd, ...args].join(' ')})`;
    live.set(child.pid, desc);
    let out = '';
    let errBuf = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => {
      errBuf += d;
      let i;
      while ((i = errBuf.indexOf('\n')) >= 0) {
        process.stderr.write(`  | ${errBuf.slice(0, i)}\n`);
        errBuf = errBuf.slice(i + 1);
      }
    });
    if (input !== undefined) child.stdin.end(input);
    let timedOut = false;
    let killTimer;
    const timer = timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          log(`timeout after ${timeoutMs / 1000} s: stopping pid ${child.pid} (${desc})`);
          try { process.kill(child.pid, 'SIGTERM'); } catch { /* gone */ }
          killTimer = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
        }, timeoutMs)
      : undefined;
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      live.delete(child.pid);
      if (errBuf) process.stderr.write(`  | ${errBuf}\n`);
      resolve({ code, signal, out, timedOut });
    });
  });
}

function udpBound(port) {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try { text = fs.readFileSync(file, 'utf8'); } catch { continue; }
    for (const l of text.split('\n').slice(1)) if (l.trim().split(/\s+/)[1]?.endsWith(hex)) return true;
  }
  return false;
}

/** Fails clearly when one of the bench ports is in use (names the owner from `ss -lunp`). */
function checkPortsFree(when) {
  const busy = PORTS.filter(udpBound);
  if (busy.length === 0) return;
  const ss = spawnSync('ss', ['-lunp'], { encoding: 'utf8' }).stdout ?? '';
  const lines = ss.split('\n').filter((l) => busy.some((p) => l.includes(`:${p} `)));
  die(`${when}: UDP port(s) ${busy.join(', ')} already in use:\n${lines.join('\n')}\n(stop whatever holds them, or wait for other tests to finish)`);
}

async function waitPortsFree(ms = 10000) {
  const end = Date.now() + ms;
  while (PORTS.some(udpBound) && Date.now() < end) await sleep(200);
}

function stopPid(pid, desc, graceMs = 10000) {
  return new Promise((resolve) => {
    const alive = () => { try { process.kill(pid, 0); return true; } catch { return false; } };
    if (!alive()) { live.delete(pid); return resolve(); }
    log(`stopping ${desc} (pid ${pid})`);
    try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
    const end = Date.now() + graceMs;
    const tick = () => {
      if (!alive()) { live.delete(pid); return resolve(); }
      if (Date.now() > end) {
        log(`pid ${pid} still alive after ${graceMs / 1000} s: SIGKILL`);
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        live.delete(pid);
        return setTimeout(resolve, 200);
      }
      setTimeout(tick, 100);
    };
    tick();
  });
}

// ---- servers -----------------------------------------------------------------------------

const KAM = path.join(SHARED, 'kamailio.sh');
let kamailioRunning = false;

async function startKamailio(kind, extraEnv) {
  checkPortsFree(`before starting Kamailio ${kind}`);
  const r = await run(KAM, ['start', kind, String(PORT)], { timeoutMs: 30000, label: 'kamailio.sh start', env: extraEnv });
  const pid = Number(r.out.trim().split('\n').pop());
  if (r.code !== 0 || !Number.isInteger(pid) || pid <= 0) die(`kamailio.sh start ${kind} failed (rc ${r.code}): ${r.out}`);
  kamailioRunning = true;
  log(`Kamailio ${kind} up, main pid ${pid}`);
  return pid;
}

async function stopKamailio() {
  if (!kamailioRunning) return;
  await run(KAM, ['stop', String(PORT)], { timeoutMs: 30000, label: 'kamailio.sh stop' });
  kamailioRunning = false;
  await waitPortsFree();
}

let scratch; // temp dir for the registrar databases and the server logs

/** Fresh SQLite database with user0000..user9999 / secret in realm 127.0.0.1. */
async function freshRegistrarDb(tag) {
  const db = path.join(scratch, `registrar-${tag}.db`);
  const csv = path.join(scratch, 'users.csv');
  if (!fs.existsSync(csv)) {
    let s = '';
    for (let i = 0; i < 10000; i++) s += `user${String(i).padStart(4, '0')},secret,127.0.0.1\n`;
    fs.writeFileSync(csv, s);
  }
  const r = await run(process.execPath, [CLI, 'user', 'import', csv, '--config', REGISTRAR_CFG, '--db', db, '--domain', '127.0.0.1'], {
    timeoutMs: 120000, label: 'switchboard user import',
  });
  if (r.code !== 0) die(`switchboard user import failed (rc ${r.code}): ${r.out}`);
  return db;
}

async function startSwitchboard(kind, tag, extra = []) {
  checkPortsFree(`before starting Switchboard ${kind}`);
  const args = [CLI, 'serve', '--config', kind === 'registrar' ? REGISTRAR_CFG : kind === 'b2bua' ? B2BUA_CFG : kind === 'presence' ? PRESENCE_CFG : PROXY_CFG, ...extra];
  if (kind === 'registrar') args.push('--db', await freshRegistrarDb(tag));
  return launchSwitchboard(args, kind, `switchboard-${kind}-${tag}.log`);
}

/** Runs `serve` with `args`, its output in the scratch log; up once the port is bound and it answers OPTIONS. */
async function launchSwitchboard(args, label, logName) {
  const logPath = path.join(scratch, logName);
  const fd = fs.openSync(logPath, 'w');
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const desc = `Switchboard ${label} (node ${args.slice(1).map((a) => (a.startsWith(ROOT) ? path.relative(ROOT, a) : a)).join(' ')})`;
  live.set(child.pid, desc);
  child.on('exit', () => live.delete(child.pid));
  const end = Date.now() + 30000;
  let ready = false;
  while (Date.now() < end && live.has(child.pid)) {
    if (udpBound(PORT)) {
      const o = spawnSync(process.execPath, [CLI, 'options', `sip:${TARGET}`], { cwd: ROOT, timeout: 5000, stdio: 'ignore' });
      if (o.status === 0) { ready = true; break; }
    }
    await sleep(200);
  }
  if (!ready) {
    await stopPid(child.pid, desc);
    die(`${desc} did not answer OPTIONS on ${TARGET} within 30 s; log: ${logPath}\n${fs.readFileSync(logPath, 'utf8').slice(-2000)}`);
  }
  log(`Switchboard ${label} up, pid ${child.pid} (log ${logPath})`);
  await sleep(500);
  return { pid: child.pid, desc };
}

/**
 * The Node.js floor (bench/udp-floor.mjs): not a registrar, the least a Node.js process can do to
 * pass the register scenario. Measured beside Kamailio so the ratio any Node.js registrar starts
 * from comes out of the same run.
 */
async function startFloor(tag) {
  checkPortsFree('before starting the Node.js floor');
  const args = [path.join(HERE, 'udp-floor.mjs'), String(PORT)];
  const logPath = path.join(scratch, `udp-floor-${tag}.log`);
  const fd = fs.openSync(logPath, 'w');
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const desc = `Node.js floor (node ${path.relative(ROOT, args[0])} ${PORT})`;
  live.set(child.pid, desc);
  child.on('exit', () => live.delete(child.pid));
  const end = Date.now() + 15000;
  while (Date.now() < end && live.has(child.pid) && !udpBound(PORT)) await sleep(100);
  if (!udpBound(PORT)) {
    await stopPid(child.pid, desc, 3000);
    die(`${desc} did not bind UDP ${PORT} (log ${logPath})`);
  }
  log(`Node.js floor up, pid ${child.pid}`);
  await sleep(500);
  return { pid: child.pid, desc };
}

async function stopSwitchboard(sb) {
  await stopPid(sb.pid, sb.desc);
  await waitPortsFree();
}

// ---- measurements ------------------------------------------------------------------------

const SIPP_LOAD = path.join(SHARED, 'sipp-load.sh');
/** Extra environment for sipp-load.sh in the current part (the dial-plan part dials a number). */
let sippEnv;
const FIND_MAX_SH = path.join(SHARED, 'find-max.sh');

/**
 * A short run at the bench rate on the server about to be measured, so the measured run sees
 * the steady state: a Node.js process compiles its hot paths in its first seconds of load (each
 * worker separately), which a C server does not need. Every server gets the same warm-up.
 */
async function warmUp(server, scenario, pid) {
  if (WARMUP_S <= 0) return;
  const args = [TARGET, scenario, String(RATE), String(WARMUP_S), String(pid)];
  log(`${server}: warm-up sipp-load.sh ${args.join(' ')}`);
  record(`# ${server}: warm-up ${path.relative(ROOT, SIPP_LOAD)} ${args.join(' ')}`);
  const r = await run(SIPP_LOAD, args, { timeoutMs: (WARMUP_S + 60) * 1000, label: 'sipp-load.sh (warm-up)', env: sippEnv });
  const line = r.out.split('\n').find((l) => l.startsWith('SIPP_LOAD '));
  if (line) record(`${line} server=${server} warmup=1`);
  await sleep(PAUSE_S * 1000);
}

async function sippLoad(server, scenario, pid) {
  await warmUp(server, scenario, pid);
  const args = [TARGET, scenario, String(RATE), String(DURATION), String(pid)];
  log(`${server}: sipp-load.sh ${args.join(' ')}`);
  record(`# ${server}: ${path.relative(ROOT, SIPP_LOAD)} ${args.join(' ')}`);
  const r = await run(SIPP_LOAD, args, { timeoutMs: (DURATION + 60) * 1000, label: 'sipp-load.sh', env: sippEnv });
  const line = r.out.split('\n').find((l) => l.startsWith('SIPP_LOAD ')) ?? `SIPP_LOAD scenario=${scenario} rate_target=${RATE} verdict=ERROR rc=${r.code}`;
  record(`${line} server=${server}`);
  const o = kv(line);
  log(`${server}: ${o.verdict} rate=${o.rate_achieved} cpu_us/call=${o.server_cpu_us_per_call} p99=${o.rt_p99_ms} ms retrans=${o.retrans}/${o.uas_retrans} other_cpu_s=${o.other_cpu_s}`);
  return { server, ...o };
}

async function findMax(server, scenario, pid) {
  const args = [TARGET, scenario, String(pid), String(DURATION), String(MAX_START[scenario]), String(MAX_CEILING)];
  log(`${server}: find-max.sh ${args.join(' ')}`);
  record(`# ${server}: ${path.relative(ROOT, FIND_MAX_SH)} ${args.join(' ')}`);
  // at most log2(ceiling/start)+1 doubling runs + 3 bisection runs, each <= DURATION+15+pause s
  const maxRuns = Math.ceil(Math.log2(MAX_CEILING / MAX_START[scenario])) + 1 + 3;
  const r = await run(FIND_MAX_SH, args, { timeoutMs: maxRuns * (DURATION + 40) * 1000, label: 'find-max.sh' });
  const runs = [];
  let max = null;
  for (const l of r.out.split('\n')) {
    if (l.startsWith('SIPP_LOAD ')) { record(`${l} server=${server} search=1`); runs.push(kv(l)); }
    if (l.startsWith('MAX ')) { record(`${l} server=${server} ceiling=${MAX_CEILING}`); max = kv(l); }
  }
  if (!max) max = { max_pass_rate: 'na', first_fail_rate: 'na', error: `find-max rc ${r.code}` };
  log(`${server}: MAX ${max.max_pass_rate} (first fail ${max.first_fail_rate})`);
  return { server, ...max, ceiling: MAX_CEILING, runs: runs.map((x) => ({ rate: x.rate_target, verdict: x.verdict, cpu_us: x.server_cpu_us_per_call, other_cpu_s: x.other_cpu_s })) };
}

function summarise(runs) {
  const pick = (k) => median(runs.map((r) => num(r[k])));
  return {
    runs: runs.length,
    pass: runs.filter((r) => r.verdict === 'PASS').length,
    rate_achieved: pick('rate_achieved'),
    cpu_us_per_call: pick('server_cpu_us_per_call'),
    rt_p99_ms: pick('rt_p99_ms'),
    retrans: pick('retrans'),
    uas_retrans: pick('uas_retrans'),
    calls_failed: pick('calls_failed'),
    calls_unfinished: pick('calls_unfinished'),
    other_cpu_s: pick('other_cpu_s'),
    other_cpu_s_max: Math.max(...runs.map((r) => num(r.other_cpu_s) ?? 0)),
    cpu_pressure_pct: pick('cpu_pressure_pct'),
    all_cpu_us: runs.map((r) => r.server_cpu_us_per_call),
    verdicts: runs.map((r) => r.verdict),
  };
}

/**
 * part 'register' (SIPp scenario register, registrars) or 'proxy' (SIPp scenario call, proxies).
 * The proxy part measures Switchboard twice: one process, and `--workers N` (as Kamailio runs
 * its 2 UDP children).
 */
async function sideBySide(part) {
  const scenario = part === 'register' ? 'register' : 'call';
  const kamKind = part === 'register' ? 'registrar' : part === 'dialplan' ? KAM_DIALPLAN_CFG : 'proxy';
  const ADMIN = '127.0.0.1:18080';
  // The b2bua part: Switchboard's B2BUA (examples/callflow-4-b2bua.yaml, the same path SIPp uac →
  // 5070 → SIPp uas 5090) beside Kamailio's proxy and Switchboard's own proxy on that path.
  const variants = part === 'b2bua' ? [{ key: 'switchboard', kind: 'b2bua', extra: [] }, { key: 'switchboard_proxy', kind: 'proxy', extra: [] }]
    // The dial-plan part: Switchboard's proxy without a plan (its defaultRoute) and with the
    // 10,000-peer plan, beside Kamailio's dialplan module on the same table.
    : part === 'dialplan' ? [{ key: 'switchboard', kind: 'proxy', extra: [] }, { key: 'switchboard_dialplan', kind: 'proxy', extra: ['--dial-plan', dialPlanFile] }]
    // The operations part: what watching costs the proxy — nothing watched (`--log-level warn`:
    // no call log), the default (info: a log line per call start/answer/end), and the admin
    // listener on (call log, the 10,000-message buffer and the Prometheus counters).
    : part === 'operations' ? [{ key: 'switchboard', kind: 'proxy', extra: ['--log-level', 'warn'] }, { key: 'switchboard_log', kind: 'proxy', extra: [] }, { key: 'switchboard_admin', kind: 'proxy', extra: ['--admin', ADMIN] }]
    : [{ key: 'switchboard', extra: [] }];
  if (part === 'proxy' && PROXY_WORKERS > 1) variants.push({ key: `switchboard_${PROXY_WORKERS}w`, extra: ['--workers', String(PROXY_WORKERS)] });
  // The register part also measures the Node.js floor (fixed rate only: it is a reference line,
  // not a server whose highest rate matters).
  if (part === 'register' && FLOOR) variants.push({ key: 'node_floor', floor: true });
  const out = { part, scenario, rate: RATE, duration_s: DURATION, rounds: ROUNDS, variants: variants.map((v) => v.key), kamailio: [] };
  for (const v of variants) out[v.key] = [];
  for (let i = 1; i <= ROUNDS; i++) {
    log(`== ${part}: round ${i}/${ROUNDS}`);
    const kpid = await startKamailio(kamKind);
    try { out.kamailio.push(await sippLoad('kamailio', scenario, kpid)); } finally { await stopKamailio(); }
    await sleep(PAUSE_S * 1000);
    for (const v of variants) {
      const sb = v.floor ? await startFloor(`${part}-${i}`) : await startSwitchboard(v.kind ?? kamKind, `${part}-${v.key}-${i}`, v.extra);
      try { out[v.key].push(await sippLoad(v.key, scenario, sb.pid)); } finally { await stopSwitchboard(sb); }
      await sleep(PAUSE_S * 1000);
    }
  }
  out.summary = { kamailio: summarise(out.kamailio) };
  for (const v of variants) out.summary[v.key] = summarise(out[v.key]);
  const k = out.summary.kamailio.cpu_us_per_call;
  const s = out.summary.switchboard.cpu_us_per_call;
  out.summary.cpu_ratio = k && s ? s / k : null;
  if (FIND_MAX) {
    log(`== ${part}: highest sustained rate (find-max.sh, cap ${MAX_CEILING}/s)`);
    const kpid = await startKamailio(kamKind);
    try { out.max_kamailio = await findMax('kamailio', scenario, kpid); } finally { await stopKamailio(); }
    await sleep(PAUSE_S * 1000);
    for (const v of variants) {
      if (v.floor) continue;
      const sb = await startSwitchboard(v.kind ?? kamKind, `${part}-${v.key}-max`, v.extra);
      try { out[`max_${v.key}`] = await findMax(v.key, scenario, sb.pid); } finally { await stopSwitchboard(sb); }
      await sleep(PAUSE_S * 1000);
    }
  }
  return out;
}

const KAM_DIALPLAN_CFG = path.join(HERE, 'kamailio/proxy-dialplan.cfg');
/** The number the dial-plan part dials: it matches `1408555....` (and `1408T`, `.T`) of the plan. */
const DIALPLAN_NUMBER = '14085551234';
let dialPlanFile;

/**
 * The dial-plan part: lookups per second over plans of 100 … 100,000 dial-peers
 * (bench/dialplan-lookup.mjs), then the proxy's CPU per call with the 10,000-peer plan and
 * without, beside Kamailio's dialplan module on the same table (db_text).
 */
async function dialPlanPart() {
  const { carrierPlan, kamailioDialplan } = await import('./dialplan-plan.mjs');
  dialPlanFile = path.join(scratch, 'dialplan-10000.yaml');
  fs.writeFileSync(dialPlanFile, carrierPlan(10000));
  const kdir = '/tmp/switchboard-bench-dialplan';
  fs.mkdirSync(kdir, { recursive: true });
  const t = kamailioDialplan(10000);
  fs.writeFileSync(path.join(kdir, 'version'), t.version);
  fs.writeFileSync(path.join(kdir, 'dialplan'), t.dialplan);
  log('== dialplan: node bench/dialplan-lookup.mjs 3');
  record('# dialplan: node bench/dialplan-lookup.mjs 3');
  const r = await run(process.execPath, [path.join(HERE, 'dialplan-lookup.mjs'), '3'], { timeoutMs: 600000, label: 'dialplan-lookup' });
  const lines = r.out.split('\n').filter((l) => l.startsWith('DIALPLAN_'));
  for (const l of lines) {
    record(l);
    log(`  | ${l}`);
  }
  sippEnv = { SIPP_EXTRA: `-s ${DIALPLAN_NUMBER}` };
  try {
    const out = await sideBySide('dialplan');
    out.lookup = lines;
    const a = out.summary.switchboard.cpu_us_per_call;
    const b = out.summary.switchboard_dialplan.cpu_us_per_call;
    out.summary.plan_over_none = a && b ? b / a : null;
    return out;
  } finally {
    sippEnv = undefined;
  }
}

/**
 * Memory per held call (bench/held-memory.mjs, the B2BUA in that process, run with --expose-gc):
 * the V8 heap after a full GC when idle, while HELD_CALLS calls are held (once their set-up
 * transactions have ended), and after they all ended; (held - idle) / HELD_CALLS is the figure.
 */
async function heldCalls() {
  checkPortsFree('before the held-calls measurement');
  const args = ['--expose-gc', path.join(HERE, 'held-memory.mjs'), String(HELD_CALLS), String(HELD_RATE), String(HELD_S)];
  log(`held calls: node ${args.map((a) => path.relative(ROOT, a) || a).join(' ')}`);
  record(`# held: node ${args.join(' ')}`);
  const r = await run(process.execPath, args, { timeoutMs: (Math.ceil(HELD_CALLS / HELD_RATE) + HELD_S + 200) * 1000, label: 'held-memory.mjs' });
  const line = r.out.split('\n').find((l) => l.startsWith('HELD_MEMORY '));
  if (!line) {
    log(`held calls: no result (rc ${r.code})`);
    return { error: `held-memory.mjs rc ${r.code}` };
  }
  record(line);
  const out = JSON.parse(line.slice('HELD_MEMORY '.length));
  log(`held calls: heap ${out.heap_before} B idle, ${out.heap_held} B with ${out.calls} held, ${out.heap_after} B after: ${out.bytes_per_held_call} bytes per held call`);
  await waitPortsFree();
  return out;
}

// ---- presence (issue 16) ----------------------------------------------------------------------

const KAM_MODULES = '/usr/lib/x86_64-linux-gnu/kamailio/modules';
const KAM_SQL = '/usr/share/kamailio/db_sqlite';
/** Where bench/kamailio/presence.cfg keeps its SQLite file (PRES_DB there). */
const KAM_PRESENCE_DIR = '/tmp/switchboard-bench-presence';

function presencePreflight() {
  const missing = ['presence.so', 'presence_xml.so', 'db_sqlite.so'].filter((m) => !fs.existsSync(path.join(KAM_MODULES, m)));
  if (missing.length > 0) die(`Kamailio module(s) ${missing.join(', ')} not in ${KAM_MODULES}: apt-get install -y kamailio-presence-modules kamailio-sqlite-modules`);
  for (const f of ['standard-create.sql', 'presence-create.sql']) {
    if (!fs.existsSync(path.join(KAM_SQL, f))) die(`${path.join(KAM_SQL, f)} missing (Kamailio's SQLite schema, package kamailio-sqlite-modules)`);
  }
  if (!fs.existsSync(FANOUT_JS) || !fs.existsSync(PRESENCE_CFG) || !fs.existsSync(KAM_PRESENCE_CFG)) die('bench/presence-fanout.mjs, bench/presence-bench.yaml or bench/kamailio/presence.cfg missing');
}

/**
 * A fresh SQLite file for Kamailio's presence tables: Kamailio's own schema (version table, then
 * presentity, active_watchers, watchers, xcap, pua), written with the project's better-sqlite3.
 */
function freshKamailioPresenceDb() {
  fs.mkdirSync(KAM_PRESENCE_DIR, { recursive: true });
  const db = path.join(KAM_PRESENCE_DIR, 'presence.db');
  for (const suffix of ['', '-wal', '-shm', '-journal']) fs.rmSync(db + suffix, { force: true });
  const Database = createRequire(path.join(ROOT, 'package.json'))('better-sqlite3');
  const d = new Database(db);
  try {
    d.exec(fs.readFileSync(path.join(KAM_SQL, 'standard-create.sql'), 'utf8') + '\n' + fs.readFileSync(path.join(KAM_SQL, 'presence-create.sql'), 'utf8'));
  } finally {
    d.close();
  }
  return db;
}

/**
 * One run of bench/presence-fanout.mjs against the server on 5070 (its pid for the CPU): the
 * warm-up fetches, WATCHERS subscriptions (CPU per pair), 1 warm-up + PUBLISHES fan-outs.
 */
async function fanoutClient(server, pid) {
  const W = PRESENCE_WATCHERS;
  const timeoutS = Math.ceil(60 + (6 * W) / Math.max(PRESENCE_RATE, 1) + (1 + PRESENCE_PUBLISHES) * 35);
  const args = [FANOUT_JS, '--target', TARGET, '--pid', String(pid), '--port', '5061', '--watchers', String(W), '--rate', String(PRESENCE_RATE),
    '--publishes', String(PRESENCE_PUBLISHES), '--warmup-publishes', '1', '--warmup-fetches', String(W), '--label', server, '--timeout-s', String(timeoutS)];
  log(`${server}: node ${args.map((a) => (a.startsWith('/') ? path.relative(ROOT, a) : a)).join(' ')}`);
  record(`# ${server}: node ${args.map((a) => (a.startsWith('/') ? path.relative(ROOT, a) : a)).join(' ')}`);
  const r = await run(process.execPath, args, { timeoutMs: (timeoutS + 15) * 1000, label: 'presence-fanout' });
  const lines = r.out.split('\n').filter((l) => l.startsWith('PRESENCE_'));
  for (const l of lines) record(l);
  const sub = lines.filter((l) => l.startsWith('PRESENCE_SUBSCRIBE ')).map(kv).find((o) => o.phase === 'measured') ?? {};
  const fans = lines.filter((l) => l.startsWith('PRESENCE_FANOUT ')).map(kv);
  const measured = fans.filter((o) => o.warmup === '0');
  const result = kv(lines.find((l) => l.startsWith('PRESENCE_RESULT ')) ?? `PRESENCE_RESULT verdict=ERROR rc=${r.code}`);
  const out = {
    server, verdict: result.verdict ?? 'ERROR', rc: r.code,
    cpu_us_per_pair: num(sub.server_cpu_us_per_pair), sched_us_per_pair: num(sub.server_sched_us_per_pair), subscribe_rate: num(sub.rate_achieved),
    subscribe_client_busy_pct: num(sub.client_busy_pct), subscribe_other_cpu_s: num(sub.other_cpu_s), subscribe_retrans: num(sub.retrans),
    rates: measured.map((o) => num(o.notifies_per_s)), warmup_rate: num(fans.find((o) => o.warmup === '1')?.notifies_per_s),
    first_ms: measured.map((o) => num(o.first_ms)), last_ms: measured.map((o) => num(o.last_ms)),
    cpu_us_per_notify: measured.map((o) => num(o.server_cpu_us_per_notify)), client_busy_pct: measured.map((o) => num(o.client_busy_pct)),
    other_cpu_s: measured.map((o) => num(o.other_cpu_s)), drops: [sub, ...fans].reduce((a, o) => a + (num(o.server_drops) ?? 0) + (num(o.client_drops) ?? 0), 0),
    notify_retrans_seen: num(result.notify_retrans_seen), retrans: num(result.retrans),
  };
  log(`${server}: ${out.verdict} cpu_us/pair=${out.cpu_us_per_pair} fan-out NOTIFYs/s ${out.rates.join(', ')} (median ${f(median(out.rates))}); client busy ≤ ${f(Math.max(...out.client_busy_pct.filter(Number.isFinite), 0))} %; drops ${out.drops}`);
  return out;
}

function summarisePresence(runs) {
  const rates = runs.flatMap((r) => r.rates).filter(Number.isFinite);
  return {
    runs: runs.length,
    pass: runs.filter((r) => r.verdict === 'PASS').length,
    verdicts: runs.map((r) => r.verdict),
    cpu_us_per_pair: median(runs.map((r) => r.cpu_us_per_pair)),
    all_cpu_us_per_pair: runs.map((r) => r.cpu_us_per_pair),
    sched_us_per_pair: median(runs.map((r) => r.sched_us_per_pair)),
    subscribe_rate: median(runs.map((r) => r.subscribe_rate)),
    fanout_median: median(rates),
    fanout_min: rates.length ? Math.min(...rates) : null,
    fanout_max: rates.length ? Math.max(...rates) : null,
    fanout_all: rates,
    fanout_round_medians: runs.map((r) => median(r.rates)),
    first_ms: median(runs.flatMap((r) => r.first_ms)),
    cpu_us_per_notify: median(runs.flatMap((r) => r.cpu_us_per_notify)),
    client_busy_pct_median: median(runs.flatMap((r) => r.client_busy_pct)),
    client_busy_pct_max: Math.max(...runs.flatMap((r) => r.client_busy_pct).filter(Number.isFinite), 0),
    other_cpu_s_max: Math.max(...runs.flatMap((r) => [...r.other_cpu_s, r.subscribe_other_cpu_s]).filter(Number.isFinite), 0),
    drops: runs.reduce((a, r) => a + r.drops, 0),
  };
}

/**
 * The presence part: Kamailio (presence + presence_xml + db_sqlite) and Switchboard's presence
 * role (`--store sqlite`, and `--store memory`), interleaved, each a fresh process per round.
 */
async function presencePart() {
  presencePreflight();
  const variants = [{ key: 'switchboard', extra: (i) => ['--store', 'sqlite', '--db', path.join(scratch, `presence-${i}.db`)] }];
  if (PRESENCE_MEMORY) variants.push({ key: 'switchboard_memory', extra: () => ['--store', 'memory'] });
  const out = {
    part: 'presence', watchers: PRESENCE_WATCHERS, subscribe_rate: PRESENCE_RATE, publishes: PRESENCE_PUBLISHES, rounds: ROUNDS,
    kamailio_children: PRESENCE_KAM_CHILDREN, variants: variants.map((v) => v.key), kamailio: [],
  };
  for (const v of variants) out[v.key] = [];
  for (let i = 1; i <= ROUNDS; i++) {
    log(`== presence: round ${i}/${ROUNDS}`);
    freshKamailioPresenceDb();
    const kpid = await startKamailio(KAM_PRESENCE_CFG, { KAM_CHILDREN: String(PRESENCE_KAM_CHILDREN) });
    try { out.kamailio.push(await fanoutClient('kamailio', kpid)); } finally { await stopKamailio(); }
    await sleep(PAUSE_S * 1000);
    for (const v of variants) {
      const sb = await startSwitchboard('presence', `presence-${v.key}-${i}`, v.extra(i));
      try { out[v.key].push(await fanoutClient(v.key, sb.pid)); } finally { await stopSwitchboard(sb); }
      await sleep(PAUSE_S * 1000);
    }
  }
  out.summary = { kamailio: summarisePresence(out.kamailio) };
  for (const v of variants) out.summary[v.key] = summarisePresence(out[v.key]);
  const k = out.summary.kamailio;
  for (const v of variants) {
    const s = out.summary[v.key];
    out.summary[`${v.key}_fanout_ratio`] = k.fanout_median && s.fanout_median ? s.fanout_median / k.fanout_median : null;
    out.summary[`${v.key}_cpu_ratio`] = k.cpu_us_per_pair && s.cpu_us_per_pair ? s.cpu_us_per_pair / k.cpu_us_per_pair : null;
  }
  return out;
}

// ---- nat: the media relay through rtpengine (issue 18) ----------------------------------------

const NAT_CFG = path.join(HERE, 'nat-bench.yaml');
const KAM_NAT_CFG = path.join(HERE, 'kamailio/nat-rtpengine.cfg');
const RTPENGINE = '/usr/bin/rtpengine';
const NAT_RATE = env('BENCH_NAT_RATE', 200);
const NAT_BASELINE = env('BENCH_NAT_BASELINE', 1) !== 0;
const NAT_SWITCHBOARD = env('BENCH_NAT_SWITCHBOARD', 1) !== 0;
/**
 * Each system's own rtpengine: its ng control port and its RTP port range (above Linux's
 * ephemeral range 32768-60999, away from the unit tests' 20000-39999 and the customary 2223).
 */
const NAT_RTPENGINE = {
  kamailio: { ng: 22231, portMin: 61000, portMax: 62999 },
  switchboard: { ng: 22232, portMin: 63000, portMax: 64999 },
};
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

function natPreflight() {
  if (!fs.existsSync(RTPENGINE)) die(`${RTPENGINE} not found: apt-get install -y rtpengine-daemon`);
  if (!fs.existsSync(path.join(KAM_MODULES, 'rtpengine.so'))) die(`Kamailio's rtpengine module is not in ${KAM_MODULES} (Debian's kamailio package ships rtpengine.so)`);
  if (!fs.existsSync(NAT_CFG) || !fs.existsSync(KAM_NAT_CFG)) die('bench/nat-bench.yaml or bench/kamailio/nat-rtpengine.cfg missing');
  if (NAT_SWITCHBOARD && !/\brtpengine\b/.test(spawnSync(process.execPath, [CLI, 'serve', '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 10000 }).stdout ?? '')) {
    die(`\`switchboard serve --help\` names no --rtpengine: ${path.relative(ROOT, CLI)} predates the media relay (npm run build)`);
  }
}

/** bencode, enough for the ng protocol (integers, strings, lists, dictionaries with sorted keys). */
/**
 * One ng command to the rtpengine on 127.0.0.1:port, through the project's own ng client
 * (dist/src/media: cookies, retransmission, the `bencode` package); its reply, or null.
 */
async function ngRequest(port, command, extra = {}, timeoutMs = 2000) {
  const { RtpengineClient } = await import(pathToFileURL(path.join(ROOT, 'dist/src/media/index.js')).href);
  const client = new RtpengineClient({ targets: [`udp:127.0.0.1:${port}`], timeoutMs: Math.max(50, Math.floor(timeoutMs / 3)), retries: 2, healthCheckIntervalMs: 0 });
  await client.start();
  try {
    return await client.request(command, extra);
  } catch {
    return null;
  } finally {
    await client.close();
  }
}

/** rtpengine's own counters (ng `statistics`): the ng commands it handled, and its sessions. */
async function rtpengineCounts(port) {
  const r = await ngRequest(port, 'statistics');
  const c = r?.statistics?.controlstatistics;
  const t = r?.statistics?.totalstatistics;
  if (!c || !t) return null;
  return {
    offers: c.totaloffercount, answers: c.totalanswercount, deletes: c.totaldeletecount, pings: c.totalpingcount,
    errors: (c.proxies ?? []).reduce((a, p) => a + (Number(p.errorcount) || 0), 0),
    sessions: t.managedsessions,
  };
}

/** utime + stime of a process, every thread included (/proc/PID/stat), in clock ticks; null if gone. */
function cpuTicks(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(') ') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return null;
  }
}

/** A fresh rtpengine (userspace forwarding, no config file) for one side; up when it answers ping. */
async function startRtpengine(side, tag) {
  const r = NAT_RTPENGINE[side];
  if (udpBound(r.ng)) die(`UDP ${r.ng} (the ng port of ${side}'s rtpengine) already in use`);
  const args = ['--config-file=none', '--foreground', '--log-stderr', '--log-level=4', '--table=-1', '--interface=127.0.0.1',
    `--listen-ng=127.0.0.1:${r.ng}`, `--port-min=${r.portMin}`, `--port-max=${r.portMax}`, '--delete-delay=0'];
  const logPath = path.join(scratch, `rtpengine-${tag}.log`);
  const fd = fs.openSync(logPath, 'w');
  const child = spawn(RTPENGINE, args, { cwd: ROOT, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const desc = `rtpengine for ${side} (${RTPENGINE} ${args.join(' ')})`;
  live.set(child.pid, desc);
  child.on('exit', () => live.delete(child.pid));
  const end = Date.now() + 10000;
  let up = false;
  while (Date.now() < end && live.has(child.pid)) {
    if ((await ngRequest(r.ng, 'ping', {}, 500))?.result === 'pong') { up = true; break; }
    await sleep(200);
  }
  if (!up) {
    await stopPid(child.pid, desc, 3000);
    die(`${desc} did not answer ping on udp:127.0.0.1:${r.ng} within 10 s; log ${logPath}:\n${fs.readFileSync(logPath, 'utf8').slice(-2000)}`);
  }
  log(`rtpengine for ${side} up, pid ${child.pid}, ng udp:127.0.0.1:${r.ng}, RTP ports ${r.portMin}-${r.portMax} (log ${logPath})`);
  record(`# rtpengine for ${side}: ${RTPENGINE} ${args.join(' ')}`);
  return { pid: child.pid, desc, side, ng: r.ng };
}

async function stopRtpengine(rtp) {
  await stopPid(rtp.pid, rtp.desc, 5000);
  const end = Date.now() + 5000;
  while (udpBound(rtp.ng) && Date.now() < end) await sleep(100);
}

/** Switchboard with a config file of the bench's choosing (as startSwitchboard: up when it answers OPTIONS). */
async function startSwitchboardWith(cfg, tag, extra = []) {
  checkPortsFree(`before starting Switchboard ${tag}`);
  return launchSwitchboard([CLI, 'serve', '--config', cfg, ...extra], tag, `switchboard-${tag}.log`);
}

/**
 * One server of the nat part, measured as sippLoad does (a warm-up at the same rate on the same
 * processes, then the measured run of sipp-load.sh `call`: the INVITE carries SIPp's SDP offer,
 * the uas's 200 its answer), at BENCH_NAT_RATE. With `rtp` (the server's rtpengine), rtpengine's
 * CPU over the measured run (from just before sipp-load.sh starts the uas to just after it stopped
 * it) and the ng commands rtpengine counted are recorded too, and the calls it still holds.
 */
async function natLoad(server, pid, rtp) {
  const loadRun = async (seconds, warm) => {
    const args = [TARGET, 'call', String(NAT_RATE), String(seconds), String(pid)];
    log(`${server}: ${warm ? 'warm-up ' : ''}sipp-load.sh ${args.join(' ')}`);
    record(`# ${server}: ${warm ? 'warm-up ' : ''}${path.relative(ROOT, SIPP_LOAD)} ${args.join(' ')}`);
    const r = await run(SIPP_LOAD, args, { timeoutMs: (seconds + 60) * 1000, label: warm ? 'sipp-load.sh (warm-up)' : 'sipp-load.sh', env: sippEnv });
    return r.out.split('\n').find((l) => l.startsWith('SIPP_LOAD ')) ?? `SIPP_LOAD scenario=call rate_target=${NAT_RATE} verdict=ERROR rc=${r.code}`;
  };
  if (WARMUP_S > 0) {
    const w = await loadRun(WARMUP_S, true);
    record(`${w} server=${server} warmup=1`);
    await sleep(PAUSE_S * 1000);
  }
  const c0 = rtp ? cpuTicks(rtp.pid) : null;
  const s0 = rtp ? await rtpengineCounts(rtp.ng) : null;
  const line = await loadRun(DURATION, false);
  const c1 = rtp ? cpuTicks(rtp.pid) : null;
  const s1 = rtp ? await rtpengineCounts(rtp.ng) : null;
  const o = { server, ...kv(line) };
  let extra = '';
  if (rtp) {
    const ok = num(o.calls_ok) ?? 0;
    const left = (await ngRequest(rtp.ng, 'list', { limit: 100000 }))?.calls;
    const d = (k) => (s0 && s1 ? s1[k] - s0[k] : null);
    const cpuS = c0 !== null && c1 !== null ? (c1 - c0) / CLK_TCK : null;
    Object.assign(o, {
      rtpengine_pid: rtp.pid,
      rtpengine_cpu_s: cpuS,
      rtpengine_cpu_us_per_call: cpuS !== null && ok > 0 ? (cpuS * 1e6) / ok : null,
      ng_offers: d('offers'), ng_answers: d('answers'), ng_deletes: d('deletes'), ng_pings: d('pings'), ng_errors: d('errors'),
      rtp_sessions: d('sessions'), rtp_sessions_left: Array.isArray(left) ? left.length : null,
    });
    // sipp-load.sh counts rtpengine in other_cpu_s (neither server nor SIPp): taken out, so that
    // other_cpu_s keeps meaning other programs (the raw figure stays as other_cpu_s_with_rtpengine).
    if (cpuS !== null && num(o.other_cpu_s) !== null) {
      o.other_cpu_s_with_rtpengine = o.other_cpu_s;
      o.other_cpu_s = Math.max(0, num(o.other_cpu_s) - cpuS).toFixed(2);
    }
    // The relay did its work when every successful call had an offer, an answer and a delete, and
    // no session is left behind (rtpengine runs with --delete-delay=0).
    o.relay = ok > 0 && o.ng_offers >= ok && o.ng_answers >= ok && o.ng_deletes >= ok && o.rtp_sessions_left === 0 ? 'OK' : 'MISSING';
    extra = ` rtpengine_pid=${rtp.pid} rtpengine_cpu_s=${f(cpuS, 2)} rtpengine_cpu_us_per_call=${f(o.rtpengine_cpu_us_per_call, 1)}`
      + ` ng_offers=${f(o.ng_offers)} ng_answers=${f(o.ng_answers)} ng_deletes=${f(o.ng_deletes)} ng_pings=${f(o.ng_pings)} ng_errors=${f(o.ng_errors)}`
      + ` rtp_sessions=${f(o.rtp_sessions)} rtp_sessions_left=${f(o.rtp_sessions_left)} other_cpu_s_without_rtpengine=${o.other_cpu_s} relay=${o.relay}`;
  }
  record(`${line} server=${server}${extra}`);
  log(`${server}: ${o.verdict} rate=${o.rate_achieved} cpu_us/call=${o.server_cpu_us_per_call} p99=${o.rt_p99_ms} ms retrans=${o.retrans}/${o.uas_retrans} failed=${o.calls_failed} other_cpu_s=${o.other_cpu_s}${extra}`);
  return o;
}

function summariseNat(runs) {
  const s = summarise(runs);
  const pick = (k) => median(runs.map((r) => (typeof r[k] === 'number' ? r[k] : num(r[k]))));
  return {
    ...s,
    rtpengine_cpu_us_per_call: pick('rtpengine_cpu_us_per_call'),
    all_rtpengine_cpu_us: runs.map((r) => (r.rtpengine_cpu_us_per_call === undefined || r.rtpengine_cpu_us_per_call === null ? 'na' : r.rtpengine_cpu_us_per_call.toFixed(1))),
    calls_failed_total: runs.reduce((a, r) => a + (num(r.calls_failed) ?? 0), 0),
    calls_unfinished_total: runs.reduce((a, r) => a + (num(r.calls_unfinished) ?? 0), 0),
    ng_per_call: runs[0]?.relay === undefined ? null : ['ng_offers', 'ng_answers', 'ng_deletes', 'ng_pings'].map((k) => {
      const calls = runs.reduce((a, r) => a + (num(r.calls_ok) ?? 0), 0);
      const n = runs.reduce((a, r) => a + (r[k] ?? 0), 0);
      return calls > 0 ? n / calls : null;
    }),
    ng_errors: runs.reduce((a, r) => a + (r.ng_errors ?? 0), 0),
    sessions_left: runs.map((r) => r.rtp_sessions_left ?? 'na'),
    relay: runs.map((r) => r.relay ?? '-'),
  };
}

/**
 * The nat part (issue 18): calls through a proxy that relays their media through rtpengine for
 * every call — SIPp uac → 5070 → SIPp uas 5090, the INVITE's SDP offered to rtpengine and the
 * 200's answered, the call deleted on BYE. Kamailio's rtpengine module (bench/kamailio/
 * nat-rtpengine.cfg) beside Switchboard's relay (bench/nat-bench.yaml, `media.relay: always`),
 * each with its own fresh rtpengine per round (its own ng port and RTP port range, stopped by
 * pid). The proxy's CPU (sipp-load.sh: the server pid and its descendants, never rtpengine) and
 * rtpengine's CPU are reported apart. With BENCH_NAT_BASELINE=1, the two proxies without the
 * relay (shared proxy.cfg, examples/proxy-bench.yaml) in the same rounds: what the relay adds.
 */
async function natPart() {
  natPreflight();
  const variants = NAT_SWITCHBOARD ? [{ key: 'switchboard', rtp: 'switchboard' }] : [];
  if (NAT_BASELINE) variants.push({ key: 'kamailio_norelay', kam: 'proxy' });
  if (NAT_BASELINE && NAT_SWITCHBOARD) variants.push({ key: 'switchboard_norelay', cfg: PROXY_CFG });
  const out = {
    part: 'nat', scenario: 'call', rate: NAT_RATE, duration_s: DURATION, rounds: ROUNDS, variants: variants.map((v) => v.key), kamailio: [],
    rtpengine: NAT_RTPENGINE, kamailio_cfg: path.relative(ROOT, KAM_NAT_CFG), switchboard_cfg: path.relative(ROOT, NAT_CFG),
  };
  for (const v of variants) out[v.key] = [];
  const kamEnv = { BENCH_RTPENGINE_SOCK: `udp:127.0.0.1:${NAT_RTPENGINE.kamailio.ng}` };
  const sbExtra = ['--rtpengine', `udp:127.0.0.1:${NAT_RTPENGINE.switchboard.ng}`];
  /** Starts one server (and its rtpengine), runs `body(pid, rtp)`, stops both by pid. */
  const withServer = async (v, tag, body) => {
    const rtp = v.rtp ? await startRtpengine(v.rtp, tag) : undefined;
    try {
      if (v.kam) {
        const kpid = await startKamailio(v.kam, v.rtp ? kamEnv : undefined);
        try { return await body(kpid, rtp); } finally { await stopKamailio(); }
      }
      const sb = await startSwitchboardWith(v.cfg ?? NAT_CFG, tag, v.rtp ? sbExtra : []);
      try { return await body(sb.pid, rtp); } finally { await stopSwitchboard(sb); }
    } finally {
      if (rtp) await stopRtpengine(rtp);
    }
  };
  const kam = { key: 'kamailio', kam: KAM_NAT_CFG, rtp: 'kamailio' };
  for (let i = 1; i <= ROUNDS; i++) {
    log(`== nat: round ${i}/${ROUNDS}`);
    for (const v of [kam, ...variants]) {
      out[v.key].push(await withServer(v, `nat-${v.key}-${i}`, (pid, rtp) => natLoad(v.key, pid, rtp)));
      await sleep(PAUSE_S * 1000);
    }
  }
  out.summary = { kamailio: summariseNat(out.kamailio) };
  for (const v of variants) out.summary[v.key] = summariseNat(out[v.key]);
  const S = out.summary;
  const ratio = (a, b) => (a && b ? a / b : null);
  const both = (x) => (x && x.cpu_us_per_call !== null && x.rtpengine_cpu_us_per_call !== null ? x.cpu_us_per_call + x.rtpengine_cpu_us_per_call : null);
  S.cpu_ratio = ratio(S.switchboard?.cpu_us_per_call, S.kamailio.cpu_us_per_call);
  S.rtpengine_cpu_ratio = ratio(S.switchboard?.rtpengine_cpu_us_per_call, S.kamailio.rtpengine_cpu_us_per_call);
  S.proxy_plus_rtpengine_ratio = ratio(both(S.switchboard), both(S.kamailio));
  S.kamailio_relay_over_norelay = ratio(S.kamailio.cpu_us_per_call, S.kamailio_norelay?.cpu_us_per_call);
  S.switchboard_relay_over_norelay = ratio(S.switchboard?.cpu_us_per_call, S.switchboard_norelay?.cpu_us_per_call);
  S.norelay_cpu_ratio = ratio(S.switchboard_norelay?.cpu_us_per_call, S.kamailio_norelay?.cpu_us_per_call);
  if (FIND_MAX) {
    log(`== nat: highest sustained rate (find-max.sh, cap ${MAX_CEILING}/s), with the relay`);
    for (const v of [kam, ...variants.filter((x) => x.rtp)]) {
      out[v.key === 'kamailio' ? 'max_kamailio' : `max_${v.key}`] = await withServer(v, `nat-${v.key}-max`, async (pid, rtp) => {
        const s0 = await rtpengineCounts(rtp.ng);
        const m = await findMax(v.key, 'call', pid);
        const s1 = await rtpengineCounts(rtp.ng);
        if (s0 && s1) m.ng_offers = s1.offers - s0.offers;
        return m;
      });
      await sleep(PAUSE_S * 1000);
    }
  }
  return out;
}

async function parser() {
  if (!fs.existsSync(PARSER_JS)) die(`${path.relative(ROOT, PARSER_JS)} missing: run \`npm run build\` first`);
  log('== parser: node dist/bench/parse.bench.js');
  record('# parser: node dist/bench/parse.bench.js');
  const r = await run(process.execPath, [PARSER_JS], { timeoutMs: 600000, label: 'parse.bench' });
  process.stderr.write(r.out.split('\n').map((l) => `  | ${l}`).join('\n') + '\n');
  const line = r.out.split('\n').find((l) => l.startsWith('PARSER_BENCH'));
  if (!line) { record(`PARSER_BENCH error rc=${r.code}`); return { error: `parse.bench rc ${r.code}`, output: r.out }; }
  record(line);
  const o = kv(line);
  const sb = num(o.switchboard);
  const checked = num(o.checked);
  const others = { sip: num(o.sip), jssip: num(o.jssip), sipjs: num(o.sipjs) };
  const fastest = Math.max(...Object.values(others).filter((x) => x !== null));
  return { line, switchboard: sb, checked, ...others, ratio_vs_fastest: sb / fastest, checked_vs_fastest: checked === null ? null : checked / fastest, table: r.out };
}

// ---- preflight -----------------------------------------------------------------------------

function sh(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? (r.stdout + r.stderr).trim() : null;
}

function preflight(parts) {
  if (parts.some((p) => p !== 'parser')) {
    for (const f of ['sipp-load.sh', 'find-max.sh', 'kamailio.sh', 'kamailio/proxy.cfg', 'kamailio/registrar.cfg', 'sipp/register.xml']) {
      if (!fs.existsSync(path.join(SHARED, f))) die(`the SIPp harness is missing: ${path.join(SHARED, f)} not found (expected ../shared/bench next to the repo; set SHARED_BENCH=DIR)`);
    }
    if (!sh('which', ['sipp'])) die('sipp not found (apt-get install -y sip-tester)');
    if (!sh('which', ['kamailio']) && !fs.existsSync('/usr/sbin/kamailio')) {
      if (process.getuid?.() === 0) {
        log('kamailio not installed: running `apt-get install -y kamailio`');
        const r = spawnSync('apt-get', ['install', '-y', 'kamailio'], { stdio: 'inherit', timeout: 600000 });
        if (r.status !== 0) die('apt-get install -y kamailio failed');
      } else {
        die('kamailio not found: install it with `sudo apt-get install -y kamailio`');
      }
    }
    if (!fs.existsSync(CLI)) die(`${path.relative(ROOT, CLI)} missing: run \`npm run build\` first`);
    checkPortsFree('preflight');
  }
}

function machine() {
  const cpus = os.cpus();
  return {
    host: os.hostname(),
    cpu: `${cpus[0]?.model ?? '?'} x ${cpus.length}`,
    mem_gib: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    os: (sh('sh', ['-c', '. /etc/os-release && echo "$PRETTY_NAME"']) ?? '?'),
    node: process.version,
    kamailio: (sh('kamailio', ['-v']) ?? sh('/usr/sbin/kamailio', ['-v']) ?? '?').split('\n')[0],
    sipp: (sh('sipp', ['-v']) ?? '?').split('\n').find((l) => /SIPp v/.test(l))?.trim() ?? '?',
    loadavg: os.loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

// ---- summary ---------------------------------------------------------------------------------

const f = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? 'na' : Number(x).toFixed(d));

function printSummary(res) {
  const lines = [];
  lines.push('', `SUMMARY ${res.date} (${res.machine.cpu}, load avg at start ${res.machine.loadavg})`);
  if (res.parser) {
    const p = res.parser;
    lines.push('', 'parser (messages/s, median of rounds):');
    if (p.error) lines.push(`  ERROR: ${p.error}`);
    else {
      lines.push(`  switchboard ${f(p.switchboard)}  sip ${f(p.sip)}  jssip ${f(p.jssip)}  sip.js ${f(p.sipjs)}`);
      if (p.checked !== null && p.checked !== undefined) lines.push(`  switchboard parse + validate() (what the transport does per message) ${f(p.checked)}: ${f(p.checked_vs_fastest, 2)}x the fastest other stack, ${f(100 * (p.switchboard / p.checked - 1), 1)} % more time than the parse alone`);
      lines.push(`  ratio vs fastest other stack: ${f(p.ratio_vs_fastest, 2)}x  (target >= 1,000,000 msg/s: ${p.switchboard >= 1e6 ? 'met' : 'NOT met'}; >= 5x: ${p.ratio_vs_fastest >= 5 ? 'met' : 'NOT met'})`);
    }
  }
  if (res.dialplan?.lookup) {
    lines.push('', 'dial-plan lookups (bench/dialplan-lookup.mjs; "same": the same numbers for every size, "spread": numbers over each plan):');
    for (const l of res.dialplan.lookup) lines.push(`  ${l}`);
  }
  if (res.presence) {
    const r = res.presence;
    const k = r.summary.kamailio;
    const cols = ['kamailio', ...r.variants];
    const ss = cols.map((c) => r.summary[c]);
    lines.push('', `presence: ${r.watchers} watchers of one presentity, SUBSCRIBEs at ${r.subscribe_rate}/s, ${r.publishes} fan-outs per server start, ${r.rounds} interleaved rounds (Kamailio ${r.kamailio_children} UDP worker${r.kamailio_children === 1 ? '' : 's'}):`);
    lines.push(`  ${'figure'.padEnd(34)} ${cols.map((c) => c.padStart(20)).join('')}`);
    const row = (name, pick, d = 1, ratio = false) => {
      const a = pick(k);
      lines.push(`  ${name.padEnd(34)} ${ss.map((s, i) => {
        const b = pick(s);
        const cell = f(b, d) + (ratio && i > 0 && a && b ? ` (${f(b / a, 2)}x)` : '');
        return cell.padStart(20);
      }).join('')}`);
    };
    row('fan-out NOTIFYs/s, median', (x) => x.fanout_median, 0, true);
    row('fan-out NOTIFYs/s, min', (x) => x.fanout_min, 0);
    row('fan-out NOTIFYs/s, max', (x) => x.fanout_max, 0);
    lines.push(`  ${'fan-out, each round\'s median'.padEnd(34)} ${ss.map((s) => s.fanout_round_medians.map((x) => f(x, 0)).join(',').padStart(20)).join('')}`);
    row('PUBLISH to first NOTIFY, ms', (x) => x.first_ms, 1);
    row('server CPU us per fanned NOTIFY', (x) => x.cpu_us_per_notify, 1);
    row('server CPU us per SUBSCRIBE/NOTIFY', (x) => x.cpu_us_per_pair, 1, true);
    lines.push(`  ${'  per round'.padEnd(34)} ${ss.map((s) => s.all_cpu_us_per_pair.map((x) => f(x, 0)).join(',').padStart(20)).join('')}`);
    row('  same, schedstat (ns-precise)', (x) => x.sched_us_per_pair, 1);
    row('SUBSCRIBE pairs/s achieved', (x) => x.subscribe_rate, 0);
    row('client busy % in fan-out, median', (x) => x.client_busy_pct_median, 0);
    row('client busy % in fan-out, max', (x) => x.client_busy_pct_max, 0);
    row('other_cpu_s max (a window)', (x) => x.other_cpu_s_max, 2);
    row('datagrams dropped (both sockets)', (x) => x.drops, 0);
    lines.push(`  ${'verdicts'.padEnd(34)} ${ss.map((s) => s.verdicts.join(',').padStart(20)).join('')}`);
    const fr = r.summary.switchboard_fanout_ratio;
    lines.push(`  fan-out ratio Switchboard (sqlite) / Kamailio: ${f(fr, 2)} (target >= 1.0: ${fr !== null && fr >= 1 ? 'met' : 'NOT met'})${r.summary.switchboard_memory_fanout_ratio ? `; memory store: ${f(r.summary.switchboard_memory_fanout_ratio, 2)}` : ''}`);
    lines.push(`  CPU per SUBSCRIBE/NOTIFY pair ratio Switchboard (sqlite) / Kamailio: ${f(r.summary.switchboard_cpu_ratio, 2)}${r.summary.switchboard_memory_cpu_ratio ? `; memory store: ${f(r.summary.switchboard_memory_cpu_ratio, 2)}` : ''}`);
    if (Math.max(...ss.map((s) => s.other_cpu_s_max)) > 0.3) lines.push('  NOTE: other_cpu_s > 0.3 s in some window: other programs loaded the machine; compare ratios only.');
  }
  for (const key of ['register', 'proxy', 'b2bua', 'dialplan', 'operations', 'nat']) {
    const r = res[key];
    if (!r) continue;
    const vs = r.variants ?? ['switchboard'];
    const k = r.summary.kamailio;
    const ss = vs.map((v) => r.summary[v]);
    lines.push('', `${key} @ ${r.rate}/s x ${r.duration_s} s, ${r.rounds} interleaved rounds (medians):`);
    lines.push(`  ${'figure'.padEnd(26)} ${'kamailio'.padStart(11)}  ${vs.map((v) => `${v.padStart(16)}  ${'ratio'.padStart(6)}`).join('  ')}`);
    const row = (name, pickf, d = 1) => {
      const a = pickf(k);
      lines.push(`  ${name.padEnd(26)} ${f(a, d).padStart(11)}  ${ss.map((s) => { const b = pickf(s); return `${f(b, d).padStart(16)}  ${(a && b !== null && b !== undefined ? f(b / a, 2) : 'na').padStart(6)}`; }).join('  ')}`);
    };
    row('rate achieved /s', (x) => x.rate_achieved);
    row('server CPU us per call', (x) => x.cpu_us_per_call);
    row('rt p99 ms', (x) => x.rt_p99_ms, 0);
    row('retrans (uac) median', (x) => x.retrans, 0);
    lines.push(`  ${'verdicts'.padEnd(26)} ${k.verdicts.join(',').padStart(11)}  ${ss.map((s) => `${s.verdicts.join(',').padStart(16)}        `).join('  ')}`);
    lines.push(`  ${'per-run CPU us'.padEnd(26)} ${k.all_cpu_us.join(',').padStart(11)}  ${ss.map((s) => `${s.all_cpu_us.join(',').padStart(16)}        `).join('  ')}`);
    lines.push(`  ${'other_cpu_s median / max'.padEnd(26)} ${(f(k.other_cpu_s, 2) + '/' + f(k.other_cpu_s_max, 2)).padStart(11)}  ${ss.map((s) => `${(f(s.other_cpu_s, 2) + '/' + f(s.other_cpu_s_max, 2)).padStart(16)}        `).join('  ')}`);
    if (r.max_kamailio || r.max_switchboard) {
      const m = (x) => (x ? `${x.max_pass_rate}${x.first_fail_rate === 'none' && Number(x.max_pass_rate) > 0 ? '+ (cap)' : ''}` : 'na');
      lines.push(`  ${'highest sustained rate /s'.padEnd(26)} ${m(r.max_kamailio).padStart(11)}  ${vs.map((v) => `${m(r[`max_${v}`]).padStart(16)}        `).join('  ')}(find-max.sh, cap ${MAX_CEILING}/s)`);
    }
    if (key === 'operations') {
      const base = r.summary.switchboard?.cpu_us_per_call;
      for (const v of ['switchboard_log', 'switchboard_admin']) {
        const x = r.summary[v]?.cpu_us_per_call;
        if (base && x) lines.push(`  ${v} CPU per call / switchboard (nothing watched): ${f(x / base, 3)}`);
      }
    }
    if (key === 'nat') {
      const S = r.summary;
      const cols = ['kamailio', ...vs].filter((c) => S[c]?.relay?.some((x) => x !== '-'));
      lines.push(`  with the relay: ${cols.map((c) => `${c} (its own rtpengine)`).join(', ')}; ${vs.filter((c) => !cols.includes(c)).join(', ') || 'no baseline'} without`);
      for (const c of cols) {
        const x = S[c];
        const per = (x.ng_per_call ?? []).map((y) => f(y, 2));
        lines.push(`  ${c}: proxy ${f(x.cpu_us_per_call, 1)} us/call + rtpengine ${f(x.rtpengine_cpu_us_per_call, 1)} us/call (per run ${x.all_rtpengine_cpu_us.join(',')}); ng per call offer/answer/delete/ping ${per.join('/')}, ng errors ${x.ng_errors}, sessions left ${x.sessions_left.join(',')}, relay ${x.relay.join(',')}`);
      }
      for (const c of ['kamailio', ...vs]) if (S[c]) lines.push(`  ${c}: calls failed ${S[c].calls_failed_total}, unfinished ${S[c].calls_unfinished_total} (all measured runs)`);
      if (S.cpu_ratio !== null) lines.push(`  proxy CPU per call, Switchboard / Kamailio, both relaying: ${f(S.cpu_ratio, 2)}; rtpengine CPU per call (Switchboard's / Kamailio's): ${f(S.rtpengine_cpu_ratio, 2)}; proxy + rtpengine: ${f(S.proxy_plus_rtpengine_ratio, 2)}`);
      if (S.kamailio_relay_over_norelay !== null) lines.push(`  the relay's cost to the proxy (with / without): Kamailio ${f(S.kamailio_relay_over_norelay, 2)} (+${f(S.kamailio.cpu_us_per_call - S.kamailio_norelay.cpu_us_per_call, 1)} us)${S.switchboard_relay_over_norelay !== null ? `, Switchboard ${f(S.switchboard_relay_over_norelay, 2)} (+${f(S.switchboard.cpu_us_per_call - S.switchboard_norelay.cpu_us_per_call, 1)} us); without the relay Switchboard / Kamailio ${f(S.norelay_cpu_ratio, 2)}` : ''}`);
      if (cols.some((c) => S[c].relay.some((x) => x !== 'OK'))) lines.push('  WARNING: relay MISSING in some run: rtpengine did not see an offer, answer and delete for every call (or sessions were left); that run did not measure the relay');
    }
    if (r.summary.plan_over_none) lines.push(`  proxy CPU per call with the 10,000-peer plan / without: ${f(r.summary.plan_over_none, 3)} (target <= 1.05: ${r.summary.plan_over_none <= 1.05 ? 'met' : 'NOT met'}); the kamailio column is its dialplan module on the same table`);
    if (r.held?.calls) lines.push(`  held calls (V8 heap after GC): ${r.held.calls} held ${r.held.hold_s} s: ${r.held.heap_before} B idle, ${r.held.heap_held} B held, ${r.held.heap_after} B after — ${r.held.bytes_per_held_call} bytes per held call (target <= 8192); uac exit ${r.held.uac_exit}`);
    if (Math.max(k.other_cpu_s_max, ...ss.map((s) => s.other_cpu_s_max)) > 0.3) lines.push('  NOTE: other_cpu_s > 0.3 s: other programs loaded the machine during these runs; absolute numbers are disturbed, compare ratios only.');
  }
  process.stdout.write(lines.join('\n') + '\n');
  return lines;
}

// ---- main ---------------------------------------------------------------------------------

let logFile;
async function cleanupAll() {
  for (const [pid, desc] of [...live]) await stopPid(pid, desc, 3000);
  if (kamailioRunning) await stopKamailio();
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    log(`${sig}: stopping everything started here`);
    await cleanupAll();
    process.exit(130);
  });
}

async function main() {
  const sel = process.argv[2] ?? 'all';
  const valid = { parser: ['parser'], register: ['register'], proxy: ['proxy'], b2bua: ['b2bua'], dialplan: ['dialplan'], presence: ['presence'], operations: ['operations'], nat: ['nat'], all: ['parser', 'register', 'proxy', 'b2bua', 'dialplan'] };
  if (!valid[sel] || process.argv.length > 3) die('usage: node bench/run-bench.mjs [parser|register|proxy|b2bua|dialplan|presence|operations|nat|all]');
  const parts = valid[sel];
  preflight(parts);

  const now = new Date();
  const stamp = now.toISOString().replace(/[:]/g, '').replace(/\..*/, '');
  fs.mkdirSync(RESULTS, { recursive: true });
  logFile = path.join(RESULTS, `${stamp}-${sel}.log`);
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-bench.'));
  const res = { date: now.toISOString(), selection: sel, machine: machine(), settings: { ROUNDS, RATE, DURATION, FIND_MAX, MAX_CEILING, MAX_START, PAUSE_S, WARMUP_S, PROXY_WORKERS } };
  if (parts.includes('presence')) Object.assign(res.settings, { PRESENCE_WATCHERS, PRESENCE_RATE, PRESENCE_PUBLISHES, PRESENCE_MEMORY, PRESENCE_KAM_CHILDREN });
  if (parts.includes('nat')) Object.assign(res.settings, { NAT_RATE, NAT_BASELINE, NAT_SWITCHBOARD, NAT_RTPENGINE });
  record(`# run-bench.mjs ${sel} ${res.date}`);
  record(`# machine ${JSON.stringify(res.machine)}`);
  record(`# settings ${JSON.stringify(res.settings)}`);
  log(`results -> ${path.relative(ROOT, logFile)}; scratch ${scratch}`);

  try {
    if (parts.includes('parser')) res.parser = await parser();
    if (parts.includes('register')) res.register = await sideBySide('register');
    if (parts.includes('proxy')) res.proxy = await sideBySide('proxy');
    if (parts.includes('b2bua')) {
      res.b2bua = await sideBySide('b2bua');
      if (HELD_CALLS > 0) res.b2bua.held = await heldCalls();
    }
    if (parts.includes('dialplan')) res.dialplan = await dialPlanPart();
    if (parts.includes('operations')) res.operations = await sideBySide('operations');
    if (parts.includes('presence')) res.presence = await presencePart();
    if (parts.includes('nat')) res.nat = await natPart();
  } finally {
    await cleanupAll();
  }
  const summary = printSummary(res);
  for (const l of summary) record(`# ${l}`);
  fs.writeFileSync(logFile.replace(/\.log$/, '.json'), JSON.stringify(res, null, 2) + '\n');
  for (const f of fs.readdirSync(scratch)) if (/\.db(-wal|-shm)?$|\.csv$/.test(f)) fs.rmSync(path.join(scratch, f), { force: true });
  log(`Switchboard server logs kept in ${scratch}`);
  log(`raw lines: ${path.relative(ROOT, logFile)}; parsed: ${path.relative(ROOT, logFile.replace(/\.log$/, '.json'))}`);
  log('SIPp artefacts of each run stay in /tmp/sipp-load.* (rm -rf /tmp/sipp-load.* when done)');
}

main().catch(async (e) => {
  process.stderr.write(`run-bench: ${e.stack ?? e}\n`);
  await cleanupAll();
  process.exit(1);
});
