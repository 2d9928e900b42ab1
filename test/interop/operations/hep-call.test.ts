// HEP v3 export of a real call: `switchboard serve --hep udp:HOST:PORT` copies every SIP message
// it sends and receives to a collector — here a dgram socket of the test, each datagram decoded by
// test/harness/hep-decoder.ts (written from the HEP3 chunk table, independent of the encoder in
// src/observability/hep.ts, and strict: wrong sizes, repeated or unknown chunks, a missing
// mandatory chunk all fail). SIPp registers bob (digest), then SIPp's uac calls SIPp's uas (bob)
// through the proxy. What the collector got is compared with what the admin API lists for the
// call (/api/calls/:callId/messages, the server's own record of each message): one HEP packet per
// message, in order, with the right family, IP protocol 17 (UDP), addresses and ports in the
// direction the message travelled, the timestamp of the record, the capture id, correlation id =
// Call-ID, and the payload byte for byte (starting with the start line). Every other packet
// (the registration's) also decodes, and the count equals the messages the server buffered.
//  1. IPv4: `--hep udp:127.0.0.1:PORT` (the flag), default capture id 2001, no auth key.
//  2. IPv6: serve on udp:[::1]:PORT, the exporter from the config file (`hep: {target:
//     "udp:[::1]:PORT", captureId: 4242, password: …}`), SIPp on ::1 (`-i ::1`): family 10, the
//     16-byte ::1 addresses, capture id 4242, the auth key chunk. SIPp 3.6.1 writes the digest
//     uri of a REGISTER to an IPv6 target without brackets (`uri="sip:::1:PORT"`), which the
//     registrar rightly refuses; `-auth_uri [::1]:PORT` makes it `sip:[::1]:PORT`.
// Every process is stopped by its PID in `finally`; each test is bounded (20 s).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, isListening, startProcess, stopAll, type Managed } from '../../harness/processes.js';
import { decodeHep3, type HepPacket } from '../../harness/hep-decoder.js';
import { SCENARIO_DIR, SWITCHBOARD_CLI, describeSipp, runSipp, startSipp, type SippProcess } from '../sipp/sipp.js';
import { freePorts, writeConfig } from '../callflows/callflow-harness.js';

after(stopAll);
const tmp = mkdtempSync(join(tmpdir(), 'hep-call-'));
after(() => {
  if (process.env.KEEP_TMP !== '1') rmSync(tmp, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A HEP collector: every datagram decoded (or its decoding error kept). */
class Collector {
  readonly packets: HepPacket[] = [];
  readonly errors: string[] = [];
  private constructor(private readonly sock: dgram.Socket) {
    sock.on('message', (m) => {
      try {
        this.packets.push(decodeHep3(m));
      } catch (e) {
        this.errors.push((e as Error).message);
      }
    });
  }

  static async open(host: '127.0.0.1' | '::1'): Promise<Collector> {
    const sock = dgram.createSocket(host === '::1' ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, host, () => resolve());
    });
    return new Collector(sock);
  }

  get port(): number {
    return this.sock.address().port;
  }

  async waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`collector: ${what} not within ${timeoutMs} ms (${this.packets.length} packets, ${this.errors.length} undecodable)`);
      await sleep(50);
    }
  }

  close(): void {
    this.sock.close();
  }
}

interface MessageView {
  seq: number;
  ts: number;
  direction: 'sent' | 'received';
  transport: string;
  src: string;
  dst: string;
  startLine: string;
  callId: string;
  raw: string;
}

/** `127.0.0.1:5060` / `[::1]:5060` → host and port. */
function hostPort(text: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  return { host: text.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(text.slice(i + 1)) };
}

async function getJson(base: string, path: string): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200, path);
  return res.json();
}

interface Run {
  family: 4 | 6;
  /** 127.0.0.1 or ::1 */
  ip: string;
  /** The config file's lines besides the users and the proxy's (e.g. the hep key). */
  configExtra: (collectorPort: number) => string[];
  /** serve's extra flags (e.g. --hep). */
  flags: (collectorPort: number) => string[];
  captureId: number;
  password?: string;
}

/**
 * serve + collector + bob registered by SIPp + one SIPp call through the proxy; then every check
 * against the admin API's view of the call.
 */
