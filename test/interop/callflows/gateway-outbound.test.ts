// The gateway's outbound side end to end: `switchboard gateway call NUMBER --config CFG
// [--calling N] --duration S` (roles: [gateway], a dial plan file) places a call "from the PSTN"
// by its outbound dial-peers in hunt order; the far ends are SIPp uas scenarios (and, for peers
// that never answer, a bound UDP socket of the test that reads and ignores what it gets), all on
// 127.0.0.1. What each far end received is read from its own SIPp -trace_msg log (an
// independent view of the wire); the command's stdout (one line per attempt, then the outcome)
// and its `switchboard: gateway: …` log lines (stderr) show the hunt.
//  1. hunting on 503 to the next preference (over TCP), the outgoing translation of the called
//     and the calling number, the sip-ua headers (Remote-Party-ID, P-Asserted-Identity,
//     Max-Forwards, Expires) and the BYE with Reason: Q.850;cause=16;
//  2. a 302 followed to its Contact (`redirection`, the default); with `redirection: false` the
//     call fails with Q.850 cause 23;
//  3. the Q.850 cause of a failed call: a Reason header's cause (RFC 3326), RFC 3398's mapping
//     (404 → 1) and `sipStatus`; a number no dial-peer matches;
//  4. `timers.retries.invite: 1`: a silent peer gets the INVITE twice, then the attempt times
//     out (long before Timer B) and the next peer answers;
//  5. options-keepalive: a peer whose OPTIONS go unanswered is busied out and skipped by the hunt;
//  6. the registrar NAT keep-alive by double CRLF (`serve`).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as dgram from 'node:dgram';
import { isListening, startProcess, stopAll, type RunResult } from '../../harness/processes.js';
import { SCENARIO_DIR, SWITCHBOARD_CLI, describeSipp, runSwitchboard, startSipp, type SippProcess, type SippResult, type SippTransport } from '../sipp/sipp.js';
import { describeRun, freePorts, writeConfig } from './callflow-harness.js';

after(stopAll);

const TEST_TIMEOUT_MS = 40_000;
/** Bound for one `gateway call` run (a hunt over a silent peer takes ~1.5 s, the call --duration 1). */
const RUN_TIMEOUT_MS = 20_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function clip(s: string, max: number): string {
  return s.length > max ? `[…]${s.slice(-max)}` : s;
}

// ---------------------------------------------------------------------------------------------
// Far ends: SIPp uas scenarios

interface FarEnd {
  name: string;
  port: number;
  sipp: SippProcess;
}

/** One SIP message of a SIPp -trace_msg log. */
interface LoggedMsg {
  dir: 'received' | 'sent';
  firstLine: string;
  text: string;
  /** All values of a header (case-insensitive name), from the message head. */
  header(name: string): string[];
}

interface FarEndReport {
  result: SippResult;
  messages: LoggedMsg[];
  /** Requests received, in order. */
  received(method: string): LoggedMsg[];
  /** Request lines received (`INVITE sip:…`), in order. */
  requests: string[];
  text: string;
}

async function startFarEnd(name: string, scenario: string, opts: { transport?: SippTransport; extra?: string[] } = {}): Promise<FarEnd> {
  const [port] = (await freePorts(1)) as [number];
  const sipp = await startSipp({
    scenario: scenario.endsWith('.xml') ? join(SCENARIO_DIR, scenario) : scenario,
    localPort: port,
    transport: opts.transport ?? 'u1',
    calls: 1,
    timeoutS: 30,
    trace: true,
    keepFiles: true,
    extra: opts.extra,
  });
  return { name, port, sipp };
}

