// The proxy routing telephone numbers by a dial plan of IOS dial-peers (docs/dialplan.md), end to
// end: `switchboard serve --config CFG --dial-plan PLAN.yaml --trace` (roles: [proxy], no
// authentication) between callers and gateways that are all SIPp, on 127.0.0.1:
//   caller (SIPp, dialplan-uac*.xml, -s NUMBER) ──▶ proxy ──▶ dial-peer A / B (SIPp uas scenarios)
// What each gateway received is read from its own SIPp -trace_msg log (an independent view of
// the Request-URI); the server's --trace and its `dial plan:` log lines (stderr) show the hunt.
//  1. routing by destination-pattern to two gateways, one over UDP, one over TCP;
//  2. an outgoing translation profile (rule 1 /^9\(.*\)/ /\1/) seen in the gateway's Request-URI;
//  3. hunting on 503 to the peer of the next preference;
//  4. hunting when a peer rings past noAnswerTimeout (CANCEL, 487) to the next peer;
//  5. huntstop: the 503 ends the hunt, the caller gets 500 (RFC 3261 §16.7 step 6);
//  6. 486 ends the hunt by default; with 486 in huntOn the next peer is tried;
//  7. no dial-peer matches: 404 No Dial-Peer Matches;
//  8. SIGHUP reloads the plan file; an invalid file leaves the previous plan in force.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isListening, startProcess, stopAll, type Managed } from '../../harness/processes.js';
import { SCENARIO_DIR, SWITCHBOARD_CLI, describeSipp, runSipp, startSipp, type SippProcess, type SippResult, type SippTransport } from '../sipp/sipp.js';
import { describe, freePorts, isReq, parseTrace, writeConfig, type TraceMsg } from './callflow-harness.js';

after(stopAll);

const TEST_TIMEOUT_MS = 60_000;

