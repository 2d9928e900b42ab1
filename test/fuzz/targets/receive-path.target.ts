/**
 * Fuzz target: the whole receive path, bytes in → transport → transaction layer → UAS core /
 * registrar / proxy → bytes out, on the loopback. In Jazzer.js's format (a module exporting an
 * async `fuzz(data: Buffer)`), so the same compiled file runs under `jazzer` and under
 * scripts/fuzz/coverage-fuzz.mjs.
 *
 * The harness (started on the first call, in this process) is two real servers built by
 * {@link startServer} from configs validated by the config schema, roles registrar + proxy,
 * SQLite stores in a temporary folder, each listening on udp:127.0.0.1:0:
 *  - `open`: registrar and proxy without authentication, so requests reach the location
 *    service and the forwarding code;
 *  - `auth`: the defaults (REGISTER challenged, proxying authenticated), one user in the config,
 *    so Authorization / Proxy-Authorization values reach the digest code.
 *
 * Each input is sent as one datagram to each server from a client socket, followed by an
 * OPTIONS probe; the call returns when both probes are answered and each server has sent
 * something back for the input (or {@link SETTLE_MS} have passed).
 *
 * A crash, thrown from `fuzz` as {@link ReceivePathCrash}, is any of:
 *  - `uncaught-exception` / `unhandled-rejection`: what would end a real server process
 *    (the listeners below only *detect* them, so the fuzzer can report and go on);
 *  - `fault`: an exception a receive-path boundary caught and reported on the `sip:fault`
 *    diagnostics channel (the boundary keeps the process alive, but the message made a layer
 *    throw: a bug the boundary hides);
 *  - `no-answer`: a server no longer answers the OPTIONS probe within {@link PROBE_TIMEOUT_MS};
 *  - `bad-output`: a server sent a datagram that does not parse as a SIP message.
 * After a crash the servers are torn down and the next call starts fresh ones. A crash on a
 * timer (e.g. the 100 Trying deadline, 200 ms after an INVITE) surfaces during a later call:
 * see {@link settle}.
 *
 * Confinement: nothing leaves the loopback and no DNS query is made. The servers' resolver
 * answers every name that is not an IP literal with the client socket, stream destinations
 * become UDP ones, and every datagram a server sends goes to the client socket, whatever
 * address and port it was meant for (a Via, a Contact or a Route of a fuzzed message may name
 * any host; on a shared machine a datagram to another 127.0.0.1 port could reach somebody
 * else's server). These wrappers are set on the instances here, in the test harness only.
 */
import dgram from 'node:dgram';
import diagnostics from 'node:diagnostics_channel';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, type RunningServer } from '../../../src/app/server.js';
import { validateConfig } from '../../../src/app/config/config-schema.js';
import { SipParseError } from '../../../src/sip/errors.js';
import { parseMessage } from '../../../src/sip/parse/parse-message.js';

/** How long a server may take to answer the OPTIONS probe sent after an input. */
export const PROBE_TIMEOUT_MS = Number(process.env.FUZZ_PROBE_TIMEOUT_MS ?? 2000);
/** How long to wait, after the probes are answered, for a server's own reply to the input. */
export const SETTLE_MS = Number(process.env.FUZZ_SETTLE_MS ?? 10);
/** The largest UDP payload over IPv4; longer inputs are cut (the parser target sees them whole). */
const MAX_DATAGRAM = 65507;

export type CrashKind = 'uncaught-exception' | 'unhandled-rejection' | 'fault' | 'no-answer' | 'bad-output';

export interface Finding {
  kind: CrashKind;
  /** Which server, when known. */
  server?: string;
  error?: unknown;
  detail: string;
}

/** What `fuzz` throws for a crash: every finding of the input, the first one's stack as the cause. */
export class ReceivePathCrash extends Error {
  override name = 'ReceivePathCrash';
  /** Groups crashes of one bug: kind, error class and the first frames inside the project. */
  readonly signature: string;
  constructor(readonly findings: Finding[]) {
    super(findings.map((f) => `${f.kind}${f.server ? ` (${f.server})` : ''}: ${f.detail}`).join('\n'), { cause: findings[0]?.error });
    const f = findings[0]!;
    this.signature = `${f.kind}: ${signatureOf(f.error)}`;
    const inner = f.error instanceof Error ? f.error.stack : undefined;
    if (inner) this.stack = `${this.name}: ${this.message}\n--- first finding's stack ---\n${inner}`;
  }
}