/** Parses SIPp's -trace_msg log: `-----… DATE` separators, `UDP message received [N] bytes :`, a blank line, the message. */
function parseSippMessages(log: string): LoggedMsg[] {
  const out: LoggedMsg[] = [];
  for (const chunk of log.split(/^-{20,}.*$/m)) {
    const m = /^\s*(?:UDP|TCP|TLS|SCTP) message (received|sent)[^\n]*\n\s*\n([\s\S]*)$/.exec(chunk);
    if (!m) continue;
    const text = m[2]!.replace(/\r/g, '');
    const lines = text.split('\n');
    const head: Array<[string, string]> = [];
    for (const l of lines.slice(1)) {
      if (l.trim() === '') break;
      const c = l.indexOf(':');
      if (c > 0) head.push([l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).trim()]);
    }
    out.push({
      dir: m[1] as 'received' | 'sent',
      firstLine: lines[0]!.trim(),
      text,
      header: (n) => head.filter(([k]) => k === n.toLowerCase()).map(([, v]) => v),
    });
  }
  return out;
}

/** Ends the far end's SIPp (usually it has exited by itself after its one call) and reads its message log. */
async function finishFarEnd(f: FarEnd): Promise<FarEndReport> {
  const result = await f.sipp.finish(8_000);
  let log = '';
  try {
    log = readFileSync(result.files.messages!, 'utf8');
  } catch {
    /* no message received */
  }
  rmSync(result.files.dir, { recursive: true, force: true });
  const messages = parseSippMessages(log);
  const received = (method: string): LoggedMsg[] => messages.filter((m) => m.dir === 'received' && m.firstLine.startsWith(`${method} `));
  const requests = messages.filter((m) => m.dir === 'received' && !m.firstLine.startsWith('SIP/2.0')).map((m) => m.firstLine.replace(/ SIP\/2\.0$/, ''));
  return { result, messages, received, requests, text: `--- far end ${f.name} (:${f.port}) ---\n${describeSipp(result)}\nrequests received: ${requests.join(' | ') || 'none'}` };
}

// ---------------------------------------------------------------------------------------------
// A silent UDP peer: reads and ignores every datagram

interface Datagram {
  text: string;
  port: number;
  at: number;
}

class SilentUdp {
  readonly got: Datagram[] = [];
  private constructor(private readonly sock: dgram.Socket, readonly port: number) {
    sock.on('message', (b, rinfo) => this.got.push({ text: b.toString('latin1'), port: rinfo.port, at: Date.now() }));
  }

  static open(): Promise<SilentUdp> {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket('udp4');
      sock.once('error', reject);
      sock.bind(0, '127.0.0.1', () => {
        sock.removeListener('error', reject);
        resolve(new SilentUdp(sock, sock.address().port));
      });
    });
  }

  requests(method: string): Datagram[] {
    return this.got.filter((d) => d.text.startsWith(`${method} `));
  }

  describe(): string {
    return `--- silent socket :${this.port}: ${this.got.length} datagram(s) ---\n${this.got.map((d) => `from :${d.port} ${JSON.stringify(d.text.length <= 8 ? d.text : d.text.split('\r\n')[0])}`).join('\n')}`;
  }

  close(): Promise<void> {
    return new Promise((r) => this.sock.close(() => r()));
  }
}

// ---------------------------------------------------------------------------------------------
// `switchboard gateway call`

interface GatewayRun {
  run: RunResult;
  port: number;
  elapsedMs: number;
  /** stdout lines. */
  out: string[];
  /** `switchboard: …` lines of stderr. */
  log: string[];
  /** The attempt lines, parsed. */
  attempts: Array<{ peer: number; uri: string; status: number; reason: string }>;
  text: string;
}

/** The gateway's config (listening on udp+tcp 127.0.0.1:port), with `extra` YAML lines and the plan in a file next to it. */
function gatewayConfig(port: number, extra: string[], plan: string): { path: string; cleanup(): void } {
  const cfg = writeConfig('');
  const planPath = join(dirname(cfg.path), 'plan.yaml');
  writeFileSync(planPath, plan);
  writeFileSync(
    cfg.path,
    [`listen: [udp:127.0.0.1:${port}, tcp:127.0.0.1:${port}]`, 'domains: [127.0.0.1]', 'roles: [gateway]', 'store: memory', ...extra, `dialPlan: ${planPath}`, ''].join('\n'),
  );
  return cfg;
}