async function callThroughProxy(run: Run): Promise<void> {
  const v6 = run.family === 6;
  const bracket = v6 ? `[${run.ip}]` : run.ip;
  let sip: number;
  let uasPort: number;
  let uacPort: number;
  if (v6) {
    sip = await freePort('udp', '::1');
    do uasPort = await freePort('udp', '::1'); while (uasPort === sip);
    do uacPort = await freePort('udp', '::1'); while (uacPort === sip || uacPort === uasPort);
  } else {
    [sip, uasPort, uacPort] = (await freePorts(3)) as [number, number, number];
  }
  const admin = await freePort('tcp');
  const base = `http://127.0.0.1:${admin}`;
  const collector = await Collector.open(run.ip as '127.0.0.1' | '::1');
  const config = writeConfig(['store: memory', 'users:', '  - {user: bob, password: bobpw}', 'proxy:', '  authenticate: false', ...run.configExtra(collector.port), ''].join('\n'));
  let server: Managed | undefined;
  let uas: SippProcess | undefined;
  const context = (): string => `--- serve ---\n${server?.output().stderr.slice(-4000) ?? ''}\n--- collector: ${collector.packets.length} packets; undecodable: ${collector.errors.join(' | ') || 'none'}`;
  try {
    server = await startProcess(
      process.execPath,
      [SWITCHBOARD_CLI, 'serve', '--config', config.path, '--listen', `udp:${bracket}:${sip}`, '--domain', run.ip, '--admin', `127.0.0.1:${admin}`, ...run.flags(collector.port)],
      {
        readyPattern: /admin: listening on http:\/\//,
        readyCheck: () => isListening('udp', sip) && isListening('tcp', admin),
        timeoutMs: 15_000,
        maxLifetimeMs: 30_000,
      },
    );
    assert.match(server.output().stderr, new RegExp(`HEP: every message sent and received goes to udp:${bracket.replace(/[[\].]/g, '\\$&')}:${collector.port} \\(capture id ${run.captureId}\\)`), context());

    // bob registers from the port his uas will answer on.
    const inf = join(tmp, `bob-${run.family}.inf`);
    writeFileSync(inf, `SEQUENTIAL\nbob;${bracket};[authentication username=bob password=bobpw]\n`);
    const reg = await runSipp({
      scenario: join(SCENARIO_DIR, 'register-digest-md5.xml'), target: `${bracket}:${sip}`, localIp: run.ip, localPort: uasPort, calls: 1, timeoutS: 8,
      extra: ['-inf', inf, ...(v6 ? ['-auth_uri', `${bracket}:${sip}`] : [])],
    });
    assert.equal(reg.code, 0, `SIPp REGISTER over ${run.ip}\n${describeSipp(reg)}\n${context()}`);

    uas = await startSipp({ scenario: 'uas', localIp: run.ip, localPort: uasPort, timeoutS: 20 });
    const uac = await runSipp({ scenario: 'uac', target: `${bracket}:${sip}`, localIp: run.ip, localPort: uacPort, calls: 1, timeoutS: 10, extra: ['-s', 'bob', '-d', '200'] });
    assert.equal(uac.code, 0, `SIPp uac over ${run.ip}\n${describeSipp(uac)}\n${context()}`);

    const calls = (await getJson(base, '/api/calls')).calls as Array<{ callId: string; state: string; to: string }>;
    assert.equal(calls.length, 1, JSON.stringify(calls));
    const callId = calls[0]!.callId;
    assert.equal(calls[0]!.state, 'ended');
    const msgs = (await getJson(base, `/api/calls/${encodeURIComponent(callId)}/messages`)).messages as MessageView[];
    assert.ok(msgs.length >= 13, `INVITE … BYE 200 on both sides: ${msgs.length} messages`);
    const ours = () => collector.packets.filter((p) => p.correlationId === callId);
    await collector.waitFor(() => ours().length >= msgs.length, 3000, `${msgs.length} packets for ${callId}`);
    await sleep(200); // anything extra would show up now
    const hep = ours();
    const listed = (xs: Array<{ line: string }>) => xs.map((x) => x.line).join('\n');
    const why = `API:\n${listed(msgs.map((m) => ({ line: `${m.seq} ${m.src} → ${m.dst} ${m.startLine}` })))}\nHEP:\n${listed(hep.map((p) => ({ line: `${p.src}:${p.srcPort} → ${p.dst}:${p.dstPort} ${p.payload.toString('latin1').split('\r\n')[0]}` })))}\n${context()}`;
    assert.deepEqual(collector.errors, [], `every datagram decodes\n${why}`);
    assert.equal(hep.length, msgs.length, `one HEP packet per message of the call\n${why}`);

    for (const [i, m] of msgs.entries()) {
      const p = hep[i]!;
      const at = `message #${m.seq} (${m.direction} ${m.startLine})`;
      assert.ok(p.payload.equals(Buffer.from(m.raw, 'utf8')), `${at}: the payload is the message, byte for byte\n${why}`);
      assert.ok(p.payload.toString('latin1').startsWith(`${m.startLine}\r\n`), `${at}: payload starts with the start line`);
      assert.equal(p.family, v6 ? 10 : 2, `${at}: family`);
      assert.equal(p.protocol, 17, `${at}: IP protocol 17 (UDP)`);
      assert.equal(p.protoType, 1, `${at}: protocol type 1 (SIP)`);
      assert.equal(p.captureId, run.captureId, `${at}: capture id`);
      assert.equal(p.password, run.password, `${at}: auth key chunk`);
      assert.equal(p.nodeName, undefined, `${at}: no node name configured`);
      assert.equal(p.correlationId, callId, `${at}: correlation id = Call-ID`);
      const src = hostPort(m.src);
      const dst = hostPort(m.dst);
      assert.deepEqual([p.src, p.srcPort, p.dst, p.dstPort], [src.host, src.port, dst.host, dst.port], `${at}: addresses in the direction it travelled\n${why}`);
      assert.equal(m.direction === 'sent' ? p.srcPort : p.dstPort, sip, `${at}: the server's end is its SIP port`);
      const expectBytes = v6 ? Buffer.from([...new Array<number>(15).fill(0), 1]) : Buffer.from([127, 0, 0, 1]);
      assert.ok(p.srcBytes.equals(expectBytes) && p.dstBytes.equals(expectBytes), `${at}: ${v6 ? '16' : '4'}-byte ${run.ip} addresses`);
      assert.ok(Math.abs(p.seconds * 1e6 + p.micros - Math.round(m.ts * 1000)) <= 1, `${at}: timestamp ${p.seconds}.${String(p.micros).padStart(6, '0')} is the record's (${m.ts} ms)`);
    }

    // Everything else (the registration) decodes too, with its own Call-ID as correlation id; and
    // the collector has one packet per message the server buffered.
    const stats = await getJson(base, '/api/stats');
    await collector.waitFor(() => collector.packets.length >= stats.messages.buffered, 2000, `${stats.messages.buffered} packets in all`);
    assert.equal(collector.packets.length, stats.messages.buffered, `one packet per message sent or received\n${context()}`);
    for (const p of collector.packets) {
      const header = /^(?:Call-ID|i)[ \t]*:[ \t]*(\S+)[ \t]*\r$/im.exec(p.payload.toString('latin1'));
      assert.equal(p.correlationId, header?.[1], `correlation id = the payload's Call-ID: ${p.payload.toString('latin1').split('\r\n')[0]}`);
      assert.match(p.payload.toString('latin1'), /^(?:[A-Z]+ \S+ SIP\/2\.0|SIP\/2\.0 \d{3} [^\r]*)\r\n/, 'a SIP start line first');
    }
    assert.ok(collector.packets.some((p) => p.payload.toString('latin1').startsWith('REGISTER ')), 'the REGISTERs are exported too');
  } finally {
    await uas?.stop();
    await server?.stop();
    collector.close();
    config.cleanup();
  }
}

test('HEP over IPv4: `serve --hep udp:127.0.0.1:PORT`, a SIPp call through the proxy, every message of it in order', { timeout: 20_000 }, async () => {
  await callThroughProxy({
    family: 4,
    ip: '127.0.0.1',
    configExtra: () => [],
    flags: (port) => ['--hep', `udp:127.0.0.1:${port}`],
    captureId: 2001,
  });
});

test('HEP over IPv6: serve on [::1] with `hep:` in the config (capture id, password), SIPp on ::1: family 10, 16-byte addresses', { timeout: 20_000 }, async () => {
  await callThroughProxy({
    family: 6,
    ip: '::1',
    configExtra: (port) => ['hep:', `  target: "udp:[::1]:${port}"`, '  captureId: 4242', '  password: hep-s3cret'],
    flags: () => [],
    captureId: 4242,
    password: 'hep-s3cret',
  });
});