/** Error class and the first two stack frames in the project's compiled code (no message: it often quotes the input). */
export function signatureOf(error: unknown): string {
  if (!(error instanceof Error)) return error === undefined ? '-' : typeof error;
  const frames = (error.stack ?? '')
    .split('\n')
    .filter((l) => /^\s+at /.test(l) && /\/dist\/(src|test)\//.test(l))
    .slice(0, 2)
    .map((l) => l.replace(/^.*\/dist\//, 'dist/').replace(/\)$/, ''));
  return `${error.name}${error instanceof SipParseError ? `(${error.code})` : ''} @ ${frames.join(' < ') || '?'}`;
}

/** One line for a finding, cut at 300 characters (an error message may quote a whole input). */
function describe(error: unknown): string {
  const s = error instanceof Error ? `${error.name}: ${error.message.split('\n')[0]}` : String(error);
  return s.length > 300 ? `${s.slice(0, 300)}… [${s.length - 300} more characters]` : s;
}

interface ServerSlot {
  name: string;
  server: RunningServer;
  port: number;
}

interface Harness {
  dir: string;
  client: dgram.Socket;
  clientPort: number;
  servers: ServerSlot[];
  findings: Finding[];
  /** Datagrams from each server's port since the last input was sent, and probe answers. */
  repliesFrom: Map<number, number>;
  probesAnswered: Set<string>;
  wake: (() => void) | undefined;
  detach: () => void;
}

let harness: Harness | undefined;
let starting: Promise<Harness> | undefined;
let tainted = false;
let seq = 0;

const NONCE_SECRET = 'switchboard-fuzz-nonce-secret-0001';
const DOMAINS = ['127.0.0.1', 'example.com', 'example.net', 'atlanta.example.com', 'biloxi.example.com'];

function configFor(name: 'open' | 'auth', dir: string) {
  const open = name === 'open';
  return validateConfig(
    {
      listen: ['udp:127.0.0.1:0'],
      domains: DOMAINS,
      roles: ['registrar', 'proxy'],
      store: 'sqlite',
      db: path.join(dir, `${name}.db`),
      // Short timers: retransmissions, Timers B, F, H, J (64·T1 = 640 ms) and the end of
      // transactions happen within a run, and a crash on a timer shows up soon after its input.
      timers: { T1: 10, T2: 40, T4: 50 },
      auth: { nonceSecret: NONCE_SECRET, realm: 'example.com' },
      // Bindings live 2 s at most: a crash that needs a registration then needs a recent one,
      // which the driver's triage replays (it replays the last few hundred inputs, not the run).
      registrar: { authenticate: !open, minExpires: 0, maxExpires: 2, defaultExpires: 2 },
      proxy: { authenticate: !open, recordRoute: true },
      users: open ? undefined : [{ user: 'alice', password: 'secret', domain: 'example.com' }],
    },
    `fuzz receive-path (${name})`,
  );
}

type Sendable = { send: (bytes: Buffer, address: string, port: number, onError?: (e: Error) => void) => void };
type Destination = { kind: string; address: string; port: number; hostname?: string };

/** Wraps the instance methods that pick where bytes go, so that everything stays on the loopback (see the file comment). */
function confine(server: RunningServer, clientPort: number): void {
  const t = server.transport as unknown as { udp?: Sendable[]; replyUdp?: Sendable[]; sendRequest: (req: unknown, dest: Destination, onError?: unknown) => void; onFault?: unknown };
  if (!Array.isArray(t.udp)) throw new Error('fuzz harness: TransportLayer has no `udp` socket list any more; update confine() in receive-path.target.ts');
  for (const u of [...t.udp, ...(t.replyUdp ?? [])]) {
    const send = u.send.bind(u);
    u.send = (bytes, _address, _port, onError) => send(bytes, '127.0.0.1', clientPort, onError);
  }
  const sendRequest = t.sendRequest.bind(t);
  t.sendRequest = (req, dest, onError) =>
    sendRequest(req, dest.kind === 'udp' ? dest : { kind: 'udp', address: '127.0.0.1', port: clientPort, hostname: dest.hostname }, onError);
  // Faults are reported on the sip:fault channel (subscribed below); no stderr line for each.
  if ('onFault' in t) t.onFault = () => {};
  // The sockets do not keep the process alive: Jazzer.js ends a run by letting the event loop
  // drain, and never calls close().
  for (const u of [...t.udp, ...(t.replyUdp ?? [])]) (u as { socket?: { unref?: () => void } }).socket?.unref?.();
  const resolver = server.element.uac.resolver as unknown as { resolveLocal: (u: unknown) => Destination[] | undefined; resolve: (u: unknown) => Promise<Destination[]> };
  resolver.resolve = async (uri) => resolver.resolveLocal(uri) ?? [{ kind: 'udp', address: '127.0.0.1', port: clientPort, hostname: (uri as { hostname?: string }).hostname }];
}

/** Temporary folders still to remove; Jazzer.js ends the process without calling close(). */
const dirs = new Set<string>();
let exitHook = false;

async function start(): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-fuzz-'));
  dirs.add(dir);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    });
  }
  const findings: Finding[] = [];
  const onUncaught = (error: unknown) => void findings.push({ kind: 'uncaught-exception', error, detail: describe(error) });
  const onRejection = (error: unknown) => void findings.push({ kind: 'unhandled-rejection', error, detail: describe(error) });
  const faults = diagnostics.channel('sip:fault');
  const onFault = (msg: unknown) => {
    const f = msg as { where?: string; error?: unknown; message?: string };
    findings.push({ kind: 'fault', error: f.error, detail: `in ${f.where ?? '?'}${f.message ? ` (${f.message})` : ''}: ${describe(f.error)}` });
  };
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onRejection);
  faults.subscribe(onFault);
  const detach = () => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onRejection);
    faults.unsubscribe(onFault);
  };

  const client = dgram.createSocket('udp4');
  const servers: ServerSlot[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('error', reject);
      client.bind(0, '127.0.0.1', () => {
        client.off('error', reject);
        resolve();
      });
    });
    client.unref();
    const clientPort = client.address().port;
    for (const name of ['open', 'auth'] as const) {
      const server = await startServer(configFor(name, dir));
      const port = server.transport.boundListeners.find((l) => l.kind === 'udp')!.port;
      confine(server, clientPort);
      servers.push({ name, server, port });
    }
    const h: Harness = {
      dir, client, clientPort, servers, findings, detach,
      repliesFrom: new Map(), probesAnswered: new Set(), wake: undefined,
    };
    client.on('message', (bytes, rinfo) => onDatagram(h, bytes, rinfo.port));
    return h;
  } catch (e) {
    detach();
    for (const s of servers) await s.server.stop().catch(() => {});
    client.close();
    fs.rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
    throw e;
  }
}

