// Prometheus metrics (`GET /metrics` of `switchboard serve --admin`, src/observability/metrics.ts)
// under real traffic, the text read by a strict parser of the exposition format written here from
// the specification (prometheus.io/docs/instrumenting/exposition_formats/, text format 0.0.4):
//  - lines end with \n (the last one too); `# HELP name text` (escapes \\ and \n) at most once
//    per name; `# TYPE name counter|gauge|histogram|summary|untyped` at most once, before the
//    name's first sample; every other `#` line is a comment;
//  - a sample is `name[{label="value",…}] value [timestamp]`, names [a-zA-Z_:][a-zA-Z0-9_:]*,
//    label names [a-zA-Z_][a-zA-Z0-9_]* (no `__` prefix, no repeats), label values with the
//    escapes \\ \" \n only, values Go floats (NaN, +Inf, -Inf), timestamps integers;
//  - all lines of a metric family form one group; no series twice; here, stricter than the spec,
//    every sample belongs to a family declared by TYPE (`untyped` by omission is refused);
//  - histograms: `_bucket` with `le` in increasing order and cumulative counts, a `+Inf` bucket
//    equal to `_count`, a `_sum`; summaries: `quantile` in increasing order, `_sum`, `_count`;
//    counters never negative.
// Why not an npm parser: the one maintained-looking package, parse-prometheus-text-format 1.1.1
// (Apache-2.0), accepts malformed input (`foo{a="b} 1`, a value `abc`) and loses the labels,
// `_sum` and `_count` of a histogram with labels (prom-client's nodejs_gc_duration_seconds{kind}).
//
// The traffic, all on 127.0.0.1: SIPp registers bob (digest), `switchboard register` registers
// carol, SIPp registers with a wrong password, SIPp's uac calls bob (SIPp's uas) through the
// proxy, a garbage datagram and a request with a malformed CSeq are sent from a dgram socket.
// Each step's counters are compared with what the step sent (and, for the call, with the
// messages the admin API lists for it). Two tests pin bugs found on the way (fixed).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isListening, startProcess, stopAll, type Managed } from '../../harness/processes.js';
import { SCENARIO_DIR, SWITCHBOARD_CLI, describeSipp, runSipp, runSwitchboard, startSipp, type SippProcess, type SippResult } from '../sipp/sipp.js';
import { describeRun, freePorts, writeConfig, type TempConfig } from '../callflows/callflow-harness.js';