async function gatewayCall(number: string, opts: { config?: string[]; plan: string; args?: string[] }): Promise<GatewayRun> {
  const [port] = (await freePorts(1)) as [number];
  const cfg = gatewayConfig(port, opts.config ?? [], opts.plan);
  const t0 = Date.now();
  let run: RunResult;
  try {
    run = await runSwitchboard(['gateway', 'call', number, '--config', cfg.path, '--duration', '1', ...(opts.args ?? [])], RUN_TIMEOUT_MS);
  } finally {
    cfg.cleanup();
  }
  const elapsedMs = Date.now() - t0;
  const out = run.stdout.split('\n').filter((l) => l.length > 0);
  const log = run.stderr.split('\n').filter((l) => l.startsWith('switchboard: '));
  const attempts = out
    .map((l) => /^dial-peer (\d+): INVITE (\S+): (\d{3}) (.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ peer: Number(m[1]), uri: m[2]!, status: Number(m[3]), reason: m[4]! }));
  return { run, port, elapsedMs, out, log, attempts, text: `--- gateway call ${number} (:${port}, ${elapsedMs} ms) ---\n${describeRun(run)}` };
}

function ctxOf(g: GatewayRun, ...more: Array<GatewayRun | FarEndReport | SilentUdp | string>): string {
  return [g.text, ...more.map((m) => (typeof m === 'string' ? m : m instanceof SilentUdp ? m.describe() : m.text))].join('\n');
}

function assertAnsweredFarEnd(f: FarEndReport, inviteUri: string, ctx: string): void {
  assert.deepEqual(f.received('INVITE').map((m) => m.firstLine), [`INVITE ${inviteUri} SIP/2.0`], `the INVITEs the far end received\n${ctx}`);
  assert.equal(f.received('ACK').length, 1, `one ACK for the 200\n${ctx}`);
  assert.equal(f.received('BYE').length, 1, `one BYE after --duration\n${ctx}`);
  assert.deepEqual(f.received('BYE')[0]!.header('Reason'), ['Q.850;cause=16'], `the BYE carries Reason: Q.850;cause=16 (RFC 3326)\n${ctx}`);
  assert.equal(f.result.failed, 0, `far end: failed calls\n${ctx}`);
  assert.equal(f.result.successful, 1, `far end: completed calls\n${ctx}`);
}

function assertUntouched(f: FarEndReport, ctx: string): void {
  assert.deepEqual(f.requests, [], `${f.text.split('\n')[0]} must receive nothing\n${ctx}`);
}

const uri = (number: string, port: number, params = ''): string => `sip:${number}@127.0.0.1:${port}${params}`;

// ---------------------------------------------------------------------------------------------