const PROBE_PREFIX = 'fuzz-probe-';

function onDatagram(h: Harness, bytes: Buffer, fromPort: number): void {
  const slot = h.servers.find((s) => s.port === fromPort);
  const text = bytes.toString('latin1', 0, Math.min(bytes.length, 4096));
  const probe = /\r\n(?:Call-ID|i)[ \t]*:[ \t]*(fuzz-probe-\d+-\w+)/i.exec(text);
  if (probe && text.startsWith('SIP/2.0 ')) h.probesAnswered.add(probe[1]!);
  else if (slot) h.repliesFrom.set(fromPort, (h.repliesFrom.get(fromPort) ?? 0) + 1);
  // Bytes out: whatever a server sends must be a SIP message, with the empty line that ends the
  // header section (RFC 3261 §7; without it a stream peer cannot frame the message).
  try {
    const m = parseMessage(bytes);
    if (!/\r?\n\r?\n$/.test(bytes.toString('latin1', Math.max(0, m.bodyStart - 4), m.bodyStart))) {
      throw new SipParseError('SIP_ERR_NO_HEADER_END', 400, 'message', 'no empty line after the header fields');
    }
  } catch (error) {
    h.findings.push({ kind: 'bad-output', server: slot?.name, error, detail: `sent ${bytes.length} bytes that are not a SIP message (${describe(error)}): ${JSON.stringify(text.slice(0, 300))}` });
  }
  h.wake?.();
}

