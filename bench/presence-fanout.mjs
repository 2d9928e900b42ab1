#!/usr/bin/env node
/**
 * The presence benchmark's client (issue 16; `node bench/run-bench.mjs presence`, BENCHMARKS.md):
 * a raw-SIP UDP client, one socket, that plays 1,000 watchers of one presentity and its
 * publisher against a presence server (Switchboard's presence role or Kamailio's presence
 * module) on 127.0.0.1, and measures
 *
 *  1. CPU per SUBSCRIBE/NOTIFY pair: the server's CPU (utime+stime of its pid and every
 *     descendant, /proc/<pid>/stat; and, finer, the sum of /proc/<pid>/task/<tid>/schedstat run
 *     times) while WATCHERS initial SUBSCRIBEs (each its own Call-ID and From tag, Expires 3600)
 *     are answered 200 and their first NOTIFY is answered 200, divided by WATCHERS;
 *  2. fan-out: with every watcher active, one PUBLISH (modify: SIP-If-Match and a new PIDF body)
 *     and the time from sending it to receiving the WATCHERS-th NOTIFY that carries the new state
 *     (the body's note `bench-round-K`); NOTIFYs/s = WATCHERS / that time. Repeated PUBLISHES
 *     times (after WARMUP_PUBLISHES rounds that are recorded, not counted).
 *
 * Before the measured subscriptions, WARMUP_FETCHES fetches (SUBSCRIBE Expires 0: 200 and one
 * NOTIFY `terminated`) run the same path once, so that a Node.js server has compiled it; the
 * subscriptions are untouched by them.
 *
 * Every NOTIFY (a retransmission too) is answered 200 at once, in the same turn it is read.
 * SUBSCRIBE and PUBLISH are retransmitted like a non-INVITE client transaction (T1 500 ms doubling
 * to T2 4 s, given up after 32 s). The client's own CPU (process.cpuUsage) is reported for each
 * window, so that a client-bound measurement shows (`client_busy_pct` near 100).
 *
 * Usage:
 *   node bench/presence-fanout.mjs --target 127.0.0.1:5070 --pid PID [--port 5061]
 *     [--watchers 1000] [--rate 1000] [--window 200] [--publishes 5] [--warmup-publishes 1]
 *     [--warmup-fetches 1000] [--presentity alice] [--domain 127.0.0.1] [--pause-ms 1000]
 *     [--settle-ms 200] [--timeout-s 240] [--label NAME]
 *
 * Output (stdout), one key=value line per window, then the result:
 *   PRESENCE_SUBSCRIBE phase=warmup|measured …      PRESENCE_FANOUT round=K warmup=0|1 …
 *   PRESENCE_RESULT … verdict=PASS|FAIL
 * Exit 0 when every step completed, 1 otherwise (the lines are printed either way).
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

// ---- arguments -------------------------------------------------------------------------------

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = argv[i + 1];
  if (v === undefined) fail(`--${name} needs a value`);
  return v;
};
const numOpt = (name, dflt) => {
  const v = Number(opt(name, dflt));
  if (!Number.isFinite(v) || v < 0) fail(`--${name} must be a non-negative number`);
  return v;
};
function fail(msg) {
  process.stderr.write(`presence-fanout: ${msg}\n`);
  process.exit(2);
}

const TARGET = opt('target', '127.0.0.1:5070');
const [THOST, TPORT_S] = TARGET.split(':');
const TPORT = Number(TPORT_S);
if (THOST !== '127.0.0.1' || !Number.isInteger(TPORT)) fail('--target must be 127.0.0.1:PORT');
const SERVER_PID = numOpt('pid', 0);
const LPORT = numOpt('port', 5061);
const WATCHERS = numOpt('watchers', 1000);
const RATE = numOpt('rate', 1000);
const WINDOW = Math.max(1, numOpt('window', 200));
const PUBLISHES = numOpt('publishes', 5);
const WARMUP_PUBLISHES = numOpt('warmup-publishes', 1);
const WARMUP_FETCHES = numOpt('warmup-fetches', 1000);
const PRESENTITY = opt('presentity', 'alice');
const DOMAIN = opt('domain', '127.0.0.1');
const PAUSE_MS = numOpt('pause-ms', 1000);
const SETTLE_MS = numOpt('settle-ms', 200);
const TIMEOUT_S = numOpt('timeout-s', 240);
const LABEL = opt('label', 'server');
const EXPIRES = 3600;
const AOR = `sip:${PRESENTITY}@${DOMAIN}`;
const LOCAL = `127.0.0.1:${LPORT}`;

// The whole run is bounded: whatever happens, the process ends.
const hardStop = setTimeout(() => {
  process.stderr.write(`presence-fanout: timeout after ${TIMEOUT_S} s\n`);
  process.stdout.write(`PRESENCE_RESULT label=${LABEL} verdict=FAIL error=timeout\n`);
  process.exit(1);
}, TIMEOUT_S * 1000);

// ---- CPU accounting (/proc) ----------------------------------------------------------------

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

function statOf(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const a = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // fields after the comm: a[0]=state(3) a[1]=ppid(4) … a[11]=utime(14) a[12]=stime(15) a[13]=cutime a[14]=cstime
    const own = Number(a[11]) + Number(a[12]);
    return { ppid: Number(a[1]), own, ticks: own + Number(a[13]) + Number(a[14]) };
  } catch {
    return undefined;
  }
}

/** Every process of the machine: pid -> {ppid, ticks}. */
function allProcs() {
  const m = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (d.charCodeAt(0) < 48 || d.charCodeAt(0) > 57) continue;
    const s = statOf(d);
    if (s) m.set(Number(d), s);
  }
  return m;
}

