// `workers: 2`: one `serve` as two worker processes on the same UDP port. SIPp calls cross the
// proxy (with 10 % loss on the uac, so retransmissions and lost ACKs land on either worker) and
// every message of a call must be handled by one worker only — the Call-ID affinity of
// transport/worker-relay.ts, checked on the trace each worker prints. Then: a killed worker is
// replaced and calls still pass; SIGTERM to the primary stops every worker and exits 0.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as dgram from 'node:dgram';
import { describeSipp, runSipp, runSwitchboard, startSipp } from '../sipp/sipp.js';
import { exampleConfig, freePorts, startServe, type TraceMsg } from './callflow-harness.js';

/** Child processes of `pid`, from /proc (no procps needed). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Sends issue 12's crash packet over UDP and resolves with the reply's text ('' after 2 s). */
async function crashPacketReply(port: number, callId: string): Promise<string> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const text = [
    'INVITE sip:bob@127.0.0.1 SIP/2.0',
    `Via: SIP/2.0/UDP 127.0.0.1:${sock.address().port};branch=z9hG4bK-${callId};rport`,
    'Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKq;x="open',
    'From: <sip:alice@127.0.0.1>;tag=a',
    'To: <sip:bob@127.0.0.1>',
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  try {
    return await new Promise<string>((resolve) => {
      const t = setTimeout(() => resolve(''), 2000);
      sock.once('message', (m) => {
        clearTimeout(t);
        resolve(m.toString());
      });
      sock.send(text, port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

/** Call-ID → the workers that received a message of it. */
function workersByCallId(trace: TraceMsg[]): Map<string, Set<string>> {
  const m = new Map<string, Set<string>>();
  for (const t of trace) {
    if (t.dir !== 'Received' || !t.callId) continue;
    let s = m.get(t.callId);
    if (!s) m.set(t.callId, (s = new Set()));
    s.add(t.hop);
  }
  return m;
}

async function calls(proxyPort: number, uasPort: number, uacPort: number, n: number, lost?: number): Promise<void> {
  const uas = await startSipp({ scenario: 'uas', localPort: uasPort, transport: 'u1', timeoutS: 180 });
  try {
    const uac = await runSipp({
      scenario: 'uac', target: `127.0.0.1:${proxyPort}`, localPort: uacPort, transport: 'u1',
      calls: n, rate: lost ? 20 : 50, lost, timeoutS: 150, extra: ['-default_behaviors', 'all,-abortunexp'],
    });
    const u = await uas.finish(lost ? 6_000 : 20_000);
    const msg = `--- uac ---\n${describeSipp(uac)}\n--- uas ---\n${describeSipp(u)}`;
    assert.equal(uac.code, 0, msg);
    assert.equal(uac.successful, n, msg);
    assert.equal(uac.failed, 0, msg);
    if (!lost) assert.equal(u.successful, n, msg);
  } finally {
    await uas.stop();
  }
}

test('workers: 2 — SIPp calls with 10 % loss, each call handled by one worker; crash restart; clean stop', { timeout: 360_000 }, async () => {
  const [proxyPort, uasPort, uacPort] = (await freePorts(3)) as [number, number, number];
  const cfg = exampleConfig('proxy-bench', { 5070: proxyPort, 5090: uasPort }, (t) => `${t}workers: 2\n`);
  const server = await startServe(cfg.path, { udpPorts: [proxyPort], hop: 'primary', maxLifetimeMs: 330_000 });
  try {
    await until(() => /running 2 workers/.test(server.output().stdout), 5_000, 'the primary to report its workers');
    const workers = childPids(server.pid);
    assert.equal(workers.length, 2, `two worker processes under ${server.pid}`);

    await calls(proxyPort, uasPort, uacPort, 100, 10);
    const trace = server.trace();
    const byCall = workersByCallId(trace);
    assert.ok(byCall.size >= 50, `calls traced: ${byCall.size}`);
    const split = [...byCall].filter(([, s]) => s.size > 1);
    assert.deepEqual(split.map(([c, s]) => `${c}: ${[...s].join(',')}`), [], 'every Call-ID stays with one worker');
    const used = new Set([...byCall.values()].flatMap((s) => [...s]));
    assert.deepEqual([...used].sort(), ['worker-0', 'worker-1'], 'both workers carried calls');
    // A worker's forwarded INVITE leaves from its own port and names it in the Via, and the uas's
    // responses come back to that port, not to the shared one.
    const port = (hp: string) => Number(hp.slice(hp.lastIndexOf(':') + 1));
    const invites = trace.filter((t) => t.dir === 'Sent' && t.method === 'INVITE' && t.remotePort === uasPort);
    assert.ok(invites.length > 0, 'forwarded INVITEs traced');
    for (const t of invites) {
      const via = t.headers.find(([k]) => k.toLowerCase() === 'via' || k === 'v')?.[1] ?? '';
      const viaPort = Number(/^SIP\/2\.0\/UDP [^:;\s]+:(\d+)/i.exec(via)?.[1]);
      assert.equal(viaPort, port(t.local), `Via names the sending socket: ${via} (sent from ${t.local})`);
      assert.notEqual(viaPort, proxyPort, 'not the shared listener');
    }
    const fromUas = trace.filter((t) => t.dir === 'Received' && t.kind === 'response' && t.remotePort === uasPort);
    assert.ok(fromUas.length > 0 && fromUas.every((t) => port(t.local) !== proxyPort), 'responses from the uas reach the worker ports');

    // Issue 12's packet (a second Via with an unterminated quote), to whichever worker owns its
    // Call-ID: a 400 naming the Via, and every worker still the one it was.
    for (let i = 0; i < 4; i++) {
      const reply = await crashPacketReply(proxyPort, `crash-${i}-${Date.now()}`);
      assert.match(reply, /^SIP\/2\.0 400 [^\r\n]*Via/, reply);
    }
    assert.deepEqual(childPids(server.pid).sort(), [...workers].sort(), 'no worker died for the packet');
    assert.doesNotMatch(server.output().stderr, /exited with/, server.output().stderr.slice(-2000));

    // A worker killed outright is replaced under the same index; calls go on passing.
    process.kill(workers[0]!, 'SIGKILL');
    await until(() => /worker-\d restarted/.test(server.output().stderr), 20_000, 'the replacement worker');
    const now = childPids(server.pid);
    assert.equal(now.length, 2, 'two workers again');
    assert.ok(!now.includes(workers[0]!), 'the killed worker was replaced');
    await calls(proxyPort, uasPort, uacPort, 40);

    // SIGTERM to the primary: every worker stops, exit code 0.
    const st = await server.stop(15_000);
    assert.deepEqual(st, { code: 0, signal: null }, server.output().stderr.slice(-2000));
    await until(() => now.every((p) => !alive(p)), 5_000, 'the workers to exit');
  } finally {
    await server.stop();
    cfg.cleanup();
  }
});

test('workers: 2 on a UDP port already in use: one line on stderr, exit 1, no worker left behind', { timeout: 60_000 }, async () => {
  const [port] = (await freePorts(1)) as [number];
  const busy = dgram.createSocket('udp4');
  await new Promise<void>((r) => busy.bind(port, '127.0.0.1', () => r()));
  const cfg = exampleConfig('proxy-bench', { 5070: port }, (t) => `${t}workers: 2\n`);
  try {
    const r = await runSwitchboard(['serve', '--config', cfg.path], 30_000);
    assert.equal(r.timedOut, false, r.stderr);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    const lines = r.stderr.split('\n').filter((l) => l.length > 0);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`^switchboard: cannot listen on udp:127\\.0\\.0\\.1:${port}: EADDRINUSE`));
  } finally {
    busy.close();
    cfg.cleanup();
  }
});