after(stopAll);
const tmp = mkdtempSync(join(tmpdir(), 'metrics-'));
after(() => {
  if (process.env.KEEP_TMP !== '1') rmSync(tmp, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The exposition format, strictly

type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestamp?: number;
}

interface Family {
  name: string;
  type: MetricType;
  /** Declared by a TYPE line (not `untyped` by omission). */
  declared: boolean;
  help?: string;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** A Go ParseFloat-style value as the format allows it. */
function parseValue(text: string, where: string): number {
  if (text === 'NaN') return NaN;
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (!/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(text)) throw new Error(`${where}: value "${text}" is not a float`);
  return Number(text);
}

function unescapeHelp(text: string, where: string): string {
  return text.replace(/\\(.?)/g, (_m, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    throw new Error(`${where}: HELP escape "\\${c}" (only \\\\ and \\n)`);
  });
}

/** The family a sample name belongs to: itself, or a histogram's/summary's suffixed series. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const exact = families.get(name);
  if (exact && exact.type !== 'histogram' && exact.type !== 'summary') return exact;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const f = families.get(name.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  if (exact?.type === 'summary') return exact; // name{quantile="…"}
  return undefined;
}

function parsePrometheusText(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the last line does not end with \\n');
  if (text.includes('\r')) throw new Error('a carriage return: lines end with \\n only');
  const families = new Map<string, Family>();
  const groupsSeen = new Set<string>();
  let current: string | undefined;
  const enter = (name: string, where: string): void => {
    if (name === current) return;
    if (groupsSeen.has(name)) throw new Error(`${where}: lines of ${name} are not one group (it appeared before ${current ?? 'the start'})`);
    groupsSeen.add(name);
    current = name;
  };
  const lines = text.split('\n');
  lines.pop();
  for (const [i, raw] of lines.entries()) {
    const where = `line ${i + 1} ${JSON.stringify(raw.slice(0, 120))}`;
    const line = raw.replace(/^[ \t]+/, '');
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
      if (!m) continue; // a comment
      const [, kind, name, rest] = m as unknown as [string, 'HELP' | 'TYPE', string, string | undefined];
      if (!METRIC_NAME.test(name)) throw new Error(`${where}: metric name "${name}"`);
      enter(name, where);
      const f: Family = families.get(name) ?? { name, type: 'untyped', declared: false, samples: [] };
      if (kind === 'HELP') {
        if (f.help !== undefined) throw new Error(`${where}: a second HELP for ${name}`);
        f.help = unescapeHelp(rest ?? '', where);
      } else {
        if (f.declared) throw new Error(`${where}: a second TYPE for ${name}`);
        if (f.samples.length > 0) throw new Error(`${where}: TYPE of ${name} after its samples`);
        const t = (rest ?? '').trim();
        if (!TYPES.has(t)) throw new Error(`${where}: type "${t}"`);
        f.type = t as MetricType;
        f.declared = true;
      }
      families.set(name, f);
      continue;
    }
    // A sample.
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nm) throw new Error(`${where}: no metric name`);
    const name = nm[0];
    let pos = name.length;
    const labels: Record<string, string> = {};
    if (line[pos] === '{') {
      pos++;
      for (;;) {
        while (line[pos] === ' ' || line[pos] === '\t') pos++;
        if (line[pos] === '}') {
          pos++;
          break;
        }
        const ln = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(pos));
        if (!ln) throw new Error(`${where}: label name expected at column ${pos + 1}`);
        const lname = ln[0];
        if (!LABEL_NAME.test(lname) || lname.startsWith('__')) throw new Error(`${where}: label name "${lname}"`);
        if (lname in labels) throw new Error(`${where}: label ${lname} twice`);
        pos += lname.length;
        while (line[pos] === ' ' || line[pos] === '\t') pos++;
        if (line[pos] !== '=') throw new Error(`${where}: "=" expected after ${lname}`);
        pos++;
        while (line[pos] === ' ' || line[pos] === '\t') pos++;
        if (line[pos] !== '"') throw new Error(`${where}: '"' expected for the value of ${lname}`);
        pos++;
        let value = '';
        for (;;) {
          const c = line[pos];
          if (c === undefined) throw new Error(`${where}: unterminated value of label ${lname}`);
          if (c === '"') {
            pos++;
            break;
          }
          if (c === '\\') {
            const e = line[pos + 1];
            if (e === '\\') value += '\\';
            else if (e === '"') value += '"';
            else if (e === 'n') value += '\n';
            else throw new Error(`${where}: label value escape "\\${e ?? ''}" (only \\\\ \\" \\n)`);
            pos += 2;
            continue;
          }
          value += c;
          pos++;
        }
        labels[lname] = value;
        while (line[pos] === ' ' || line[pos] === '\t') pos++;
        if (line[pos] === ',') {
          pos++;
          continue;
        }
        if (line[pos] === '}') {
          pos++;
          break;
        }
        throw new Error(`${where}: "," or "}" expected at column ${pos + 1}`);
      }
    }
    if (line[pos] !== ' ' && line[pos] !== '\t') throw new Error(`${where}: blank expected before the value`);
    const tokens = line.slice(pos).trim().split(/[ \t]+/);
    if (tokens.length < 1 || tokens.length > 2 || tokens[0] === '') throw new Error(`${where}: expected a value and an optional timestamp`);
    const value = parseValue(tokens[0]!, where);
    let timestamp: number | undefined;
    if (tokens[1] !== undefined) {
      if (!/^-?\d+$/.test(tokens[1])) throw new Error(`${where}: timestamp "${tokens[1]}"`);
      timestamp = Number(tokens[1]);
    }
    const f = familyOf(name, families);
    if (!f || !f.declared) throw new Error(`${where}: sample ${name} of no family declared by a TYPE line`);
    enter(f.name, where);
    if (f.type === 'histogram' && name.endsWith('_bucket') && labels.le === undefined) throw new Error(`${where}: histogram bucket without le`);
    if (f.type === 'summary' && name === f.name && labels.quantile === undefined) throw new Error(`${where}: summary sample without quantile`);
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`${where}: a counter below zero or NaN`);
    const key = `${name}{${Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
    if (f.samples.some((s) => `${s.name}{${Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}` === key)) {
      throw new Error(`${where}: series ${key} twice`);
    }
    f.samples.push({ name, labels, value, timestamp });
  }
  // Histograms and summaries, per series (labels without le / quantile).
  for (const f of families.values()) {
    if (f.type !== 'histogram' && f.type !== 'summary') continue;
    const bound = f.type === 'histogram' ? 'le' : 'quantile';
    const groups = new Map<string, Sample[]>();
    for (const s of f.samples) {
      const { [bound]: _b, ...rest } = s.labels;
      const k = JSON.stringify(Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : 1)));
      groups.set(k, [...(groups.get(k) ?? []), s]);
    }
    for (const [k, ss] of groups) {
      const sum = ss.filter((s) => s.name === `${f.name}_sum`);
      const count = ss.filter((s) => s.name === `${f.name}_count`);
      if (sum.length !== 1 || count.length !== 1) throw new Error(`${f.name}${k}: one _sum and one _count wanted`);
      const bounds = ss.filter((s) => (f.type === 'histogram' ? s.name === `${f.name}_bucket` : s.name === f.name));
      let prevBound = -Infinity;
      let prevValue = -Infinity;
      for (const b of bounds) {
        const at = parseValue(b.labels[bound]!, `${f.name}${k} ${bound}`);
        if (!(at > prevBound)) throw new Error(`${f.name}${k}: ${bound} values not in increasing order`);
        prevBound = at;
        if (f.type === 'histogram') {
          if (b.value < prevValue) throw new Error(`${f.name}${k}: bucket counts not cumulative`);
          prevValue = b.value;
        }
      }
      if (f.type === 'histogram') {
        const inf = bounds.find((b) => b.labels.le === '+Inf');
        if (!inf) throw new Error(`${f.name}${k}: no le="+Inf" bucket`);
        if (inf.value !== count[0]!.value) throw new Error(`${f.name}${k}: +Inf bucket ${inf.value} ≠ _count ${count[0]!.value}`);
      }
    }
  }
  return families;
}

/** The value of the series `name` with exactly these labels (undefined when absent). */
function sample(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const f = familyOf(name, fams);
  const want = JSON.stringify(Object.entries(labels).sort());
  return f?.samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value;
}
/** Same, a counter series not yet created counting as 0. */
const count = (fams: Map<string, Family>, name: string, labels: Record<string, string> = {}): number => sample(fams, name, labels) ?? 0;

test('the strict parser itself refuses what the format forbids', () => {
  const ok = '# HELP a_total Things.\n# TYPE a_total counter\na_total{x="1",y="q\\"\\\\\\n"} 3\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3.5\nh_count 2\n';
  const f = parsePrometheusText(ok);
  assert.equal(sample(f, 'a_total', { x: '1', y: 'q"\\\n' }), 3);
  assert.equal(sample(f, 'h_count'), 2);
  for (const [why, text] of [
    ['no TYPE', 'a 1\n'],
    ['unterminated label value', '# TYPE foo gauge\nfoo{a="b} 1\n'],
    ['a value that is not a float', '# TYPE x gauge\nx abc\n'],
    ['a bad escape', '# TYPE x gauge\nx{a="\\t"} 1\n'],
    ['TYPE after the samples', '# TYPE x gauge\nx 1\n# TYPE x gauge\n'],
    ['two groups', '# TYPE x gauge\nx{a="1"} 1\n# TYPE y gauge\ny 1\nx{a="2"} 1\n'],
    ['a series twice', '# TYPE x gauge\nx{a="1"} 1\nx{a="1"} 2\n'],
    ['+Inf bucket ≠ count', '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n'],
    ['buckets not cumulative', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
    ['no final newline', '# TYPE x gauge\nx 1'],
    ['CRLF', '# TYPE x gauge\r\nx 1\r\n'],
    ['a negative counter', '# TYPE c counter\nc -1\n'],
    ['a reserved label name', '# TYPE x gauge\nx{__a="1"} 1\n'],
  ] as Array<[string, string]>) {
    assert.throws(() => parsePrometheusText(text), Error, why);
  }
});

// ---------------------------------------------------------------------------------------------

interface Serve {
  proc: Managed;
  sip: number;
  base: string;
  config: TempConfig;
  context(): string;
  stop(): Promise<void>;
}

async function startServe(sip: number, admin: number): Promise<Serve> {
  const config = writeConfig(['store: memory', 'users:', '  - {user: bob, password: bobpw}', '  - {user: carol, password: carolpw}', 'proxy:', '  authenticate: false', ''].join('\n'));
  let proc: Managed;
  try {
    proc = await startProcess(process.execPath, [SWITCHBOARD_CLI, 'serve', '--config', config.path, '--listen', `udp:127.0.0.1:${sip}`, '--domain', '127.0.0.1', '--admin', `127.0.0.1:${admin}`], {
      readyPattern: /admin: listening on http:\/\//,
      readyCheck: () => isListening('udp', sip) && isListening('tcp', admin),
      timeoutMs: 15_000,
      maxLifetimeMs: 60_000,
    });
  } catch (e) {
    config.cleanup();
    throw e;
  }
  return {
    proc,
    sip,
    base: `http://127.0.0.1:${admin}`,
    config,
    context: () => `--- serve (sip ${sip}, admin ${admin}) ${proc.exitStatus() ? 'EXITED' : 'running'} ---\n${proc.output().stderr.slice(-4000)}`,
    async stop() {
      await proc.stop();
      config.cleanup();
    },
  };
}

/** GET /metrics, checked and parsed. */
async function scrape(s: Serve): Promise<{ fams: Map<string, Family>; text: string }> {
  const res = await fetch(`${s.base}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4(; charset=utf-8)?$/i, 'the text format 0.0.4');
  let fams: Map<string, Family>;
  try {
    fams = parsePrometheusText(text);
  } catch (e) {
    throw new Error(`/metrics is not valid text format: ${(e as Error).message}\n${text.slice(0, 3000)}`);
  }
  return { fams, text };
}

/** Scrape until `pred` holds (counters bumped by a datagram in flight), at most timeoutMs. */
async function scrapeUntil(s: Serve, pred: (f: Map<string, Family>) => boolean, timeoutMs: number, what: string): Promise<Map<string, Family>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const { fams, text } = await scrape(s);
    if (pred(fams)) return fams;
    if (Date.now() > end) throw new Error(`/metrics: ${what} not seen within ${timeoutMs} ms\n${text.split('\n').filter((l) => l.startsWith('sip_')).join('\n')}\n${s.context()}`);
    await sleep(100);
  }
}

async function json(s: Serve, path: string): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`${s.base}${path}`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200, path);
  return res.json();
}

function sippRegister(s: Serve, port: number, user: string, password: string, scenario = join(SCENARIO_DIR, 'register-digest-md5.xml')): Promise<SippResult> {
  const inf = join(tmp, `${user}-${port}.inf`);
  writeFileSync(inf, `SEQUENTIAL\n${user};127.0.0.1;[authentication username=${user} password=${password}]\n`);
  return runSipp({ scenario, target: `127.0.0.1:${s.sip}`, localPort: port, calls: 1, timeoutS: 8, extra: ['-inf', inf] });
}

/** Sends datagrams to the server from an ephemeral port; the replies that came within waitMs. */
async function sendRaw(port: number, packets: (localPort: number) => Buffer[], waitMs = 300): Promise<string[]> {
  const sock = dgram.createSocket('udp4');
  const replies: string[] = [];
  sock.on('message', (m) => replies.push(m.toString('latin1')));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  try {
    for (const p of packets(sock.address().port)) await new Promise<void>((r, j) => sock.send(p, port, '127.0.0.1', (e) => (e ? j(e) : r())));
    await sleep(waitMs);
  } finally {
    sock.close();
  }
  return replies;
}

function badCseqInvite(localPort: number, callId: string): Buffer {
  return Buffer.from(
    [
      'INVITE sip:bob@127.0.0.1 SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${localPort};branch=z9hG4bK-metrics-${callId}`,
      'Max-Forwards: 70',
      `From: <sip:mallory@127.0.0.1>;tag=${callId}`,
      'To: <sip:bob@127.0.0.1>',
      `Call-ID: ${callId}`,
      'CSeq: abc INVITE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

const SIP_METHOD = /^(INVITE|ACK|BYE|CANCEL|REGISTER|OPTIONS|PRACK|SUBSCRIBE|NOTIFY|PUBLISH|INFO|REFER|MESSAGE|UPDATE)$/;

// ---------------------------------------------------------------------------------------------

test('/metrics: valid text format; SIP counters and gauges follow registrations, a wrong password, a call and bad datagrams; Node.js metrics', { timeout: 45_000 }, async () => {
  const [sip, admin, bobPort, carolContact, carolLocal, badPort, uacPort] = (await freePorts(7)) as number[];
  const s = await startServe(sip!, admin!);
  let uas: SippProcess | undefined;
  try {
    const m0 = (await scrape(s)).fams;
    const types: Record<string, MetricType> = {
      sip_requests_received_total: 'counter', sip_requests_sent_total: 'counter', sip_responses_sent_total: 'counter', sip_responses_received_total: 'counter',
      sip_auth_failures_total: 'counter', sip_retransmissions_total: 'counter', sip_parse_errors_total: 'counter',
      sip_transactions: 'gauge', sip_dialogs: 'gauge', sip_calls: 'gauge', sip_registrations: 'gauge', sip_transport_connections: 'gauge',
      nodejs_eventloop_lag_p50_seconds: 'gauge', nodejs_eventloop_lag_p99_seconds: 'gauge', nodejs_gc_duration_seconds: 'histogram',
      process_cpu_seconds_total: 'counter', process_resident_memory_bytes: 'gauge', nodejs_heap_size_used_bytes: 'gauge',
    };
    for (const [name, type] of Object.entries(types)) {
      assert.equal(m0.get(name)?.type, type, `${name} is declared as a ${type}`);
      assert.ok((m0.get(name)?.help ?? '').length > 0, `${name} has a HELP text`);
    }
    assert.equal(sample(m0, 'sip_registrations'), 0);
    assert.equal(sample(m0, 'sip_parse_errors_total'), 0);
    for (const state of ['trying', 'early', 'confirmed']) assert.equal(sample(m0, 'sip_calls', { state }), 0);
    assert.equal(sample(m0, 'sip_transactions', { side: 'server' }), 0);

    // bob: REGISTER → 401, REGISTER with credentials → 200.
    const reg = await sippRegister(s, bobPort!, 'bob', 'bobpw');
    assert.equal(reg.code, 0, `SIPp REGISTER bob\n${describeSipp(reg)}\n${s.context()}`);
    const m1 = (await scrape(s)).fams;
    const d = (a: Map<string, Family>, b: Map<string, Family>, name: string, labels: Record<string, string> = {}) => count(b, name, labels) - count(a, name, labels);
    assert.equal(d(m0, m1, 'sip_requests_received_total', { method: 'REGISTER' }), 2, 'two REGISTERs received');
    assert.equal(d(m0, m1, 'sip_responses_sent_total', { class: '4xx', code: '401' }), 1, 'one 401 sent');
    assert.equal(d(m0, m1, 'sip_responses_sent_total', { class: '2xx', code: '200' }), 1, 'one 200 sent');
    assert.equal(sample(m1, 'sip_registrations'), 1);
    assert.ok(count(m1, 'sip_transactions', { side: 'server' }) >= 1, 'the REGISTER transactions linger (Timer J)');

    // carol, with the project's own client.
    const carol = await runSwitchboard(
      ['register', 'sip:carol@127.0.0.1', '--registrar', `sip:127.0.0.1:${sip}`, '--user', 'carol', '--password', 'carolpw', '--contact', `sip:carol@127.0.0.1:${carolContact}`, '--expires', '300', '--listen', `udp:127.0.0.1:${carolLocal}`],
      15_000,
    );
    assert.equal(carol.code, 0, describeRun(carol));
    const m2 = (await scrape(s)).fams;
    assert.equal(d(m1, m2, 'sip_requests_received_total', { method: 'REGISTER' }), 2);
    assert.equal(sample(m2, 'sip_registrations'), 2, 'sip_registrations counts both');
    assert.equal((await json(s, '/api/registrations')).registrations.length, 2, 'as many as the API lists');
    assert.equal(count(m2, 'sip_auth_failures_total', { realm: '127.0.0.1' }), 0, 'no failure yet');

    // A wrong password: register-digest-md5.xml expecting a 401 to its credentials instead of the
    // 200 (as it is, SIPp would "abort the call" on the unexpected 401 with a BYE, which the proxy
    // forwards to bob's contact: traffic this test would then count).
    const refused = join(tmp, 'register-digest-md5-refused.xml');
    const xml = readFileSync(join(SCENARIO_DIR, 'register-digest-md5.xml'), 'utf8');
    assert.ok(xml.includes('<recv response="200" rtd="true">'));
    writeFileSync(refused, xml.replace('<recv response="200" rtd="true">', '<recv response="401">'));
    const bad = await sippRegister(s, badPort!, 'bob', 'not-bobs-password', refused);
    assert.equal(bad.code, 0, `the wrong password is refused with 401\n${describeSipp(bad)}\n${s.context()}`);
    const m3 = (await scrape(s)).fams;
    assert.equal(d(m2, m3, 'sip_auth_failures_total', { realm: '127.0.0.1' }), 1, `sip_auth_failures_total{realm="127.0.0.1"} + 1\n${s.context()}`);
    assert.equal(sample(m3, 'sip_registrations'), 2, 'still two');

    // A call through the proxy; the gauges while it is up, the counters after.
    uas = await startSipp({ scenario: 'uas', localPort: bobPort!, timeoutS: 30 });
    let done = false;
    const uacRun = runSipp({ scenario: 'uac', target: `127.0.0.1:${sip}`, localPort: uacPort!, calls: 1, timeoutS: 15, extra: ['-s', 'bob', '-d', '1500'] }).finally(() => (done = true));
    const during = await scrapeUntil(s, (f) => sample(f, 'sip_calls', { state: 'confirmed' }) === 1 || done, 5000, 'the call confirmed');
    assert.equal(done, false, 'the call was still up');
    assert.equal(sample(during, 'sip_calls', { state: 'confirmed' }), 1, 'sip_calls{state="confirmed"} 1 during the call');
    assert.equal(sample(during, 'sip_dialogs', { usage: 'invite' }), 1, 'sip_dialogs{usage="invite"} 1 during the call');
    const uac = await uacRun;
    assert.equal(uac.code, 0, `SIPp uac\n${describeSipp(uac)}\n${s.context()}`);
    const m4 = (await scrape(s)).fams;
    const callId = ((await json(s, '/api/calls?q=bob')).calls as Array<{ callId: string }>)[0]!.callId;
    const msgs = (await json(s, `/api/calls/${encodeURIComponent(callId)}/messages`)).messages as Array<{ direction: string; method: string; status?: number }>;
    const n = (dir: string, method: string, status?: number) => msgs.filter((m) => m.direction === dir && m.method === method && m.status === status).length;
    const callWhy = `messages of the call: ${msgs.map((m) => `${m.direction} ${m.status ?? ''} ${m.method}`).join(', ')}`;
    for (const method of ['INVITE', 'ACK', 'BYE']) {
      assert.ok(n('received', method) >= 1, callWhy);
      assert.equal(d(m3, m4, 'sip_requests_received_total', { method }), n('received', method), `${method} received\n${callWhy}`);
      assert.equal(d(m3, m4, 'sip_requests_sent_total', { method }), n('sent', method), `${method} sent\n${callWhy}`);
    }
    const sent200 = n('sent', 'INVITE', 200) + n('sent', 'BYE', 200);
    assert.ok(sent200 >= 2, callWhy);
    assert.equal(d(m3, m4, 'sip_responses_sent_total', { class: '2xx', code: '200' }), sent200, `sip_responses_sent_total{class="2xx",code="200"}: the INVITE's and the BYE's 200\n${callWhy}`);
    assert.equal(d(m3, m4, 'sip_responses_received_total', { class: '2xx', code: '200' }), n('received', 'INVITE', 200) + n('received', 'BYE', 200), callWhy);
    assert.equal(d(m3, m4, 'sip_responses_sent_total', { class: '1xx', code: '180' }), n('sent', 'INVITE', 180), callWhy);
    assert.equal(d(m3, m4, 'sip_responses_sent_total', { class: '1xx', code: '100' }), n('sent', 'INVITE', 100), callWhy);
    for (const state of ['trying', 'early', 'confirmed']) assert.equal(sample(m4, 'sip_calls', { state }), 0, `no call under way after the BYE (${state})`);
    assert.equal(sample(m4, 'sip_dialogs', { usage: 'invite' }), 0);
    assert.equal(sample(m4, 'sip_transport_connections'), 0, 'UDP only');

    // Bad datagrams: one that is no SIP at all (dropped), one with a malformed CSeq (400).
    const junk = await sendRaw(sip!, () => [Buffer.from('garbage\r\n\r\n')]);
    assert.deepEqual(junk, [], 'junk gets no answer');
    const m5 = await scrapeUntil(s, (f) => count(f, 'sip_parse_errors_total') === count(m4, 'sip_parse_errors_total') + 1, 2000, 'sip_parse_errors_total + 1');
    assert.equal(d(m4, m5, 'sip_parse_errors_total'), 1);
    const replies = await sendRaw(sip!, (p) => [badCseqInvite(p, 'metrics-bad-cseq')]);
    assert.match(replies[0] ?? '', /^SIP\/2\.0 400 /, `a malformed CSeq is refused with 400: ${JSON.stringify(replies)}`);
    const m6 = await scrapeUntil(s, (f) => count(f, 'sip_parse_errors_total') === count(m5, 'sip_parse_errors_total') + 1, 2000, 'sip_parse_errors_total + 1 again');
    assert.equal(d(m5, m6, 'sip_responses_sent_total', { class: '4xx', code: '400' }), 1, 'the 400 is counted');

    // Node.js: event-loop delay percentiles and GC pauses.
    const p50 = sample(m6, 'nodejs_eventloop_lag_p50_seconds');
    const p99 = sample(m6, 'nodejs_eventloop_lag_p99_seconds');
    assert.ok(p50 !== undefined && Number.isFinite(p50) && p50 >= 0, `p50 ${p50}`);
    assert.ok(p99 !== undefined && Number.isFinite(p99) && p99 >= p50!, `p99 ${p99} ≥ p50 ${p50}`);
    const gc = m6.get('nodejs_gc_duration_seconds')!;
    for (const smp of gc.samples) assert.match(smp.labels.kind ?? '', /^(major|minor|incremental|weakcb)$/, `GC kind label: ${JSON.stringify(smp)}`);
    // sip_registrations is the API's count, at the end too.
    assert.equal(sample(m6, 'sip_registrations'), (await json(s, '/api/stats')).registrations);
  } finally {
    await uas?.stop();
    await s.stop();
  }
});

test('an unparseable datagram is a parse error, not a request method: no label value is taken from garbage', {
  timeout: 20_000,
}, async () => {
  const [sip, admin] = (await freePorts(2)) as number[];
  const s = await startServe(sip!, admin!);
  try {
    await sendRaw(sip!, () => [Buffer.from('garbage\r\n\r\n'), Buffer.from('HELLO-1 x y\r\n\r\n'), Buffer.from([0xc3, 0xa9, 0x20, 0x0d, 0x0a, 0x0d, 0x0a])]);
    const m = await scrapeUntil(s, (f) => count(f, 'sip_parse_errors_total') === 3, 2000, 'three parse errors');
    const methods = (m.get('sip_requests_received_total')?.samples ?? []).map((x) => x.labels.method ?? '');
    assert.deepEqual(methods.filter((x) => !SIP_METHOD.test(x)), [], `sip_requests_received_total method labels: ${JSON.stringify(methods)}`);
  } finally {
    await s.stop();
  }
});

test('a malformed INVITE refused with 400 is not a call under way', {
  timeout: 20_000,
}, async () => {
  const [sip, admin] = (await freePorts(2)) as number[];
  const s = await startServe(sip!, admin!);
  try {
    const replies = await sendRaw(sip!, (p) => [badCseqInvite(p, 'phantom-call-1')]);
    assert.match(replies[0] ?? '', /^SIP\/2\.0 400 /, JSON.stringify(replies));
    const calls = (await json(s, '/api/calls')).calls as Array<{ callId: string; state: string }>;
    assert.deepEqual(calls.filter((c) => c.state === 'trying' || c.state === 'early' || c.state === 'confirmed'), [], `no call under way: ${JSON.stringify(calls)}`);
    assert.equal(sample((await scrape(s)).fams, 'sip_calls', { state: 'trying' }), 0);
  } finally {
    await s.stop();
  }
});