function treeOf(root, procs) {
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, s] of procs) if (s.ppid === out[i] && !out.includes(pid)) out.push(pid);
  return out.filter((p) => procs.has(p));
}

/** ns on a CPU, summed over every thread of the given processes (schedstat: finer than ticks). */
function schedNs(pids) {
  let ns = 0;
  for (const pid of pids) {
    let tids = [];
    try { tids = fs.readdirSync(`/proc/${pid}/task`); } catch { continue; }
    for (const t of tids) {
      try { ns += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]); } catch { /* gone */ }
    }
  }
  return ns;
}

function udpRcvbufErrors() {
  try {
    const l = fs.readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((x) => x.startsWith('Udp:'));
    const h = l[0].split(/\s+/);
    const v = l[1].split(/\s+/);
    return Number(v[h.indexOf('RcvbufErrors')]);
  } catch {
    return 0;
  }
}

/** Datagrams dropped by the sockets bound to `port` on 127.0.0.1 (/proc/net/udp `drops`: a full receive buffer). */
function socketDrops(port) {
  const hex = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let n = 0;
  try {
    for (const l of fs.readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
      const c = l.trim().split(/\s+/);
      if (c[1] === hex) n += Number(c[c.length - 1]);
    }
  } catch { /* none */ }
  return n;
}

/** A CPU sample of the server (its tree), this client, and the whole machine. */
function sample() {
  const procs = allProcs();
  const tree = SERVER_PID > 0 ? treeOf(SERVER_PID, procs) : [];
  let serverTicks = 0;
  let serverOwn = 0;
  for (const p of tree) { serverTicks += procs.get(p).ticks; serverOwn += procs.get(p).own; }
  let hostTicks = 0;
  // The machine: each process's own time (not cutime/cstime: a reaped child's whole life would
  // land in one window). The server: with its reaped children, as sipp-load.sh counts it.
  for (const s of procs.values()) hostTicks += s.own;
  const cu = process.cpuUsage();
  return {
    t: performance.now(), serverTicks, serverOwn, serverNs: schedNs(tree), procs: tree.length, hostTicks,
    clientUs: cu.user + cu.system, rcvbuf: udpRcvbufErrors(), serverDrops: socketDrops(TPORT), clientDrops: socketDrops(LPORT),
  };
}

function delta(a, b) {
  const wallS = (b.t - a.t) / 1000;
  const serverS = (b.serverTicks - a.serverTicks) / CLK_TCK;
  const serverOwnS = (b.serverOwn - a.serverOwn) / CLK_TCK;
  const clientS = (b.clientUs - a.clientUs) / 1e6;
  return {
    wall_s: wallS, server_cpu_s: serverS, server_sched_s: (b.serverNs - a.serverNs) / 1e9, server_procs: b.procs,
    client_cpu_s: clientS, other_cpu_s: Math.max(0, (b.hostTicks - a.hostTicks) / CLK_TCK - serverOwnS - clientS),
    rcvbuf_errors: b.rcvbuf - a.rcvbuf, server_drops: b.serverDrops - a.serverDrops, client_drops: b.clientDrops - a.clientDrops,
  };
}

