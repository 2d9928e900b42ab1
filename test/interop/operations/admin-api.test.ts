// The admin API of a running `switchboard serve --admin` (src/app/admin/admin-server.ts), against
// real registrations and calls: SIPp (register-digest-md5.xml, its built-in uac/uas, the dial-plan
// scenarios) and the project's own `switchboard register`, all on 127.0.0.1. Every server here has
// `admin.token` set, so every request below also goes through the bearer-token check.
//  1. token: /api/* and /metrics want `Authorization: Bearer T` — 401 with `WWW-Authenticate:
//     Bearer` without it, with a wrong one (same length, other length, other scheme, ?token=);
//     200 with it; `?token=T` works for /api/events (EventSource sends no headers); a refused
//     POST /api/reload reloads nothing; the console page itself is not behind the token; the CLI
//     without --token says it wants one (exit 2).
//  2. registrations: bob (SIPp, digest) and carol (`switchboard register`) are listed with
//     contact/expires/received; `switchboard registrations|location list --admin` print them
//     (while `location list --config` — its own memory store — says "no bindings"); DELETE
//     removes carol (200 {removed: 1}), again → 404; a wrong ?contact= → 404, bob stays; a call
//     to carol then fails with 404 or 480 from the proxy.
//  3. calls: the SSE stream (/api/events) sends `registrations` and `stats` on connect and `call`
//     events (trying … ended) while SIPp's uac calls bob through the proxy; /api/calls lists the
//     call (from/to, ended, proxy, start ≤ answer ≤ end, 200, BYE received), /api/calls/:id is the
//     same summary, /messages has INVITE … BYE 200 in order with direction/src/dst/raw; ?q=
//     filters; `switchboard calls|status --admin` print it; unknown Call-IDs → 404 JSON;
//     /api/stats and /api/transactions/summary have their documented shapes.
//  4. reload: the dial plan in the config file routes 3... to gateway A (SIPp); while a long call
//     to A is up the file is rewritten to route to B and POST /api/reload answers 200 with its
//     lines; the next call goes to B, the established one completes on A (BYE 200, SIPp exit 0);
//     {logLevel: 'debug'} → "log level debug" and debug lines appear; an invalid logLevel → 400;
//     an invalid dial plan and an invalid YAML file → 400 with the reason, the old routing stays;
//     SIGHUP rereads the file the same way (an invalid file: "not reloaded"), the server runs on.
//  5. DELETE /api/registrations/sip:dave@[::1] removes an IPv6 registration.
// Every process is stopped by its PID in `finally`; each test is bounded.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, isListening, startProcess, stopAll, type Managed } from '../../harness/processes.js';
import { SCENARIO_DIR, SWITCHBOARD_CLI, describeSipp, runSipp, runSwitchboard, startSipp, type SippProcess, type SippResult } from '../sipp/sipp.js';
import { describeRun, freePorts, writeConfig, type TempConfig } from '../callflows/callflow-harness.js';

after(stopAll);

const TOKEN = 'ops-admin-token-7f3a9c2e';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const clip = (s: string, max = 4000): string => (s.length > max ? `[…]${s.slice(-max)}` : s);

// ---------------------------------------------------------------------------------------------
// The server

interface Serve {
  proc: Managed;
  sip: number;
  admin: number;
  base: string;
  config: TempConfig;
  logLines(): string[];
  waitLog(re: RegExp, count?: number, timeoutMs?: number): Promise<void>;
  context(): string;
  stop(): Promise<void>;
}

/** `serve --config CFG --listen udp:127.0.0.1:SIP --domain 127.0.0.1 --admin 127.0.0.1:ADMIN`. */
async function startServe(configText: string, sip: number, admin: number, maxLifetimeMs = 60_000): Promise<Serve> {
  const config = writeConfig(configText);
  let proc: Managed;
  try {
    proc = await startProcess(
      process.execPath,
      [SWITCHBOARD_CLI, 'serve', '--config', config.path, '--listen', `udp:127.0.0.1:${sip}`, '--domain', '127.0.0.1', '--admin', `127.0.0.1:${admin}`],
      {
        readyPattern: /admin: listening on http:\/\//,
        readyCheck: () => isListening('udp', sip) && isListening('tcp', admin),
        timeoutMs: 15_000,
        maxLifetimeMs,
      },
    );
  } catch (e) {
    config.cleanup();
    throw e;
  }
  const logLines = (): string[] => proc.output().stderr.split('\n').filter((l) => l.startsWith('switchboard: '));
  return {
    proc,
    sip,
    admin,
    base: `http://127.0.0.1:${admin}`,
    config,
    logLines,
    async waitLog(re, count = 1, timeoutMs = 5000) {
      const end = Date.now() + timeoutMs;
      while (logLines().filter((l) => re.test(l)).length < count) {
        if (Date.now() > end) throw new Error(`no log line ${re} (×${count}) within ${timeoutMs} ms\n${clip(logLines().join('\n'))}`);
        await sleep(50);
      }
    },
    context() {
      const st = proc.exitStatus();
      return `--- serve ${st ? `EXITED code ${st.code} signal ${st.signal}` : 'running'} (sip ${sip}, admin ${admin}) ---\n${clip(proc.output().stderr)}`;
    },
    async stop() {
      await proc.stop();
      config.cleanup();
    },
  };
}

interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** One request to the admin API; `token: null` sends none, a string sends `Authorization: Bearer` with it. */
async function api(s: Serve, path: string, opts: { method?: string; body?: unknown; token?: string | null; headers?: Record<string, string> } = {}): Promise<ApiResponse> {
  const token = opts.token === undefined ? TOKEN : opts.token;
  const headers: Record<string, string> = { ...(token !== null ? { Authorization: `Bearer ${token}` } : {}), ...(opts.headers ?? {}) };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${s.base}${path}`, {
    method: opts.method ?? 'GET',
    headers,
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

// ---------------------------------------------------------------------------------------------
// Server-sent events, read with node:http (what a browser's EventSource does, minus reconnects)

interface SseEvent {
  event: string;
  data: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

class SseClient {
  readonly events: SseEvent[] = [];
  private buf = '';
  private waiters = new Set<() => void>();
  private constructor(private readonly req: http.ClientRequest) {}

  static open(url: string, headers: Record<string, string> = {}): Promise<{ status: number; contentType: string; client: SseClient }> {
    return new Promise((resolve, reject) => {
      const req = http.get(url, { headers: { Accept: 'text/event-stream', ...headers } });
      const client = new SseClient(req);
      const timer = setTimeout(() => {
        req.destroy();
        reject(new Error(`SSE ${url}: no response headers within 5 s`));
      }, 5000);
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.on('response', (res) => {
        clearTimeout(timer);
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => client.feed(chunk));
        res.on('error', () => undefined);
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), client });
      });
    });
  }

  private feed(chunk: string): void {
    this.buf += chunk;
    let i: number;
    while ((i = this.buf.indexOf('\n\n')) >= 0) {
      const block = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue; // a comment (keep-alive)
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length === 0) continue;
      this.events.push({ event, data: JSON.parse(data.join('\n')) });
    }
    for (const w of [...this.waiters]) w();
  }

  /** The first event (from index `from` on) that satisfies `pred`, waiting up to timeoutMs. */
  waitFor(pred: (e: SseEvent) => boolean, timeoutMs: number, what: string, from = 0): Promise<SseEvent> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.events.slice(from).find(pred);
        if (!hit) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`SSE: no ${what} within ${timeoutMs} ms; events so far: ${this.events.map((e) => e.event).join(', ')}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  close(): void {
    this.req.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// SIP helpers

const tmp = mkdtempSync(join(tmpdir(), 'admin-api-'));
after(() => {
  if (process.env.KEEP_TMP !== '1') rmSync(tmp, { recursive: true, force: true });
});

/** bob registers with SIPp (REGISTER → 401 → REGISTER with credentials → 200) from `port`. */
async function sippRegister(s: Serve, port: number, user: string, password: string): Promise<SippResult> {
  const inf = join(tmp, `${user}-${port}.inf`);
  writeFileSync(inf, `SEQUENTIAL\n${user};127.0.0.1;[authentication username=${user} password=${password}]\n`);
  return runSipp({ scenario: join(SCENARIO_DIR, 'register-digest-md5.xml'), target: `127.0.0.1:${s.sip}`, localPort: port, calls: 1, timeoutS: 10, extra: ['-inf', inf] });
}

interface CallSummary {
  callId: string;
  from: string;
  to: string;
  state: string;
  role: string;
  start: string;
  answer?: string;
  end?: string;
  status?: number;
  reason?: string;
  legs: string[];
  messages: number;
}

interface MessageView {
  seq: number;
  time: string;
  ts: number;
  direction: 'sent' | 'received';
  transport: string;
  local: string;
  remote: string;
  src: string;
  dst: string;
  startLine: string;
  method: string;
  status?: number;
  callId: string;
  cseq: string;
  size: number;
  raw: string;
}

/** The short label of a message: `INVITE`, `180 Ringing`. */
const labelOf = (m: MessageView): string => (m.status !== undefined ? m.startLine.replace(/^SIP\/2\.0 /, '') : m.startLine.split(' ')[0]!);

/** Labels between two addresses (either way), a retransmission (the same label again) once. */
function side(list: MessageView[], a: string, b: string): string[] {
  const out: string[] = [];
  for (const m of list) {
    if (!((m.src === a && m.dst === b) || (m.src === b && m.dst === a))) continue;
    const l = `${m.src === a ? '→' : '←'} ${labelOf(m)}${m.status !== undefined ? ` (${m.cseq.split(' ')[1]})` : ''}`;
    if (out[out.length - 1] !== l) out.push(l);
  }
  return out;
}

/** The call (as the API lists it) whose To contains `needle`, polling until `pred` holds. */
async function waitCall(s: Serve, needle: string, pred: (c: CallSummary) => boolean, timeoutMs: number): Promise<CallSummary> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const r = await api(s, `/api/calls?q=${encodeURIComponent(needle)}`);
    last = r.json;
    const c = (r.json?.calls as CallSummary[] | undefined)?.find((x) => x.to.includes(needle) && pred(x));
    if (c) return c;
    if (Date.now() > end) throw new Error(`no call to ${needle} in the wanted state within ${timeoutMs} ms: ${JSON.stringify(last)}`);
    await sleep(100);
  }
}

const baseConfig = (extra: string[] = []): string =>
  ['store: memory', 'users:', '  - {user: bob, password: bobpw}', '  - {user: carol, password: carolpw}', 'proxy:', '  authenticate: false', 'admin:', `  token: ${TOKEN}`, ...extra, ''].join('\n');

// ---------------------------------------------------------------------------------------------