test('1. hunt on 503 to the preference-1 peer over TCP, which gets the translated called and calling numbers and the sip-ua headers; BYE with Reason Q.850 cause 16', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await startFarEnd('A (503)', 'dialplan-uas-503.xml');
  const b = await startFarEnd('B (tcp)', 'gw-out-uas-tcp.xml', { transport: 't1' });
  let g: GatewayRun | undefined;
  try {
    // Preference 1 is written first: only the preference puts A first.
    g = await gatewayCall('95551234', {
      config: ['gateway:', '  domain: pstn.example', '  remotePartyId: true', '  assertedId: pai', '  maxForwards: 20'],
      args: ['--calling', '4085550100'],
      plan: `
translationRules:
  strip9: ['rule 1 /^9\\(.*\\)/ /\\1/']
  plus1: [{precedence: 1, match: '/^\\(..........\\)$/', replace: '/+1\\1/'}]
translationProfiles:
  e164: {called: strip9, calling: plus1}
dialPeers:
  - {tag: 2000, destinationPattern: '9555....', sessionTarget: 'ipv4:127.0.0.1:${b.port}', sessionTransport: tcp, preference: 1, translationProfile: {outgoing: e164}}
  - {tag: 1000, destinationPattern: '9555....', sessionTarget: 'ipv4:127.0.0.1:${a.port}', preference: 0}
`,
    });
    const ra = await finishFarEnd(a);
    const rb = await finishFarEnd(b);
    const ctx = ctxOf(g, ra, rb);
    assert.equal(g.run.code, 0, `exit code\n${ctx}`);
    const bUri = uri('5551234', b.port, ';transport=tcp');
    const callId = /^call answered on dial-peer 2000: (\S+)$/m.exec(g.run.stdout)?.[1];
    assert.deepEqual(g.out, [
      `dial-peer 1000: INVITE ${uri('95551234', a.port)}: 503 Service Unavailable`,
      `dial-peer 2000: INVITE ${bUri}: 200 OK`,
      `call answered on dial-peer 2000: ${callId}`,
      'call ended: BYE 200 OK (Reason: Q.850;cause=16)',
    ], `stdout\n${ctx}`);
    assert.ok(g.log.includes('switchboard: gateway: 95551234: dial-peer 1000 failed (503): next dial-peer'), `hunt log\n${ctx}`);

    // A (no translation profile): the dialled number and the calling number as they are; its 503 was ACKed.
    const invA = ra.received('INVITE');
    assert.deepEqual(invA.map((m) => m.firstLine), [`INVITE ${uri('95551234', a.port)} SIP/2.0`], ctx);
    assert.match(invA[0]!.header('From')[0] ?? '', /^<sip:4085550100@pstn\.example>;tag=/, `A: From untranslated\n${ctx}`);
    assert.equal(ra.received('ACK').length, 1, `A: the 503 is ACKed\n${ctx}`);
    assert.equal(ra.result.successful, 1, `A: its scenario completed\n${ctx}`);

    // B: everything from its own message log.
    assertAnsweredFarEnd(rb, bUri, ctx);
    const inv = rb.received('INVITE')[0]!;
    assert.deepEqual(inv.header('Call-ID'), [callId], `the Call-ID printed is the call's\n${ctx}`);
    assert.match(inv.header('From')[0] ?? '', /^<sip:\+14085550100@pstn\.example>;tag=/, `From: the translated calling number\n${ctx}`);
    assert.deepEqual(inv.header('Remote-Party-ID'), ['<sip:+14085550100@pstn.example>;party=calling;screen=no;privacy=off'], ctx);
    assert.deepEqual(inv.header('P-Asserted-Identity'), ['<sip:+14085550100@pstn.example>'], ctx);
    assert.deepEqual(inv.header('P-Preferred-Identity'), [], ctx);
    assert.deepEqual(inv.header('Max-Forwards'), ['20'], ctx);
    assert.deepEqual(inv.header('Expires'), ['180'], `timers expires (default 180 s)\n${ctx}`);
    assert.match(inv.firstLine, /^INVITE sip:5551234@/, `called number: the leading 9 stripped\n${ctx}`);
    assert.deepEqual(rb.received('BYE')[0]!.header('Max-Forwards'), ['20'], `max-forwards applies to every request\n${ctx}`);
  } finally {
    await Promise.all([a.sipp.stop(), b.sipp.stop()]);
  }
});

test('1b. asserted-id ppi: P-Preferred-Identity instead of P-Asserted-Identity; no Remote-Party-ID unless configured; inviteExpires 0: no Expires', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await startFarEnd('A', 'dialplan-uas.xml');
  try {
    const g = await gatewayCall('5551234', {
      config: ['gateway: {domain: pstn.example, assertedId: ppi, inviteExpires: 0}'],
      args: ['--calling', '4085550100'],
      plan: `dialPeers:\n  - {tag: 1, destinationPattern: '555....', sessionTarget: 'ipv4:127.0.0.1:${a.port}'}\n`,
    });
    const ra = await finishFarEnd(a);
    const ctx = ctxOf(g, ra);
    assert.equal(g.run.code, 0, `exit code\n${ctx}`);
    assertAnsweredFarEnd(ra, uri('5551234', a.port), ctx);
    const inv = ra.received('INVITE')[0]!;
    assert.deepEqual(inv.header('P-Preferred-Identity'), ['<sip:4085550100@pstn.example>'], ctx);
    assert.deepEqual(inv.header('P-Asserted-Identity'), [], ctx);
    assert.deepEqual(inv.header('Remote-Party-ID'), [], ctx);
    assert.deepEqual(inv.header('Expires'), [], ctx);
    assert.deepEqual(inv.header('Max-Forwards'), ['70'], `the default Max-Forwards\n${ctx}`);
  } finally {
    await a.sipp.stop();
  }
});