function clip(s: string, max: number): string {
  return s.length > max ? `[…]${s.slice(-max)}` : s;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The proxy

interface DialPlanProxy {
  port: number;
  proc: Managed;
  planPath: string;
  /** The server's --trace, parsed. */
  trace(): TraceMsg[];
  /** Its `switchboard: …` log lines (stderr). */
  logLines(): string[];
  /** Wait until `count` log lines match `re`. */
  waitLog(re: RegExp, count?: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** `serve --config CFG --dial-plan PLAN.yaml --trace`, a stateful proxy on udp+tcp 127.0.0.1:P. */
async function startProxy(plan: (port: number) => string): Promise<DialPlanProxy> {
  const [port] = (await freePorts(1)) as [number];
  const cfg = writeConfig(
    [`listen: [udp:127.0.0.1:${port}, tcp:127.0.0.1:${port}]`, 'domains: [127.0.0.1]', 'roles: [proxy]', 'store: memory', 'proxy: {authenticate: false}', ''].join('\n'),
  );
  const planPath = join(dirname(cfg.path), 'plan.yaml');
  writeFileSync(planPath, plan(port));
  let proc: Managed;
  try {
    proc = await startProcess(process.execPath, [SWITCHBOARD_CLI, 'serve', '--config', cfg.path, '--dial-plan', planPath, '--trace'], {
      readyPattern: /serving domains/,
      readyCheck: () => isListening('udp', port) && isListening('tcp', port),
      timeoutMs: 20_000,
      maxLifetimeMs: TEST_TIMEOUT_MS + 10_000,
    });
  } catch (e) {
    cfg.cleanup();
    throw e;
  }
  const logLines = (): string[] => proc.output().stderr.split('\n').filter((l) => l.startsWith('switchboard: '));
  return {
    port,
    proc,
    planPath,
    trace: () => parseTrace(proc.output().stderr, 'proxy'),
    logLines,
    async waitLog(re, count = 1, timeoutMs = 5000) {
      const end = Date.now() + timeoutMs;
      while (logLines().filter((l) => re.test(l)).length < count) {
        if (Date.now() > end) throw new Error(`no log line ${re} (×${count}) within ${timeoutMs} ms; log:\n${clip(logLines().join('\n'), 3000)}`);
        await sleep(50);
      }
    },
    async stop() {
      await proc.stop();
      cfg.cleanup();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Gateways (SIPp uas) and callers (SIPp uac)

interface Gateway {
  name: string;
  port: number;
  sipp: SippProcess;
}

interface GatewayReport {
  result: SippResult;
  /** The Request-URIs of the INVITEs this gateway received (its -trace_msg log), in order. */
  invites: string[];
  /** Every request line it received. */
  requests: string[];
  text: string;
}

/**
 * A SIPp uas playing a dial-peer's gateway (a scenario of test/interop/sipp/scenarios/, or a
 * built-in name). Answering gateways play dialplan-uas.xml, not the built-in `uas`: that one
 * does not copy Record-Route into its 200, so the caller's ACK and BYE would reach the proxy
 * without a Route and with the gateway's user-less Contact as Request-URI.
 */
async function startGateway(name: string, scenario: string, opts: { transport?: SippTransport; calls?: number } = {}): Promise<Gateway> {
  const [port] = (await freePorts(1)) as [number];
  const sipp = await startSipp({
    scenario: scenario.endsWith('.xml') ? join(SCENARIO_DIR, scenario) : scenario,
    localPort: port,
    transport: opts.transport ?? 'u1',
    calls: opts.calls ?? 1,
    timeoutS: 50,
    trace: true,
    keepFiles: true,
  });
  return { name, port, sipp };
}

/** Ends the gateway's SIPp (it has usually exited by itself after -m calls) and reads its message log. */
async function finishGateway(g: Gateway): Promise<GatewayReport> {
  const result = await g.sipp.finish(8_000);
  let messages = '';
  try {
    messages = readFileSync(result.files.messages!, 'utf8');
  } catch {
    /* no message received */
  }
  rmSync(result.files.dir, { recursive: true, force: true });
  const requests = [...messages.matchAll(/^([A-Z]+) (\S+) SIP\/2\.0\r?$/gm)].map((m) => `${m[1]} ${m[2]}`);
  const invites = requests.filter((r) => r.startsWith('INVITE ')).map((r) => r.slice('INVITE '.length));
  return { result, invites, requests, text: `--- gateway ${g.name} (:${g.port}) ---\n${describeSipp(result)}\nrequests received: ${requests.join(' | ') || 'none'}` };
}

interface CallRun {
  caller: SippResult;
  callerPort: number;
  callId: string;
  elapsedMs: number;
}

/** One call from a SIPp caller to NUMBER through the proxy, run to completion. */
async function placeCall(proxy: DialPlanProxy, number: string, scenario = 'dialplan-uac.xml'): Promise<CallRun> {
  const [callerPort] = (await freePorts(1)) as [number];
  const t0 = Date.now();
  const caller = await runSipp({
    scenario: join(SCENARIO_DIR, scenario),
    target: `127.0.0.1:${proxy.port}`,
    localPort: callerPort,
    calls: 1,
    timeoutS: 25,
    extra: ['-s', number],
  });
  const elapsedMs = Date.now() - t0;
  await sleep(300); // the last messages reach the server's trace
  const callId = proxy.trace().find((m) => m.dir === 'Received' && isReq('INVITE')(m) && m.remotePort === callerPort)?.callId ?? '';
  return { caller, callerPort, callId, elapsedMs };
}

/** Everything worth showing when an assertion about one call fails. */
function context(proxy: DialPlanProxy, call: CallRun | undefined, gateways: GatewayReport[]): string {
  const st = proxy.proc.exitStatus();
  const msgs = call ? proxy.trace().filter((m) => m.callId === call.callId) : proxy.trace();
  return [
    call ? `--- caller (:${call.callerPort}, Call-ID ${call.callId}) ---\n${describeSipp(call.caller)}` : '',
    ...gateways.map((g) => g.text),
    `--- proxy (:${proxy.port}) ${st ? `EXITED code ${st.code} signal ${st.signal}` : 'running'}; trace of the call ---\n${clip(describe(msgs), 4000)}`,
    `--- proxy log ---\n${clip(proxy.logLines().join('\n'), 3000)}`,
  ]
    .filter(Boolean)
    .join('\n');
}

/** The proxy's dial-plan log lines of one call. */
function planLog(proxy: DialPlanProxy, callId: string): string[] {
  return proxy.logLines().filter((l) => callId !== '' && l.includes(`dial plan: ${callId}: `));
}

/** The INVITEs the proxy sent for one call, to which port. */
function invitesSent(proxy: DialPlanProxy, call: CallRun): TraceMsg[] {
  const seen = new Set<string>();
  return proxy.trace().filter((m) => {
    if (!(m.callId === call.callId && m.dir === 'Sent' && isReq('INVITE')(m))) return false;
    const key = `${m.remote}|${m.text.match(/branch=([^;\s]+)/)?.[1]}`;
    if (seen.has(key)) return false; // retransmission
    seen.add(key);
    return true;
  });
}

function assertCallOk(r: CallRun, ctx: string): void {
  assert.equal(r.caller.code, 0, `caller: SIPp exit code\n${ctx}`);
  assert.equal(r.caller.successful, 1, `caller: successful calls\n${ctx}`);
  assert.equal(r.caller.failed, 0, `caller: failed calls\n${ctx}`);
}

function assertGatewayAnswered(g: GatewayReport, invites: string[], ctx: string): void {
  assert.deepEqual(g.invites, invites, `what gateway reached, in order\n${ctx}`);
  assert.equal(g.result.failed, 0, `gateway: failed calls\n${ctx}`);
  assert.equal(g.result.successful, invites.length, `gateway: completed calls\n${ctx}`);
}

function assertGatewayUntouched(g: GatewayReport, ctx: string): void {
  assert.deepEqual(g.requests, [], `this gateway must receive nothing\n${ctx}`);
  assert.equal(g.result.successful, 0, ctx);
}

/** The final responses (≥ 200) to the INVITE the proxy sent to the caller. */
function finalsToCaller(proxy: DialPlanProxy, call: CallRun): TraceMsg[] {
  return proxy.trace().filter((m) => m.callId === call.callId && m.dir === 'Sent' && m.remotePort === call.callerPort && m.kind === 'response' && m.cseqMethod === 'INVITE' && m.status! >= 200);
}

const uri = (number: string, port: number, params = ''): string => `sip:${number}@127.0.0.1:${port}${params}`;

// ---------------------------------------------------------------------------------------------

test('1. routing by destination-pattern: 1111.... → gateway A over UDP, 2... → gateway B over TCP; both calls complete', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await startGateway('A', 'dialplan-uas.xml');
  const b = await startGateway('B (tcp)', 'dialplan-uas.xml', { transport: 't1' });
  const proxy = await startProxy(() => `
dialPeers:
  - tag: 1000
    destinationPattern: 1111....
    sessionTarget: ipv4:127.0.0.1:${a.port}
  - tag: 2000
    destinationPattern: 2...
    sessionTarget: ipv4:127.0.0.1:${b.port}
    sessionTransport: tcp
`);
  try {
    const c1 = await placeCall(proxy, '11115555');
    const c2 = await placeCall(proxy, '2345');
    const ga = await finishGateway(a);
    const gb = await finishGateway(b);
    const ctx = `${context(proxy, c1, [ga, gb])}\n--- call 2 ---\n${context(proxy, c2, [])}`;
    assertCallOk(c1, ctx);
    assertCallOk(c2, ctx);
    assertGatewayAnswered(ga, [uri('11115555', a.port)], ctx);
    // Over TCP SIPp's uas may count the call as failed when the connection closes first
    // (sipp.ts): judge B by what it received and by the caller.
    assert.deepEqual(gb.invites, [uri('2345', b.port, ';transport=tcp')], `B gets the call for 2345 over TCP\n${ctx}`);
    assert.ok(gb.requests.some((r) => r.startsWith('ACK ')) && gb.requests.some((r) => r.startsWith('BYE ')), `ACK and BYE reach B\n${ctx}`);
    const toB = invitesSent(proxy, c2);
    assert.equal(toB.length, 1, ctx);
    assert.equal(toB[0]!.transport, 'TCP', `the INVITE to B goes over TCP\n${ctx}`);
    assert.equal(toB[0]!.remotePort, b.port, ctx);
    assert.match(planLog(proxy, c1.callId).join('\n'), new RegExp(`11115555: hunt 1000→sip:11115555@127\\.0\\.0\\.1:${a.port}$`, 'm'), ctx);
    assert.match(planLog(proxy, c2.callId).join('\n'), new RegExp(`2345: hunt 2000→sip:2345@127\\.0\\.0\\.1:${b.port};transport=tcp$`, 'm'), ctx);
  } finally {
    await Promise.all([a.sipp.stop(), b.sipp.stop(), proxy.stop()]);
  }
});

test('2. outgoing translation profile: 9T with rule 1 /^9\\(.*\\)/ /\\1/ — a call to 95551234 reaches the gateway as INVITE sip:5551234@…', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await startGateway('A', 'dialplan-uas.xml');
  const proxy = await startProxy(() => `
translationRules:
  '1': ['rule 1 /^9\\(.*\\)/ /\\1/']
translationProfiles:
  strip9: { called: '1' }
dialPeers:
  - tag: 90
    destinationPattern: 9T
    sessionTarget: ipv4:127.0.0.1:${a.port}
    translationProfile: { outgoing: strip9 }
`);
  try {
    const c = await placeCall(proxy, '95551234');
    const ga = await finishGateway(a);
    const ctx = context(proxy, c, [ga]);
    assertCallOk(c, ctx);
    // The gateway's own log: the Request-URI carries the translated number.
    assertGatewayAnswered(ga, [uri('5551234', a.port)], ctx);
    // The proxy's trace agrees, and To still names the dialled number (§16.6: the proxy only rewrites the Request-URI).
    const sent = invitesSent(proxy, c);
    assert.equal(sent.length, 1, ctx);
    assert.equal(sent[0]!.requestUri, uri('5551234', a.port), ctx);
    assert.match(sent[0]!.headers.find(([k]) => k === 'To')?.[1] ?? '', /sip:95551234@/, ctx);
    assert.match(planLog(proxy, c.callId).join('\n'), new RegExp(`95551234: hunt 90→sip:5551234@127\\.0\\.0\\.1:${a.port}$`, 'm'), ctx);
  } finally {
    await Promise.all([a.sipp.stop(), proxy.stop()]);
  }
});

test('3. hunting on 503: the preference-0 peer answers 503, the preference-1 peer answers 200; the call completes there', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await startGateway('A (503)', 'dialplan-uas-503.xml');
  const b = await startGateway('B', 'dialplan-uas.xml');
  // Preference 1 is written first: only the preference (not the file's order) puts A first.
  const proxy = await startProxy(() => `
dialPeers:
  - tag: 21
    destinationPattern: 3...
    preference: 1
    sessionTarget: ipv4:127.0.0.1:${b.port}
  - tag: 20
    destinationPattern: 3...
    preference: 0
    sessionTarget: ipv4:127.0.0.1:${a.port}
`);
  try {
    const c = await placeCall(proxy, '3000');
    const ga = await finishGateway(a);
    const gb = await finishGateway(b);
    const ctx = context(proxy, c, [ga, gb]);
    assertCallOk(c, ctx);
    assertGatewayAnswered(ga, [uri('3000', a.port)], ctx); // its 503 was ACKed (the scenario waits for the ACK)
    assertGatewayAnswered(gb, [uri('3000', b.port)], ctx);
    assert.deepEqual(invitesSent(proxy, c).map((m) => m.remotePort), [a.port, b.port], `INVITE to A, then to B\n${ctx}`);
    const log = planLog(proxy, c.callId).join('\n');
    assert.match(log, new RegExp(`3000: hunt 20→sip:3000@127\\.0\\.0\\.1:${a.port}, 21→sip:3000@127\\.0\\.0\\.1:${b.port}$`, 'm'), ctx);
    assert.match(log, /dial-peer 20 failed \(503\), next dial-peer$/m, ctx);
    assert.deepEqual(finalsToCaller(proxy, c).map((m) => m.status), [200], `the caller sees only the 200\n${ctx}`);
  } finally {
    await Promise.all([a.sipp.stop(), b.sipp.stop(), proxy.stop()]);
  }
});

test('4. hunting on no answer: the first peer rings past noAnswerTimeout (2 s) → CANCEL, 487; the next peer answers', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await startGateway('A (rings)', 'uas-ring-cancel.xml');
  const b = await startGateway('B', 'dialplan-uas.xml');
  const proxy = await startProxy(() => `
noAnswerTimeout: 2
dialPeers:
  - tag: 40
    destinationPattern: 4...
    sessionTarget: ipv4:127.0.0.1:${a.port}
  - tag: 41
    destinationPattern: 4...
    preference: 1
    sessionTarget: ipv4:127.0.0.1:${b.port}
`);
  try {
    const c = await placeCall(proxy, '4000');
    const ga = await finishGateway(a);
    const gb = await finishGateway(b);
    const ctx = context(proxy, c, [ga, gb]);
    assertCallOk(c, ctx);
    assertGatewayAnswered(ga, [uri('4000', a.port)], ctx); // INVITE, 180, CANCEL → 200, 487 ← ACK
    assert.ok(ga.requests.includes(`CANCEL ${uri('4000', a.port)}`), `A gets a CANCEL\n${ctx}`);
    assertGatewayAnswered(gb, [uri('4000', b.port)], ctx);
    const msgs = proxy.trace().filter((m) => m.callId === c.callId);
    const iCancel = msgs.findIndex((m) => m.dir === 'Sent' && isReq('CANCEL')(m) && m.remotePort === a.port);
    const iInvB = msgs.findIndex((m) => m.dir === 'Sent' && isReq('INVITE')(m) && m.remotePort === b.port);
    assert.ok(iCancel >= 0 && iInvB > iCancel, `CANCEL to A before the INVITE to B\n${ctx}`);
    assert.ok(c.elapsedMs >= 2000, `B is tried only after A rang 2 s (the call took ${c.elapsedMs} ms)\n${ctx}`);
    assert.match(planLog(proxy, c.callId).join('\n'), /dial-peer 40 failed \(timeout\), next dial-peer$/m, ctx);
    assert.deepEqual(finalsToCaller(proxy, c).map((m) => m.status), [200], `the caller never sees the 487\n${ctx}`);
  } finally {
    await Promise.all([a.sipp.stop(), b.sipp.stop(), proxy.stop()]);
  }
});

test('5. huntstop: the 503 of a huntstop peer ends the hunt, the caller gets 500 and the next peer never sees an INVITE', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await startGateway('A (503)', 'dialplan-uas-503.xml');
  const b = await startGateway('B', 'dialplan-uas.xml');
  const proxy = await startProxy(() => `
dialPeers:
  - tag: 50
    destinationPattern: 5...
    huntstop: true
    sessionTarget: ipv4:127.0.0.1:${a.port}
  - tag: 51
    destinationPattern: 5...
    preference: 1
    sessionTarget: ipv4:127.0.0.1:${b.port}
`);
  try {
    const c = await placeCall(proxy, '5000', 'dialplan-uac-500.xml');
    const ga = await finishGateway(a);
    const gb = await finishGateway(b);
    const ctx = context(proxy, c, [ga, gb]);
    assertCallOk(c, ctx); // the caller's scenario takes a 500 (any other final fails it)
    assertGatewayAnswered(ga, [uri('5000', a.port)], ctx);
    assertGatewayUntouched(gb, ctx);
    assert.deepEqual(invitesSent(proxy, c).map((m) => m.remotePort), [a.port], ctx);
    // One 500, not retransmitted: the caller's hop-by-hop ACK matched the server transaction.
    assert.deepEqual(finalsToCaller(proxy, c).map((m) => m.status), [500], ctx);
    // Nothing after a huntstop peer is in the hunt; its failure ends it, and the log says why.
    const log = planLog(proxy, c.callId).map((l) => l.replace(/^switchboard: dial plan: [^ ]+ /, ''));
    assert.deepEqual(log, [`5000: hunt 50→sip:5000@127.0.0.1:${a.port}`, 'dial-peer 50 failed (503), huntstop: the hunt ends'], ctx);
  } finally {
    await Promise.all([a.sipp.stop(), b.sipp.stop(), proxy.stop()]);
  }
});

const busyPlan = (a: number, b: number, huntOn = ''): string => `
${huntOn}
dialPeers:
  - tag: 60
    destinationPattern: 6...
    sessionTarget: ipv4:127.0.0.1:${a}
  - tag: 61
    destinationPattern: 6...
    preference: 1
    sessionTarget: ipv4:127.0.0.1:${b}
`;

test('6a. 486 ends the hunt by default: the caller gets 486, the next peer sees nothing', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await startGateway('A (486)', 'uas-486.xml');
  const b = await startGateway('B', 'dialplan-uas.xml');
  const proxy = await startProxy(() => busyPlan(a.port, b.port));
  try {
    const c = await placeCall(proxy, '6000', 'dialplan-uac-486.xml');
    const ga = await finishGateway(a);
    const gb = await finishGateway(b);
    const ctx = context(proxy, c, [ga, gb]);
    assertCallOk(c, ctx);
    assertGatewayAnswered(ga, [uri('6000', a.port)], ctx);
    assertGatewayUntouched(gb, ctx);
    assert.deepEqual(finalsToCaller(proxy, c).map((m) => m.status), [486], ctx);
    const log = planLog(proxy, c.callId).join('\n');
    assert.match(log, new RegExp(`6000: hunt 60→sip:6000@127\\.0\\.0\\.1:${a.port}, 61→sip:6000@127\\.0\\.0\\.1:${b.port}$`, 'm'), ctx);
    assert.match(log, /dial-peer 60 failed \(486\), not a cause to hunt on: the hunt ends$/m, ctx);
  } finally {
    await Promise.all([a.sipp.stop(), b.sipp.stop(), proxy.stop()]);
  }
});