test('1. admin.token: 401 + WWW-Authenticate: Bearer without it or with a wrong one, 200 with it; ?token= for /api/events', { timeout: 30_000 }, async () => {
  const [sip, admin] = (await freePorts(2)) as [number, number];
  const s = await startServe(baseConfig(), sip, admin);
  let sse: SseClient | undefined;
  try {
    const routes = ['/api/stats', '/metrics', '/api/registrations', '/api/calls', '/api/calls/x/messages', '/api/transactions/summary'];
    const wrong = `${TOKEN.slice(0, -1)}${TOKEN.endsWith('x') ? 'y' : 'x'}`; // same length, last character differs
    for (const path of routes) {
      for (const [why, opts] of [
        ['no token', { token: null }],
        ['a wrong token of the same length', { token: wrong }],
        ['a wrong token of another length', { token: `${TOKEN}0` }],
        ['the token under another scheme', { token: null, headers: { Authorization: `Basic ${TOKEN}` } }],
        ['a wrong ?token=', { token: null, query: `token=${wrong}` }],
      ] as Array<[string, { token: string | null; headers?: Record<string, string>; query?: string }]>) {
        const r = await api(s, opts.query ? `${path}${path.includes('?') ? '&' : '?'}${opts.query}` : path, { token: opts.token, headers: opts.headers });
        assert.equal(r.status, 401, `${path} with ${why}: ${r.status} ${r.text}\n${s.context()}`);
        assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer\b/, `${path} with ${why}: WWW-Authenticate: Bearer (RFC 6750 §3)`);
        assert.equal(typeof r.json?.error, 'string', `${path} with ${why}: a JSON error: ${r.text}`);
      }
      const ok = await api(s, path);
      assert.notEqual(ok.status, 401, `${path} with the token: ${ok.status} ${ok.text}`);
    }
    assert.equal((await api(s, '/api/stats')).status, 200);
    const m = await api(s, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(m.text, /^# TYPE sip_requests_received_total counter$/m);

    // Mutations without the token do nothing.
    const del = await api(s, `/api/registrations/${encodeURIComponent('sip:bob@127.0.0.1')}`, { method: 'DELETE', token: null });
    assert.equal(del.status, 401);
    const reload = await api(s, '/api/reload', { method: 'POST', body: { logLevel: 'debug' }, token: null });
    assert.equal(reload.status, 401);
    await sleep(100);
    assert.ok(!s.logLines().some((l) => /POST \/api\/reload|log level debug/.test(l)), `a refused reload reloads nothing\n${s.context()}`);
    assert.ok(s.logLines().some((l) => /admin: refused a request without the right token/.test(l)), `refusals are logged\n${s.context()}`);

    // The console page (not /api, not /metrics) is served without the token: it asks for it itself.
    const page = await api(s, '/', { token: null });
    assert.ok(page.status === 200 || page.status === 503, `GET / without a token: ${page.status}`);

    // EventSource cannot send headers: ?token= is accepted there (and nothing less).
    const refused = await SseClient.open(`${s.base}/api/events`);
    refused.client.close();
    assert.equal(refused.status, 401, 'GET /api/events without a token');
    const opened = await SseClient.open(`${s.base}/api/events?token=${encodeURIComponent(TOKEN)}`);
    sse = opened.client;
    assert.equal(opened.status, 200);
    assert.match(opened.contentType, /^text\/event-stream/);
    const first = await sse.waitFor(() => true, 3000, 'first event');
    assert.equal(first.event, 'registrations', 'the first event on connect is the registration list');
    assert.deepEqual(first.data, { registrations: [] });

    // The CLI: without --token it says what it wants (exit 2); with it, it works.
    const noTok = await runSwitchboard(['status', '--admin', `127.0.0.1:${admin}`], 10_000);
    assert.equal(noTok.code, 2, describeRun(noTok));
    assert.match(noTok.stderr, /wants its token: --token T/, describeRun(noTok));
    const withTok = await runSwitchboard(['status', '--admin', `http://127.0.0.1:${admin}/`, '--token', TOKEN], 10_000);
    assert.equal(withTok.code, 0, describeRun(withTok));
    assert.match(withTok.stdout, /^switchboard \d+\.\d+\.\d+\S*, up \d+ s; roles registrar, proxy, presence$/m, describeRun(withTok));
    assert.match(withTok.stdout, new RegExp(`^listening on udp:127\\.0\\.0\\.1:${sip}$`, 'm'), describeRun(withTok));
  } finally {
    sse?.close();
    await s.stop();
  }
});

test('2. registrations: two real clients listed; CLI --admin prints them; DELETE removes one (then 404); a call to it fails', { timeout: 45_000 }, async () => {
  const [sip, admin, bobPort, carolContact, carolLocal, callerPort] = (await freePorts(6)) as [number, number, number, number, number, number];
  const s = await startServe(baseConfig(), sip, admin);
  const url = `127.0.0.1:${admin}`;
  try {
    const t0 = Date.now();
    const reg = await sippRegister(s, bobPort, 'bob', 'bobpw');
    assert.equal(reg.code, 0, `SIPp REGISTER bob\n${describeSipp(reg)}\n${s.context()}`);
    const carol = await runSwitchboard(
      ['register', 'sip:carol@127.0.0.1', '--registrar', `sip:127.0.0.1:${sip}`, '--user', 'carol', '--password', 'carolpw', '--contact', `sip:carol@127.0.0.1:${carolContact}`, '--expires', '300', '--listen', `udp:127.0.0.1:${carolLocal}`],
      15_000,
    );
    assert.equal(carol.code, 0, `switchboard register carol\n${describeRun(carol)}\n${s.context()}`);

    const r = await api(s, '/api/registrations');
    assert.equal(r.status, 200, r.text);
    const list = r.json.registrations as Array<{ aor: string; contact: string; expires: number; expiresAt: string; q: number; received?: string; transport?: string; callId?: string }>;
    const why = `${JSON.stringify(list, null, 1)}\n${s.context()}`;
    assert.deepEqual(list.map((b) => b.aor).sort(), ['sip:bob@127.0.0.1', 'sip:carol@127.0.0.1'], why);
    const bob = list.find((b) => b.aor === 'sip:bob@127.0.0.1')!;
    const car = list.find((b) => b.aor === 'sip:carol@127.0.0.1')!;
    assert.equal(bob.contact, `sip:bob@127.0.0.1:${bobPort}`, why);
    assert.equal(car.contact, `sip:carol@127.0.0.1:${carolContact}`, why);
    assert.ok(bob.expires > 3500 && bob.expires <= 3600, `bob asked for 3600 s: ${bob.expires}\n${why}`);
    assert.ok(car.expires > 250 && car.expires <= 300, `carol asked for 300 s: ${car.expires}\n${why}`);
    for (const b of [bob, car]) {
      const at = Date.parse(b.expiresAt);
      assert.ok(Math.abs(at - (Date.now() + b.expires * 1000)) < 3000, `expiresAt ${b.expiresAt} ≈ now + expires (${b.expires} s)`);
      assert.ok(at > t0, why);
      assert.equal(b.q, 1, why);
      assert.equal(b.transport, 'udp', why);
    }
    assert.equal(bob.received, `udp:127.0.0.1:${bobPort}`, why);
    assert.equal(car.received, `udp:127.0.0.1:${carolLocal}`, `carol registered from her --listen port, for another contact\n${why}`);

    // The CLI, through the admin API: the server's memory store, not a database of its own.
    const lineRe = (aor: string, contact: string, port: number) => new RegExp(`^${aor.replace(/\./g, '\\.')}\\t${contact.replace(/\./g, '\\.')}\\texpires=\\d+\\tq=1\\treceived=udp:127\\.0\\.0\\.1:${port}$`, 'm');
    for (const args of [['registrations', '--admin', url, '--token', TOKEN], ['location', 'list', '--admin', url, '--token', TOKEN]]) {
      const out = await runSwitchboard(args, 10_000);
      assert.equal(out.code, 0, describeRun(out));
      assert.match(out.stdout, lineRe('sip:bob@127.0.0.1', `sip:bob@127.0.0.1:${bobPort}`, bobPort), `${args.join(' ')}\n${describeRun(out)}`);
      assert.match(out.stdout, lineRe('sip:carol@127.0.0.1', `sip:carol@127.0.0.1:${carolContact}`, carolLocal), `${args.join(' ')}\n${describeRun(out)}`);
      assert.equal(out.stdout.trim().split('\n').length, 2, describeRun(out));
    }
    const json = await runSwitchboard(['registrations', 'sip:carol@127.0.0.1', '--admin', url, '--token', TOKEN, '--json'], 10_000);
    assert.equal(json.code, 0, describeRun(json));
    assert.deepEqual((JSON.parse(json.stdout) as Array<{ contact: string }>).map((b) => b.contact), [`sip:carol@127.0.0.1:${carolContact}`], 'registrations AOR --json: that AOR only');
    const local = await runSwitchboard(['location', 'list', '--config', s.config.path], 10_000);
    assert.equal(local.code, 0, describeRun(local));
    assert.equal(local.stdout, 'no bindings\n', `without --admin, location list reads its own (memory) store\n${describeRun(local)}`);

    // DELETE: a wrong contact removes nothing; carol's AOR removes her one binding, then 404.
    const miss = await api(s, `/api/registrations/${encodeURIComponent('sip:bob@127.0.0.1')}?contact=${encodeURIComponent('sip:bob@127.0.0.1:1')}`, { method: 'DELETE' });
    assert.equal(miss.status, 404, miss.text);
    assert.match(miss.json.error, /with contact sip:bob@127\.0\.0\.1:1/);
    const del = await api(s, `/api/registrations/${encodeURIComponent('sip:carol@127.0.0.1')}`, { method: 'DELETE' });
    assert.equal(del.status, 200, `${del.text}\n${s.context()}`);
    assert.deepEqual(del.json, { removed: 1 });
    const again = await api(s, `/api/registrations/${encodeURIComponent('sip:carol@127.0.0.1')}`, { method: 'DELETE' });
    assert.equal(again.status, 404, again.text);
    assert.deepEqual(Object.keys(again.json), ['error']);
    assert.match(again.json.error, /no binding of sip:carol@127\.0\.0\.1/);
    const after1 = await api(s, '/api/registrations');
    assert.deepEqual((after1.json.registrations as Array<{ aor: string }>).map((b) => b.aor), ['sip:bob@127.0.0.1'], `bob stays\n${after1.text}`);
    await s.waitLog(/admin: removed 1 binding of sip:carol@127\.0\.0\.1/);

    // A call to carol now: the proxy has nowhere to send it.
    const call = await runSipp({ scenario: 'uac', target: `127.0.0.1:${sip}`, localPort: callerPort, calls: 1, timeoutS: 10, extra: ['-s', 'carol'] });
    assert.equal(call.successful, 0, describeSipp(call));
    assert.equal(call.code, 1, `SIPp uac's call to carol fails\n${describeSipp(call)}`);
    const failed = await waitCall(s, 'sip:carol@', (c) => c.state === 'failed', 3000);
    assert.ok(failed.status === 404 || failed.status === 480, `the proxy answers 404 or 480: ${JSON.stringify(failed)}\n${s.context()}`);
    const msgs = await api(s, `/api/calls/${encodeURIComponent(failed.callId)}/messages`);
    const finals = (msgs.json.messages as MessageView[]).filter((m) => m.direction === 'sent' && m.status !== undefined && m.status >= 300);
    assert.ok(finals.length >= 1 && finals.every((m) => m.status === failed.status && m.dst === `127.0.0.1:${callerPort}`), `the final goes to the caller\n${msgs.text}`);
    assert.ok(!(msgs.json.messages as MessageView[]).some((m) => m.direction === 'sent' && m.method === 'INVITE' && m.status === undefined), `nothing is forwarded for carol\n${msgs.text}`);
  } finally {
    await s.stop();
  }
});

test('3. calls: SSE events while SIPp calls bob through the proxy; /api/calls, its messages, ?q=, 404s, the CLI; stats and transaction summary shapes', { timeout: 45_000 }, async () => {
  const [sip, admin, uasPort, uacPort] = (await freePorts(4)) as [number, number, number, number];
  const s = await startServe(baseConfig(), sip, admin);
  const proxy = `127.0.0.1:${sip}`;
  const caller = `127.0.0.1:${uacPort}`;
  const callee = `127.0.0.1:${uasPort}`;
  let uas: SippProcess | undefined;
  let sse: SseClient | undefined;
  try {
    const reg = await sippRegister(s, uasPort, 'bob', 'bobpw');
    assert.equal(reg.code, 0, `SIPp REGISTER bob\n${describeSipp(reg)}\n${s.context()}`);

    // The stream, opened before the call (token in the header this time).
    const opened = await SseClient.open(`${s.base}/api/events`, { Authorization: `Bearer ${TOKEN}` });
    sse = opened.client;
    assert.equal(opened.status, 200);
    const regEvent = await sse.waitFor((e) => e.event === 'registrations', 3000, 'registrations event');
    assert.equal(sse.events[0]!.event, 'registrations', 'sent first, on connect');
    assert.deepEqual((regEvent.data.registrations as Array<{ aor: string; contact: string }>).map((b) => [b.aor, b.contact]), [['sip:bob@127.0.0.1', `sip:bob@${callee}`]]);
    const statsEvent = await sse.waitFor((e) => e.event === 'stats', 3000, 'stats event');
    assert.equal(statsEvent.data.registrations, 1);
    const mark = sse.events.length;

    uas = await startSipp({ scenario: 'uas', localPort: uasPort, timeoutS: 30 });
    const uac = await runSipp({ scenario: 'uac', target: proxy, localPort: uacPort, calls: 1, timeoutS: 15, extra: ['-s', 'bob', '-d', '500'] });
    assert.equal(uac.code, 0, `SIPp uac\n${describeSipp(uac)}\n${s.context()}`);
    assert.equal(uac.successful, 1, describeSipp(uac));

    // `call` events for this call, in order: trying … ended.
    const ended = await sse.waitFor((e) => e.event === 'call' && e.data.state === 'ended', 3000, 'call event (ended)', mark);
    const callId = ended.data.callId as string;
    const states = sse.events.slice(mark).filter((e) => e.event === 'call' && e.data.callId === callId).map((e) => e.data.state as string);
    assert.deepEqual(states, ['trying', 'early', 'confirmed', 'ended'], `the call's events\n${JSON.stringify(sse.events.slice(mark))}`);

    // The list.
    const list = await api(s, '/api/calls');
    assert.equal(list.status, 200);
    const calls = list.json.calls as CallSummary[];
    assert.equal(calls.length, 1, list.text);
    const c = calls[0]!;
    const why = `${JSON.stringify(c)}\n${s.context()}`;
    assert.equal(c.callId, callId);
    assert.equal(c.from, `sip:sipp@${caller}`, why);
    assert.equal(c.to, `sip:bob@${proxy}`, why);
    assert.equal(c.state, 'ended', why);
    assert.equal(c.role, 'proxy', why);
    assert.equal(c.status, 200, why);
    assert.equal(c.reason, 'BYE received', why);
    assert.deepEqual(c.legs, [callId], why);
    const [start, answer, end] = [c.start, c.answer, c.end].map((t) => Date.parse(t ?? ''));
    assert.ok(Number.isFinite(start) && Number.isFinite(answer) && Number.isFinite(end), `start, answer and end are set\n${why}`);
    assert.ok(start <= answer! && answer! <= end!, `start ≤ answer ≤ end\n${why}`);
    assert.ok(end! - answer! >= 400, `the call lasted SIPp's -d 500 ms (${end! - answer!} ms)\n${why}`);
    const { messages: _m1, ...endedRest } = ended.data as CallSummary;
    const { messages: _m2, ...listRest } = c;
    assert.deepEqual(endedRest, listRest, 'the last SSE event is the summary the list shows (its message count then aside)');
    const one = await api(s, `/api/calls/${encodeURIComponent(callId)}`);
    assert.equal(one.status, 200);
    assert.deepEqual(one.json, c, 'GET /api/calls/:callId is the same summary');

    // Its messages.
    const mr = await api(s, `/api/calls/${encodeURIComponent(callId)}/messages`);
    assert.equal(mr.status, 200, mr.text);
    assert.equal(mr.json.callId, callId);
    assert.deepEqual(mr.json.legs, [callId]);
    const msgs = mr.json.messages as MessageView[];
    const shown = msgs.map((m) => `${m.seq} ${m.direction} ${m.src} → ${m.dst} ${m.startLine}`).join('\n');
    const mwhy = `messages:\n${shown}\ncaller ${caller}, proxy ${proxy}, callee ${callee}\n${s.context()}`;
    assert.equal(c.messages, msgs.length, `the summary counts the messages the buffer has\n${mwhy}`);
    assert.deepEqual(side(msgs, caller, proxy), ['→ INVITE', '← 100 Trying (INVITE)', '← 180 Ringing (INVITE)', '← 200 OK (INVITE)', '→ ACK', '→ BYE', '← 200 OK (BYE)'], `caller ↔ proxy\n${mwhy}`);
    assert.deepEqual(side(msgs, proxy, callee), ['→ INVITE', '← 180 Ringing (INVITE)', '← 200 OK (INVITE)', '→ ACK', '→ BYE', '← 200 OK (BYE)'], `proxy ↔ callee\n${mwhy}`);
    const idx = (src: string, dst: string, label: string) => msgs.findIndex((m) => m.src === src && m.dst === dst && labelOf(m) === label);
    for (const [a, b] of [
      [idx(caller, proxy, 'INVITE'), idx(proxy, callee, 'INVITE')],
      [idx(callee, proxy, '180 Ringing'), idx(proxy, caller, '180 Ringing')],
      [idx(callee, proxy, '200 OK'), idx(proxy, caller, '200 OK')],
      [idx(caller, proxy, 'ACK'), idx(proxy, callee, 'ACK')],
      [idx(caller, proxy, 'BYE'), idx(proxy, callee, 'BYE')],
    ] as Array<[number, number]>) assert.ok(a >= 0 && b > a, `received before forwarded (#${a}, #${b})\n${mwhy}`);
    for (const [i, m] of msgs.entries()) {
      if (i > 0) assert.ok(m.seq > msgs[i - 1]!.seq, `seq ascending\n${mwhy}`);
      assert.equal(m.transport, 'udp');
      assert.equal(m.local, proxy, mwhy);
      assert.equal(m.direction === 'sent' ? m.src : m.dst, proxy, `direction ${m.direction} fits src/dst\n${mwhy}`);
      assert.equal(m.direction === 'sent' ? m.dst : m.src, m.remote, mwhy);
      assert.ok(m.raw.startsWith(`${m.startLine}\r\n`), `raw starts with the start line: ${JSON.stringify(m.raw.slice(0, 80))}`);
      assert.match(m.raw, new RegExp(`^(?:Call-ID|i)[ \\t]*:[ \\t]*${callId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\r$`, 'mi'), 'raw is the whole message');
      assert.match(m.raw, /\r\n\r\n/, 'raw has the blank line after the headers');
      assert.equal(m.size, Buffer.byteLength(m.raw), 'size is the raw length');
      assert.equal(m.callId, callId);
      assert.match(m.cseq, /^\d+ (INVITE|ACK|BYE)$/);
      assert.equal(m.method, m.cseq.split(' ')[1]);
      assert.equal(m.status === undefined, !m.startLine.startsWith('SIP/2.0 '));
      assert.equal(Date.parse(m.time), Math.floor(m.ts), 'time is ts as ISO text');
    }
    const fwd = msgs.find((m) => m.direction === 'sent' && m.method === 'INVITE' && m.status === undefined)!;
    assert.match(fwd.startLine, new RegExp(`^INVITE sip:bob@127\\.0\\.0\\.1:${uasPort} SIP/2\\.0$`), 'retargeted to the registered contact');

    // ?q= and limit.
    const q = async (text: string) => ((await api(s, `/api/calls?q=${encodeURIComponent(text)}`)).json.calls as CallSummary[]).map((x) => x.callId);
    assert.deepEqual(await q('bob'), [callId], '?q= matches To');
    assert.deepEqual(await q(`SIPP@127.0.0.1:${uacPort}`), [callId], '?q= matches From, case-insensitive');
    assert.deepEqual(await q(callId), [callId], '?q= matches the Call-ID');
    assert.deepEqual(await q('no-such-call-xyz'), [], '?q= filters');
    assert.equal((await api(s, '/api/calls?limit=0')).status, 400, 'limit below 1 is refused');

    // Unknown Call-IDs.
    for (const path of ['/api/calls/unknown', '/api/calls/unknown/messages']) {
      const u = await api(s, path);
      assert.equal(u.status, 404, `${path}: ${u.text}`);
      assert.match(u.headers.get('content-type') ?? '', /^application\/json/);
      assert.deepEqual(Object.keys(u.json), ['error'], u.text);
      assert.match(u.json.error, /Call-ID unknown/);
    }

    // The CLI.
    const cli = await runSwitchboard(['calls', '--admin', `127.0.0.1:${admin}`, '--token', TOKEN], 10_000);
    assert.equal(cli.code, 0, describeRun(cli));
    assert.equal(cli.stdout, `${c.start}\tsip:sipp@${caller} -> sip:bob@${proxy}\tended 200 (BYE received)\tproxy\tcall-id=${callId}\n`, describeRun(cli));
    const none = await runSwitchboard(['calls', '--admin', `127.0.0.1:${admin}`, '--token', TOKEN, '--q', 'no-such-call-xyz'], 10_000);
    assert.equal(none.stdout, 'no calls\n', describeRun(none));
    const cj = await runSwitchboard(['calls', '--admin', `127.0.0.1:${admin}`, '--token', TOKEN, '--json'], 10_000);
    assert.deepEqual(JSON.parse(cj.stdout), [c], describeRun(cj));

    // Shapes: /api/stats and /api/transactions/summary.
    const st = await api(s, '/api/stats');
    assert.equal(st.status, 200);
    const stats = st.json;
    assert.deepEqual(Object.keys(stats).sort(), ['calls', 'listeners', 'memory', 'messages', 'registrations', 'roles', 'transactions', 'uptime', 'version'], st.text);
    assert.match(stats.version, /^\d+\.\d+\.\d+/);
    assert.ok(Number.isInteger(stats.uptime) && stats.uptime >= 0, st.text);
    assert.deepEqual(stats.roles, ['registrar', 'proxy', 'presence']);
    assert.deepEqual(stats.listeners, [`udp:${proxy}`]);
    assert.equal(stats.registrations, 1);
    assert.deepEqual(stats.calls, { active: 0, total: 1, trying: 0, early: 0, confirmed: 0 }, st.text);
    assert.ok(stats.messages.buffered >= msgs.length + 4, `the buffer has the call's and the registration's messages: ${st.text}`);
    assert.ok(stats.messages.bytes >= msgs.reduce((n, m) => n + m.size, 0), st.text);
    assert.ok(stats.memory.rss > 0 && stats.memory.heapUsed > 0 && stats.memory.rss > stats.memory.heapUsed, st.text);
    const ts = await api(s, '/api/transactions/summary');
    assert.equal(ts.status, 200);
    assert.deepEqual(Object.keys(ts.json).sort(), ['clients', 'overloaded', 'servers'], ts.text);
    for (const k of ['clients', 'servers', 'overloaded']) assert.ok(Number.isInteger(ts.json[k]) && ts.json[k] >= 0, ts.text);
    assert.ok(ts.json.servers >= 1, `the REGISTER/INVITE/BYE server transactions linger (Timer J/K/H): ${ts.text}`);
    assert.deepEqual(Object.keys(stats.transactions).sort(), ['clients', 'overloaded', 'servers']);
    const status = await runSwitchboard(['status', '--admin', `127.0.0.1:${admin}`, '--token', TOKEN], 10_000);
    assert.match(status.stdout, /^registrations 1; calls 0 under way, 1 since start; transactions \d+ client, \d+ server; messages buffered \d+ \(\d+ bytes\)$/m, describeRun(status));
    // The periodic stats event has the same shape.
    const later = await sse.waitFor((e) => e.event === 'stats', 6000, 'a periodic stats event', mark);
    assert.deepEqual(Object.keys(later.data).sort(), Object.keys(stats).sort());
  } finally {
    sse?.close();
    await uas?.stop();
    await s.stop();
  }
});

test('4. reload: POST /api/reload moves a dial-plan prefix from gateway A to B while a call to A goes on; logLevel; invalid config → 400; SIGHUP', { timeout: 60_000 }, async () => {
  const [sip, admin, gwA, gwB, ...callers] = (await freePorts(9)) as number[];
  const planFor = (port: number, extra = ''): string =>
    baseConfig(['dialPlan:', '  dialPeers:', '    - tag: 30', '      destinationPattern: 3...', `      sessionTarget: ipv4:127.0.0.1:${port}`, ...(extra ? [extra] : [])]);
  const s = await startServe(planFor(gwA!), sip!, admin!);
  // The caller's scenario, its ACK–BYE pause made 4 s: the call is up across the reload.
  const shortUac = join(SCENARIO_DIR, 'dialplan-uac.xml');
  const longUac = join(tmp, 'dialplan-uac-long.xml');
  const xml = readFileSync(shortUac, 'utf8');
  assert.ok(xml.includes('<pause milliseconds="300"/>'), 'dialplan-uac.xml pauses 300 ms between ACK and BYE');
  writeFileSync(longUac, xml.replace('<pause milliseconds="300"/>', '<pause milliseconds="4000"/>'));
  const gateways: SippProcess[] = [];
  const startGw = async (port: number) => {
    const g = await startSipp({ scenario: join(SCENARIO_DIR, 'dialplan-uas.xml'), localPort: port, calls: 2, timeoutS: 45, trace: true, keepFiles: true });
    gateways.push(g);
    return g;
  };
  let next = 0;
  const call = (number: string, scenario = shortUac): Promise<SippResult> =>
    runSipp({ scenario, target: `127.0.0.1:${sip}`, localPort: callers[next++]!, calls: 1, timeoutS: 15, extra: ['-s', number] });
  /** Where the proxy sent the call's INVITE, and whether the BYE went there and came back with 200. */
  const route = async (number: string) => {
    const c = await waitCall(s, `sip:${number}@`, (x) => x.state === 'ended', 3000);
    const msgs = (await api(s, `/api/calls/${encodeURIComponent(c.callId)}/messages`)).json.messages as MessageView[];
    const invite = msgs.find((m) => m.direction === 'sent' && m.method === 'INVITE' && m.status === undefined);
    const bye = msgs.find((m) => m.direction === 'sent' && m.method === 'BYE' && m.status === undefined);
    const byeOk = msgs.find((m) => m.direction === 'received' && m.method === 'BYE' && m.status === 200);
    return { callId: c.callId, invite: invite?.startLine, byeTo: bye?.dst, byeOkFrom: byeOk?.src };
  };
  try {
    const a = await startGw(gwA!);
    const b = await startGw(gwB!);

    // Call 1 to A, long.
    let c1Done = false;
    const c1 = call('3001', longUac).finally(() => (c1Done = true));
    await waitCall(s, 'sip:3001@', (x) => x.state === 'confirmed', 5000);

    // Rewrite the file: 3... → B; reload while call 1 is up.
    writeFileSync(s.config.path, planFor(gwB!));
    const rl = await api(s, '/api/reload', { method: 'POST' });
    assert.equal(rl.status, 200, `${rl.text}\n${s.context()}`);
    assert.ok(Array.isArray(rl.json.reloaded), rl.text);
    assert.ok(rl.json.reloaded.includes('dial plan reloaded: 1 dial-peers (hunt 0)'), rl.text);
    assert.equal(c1Done, false, 'call 1 is still up at the reload');
    await s.waitLog(/POST \/api\/reload: dial plan reloaded: 1 dial-peers/);

    // Call 2 goes to B; call 1 completes on A.
    const c2 = await call('3002');
    assert.equal(c2.code, 0, `call 2\n${describeSipp(c2)}\n${s.context()}`);
    const r1 = await c1;
    assert.equal(r1.code, 0, `call 1 (up across the reload) completes: its BYE gets 200\n${describeSipp(r1)}\n${s.context()}`);
    assert.equal(r1.successful, 1, describeSipp(r1));
    const route1 = await route('3001');
    const route2 = await route('3002');
    assert.equal(route1.invite, `INVITE sip:3001@127.0.0.1:${gwA} SIP/2.0`, JSON.stringify(route1));
    assert.equal(route1.byeTo, `127.0.0.1:${gwA}`, `call 1's BYE follows its dialog to A\n${JSON.stringify(route1)}`);
    assert.equal(route1.byeOkFrom, `127.0.0.1:${gwA}`, JSON.stringify(route1));
    assert.equal(route2.invite, `INVITE sip:3002@127.0.0.1:${gwB} SIP/2.0`, `after the reload 3... goes to B\n${JSON.stringify(route2)}\n${s.context()}`);

    // The log level, by the body.
    const debugLine = /^switchboard: call \S+ -> \S+ early \(180\)/;
    const debugBefore = s.logLines().filter((l) => debugLine.test(l)).length;
    assert.equal(debugBefore, 0, 'no debug lines at level info');
    const lv = await api(s, '/api/reload', { method: 'POST', body: { logLevel: 'debug' } });
    assert.equal(lv.status, 200, lv.text);
    assert.ok(lv.json.reloaded.includes('log level debug'), lv.text);
    const badLevel = await api(s, '/api/reload', { method: 'POST', body: { logLevel: 'loud' } });
    assert.equal(badLevel.status, 400, badLevel.text);

    // An invalid file (a dial-peer preference over 10, routing back to A): 400, nothing changes.
    writeFileSync(s.config.path, planFor(gwA!, '      preference: 11'));
    const bad = await api(s, '/api/reload', { method: 'POST' });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.json.error, /dial plan not reloaded, the previous one stays in force: .*preference/, bad.text);
    writeFileSync(s.config.path, `${planFor(gwA!)}\nbogus: [\n`);
    const badYaml = await api(s, '/api/reload', { method: 'POST' });
    assert.equal(badYaml.status, 400, badYaml.text);
    assert.match(badYaml.json.error, /invalid YAML/, badYaml.text);
    const c3 = await call('3003');
    assert.equal(c3.code, 0, `call 3\n${describeSipp(c3)}\n${s.context()}`);
    assert.equal((await route('3003')).invite, `INVITE sip:3003@127.0.0.1:${gwB} SIP/2.0`, `the refused reloads left 3... on B\n${s.context()}`);
    assert.ok(s.logLines().some((l) => debugLine.test(l)), `level debug is in force: the call's debug lines are logged\n${s.context()}`);

    // SIGHUP: an invalid file is refused, the server runs on; a valid one (3... → A) is applied.
    s.proc.signal('SIGHUP');
    await s.waitLog(/SIGHUP: configuration not reloaded, the running one stays in force: .*invalid YAML/);
    writeFileSync(s.config.path, planFor(gwA!));
    s.proc.signal('SIGHUP');
    await s.waitLog(/SIGHUP: dial plan reloaded: 1 dial-peers \(hunt 0\)/);
    await s.waitLog(/SIGHUP: log level info/); // the file's level (info) replaces the POSTed debug
    const c4 = await call('3004');
    assert.equal(c4.code, 0, `call 4\n${describeSipp(c4)}\n${s.context()}`);
    assert.equal((await route('3004')).invite, `INVITE sip:3004@127.0.0.1:${gwA} SIP/2.0`, `after SIGHUP 3... is back on A\n${s.context()}`);
    assert.equal(s.proc.exitStatus(), null, `the server keeps running\n${s.context()}`);
    assert.equal((await api(s, '/api/stats')).status, 200);

    // Each gateway's own view (its SIPp message log): A got 3001 and 3004, B 3002 and 3003.
    for (const [g, want] of [[a, ['3001', '3004']], [b, ['3002', '3003']]] as Array<[SippProcess, string[]]>) {
      const res = await g.finish(8000);
      let text = '';
      try {
        text = readFileSync(res.files.messages!, 'utf8');
      } catch {
        /* nothing received */
      }
      const got = [...text.matchAll(/^INVITE sip:(\d+)@\S+ SIP\/2\.0\r?$/gm)].map((m) => m[1]);
      assert.deepEqual(got, want, `gateway ${g === a ? 'A' : 'B'} received\n${describeSipp(res)}`);
      assert.equal(res.successful, 2, `gateway ${g === a ? 'A' : 'B'}: both calls completed\n${describeSipp(res)}`);
      rmSync(res.files.dir, { recursive: true, force: true });
    }
  } finally {
    for (const g of gateways) await g.stop();
    await s.stop();
  }
});