const onePeer = (port: number): string => `dialPeers:\n  - {tag: 10, destinationPattern: '555....', sessionTarget: 'ipv4:127.0.0.1:${port}'}\n`;

test('2a. redirection (default on): a 302 is followed to its Contact, where the call is answered', { timeout: TEST_TIMEOUT_MS }, async () => {
  const c = await startFarEnd('C', 'dialplan-uas.xml');
  const a = await startFarEnd('A (302)', 'gw-out-302.xml', { extra: ['-key', 'redirect_user', '5551234', '-key', 'redirect_port', String(c.port)] });
  try {
    const g = await gatewayCall('5551234', { plan: onePeer(a.port) });
    const ra = await finishFarEnd(a);
    const rc = await finishFarEnd(c);
    const ctx = ctxOf(g, ra, rc);
    assert.equal(g.run.code, 0, `exit code\n${ctx}`);
    const callId = /^call answered on dial-peer 10: (\S+)$/m.exec(g.run.stdout)?.[1];
    assert.deepEqual(g.out, [
      `dial-peer 10: INVITE ${uri('5551234', a.port)}: 302 Moved Temporarily`,
      `dial-peer 10: INVITE ${uri('5551234', c.port)}: 200 OK`,
      `call answered on dial-peer 10: ${callId}`,
      'call ended: BYE 200 OK (Reason: Q.850;cause=16)',
    ], `stdout\n${ctx}`);
    assert.ok(g.log.includes(`switchboard: gateway: dial-peer 10: 302 Moved Temporarily: redirected to ${uri('5551234', c.port)}`), `redirect log\n${ctx}`);
    // A: INVITE, its 302 ACKed (RFC 3261 §17.1.1.3), nothing else.
    assert.deepEqual(ra.requests, [`INVITE ${uri('5551234', a.port)}`, `ACK ${uri('5551234', a.port)}`], ctx);
    assert.equal(ra.result.successful, 1, `A: its scenario completed\n${ctx}`);
    assertAnsweredFarEnd(rc, uri('5551234', c.port), ctx);
    assert.deepEqual(rc.received('INVITE')[0]!.header('Call-ID'), [callId], ctx);
  } finally {
    await Promise.all([a.sipp.stop(), c.sipp.stop()]);
  }
});

test('2b. redirection: false: the 302 ends the call, Q.850 cause 23, and the Contact is not tried', { timeout: TEST_TIMEOUT_MS }, async () => {
  const c = await startFarEnd('C', 'dialplan-uas.xml');
  const a = await startFarEnd('A (302)', 'gw-out-302.xml', { extra: ['-key', 'redirect_user', '5551234', '-key', 'redirect_port', String(c.port)] });
  try {
    const g = await gatewayCall('5551234', { config: ['gateway: {redirection: false}'], plan: onePeer(a.port) });
    const ra = await finishFarEnd(a);
    const rc = await finishFarEnd(c);
    const ctx = ctxOf(g, ra, rc);
    assert.equal(g.run.code, 1, `exit code\n${ctx}`);
    assert.deepEqual(g.out, [`dial-peer 10: INVITE ${uri('5551234', a.port)}: 302 Moved Temporarily`, 'call failed: 302 Moved Temporarily (Q.850 cause 23)'], `stdout\n${ctx}`);
    assert.match(g.log.join('\n'), /dial-peer 10: 302 Moved Temporarily, redirection off: Q\.850 cause 23/, ctx);
    assert.deepEqual(ra.requests, [`INVITE ${uri('5551234', a.port)}`, `ACK ${uri('5551234', a.port)}`], ctx);
    assertUntouched(rc, ctx);
  } finally {
    await Promise.all([a.sipp.stop(), c.sipp.stop()]);
  }
});