test('6b. with 486 in huntOn (IOS voice hunt user-busy) the hunt goes on to the next peer, which answers', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await startGateway('A (486)', 'uas-486.xml');
  const b = await startGateway('B', 'dialplan-uas.xml');
  const proxy = await startProxy(() => busyPlan(a.port, b.port, 'huntOn: [486, 408, 480, 500, 502, 503, 504, timeout, transport]'));
  try {
    const c = await placeCall(proxy, '6000');
    const ga = await finishGateway(a);
    const gb = await finishGateway(b);
    const ctx = context(proxy, c, [ga, gb]);
    assertCallOk(c, ctx);
    assertGatewayAnswered(ga, [uri('6000', a.port)], ctx);
    assertGatewayAnswered(gb, [uri('6000', b.port)], ctx);
    assert.deepEqual(finalsToCaller(proxy, c).map((m) => m.status), [200], `the caller never sees the 486\n${ctx}`);
    assert.match(planLog(proxy, c.callId).join('\n'), /dial-peer 60 failed \(486\), next dial-peer$/m, ctx);
  } finally {
    await Promise.all([a.sipp.stop(), b.sipp.stop(), proxy.stop()]);
  }
});

test('7. no dial-peer matches: 404 No Dial-Peer Matches, and no gateway is tried', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await startGateway('A', 'dialplan-uas.xml');
  const proxy = await startProxy(() => `
dialPeers:
  - tag: 1000
    destinationPattern: 1111....
    sessionTarget: ipv4:127.0.0.1:${a.port}
`);
  try {
    const c = await placeCall(proxy, '5551234', 'dialplan-uac-404.xml');
    const ga = await finishGateway(a);
    const ctx = context(proxy, c, [ga]);
    assertCallOk(c, ctx); // the caller's scenario checks `SIP/2.0 404 No Dial-Peer Matches`
    assertGatewayUntouched(ga, ctx);
    const finals = finalsToCaller(proxy, c);
    assert.deepEqual(finals.map((m) => `${m.status} ${m.reason}`), ['404 No Dial-Peer Matches'], `one 404 (the ACK matched)\n${ctx}`);
    assert.deepEqual(planLog(proxy, c.callId).map((l) => l.replace(/^switchboard: /, '')), [`dial plan: ${c.callId}: no dial-peer matches 5551234: 404`], ctx);
  } finally {
    await Promise.all([a.sipp.stop(), proxy.stop()]);
  }
});