// ---- SIP over one UDP socket -----------------------------------------------------------------

const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
const tok = () => randomBytes(6).toString('hex');
const runId = tok();
const send = (text) => sock.send(text, TPORT, THOST);
const sendTo = (text, port, host) => sock.send(text, port, host);

const COMPACT = { v: 'via', f: 'from', t: 'to', i: 'call-id', l: 'content-length', c: 'content-type', e: 'content-encoding', m: 'contact' };

/** The header lines and body of a datagram (enough for this client: no folding, no multipart). */
function parse(buf) {
  const s = buf.toString('latin1');
  const end = s.indexOf('\r\n\r\n');
  const head = end < 0 ? s : s.slice(0, end);
  const body = end < 0 ? '' : s.slice(end + 4);
  const lines = head.split('\r\n');
  const first = lines[0];
  let callId = '';
  let cseq = '';
  const keep = []; // Via, From, To, Call-ID, CSeq lines, for a response
  let etag;
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i];
    const c = l.indexOf(':');
    if (c < 0) continue;
    let name = l.slice(0, c).trim().toLowerCase();
    name = COMPACT[name] ?? name;
    if (name === 'via' || name === 'from' || name === 'to') keep.push(l);
    else if (name === 'call-id') { callId = l.slice(c + 1).trim(); keep.push(l); }
    else if (name === 'cseq') { cseq = l.slice(c + 1).trim(); keep.push(l); }
    else if (name === 'sip-etag') etag = l.slice(c + 1).trim();
  }
  const isResponse = first.startsWith('SIP/2.0 ');
  return {
    isResponse, status: isResponse ? Number(first.slice(8, 11)) : 0, method: isResponse ? cseq.split(/\s+/)[1] : first.slice(0, first.indexOf(' ')),
    callId, cseqNum: Number(cseq.split(/\s+/)[0]), keep, body, etag,
  };
}

function subscribeText(w) {
  return `SUBSCRIBE ${AOR} SIP/2.0\r\n`
    + `Via: SIP/2.0/UDP ${LOCAL};branch=z9hG4bK${w.branch};rport\r\n`
    + 'Max-Forwards: 70\r\n'
    + `From: <sip:${w.user}@${DOMAIN}>;tag=${w.tag}\r\n`
    + `To: <${AOR}>\r\n`
    + `Call-ID: ${w.callId}\r\n`
    + 'CSeq: 1 SUBSCRIBE\r\n'
    + `Contact: <sip:${w.user}@${LOCAL}>\r\n`
    + 'Event: presence\r\n'
    + 'Accept: application/pidf+xml\r\n'
    + `Expires: ${w.expires}\r\n`
    + 'User-Agent: presence-fanout\r\n'
    + 'Content-Length: 0\r\n\r\n';
}

function pidf(round) {
  return '<?xml version="1.0" encoding="UTF-8"?>\r\n'
    + `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="${AOR}">\r\n`
    + `<tuple id="bench"><status><basic>${round % 2 === 0 ? 'open' : 'closed'}</basic></status><note>bench-round-${round}</note></tuple>\r\n`
    + '</presence>\r\n';
}