test('5. DELETE /api/registrations/:aor with an IPv6 AOR as a SIP URI writes it (sip:dave@[::1])', {
  timeout: 20_000,
}, async () => {
  const sip = await freePort('udp', '::1');
  const admin = await freePort('tcp');
  const local = await freePort('udp', '::1');
  const config = writeConfig(['store: memory', 'users:', '  - {user: dave, password: davepw}', 'admin:', `  token: ${TOKEN}`, ''].join('\n'));
  const proc = await startProcess(process.execPath, [SWITCHBOARD_CLI, 'serve', '--config', config.path, '--listen', `udp:[::1]:${sip}`, '--domain', '::1', '--admin', `127.0.0.1:${admin}`], {
    readyPattern: /admin: listening on http:\/\//,
    readyCheck: () => isListening('udp', sip) && isListening('tcp', admin),
    timeoutMs: 15_000,
    maxLifetimeMs: 30_000,
  });
  const s = { base: `http://127.0.0.1:${admin}` } as Serve;
  try {
    const reg = await runSwitchboard(['register', 'sip:dave@[::1]', '--registrar', `sip:[::1]:${sip}`, '--user', 'dave', '--password', 'davepw', '--contact', `sip:dave@[::1]:${local + 1}`, '--expires', '120', '--listen', `udp:[::1]:${local}`], 15_000);
    assert.equal(reg.code, 0, describeRun(reg));
    const list = await api(s, '/api/registrations');
    assert.deepEqual((list.json.registrations as Array<{ aor: string }>).map((b) => b.aor), ['sip:dave@[::1]'], `the AOR as a SIP URI (RFC 3261 §19.1.1: an IPv6 host in brackets)\n${list.text}`);
    const del = await api(s, `/api/registrations/${encodeURIComponent('sip:dave@[::1]')}`, { method: 'DELETE' });
    assert.equal(del.status, 200, `DELETE /api/registrations/sip:dave@[::1]: ${del.status} ${del.text}`);
  } finally {
    await proc.stop();
    config.cleanup();
  }
});