const twoPeers = (a: number, b: number): string => `
dialPeers:
  - {tag: 30, destinationPattern: '555....', sessionTarget: 'ipv4:127.0.0.1:${a}'}
  - {tag: 31, destinationPattern: '555....', sessionTarget: 'ipv4:127.0.0.1:${b}', preference: 1}
`;

test('3a. 486 Busy Here with Reason: Q.850;cause=17 → call failed, cause 17; 486 ends the hunt', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await startFarEnd('A (486+Reason)', 'gw-out-486-reason.xml');
  const b = await startFarEnd('B', 'dialplan-uas.xml');
  try {
    const g = await gatewayCall('5551234', { plan: twoPeers(a.port, b.port) });
    const ra = await finishFarEnd(a);
    const rb = await finishFarEnd(b);
    const ctx = ctxOf(g, ra, rb);
    assert.equal(g.run.code, 1, `exit code\n${ctx}`);
    assert.deepEqual(g.out, [`dial-peer 30: INVITE ${uri('5551234', a.port)}: 486 Busy Here`, 'call failed: 486 Busy Here (Q.850 cause 17)'], `stdout\n${ctx}`);
    assert.ok(g.log.includes('switchboard: gateway: 5551234: dial-peer 30 failed (486): not a cause to hunt on: the hunt ends'), ctx);
    assert.deepEqual(ra.requests, [`INVITE ${uri('5551234', a.port)}`, `ACK ${uri('5551234', a.port)}`], ctx);
    assertUntouched(rb, ctx);
  } finally {
    await Promise.all([a.sipp.stop(), b.sipp.stop()]);
  }
});

test('3b. the Reason header\'s cause wins over `sipStatus` (486 → 34): 17 with the Reason, 34 without it', { timeout: TEST_TIMEOUT_MS }, async () => {
  const cfg = ["gateway: {sipStatus: {'486': 34}}"];
  const a = await startFarEnd('A (486+Reason)', 'gw-out-486-reason.xml');
  const b = await startFarEnd('B (486)', 'uas-486.xml');
  try {
    const ga = await gatewayCall('5551234', { config: cfg, plan: onePeer(a.port) });
    const gb = await gatewayCall('5551234', { config: cfg, plan: onePeer(b.port) });
    const ra = await finishFarEnd(a);
    const rb = await finishFarEnd(b);
    const ctx = ctxOf(ga, gb, ra, rb);
    assert.equal(ga.run.code, 1, ctx);
    assert.equal(gb.run.code, 1, ctx);
    assert.equal(ga.out.at(-1), 'call failed: 486 Busy Here (Q.850 cause 17)', `with Reason: Q.850;cause=17\n${ctx}`);
    assert.equal(gb.out.at(-1), 'call failed: 486 Busy Here (Q.850 cause 34)', `without a Reason: set sip-status 486 pstn-cause 34\n${ctx}`);
  } finally {
    await Promise.all([a.sipp.stop(), b.sipp.stop()]);
  }
});

test('3c. a plain 404 → Q.850 cause 1 (RFC 3398); a number no dial-peer matches → 404 Not Found, cause 1, no INVITE', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await startFarEnd('A (404)', 'gw-out-404.xml');
  try {
    const g = await gatewayCall('5551234', { plan: onePeer(a.port) });
    const none = await gatewayCall('7001', { plan: onePeer(a.port) });
    const ra = await finishFarEnd(a);
    const ctx = ctxOf(g, none, ra);
    assert.equal(g.run.code, 1, `exit code\n${ctx}`);
    assert.deepEqual(g.out, [`dial-peer 10: INVITE ${uri('5551234', a.port)}: 404 Not Found`, 'call failed: 404 Not Found (Q.850 cause 1)'], `stdout\n${ctx}`);
    assert.equal(none.run.code, 1, `no match: exit code\n${ctx}`);
    assert.deepEqual(none.out, ['call failed: 404 Not Found (Q.850 cause 1)'], `no match: stdout\n${ctx}`);
    assert.ok(none.log.includes('switchboard: gateway: 7001: no outbound dial-peer matches: Q.850 cause 1 (unallocated number)'), ctx);
    // Only the first run's INVITE reached the far end (a retransmission of it, under load, is the same request).
    assert.deepEqual([...new Set(ra.requests)], [`INVITE ${uri('5551234', a.port)}`, `ACK ${uri('5551234', a.port)}`], ctx);
  } finally {
    await a.sipp.stop();
  }
});