function probe(h: Harness, slot: ServerSlot, n: number): { id: string; bytes: Buffer } {
  const id = `${PROBE_PREFIX}${n}-${slot.name}`;
  const bytes = Buffer.from(
    `OPTIONS sip:127.0.0.1:${slot.port} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:${h.clientPort};branch=z9hG4bK${id};rport\r\n` +
      'Max-Forwards: 70\r\n' +
      `From: <sip:probe@127.0.0.1>;tag=${n}\r\n` +
      `To: <sip:127.0.0.1:${slot.port}>\r\n` +
      `Call-ID: ${id}\r\n` +
      'CSeq: 1 OPTIONS\r\n' +
      'Content-Length: 0\r\n\r\n',
  );
  return { id, bytes };
}

/** Resolves when `done()` holds (checked on every datagram) or after `ms`; true if it holds. */
function until(h: Harness, done: () => boolean, ms: number): Promise<boolean> {
  if (done()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      h.wake = undefined;
      resolve(done());
    }, ms);
    h.wake = () => {
      if (!done()) return;
      clearTimeout(timer);
      h.wake = undefined;
      resolve(true);
    };
  });
}

/** Bumped by close(): a start that was under way when close() ran is shut down, not used. */
let generation = 0;

async function harnessReady(): Promise<Harness> {
  if (tainted) {
    tainted = false;
    await close();
  }
  if (harness) return harness;
  const gen = generation;
  starting ??= start();
  let h: Harness;
  try {
    h = await starting;
  } finally {
    starting = undefined;
  }
  if (gen !== generation) {
    await shutdown(h);
    return harnessReady();
  }
  harness = h;
  return h;
}

export async function fuzz(data: Buffer): Promise<void> {
  const h = await harnessReady();
  const n = ++seq;
  const bytes = data.length > MAX_DATAGRAM ? data.subarray(0, MAX_DATAGRAM) : data;
  h.repliesFrom.clear();
  h.probesAnswered.clear();
  const started = Date.now();
  const probes = h.servers.map((s) => probe(h, s, n));
  for (const [i, s] of h.servers.entries()) {
    h.client.send(bytes, s.port, '127.0.0.1');
    h.client.send(probes[i]!.bytes, s.port, '127.0.0.1');
  }
  const answered = await until(h, () => probes.every((p) => h.probesAnswered.has(p.id)), PROBE_TIMEOUT_MS);
  if (!answered) {
    for (const [i, s] of h.servers.entries()) {
      if (!h.probesAnswered.has(probes[i]!.id)) h.findings.push({ kind: 'no-answer', server: s.name, detail: `no answer to an OPTIONS probe within ${PROBE_TIMEOUT_MS} ms after the input` });
    }
  } else {
    // Asynchronous work (the SQLite group commit, a proxy's forwarding) ends with a reply.
    const left = SETTLE_MS - (Date.now() - started);
    if (left > 0) await until(h, () => h.servers.every((s) => (h.repliesFrom.get(s.port) ?? 0) > 0), left);
  }
  await new Promise((r) => setImmediate(r));
  report(h);
}

/** Throws what was found since the last call, and has the next call start fresh servers. */
function report(h: Harness): void {
  if (h.findings.length === 0) return;
  const found = h.findings.splice(0);
  tainted = true;
  throw new ReceivePathCrash(found);
}

/**
 * Waits `ms` and throws what was found meanwhile (not part of Jazzer's format). Some crashes
 * happen on a timer after the input was handled (the 100 Trying deadline, 200 ms; Timers
 * B, F, H, J at 64·T1 = 640 ms here): the driver's triage and the regression test wait with
 * this after an input to pin such a crash on it.
 */
export async function settle(ms: number): Promise<void> {
  const h = harness;
  if (!h) return;
  await new Promise((r) => setTimeout(r, ms));
  report(h);
}

/** Stops the servers and the client socket (not part of Jazzer's format; the driver and tests call it). */
export async function close(): Promise<void> {
  generation++;
  const h = harness ?? (starting ? await starting.catch(() => undefined) : undefined);
  harness = undefined;
  if (h) await shutdown(h);
}

const shutDown = new WeakSet<Harness>();

async function shutdown(h: Harness): Promise<void> {
  if (shutDown.has(h)) return;
  shutDown.add(h);
  h.detach();
  const bounded = (p: Promise<unknown>) => Promise.race([p.catch(() => {}), new Promise((r) => setTimeout(r, 3000).unref())]);
  await Promise.all(h.servers.map((s) => bounded(s.server.stop())));
  await bounded(new Promise<void>((r) => h.client.close(() => r())));
  fs.rmSync(h.dir, { recursive: true, force: true });
  dirs.delete(h.dir);
}