let pubCseq = 0;
const pubCallId = `pub-${runId}@${DOMAIN}`;
const pubTag = tok();
function publishText(p) {
  const body = pidf(p.round);
  return `PUBLISH ${AOR} SIP/2.0\r\n`
    + `Via: SIP/2.0/UDP ${LOCAL};branch=z9hG4bK${p.branch};rport\r\n`
    + 'Max-Forwards: 70\r\n'
    + `From: <${AOR}>;tag=${pubTag}\r\n`
    + `To: <${AOR}>\r\n`
    + `Call-ID: ${pubCallId}\r\n`
    + `CSeq: ${p.cseq} PUBLISH\r\n`
    + 'Event: presence\r\n'
    + `Expires: ${EXPIRES}\r\n`
    + (p.etag ? `SIP-If-Match: ${p.etag}\r\n` : '')
    + 'Content-Type: application/pidf+xml\r\n'
    + 'User-Agent: presence-fanout\r\n'
    + `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

// ---- state -------------------------------------------------------------------------------

/** Call-ID -> the dialog (a watcher or a fetch). */
const byCallId = new Map();
/** Client transactions waiting for a final response: Call-ID -> {text, next, interval, start, onFinal}. */
const pendingTx = new Map();
let retransSent = 0;
let notifyRetransSeen = 0;
let notifiesAnswered = 0;
let strayMessages = 0;
let badFinals = 0;
/** The current fan-out round (0: none), its marker, and the per-round callback. */
let round = 0;
let roundMarker = '';
let onRoundNotify;
/** Called when a dialog's first NOTIFY arrives (subscription phases). */
let onFirstNotify;

function startTx(callId, text, onFinal) {
  const now = performance.now();
  pendingTx.set(callId, { text, next: now + 500, interval: 500, start: now, onFinal });
  send(text);
}

// Timer E (non-INVITE client transaction): retransmit at T1 doubling to T2, give up at 64*T1.
const retransTimer = setInterval(() => {
  const now = performance.now();
  for (const [cid, tx] of pendingTx) {
    if (now - tx.start > 32000) {
      pendingTx.delete(cid);
      tx.onFinal(408, undefined);
      continue;
    }
    if (now >= tx.next) {
      retransSent++;
      send(tx.text);
      tx.interval = Math.min(tx.interval * 2, 4000);
      tx.next = now + tx.interval;
    }
  }
}, 20);

sock.on('message', (buf, rinfo) => {
  const m = parse(buf);
  if (m.isResponse) {
    if (m.status < 200) return;
    const tx = pendingTx.get(m.callId);
    if (!tx || (m.method !== 'SUBSCRIBE' && m.method !== 'PUBLISH')) return;
    pendingTx.delete(m.callId);
    tx.onFinal(m.status, m);
    return;
  }
  // A request: answer it at once (NOTIFY 200; anything else 405 — never expected here).
  const ok = m.method === 'NOTIFY';
  sendTo(`SIP/2.0 ${ok ? '200 OK' : '405 Method Not Allowed'}\r\n${m.keep.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`, rinfo.port, rinfo.address);
  if (!ok) { strayMessages++; return; }
  notifiesAnswered++;
  const w = byCallId.get(m.callId);
  if (!w) { strayMessages++; return; }
  if (m.cseqNum <= w.lastNotifyCseq) { notifyRetransSeen++; return; }
  w.lastNotifyCseq = m.cseqNum;
  w.notifies++;
  if (!w.firstNotify) {
    w.firstNotify = true;
    onFirstNotify?.(w);
  }
  if (round > 0 && w.round !== round && m.body.includes(roundMarker)) {
    w.round = round;
    onRoundNotify?.(w, performance.now());
  }
});

// ---- phases ---------------------------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = (line) => process.stdout.write(line + '\n');
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'na');
const f3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : 'na');
let etag;
let failed = false;

/** One PUBLISH (initial, or modify with the current ETag); resolves with the time of its 2xx. */
function publish(r) {
  return new Promise((resolve) => {
    const p = { round: r, cseq: ++pubCseq, branch: tok(), etag };
    startTx(pubCallId, publishText(p), (status, m) => {
      if (status >= 200 && status < 300 && m?.etag) {
        etag = m.etag;
        resolve({ status, t: performance.now() });
      } else {
        badFinals++;
        resolve({ status, t: performance.now() });
      }
    });
  });
}

/**
 * `n` SUBSCRIBEs (Expires `expires`) at `RATE`/s with at most WINDOW unfinished; one is finished
 * once it has its 2xx and its first NOTIFY was answered. Resolves when all are.
 */
function subscribeMany(prefix, n, expires) {
  return new Promise((resolve) => {
    let sent = 0;
    let done = 0;
    let oks = 0;
    let rejected = 0;
    let outstanding = 0;
    const t0 = performance.now();
    const finish = (w) => {
      if (w.finished) return;
      w.finished = true;
      outstanding--;
      done++;
      if (done === n) { clearInterval(pacer); resolve({ oks, rejected, t: performance.now() }); }
    };
    onFirstNotify = (w) => { if (w.prefix === prefix && w.final) finish(w); };
    const pacer = setInterval(() => {
      const due = RATE > 0 ? Math.min(n, Math.floor(((performance.now() - t0) / 1000) * RATE) + 1) : n;
      while (sent < due && outstanding < WINDOW) {
        const i = sent++;
        const w = { prefix, i, user: `${prefix}${i}`, tag: tok(), branch: tok(), callId: `${prefix}${i}-${runId}@${DOMAIN}`, expires, lastNotifyCseq: -1, notifies: 0, firstNotify: false, final: 0, round: 0, finished: false };
        byCallId.set(w.callId, w);
        outstanding++;
        startTx(w.callId, subscribeText(w), (status) => {
          w.final = status;
          if (status >= 200 && status < 300) {
            oks++;
            if (w.firstNotify) finish(w);
          } else {
            rejected++;
            badFinals++;
            finish(w);
          }
        });
      }
    }, 2);
  });
}

async function subscribePhase(phase, prefix, n, expires) {
  const a = sample();
  const retransBefore = retransSent;
  const r = await subscribeMany(prefix, n, expires);
  const tDone = performance.now();
  await sleep(SETTLE_MS);
  const b = sample();
  const d = delta(a, b);
  const busyS = (tDone - a.t) / 1000;
  const perPair = (d.server_cpu_s * 1e6) / n;
  out(`PRESENCE_SUBSCRIBE label=${LABEL} phase=${phase} pairs=${n} ok=${r.oks} rejected=${r.rejected} expires=${expires} rate_target=${RATE} window=${WINDOW}`
    + ` elapsed_s=${f3(busyS)} rate_achieved=${f1(n / busyS)} server_pid=${SERVER_PID} server_procs=${d.server_procs} server_cpu_s=${f3(d.server_cpu_s)}`
    + ` server_cpu_us_per_pair=${f1(perPair)} server_sched_us_per_pair=${f1((d.server_sched_s * 1e6) / n)} client_cpu_s=${f3(d.client_cpu_s)}`
    + ` client_busy_pct=${f1((100 * d.client_cpu_s) / busyS)} other_cpu_s=${f3(d.other_cpu_s)} retrans=${retransSent - retransBefore}`
    + ` rcvbuf_errors=${d.rcvbuf_errors} server_drops=${d.server_drops} client_drops=${d.client_drops} settle_ms=${SETTLE_MS}`);
  if (r.oks !== n) failed = true;
  return { perPair, sched: (d.server_sched_s * 1e6) / n, oks: r.oks };
}

/** One fan-out: PUBLISH (modify) round `k`, until every watcher has a NOTIFY with its marker. */
async function fanOut(k, warm, watchers) {
  await sleep(PAUSE_MS);
  const a = sample();
  const retransBefore = retransSent;
  const nrBefore = notifyRetransSeen;
  const times = [];
  let cpuAtLast;
  let resolveAll;
  const all = new Promise((r) => (resolveAll = r));
  round = k;
  roundMarker = `bench-round-${k}`;
  onRoundNotify = (_w, t) => {
    times.push(t);
    if (times.length === watchers) {
      const cu = process.cpuUsage();
      cpuAtLast = cu.user + cu.system;
      resolveAll();
    }
  };
  const mono0 = process.hrtime.bigint();
  const t0 = performance.now();
  const pubDone = publish(k);
  let roundTimer;
  const timeout = new Promise((r) => (roundTimer = setTimeout(() => r('timeout'), 30000)));
  const first = await Promise.race([Promise.all([all, pubDone]), timeout]);
  clearTimeout(roundTimer);
  const pub = await Promise.race([pubDone, sleep(0).then(() => undefined)]);
  const tEnd = performance.now();
  round = 0;
  onRoundNotify = undefined;
  await sleep(SETTLE_MS);
  const b = sample();
  const d = delta(a, b);
  const n = times.length;
  const last = n > 0 ? times[n - 1] - t0 : NaN;
  const rate = n === watchers && watchers === WATCHERS ? (watchers * 1000) / last : NaN;
  const clientBusyS = ((cpuAtLast ?? a.clientUs) - a.clientUs) / 1e6;
  out(`PRESENCE_FANOUT label=${LABEL} round=${k} warmup=${warm ? 1 : 0} watchers=${watchers} notifies=${n}`
    + ` publish_status=${pub?.status ?? 'none'} publish_200_ms=${f3(pub ? pub.t - t0 : NaN)} first_ms=${f3(n ? times[0] - t0 : NaN)}`
    + ` p50_ms=${f3(n ? times[Math.floor((n - 1) / 2)] - t0 : NaN)} last_ms=${f3(last)} notifies_per_s=${f1(rate)}`
    + ` spread_rate=${f1(n > 1 ? ((n - 1) * 1000) / (times[n - 1] - times[0]) : NaN)}`
    + ` server_cpu_s=${f3(d.server_cpu_s)} server_cpu_us_per_notify=${f1((d.server_cpu_s * 1e6) / watchers)} server_sched_us_per_notify=${f1((d.server_sched_s * 1e6) / watchers)}`
    + ` client_cpu_ms_to_last=${f1(clientBusyS * 1000)} client_busy_pct=${f1((100 * clientBusyS * 1000) / last)} other_cpu_s=${f3(d.other_cpu_s)}`
    + ` retrans=${retransSent - retransBefore} notify_retrans_seen=${notifyRetransSeen - nrBefore} rcvbuf_errors=${d.rcvbuf_errors} server_drops=${d.server_drops} client_drops=${d.client_drops}`
    + ` timed_out=${first === 'timeout' ? 1 : 0} window_ms=${f1(tEnd - t0)} mono_start_us=${mono0 / 1000n} mono_end_us=${mono0 / 1000n + BigInt(Math.round((tEnd - t0) * 1000))}`);
  if (n !== watchers || watchers !== WATCHERS || !pub || pub.status >= 300) failed = true;
  return rate;
}

function median(v) {
  const s = v.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main() {
  await new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(LPORT, '127.0.0.1', resolve);
  });
  sock.on('error', (e) => process.stderr.write(`presence-fanout: socket: ${e.message}\n`));
  // The presentity's state: an initial publication (round 0).
  const p0 = await publish(0);
  if (p0.status >= 300 || !etag) {
    out(`PRESENCE_RESULT label=${LABEL} verdict=FAIL error=initial-publish-${p0.status}`);
    return 1;
  }
  if (WARMUP_FETCHES > 0) {
    await subscribePhase('warmup', 'f', WARMUP_FETCHES, 0);
    await sleep(PAUSE_MS);
  }
  const sub = await subscribePhase('measured', 'w', WATCHERS, EXPIRES);
  const rates = [];
  const total = WARMUP_PUBLISHES + PUBLISHES;
  for (let k = 1; k <= total; k++) {
    const warm = k <= WARMUP_PUBLISHES;
    const r = await fanOut(k, warm, sub.oks);
    if (!warm) rates.push(r);
  }
  const ok = rates.filter(Number.isFinite);
  out(`PRESENCE_RESULT label=${LABEL} watchers=${WATCHERS} server_cpu_us_per_pair=${f1(sub.perPair)} server_sched_us_per_pair=${f1(sub.sched)}`
    + ` fanout_median_per_s=${f1(median(rates))} fanout_min_per_s=${f1(ok.length ? Math.min(...ok) : NaN)} fanout_max_per_s=${f1(ok.length ? Math.max(...ok) : NaN)}`
    + ` fanout_rates=${rates.map(f1).join(',')} retrans=${retransSent} notify_retrans_seen=${notifyRetransSeen} notifies_answered=${notifiesAnswered}`
    + ` stray=${strayMessages} bad_finals=${badFinals} verdict=${failed ? 'FAIL' : 'PASS'}`);
  return failed ? 1 : 0;
}

main().then(
  (code) => { clearTimeout(hardStop); clearInterval(retransTimer); sock.close(); process.exitCode = code; },
  (e) => { process.stderr.write(`presence-fanout: ${e.stack ?? e}\n`); out(`PRESENCE_RESULT label=${LABEL} verdict=FAIL error=exception`); process.exit(1); },
);