test('4. timers.retries.invite 1: a silent peer gets the INVITE exactly twice, the attempt times out (408) well before Timer B, the next peer answers', { timeout: TEST_TIMEOUT_MS }, async () => {
  const silent = await SilentUdp.open();
  const b = await startFarEnd('B', 'dialplan-uas.xml');
  try {
    const g = await gatewayCall('5551234', {
      config: ['timers: {retries: {invite: 1}}'],
      plan: `
dialPeers:
  - {tag: 40, destinationPattern: '555....', sessionTarget: 'ipv4:127.0.0.1:${silent.port}'}
  - {tag: 41, destinationPattern: '555....', sessionTarget: 'ipv4:127.0.0.1:${b.port}', preference: 1}
`,
    });
    const rb = await finishFarEnd(b);
    const ctx = ctxOf(g, silent, rb);
    assert.equal(g.run.code, 0, `exit code\n${ctx}`);
    const invites = silent.requests('INVITE');
    assert.equal(invites.length, 2, `the original INVITE and one retransmission\n${ctx}`);
    assert.equal(invites[1]!.text, invites[0]!.text, `the second is a retransmission (the same message)\n${ctx}`);
    assert.equal(silent.got.length, 2, `nothing else (no CANCEL, no ACK)\n${ctx}`);
    assert.deepEqual(g.attempts.map((x) => `${x.peer} ${x.status} ${x.reason}`), ['40 408 Request Timeout (timeout)', '41 200 OK'], ctx);
    assert.ok(g.log.includes('switchboard: gateway: 5551234: dial-peer 40 failed (timeout): next dial-peer'), ctx);
    // The whole command (start, ~1.5 s of hunting, 1 s of call, BYE) ends long before Timer B (32 s).
    assert.ok(g.elapsedMs < 10_000, `took ${g.elapsedMs} ms\n${ctx}`);
    assertAnsweredFarEnd(rb, uri('5551234', b.port), ctx);
  } finally {
    await Promise.all([b.sipp.stop(), silent.close()]);
  }
});

test('5. options-keepalive: a peer whose OPTIONS go unanswered (retry 1) is busied out, and the hunt skips it', { timeout: TEST_TIMEOUT_MS }, async () => {
  // Peer 50 (preference 0, silent) holds the call ~1.5 s (retry invite 1): by then peer 51's
  // first OPTIONS (sent at start-up, retry options 0) has timed out at ~0.5 s and busied it out.
  // Without the first peer the call would race the first ping (and always win: the INVITE to
  // 51 would leave before the ping times out).
  const s50 = await SilentUdp.open();
  const s51 = await SilentUdp.open();
  const b = await startFarEnd('B', 'dialplan-uas.xml');
  try {
    const g = await gatewayCall('5551234', {
      config: ['timers: {retries: {options: 0, invite: 1}}'],
      plan: `
dialPeers:
  - {tag: 50, destinationPattern: '555....', sessionTarget: 'ipv4:127.0.0.1:${s50.port}'}
  - {tag: 51, destinationPattern: '555....', sessionTarget: 'ipv4:127.0.0.1:${s51.port}', preference: 1, optionsKeepalive: {upInterval: 5, retry: 1}}
  - {tag: 52, destinationPattern: '555....', sessionTarget: 'ipv4:127.0.0.1:${b.port}', preference: 2}
`,
    });
    const rb = await finishFarEnd(b);
    const ctx = ctxOf(g, s50, s51, rb);
    assert.equal(g.run.code, 0, `exit code\n${ctx}`);
    assert.deepEqual(g.attempts.map((x) => `${x.peer} ${x.status}`), ['50 408', '52 200'], `51 is not tried\n${ctx}`);
    assert.match(g.log.join('\n'), new RegExp(`gateway: dial-peer 51 \\(sip:127\\.0\\.0\\.1:${s51.port}\\): 1 OPTIONS unanswered \\(last: [^)]*timeout[^)]*\\)\\): busied out$`, 'm'), ctx);
    assert.ok(g.log.includes('switchboard: gateway: 5551234: dial-peer 51 is busied out (options-keepalive): skipped'), ctx);
    const options = s51.requests('OPTIONS');
    assert.ok(options.length >= 1, `peer 51 was pinged\n${ctx}`);
    assert.match(options[0]!.text, new RegExp(`^OPTIONS sip:127\\.0\\.0\\.1:${s51.port} SIP/2\\.0\r\n`), `pinged at its session target, without a user\n${ctx}`);
    assert.deepEqual(s51.requests('INVITE'), [], `no INVITE to the busied-out peer\n${ctx}`);
    assert.equal(s50.requests('OPTIONS').length, 0, `a peer without options-keepalive is not pinged\n${ctx}`);
    assertAnsweredFarEnd(rb, uri('5551234', b.port), ctx);
  } finally {
    await Promise.all([b.sipp.stop(), s50.close(), s51.close()]);
  }
});