test('8. SIGHUP reloads the plan file (3... moves from A to B); an invalid file is refused and the previous plan stays', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await startGateway('A', 'dialplan-uas.xml', { calls: 1 });
  const b = await startGateway('B', 'dialplan-uas.xml', { calls: 2 });
  const plan = (port: number): string => `
dialPeers:
  - tag: 30
    destinationPattern: 3...
    sessionTarget: ipv4:127.0.0.1:${port}
`;
  const proxy = await startProxy(() => plan(a.port));
  try {
    const c1 = await placeCall(proxy, '3001');
    writeFileSync(proxy.planPath, plan(b.port));
    proxy.proc.signal('SIGHUP');
    await proxy.waitLog(/SIGHUP: dial plan reloaded: 1 dial-peers/);
    const c2 = await placeCall(proxy, '3002');
    writeFileSync(proxy.planPath, plan(b.port).replace('tag: 30', 'tag: 30\n    preference: 11'));
    proxy.proc.signal('SIGHUP');
    await proxy.waitLog(/SIGHUP: dial plan not reloaded, the previous one stays in force: .*preference/);
    const c3 = await placeCall(proxy, '3003');
    const ga = await finishGateway(a);
    const gb = await finishGateway(b);
    const ctx = [context(proxy, c1, [ga, gb]), `--- call 2 ---\n${context(proxy, c2, [])}`, `--- call 3 ---\n${context(proxy, c3, [])}`].join('\n');
    for (const c of [c1, c2, c3]) assertCallOk(c, ctx);
    assertGatewayAnswered(ga, [uri('3001', a.port)], ctx);
    assertGatewayAnswered(gb, [uri('3002', b.port), uri('3003', b.port)], ctx);
    assert.match(planLog(proxy, c3.callId).join('\n'), new RegExp(`3003: hunt 30→sip:3003@127\\.0\\.0\\.1:${b.port}$`, 'm'), ctx);
    assert.equal(proxy.proc.exitStatus(), null, `the server keeps running after both SIGHUPs\n${ctx}`);
  } finally {
    await Promise.all([a.sipp.stop(), b.sipp.stop(), proxy.stop()]);
  }
});