test('6. registrar keep-alive by CRLF: `serve` sends "\\r\\n\\r\\n" to the registrar every second, from the socket its REGISTERs leave from', { timeout: TEST_TIMEOUT_MS }, async () => {
  const registrar = await SilentUdp.open();
  const [port] = (await freePorts(1)) as [number];
  // retries.register 1: the REGISTERs (and the un-REGISTER at stop) time out after 1.5 s, so SIGTERM ends serve quickly.
  const cfg = writeConfig([
    `listen: [udp:127.0.0.1:${port}]`, 'domains: [127.0.0.1]', 'roles: [gateway]', 'store: memory',
    'timers: {retries: {register: 1}}',
    `gateway: {registrar: 'sip:127.0.0.1:${registrar.port}', numbers: ['3401'], keepalive: {interval: 1, method: crlf}}`, '',
  ].join('\n'));
  let serve: Awaited<ReturnType<typeof startProcess>> | undefined;
  try {
    serve = await startProcess(process.execPath, [SWITCHBOARD_CLI, 'serve', '--config', cfg.path], {
      readyPattern: /serving domains/,
      readyCheck: () => isListening('udp', port),
      timeoutMs: 15_000,
      maxLifetimeMs: TEST_TIMEOUT_MS,
    });
    const t0 = Date.now();
    const crlfs = (): Datagram[] => registrar.got.filter((d) => d.text === '\r\n\r\n');
    while (crlfs().length < 2 && Date.now() - t0 < 5000) await sleep(50);
    const o = serve.output();
    const ctx = `${registrar.describe()}\n--- serve ---\n${clip(o.stdout, 2000)}\n${clip(o.stderr, 3000)}`;
    assert.ok(crlfs().length >= 1, `a double CRLF within ~4 s\n${ctx}`);
    assert.ok(crlfs().length >= 2, `and again a second later\n${ctx}`);
    assert.ok(crlfs().every((d) => d.port === port), `from the gateway's SIP socket\n${ctx}`);
    const registers = registrar.requests('REGISTER');
    assert.ok(registers.length >= 1, `the gateway registers in serve\n${ctx}`);
    assert.match(registers[0]!.text, /\r\nFrom: <sip:3401@127\.0\.0\.1>/, ctx);
    assert.ok(registers.every((d) => d.port === port), ctx);
    // Every datagram is a REGISTER or a keep-alive (not an OPTIONS: method crlf).
    assert.equal(registrar.got.length, registers.length + crlfs().length, ctx);
    const st = await serve.stop(8000);
    assert.deepEqual(st, { code: 0, signal: null }, `serve stops cleanly on SIGTERM\n${ctx}`);
  } finally {
    await serve?.stop(1000);
    cfg.cleanup();
    await registrar.close();
  }
});
