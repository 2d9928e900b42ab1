/**
 * Issue 12 on the wire: the project's own torture corpus (`test/conformance/torture/`, see its
 * README.md and MANIFEST.tsv) sent to a running `switchboard serve` (roles registrar + proxy,
 * store sqlite in a temp file, listeners udp + tcp + ws on free ports of 127.0.0.1).
 *
 * Every manifest row is sent once per transport it names, on a fresh UDP socket, TCP
 * connection or WebSocket (subprotocol `sip`, RFC 7118), and judged by its `expect` column:
 * a status (the first final response), `drop` (nothing comes back) or `pong` (a lone CRLF,
 * RFC 5626 §3.5.1); a `reason` fragment must appear in the reason phrase (RFC 3261 §21.4.1).
 * Afterwards the server must still run and answer an OPTIONS with 200 over UDP and over the
 * transport used. A final response to an INVITE is ACKed (RFC 3261 §17.1.1.3).
 *
 * A case that kills the server fails; the next case starts a fresh server (new free ports), so
 * one crash does not hide the results of the others. What happened is printed as a test
 * diagnostic (`# got …`); TORTURE_SUMMARY=FILE also writes every outcome there as JSON.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { freePorts, startServe, writeConfig, type TempConfig, type TracedProcess } from '../interop/callflows/callflow-harness.js';
import { type WireMessage, findRepoRoot, firstViaValue, header, headerAll, readMessage } from './wire-helpers.js';

const repoRoot = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));
const CORPUS = path.join(repoRoot, 'test/conformance/torture');

/** Longest wait for a final response on loopback. */
const FINAL_MS = 1500;
/** After a final response: keep listening (a duplicate, a late crash on a 200 ms timer). */
const GRACE_MS = 250;
/** "Nothing comes back" cases wait this long. */
const DROP_MS = 700;
const PROBE_MS = 2000;

type Transport = 'udp' | 'tcp' | 'ws';

interface Row {
  file: string;
  transports: Transport[];
  expect: string;
  reasons: string[];
  rfc: string;
  title: string;
}

function readManifest(): Row[] {
  const lines = fs.readFileSync(path.join(CORPUS, 'MANIFEST.tsv'), 'utf8').split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() !== '');
  const head = lines[0]!.split('\t');
  const col = (n: string): number => {
    const i = head.indexOf(n);
    if (i < 0) throw new Error(`MANIFEST.tsv has no "${n}" column`);
    return i;
  };
  const [f, tr, ex, re, rf, ti] = ['file', 'transports', 'expect', 'reason', 'rfc', 'title'].map(col) as [number, number, number, number, number, number];
  return lines.slice(1).map((l) => {
    const c = l.split('\t');
    return {
      file: c[f]!,
      transports: c[tr]!.split(',').map((s) => s.trim() as Transport),
      expect: c[ex]!,
      reasons: c[re] === '-' || !c[re] ? [] : c[re]!.split('|').map((s) => s.trim()),
      rfc: c[rf]!,
      title: c[ti]!,
    };
  });
}

const ROWS = readManifest();

// ---- the server ---------------------------------------------------------------------------

interface Server {
  proc: TracedProcess;
  cfg: TempConfig;
  dbDir: string;
  port: number;
  wsPort: number;
}

let server: Server | undefined;
const allServers: Server[] = [];

async function startServer(): Promise<Server> {
  const [port, wsPort] = (await freePorts(2)) as [number, number];
  const dbDir = fs.mkdtempSync(path.join(os.tmpdir(), 'torture-db-'));
  const cfg = writeConfig(`store: sqlite
db: ${JSON.stringify(path.join(dbDir, 'switchboard.db'))}
listen: [udp:127.0.0.1:${port}, tcp:127.0.0.1:${port}, ws:127.0.0.1:${wsPort}]
domains: [127.0.0.1]
roles: [registrar, proxy]
`);
  const proc = await startServe(cfg.path, { udpPorts: [port], tcpPorts: [port, wsPort], maxLifetimeMs: 120_000 });
  const s = { proc, cfg, dbDir, port, wsPort };
  allServers.push(s);
  return s;
}

/** The running server; a fresh one if the last case killed it (noted in `notes`). */
async function ensureServer(notes: string[]): Promise<Server> {
  if (server && server.proc.exitStatus() === null) return server;
  if (server) notes.push(`(a previous case killed the server: started a fresh one)`);
  server = await startServer();
  return server;
}

function exitText(s: Server): string | undefined {
  const st = s.proc.exitStatus();
  if (st === null) return undefined;
  const errs = s.proc.output().stderr.split('\n').filter((l) => /^(switchboard: |[A-Za-z]*Error\b)/.test(l));
  return `server exited (code ${st.code}${st.signal ? `, signal ${st.signal}` : ''})${errs.length ? `: ${errs.slice(-2).join(' / ')}` : ''}`;
}

function portFor(s: Server, t: Transport): number {
  return t === 'ws' ? s.wsPort : s.port;
}

// ---- clients ------------------------------------------------------------------------------

type Event = { kind: 'msg'; msg: WireMessage; at: number } | { kind: 'crlf'; at: number } | { kind: 'junk'; raw: Buffer; at: number };

/** Splits a byte stream into SIP messages and the CRLFs between them (keep-alive pongs). */
class Splitter {
  private buf = Buffer.alloc(0);
  push(chunk: Buffer): Event[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: Event[] = [];
    for (;;) {
      if (this.buf.length >= 2 && this.buf[0] === 0x0d && this.buf[1] === 0x0a) {
        out.push({ kind: 'crlf', at: Date.now() });
        this.buf = this.buf.subarray(2);
        continue;
      }
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return out;
      const head = this.buf.subarray(0, end).toString('latin1');
      const cl = /\r\n(?:content-length|l)[ \t]*:[ \t]*(\d+)/i.exec(head);
      const len = end + 4 + (cl ? Number(cl[1]) : 0);
      if (this.buf.length < len) return out;
      const raw = this.buf.subarray(0, len);
      this.buf = this.buf.subarray(len);
      const m = readMessage(raw);
      out.push(m ? { kind: 'msg', msg: m, at: Date.now() } : { kind: 'junk', raw, at: Date.now() });
    }
  }
}

abstract class Client {
  readonly events: Event[] = [];
  closed = false;
  localPort = 0;
  private waiters: Array<() => void> = [];
  constructor(readonly transport: Transport) {}
  protected add(evs: Event[]): void {
    this.events.push(...evs);
    this.wake();
  }
  protected wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  abstract send(b: Buffer): void;
  abstract close(): Promise<void>;
  msgs(): WireMessage[] {
    return this.events.flatMap((e) => (e.kind === 'msg' ? [e.msg] : []));
  }
  /** Resolves when done() holds or after ms (polled every 50 ms too: a server exit is no event here). */
  async waitFor(done: () => boolean, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
}

class UdpClient extends Client {
  private constructor(private readonly sock: dgram.Socket, private readonly port: number) {
    super('udp');
    this.localPort = sock.address().port;
    sock.on('message', (b: Buffer) => {
      if (/^(\r\n)+$/.test(b.toString('latin1'))) return this.add([{ kind: 'crlf', at: Date.now() }]);
      const m = readMessage(b);
      this.add([m ? { kind: 'msg', msg: m, at: Date.now() } : { kind: 'junk', raw: b, at: Date.now() }]);
    });
  }
  static open(port: number): Promise<UdpClient> {
    return new Promise((resolve, reject) => {
      const s = dgram.createSocket('udp4');
      s.once('error', reject);
      s.bind(0, '127.0.0.1', () => {
        s.removeListener('error', reject);
        s.on('error', () => undefined);
        resolve(new UdpClient(s, port));
      });
    });
  }
  send(b: Buffer): void {
    this.sock.send(b, this.port, '127.0.0.1');
  }
  close(): Promise<void> {
    return new Promise((r) => {
      try {
        this.sock.close(() => r());
      } catch {
        r();
      }
    });
  }
}

class TcpClient extends Client {
  private readonly splitter = new Splitter();
  private constructor(private readonly sock: net.Socket) {
    super('tcp');
    this.localPort = sock.localPort ?? 0;
    sock.on('data', (b: Buffer) => this.add(this.splitter.push(b)));
    const onClose = (): void => {
      this.closed = true;
      this.wake();
    };
    sock.on('close', onClose);
    sock.on('error', onClose);
  }
  static open(port: number): Promise<TcpClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => {
        s.removeListener('error', reject);
        resolve(new TcpClient(s));
      });
      s.once('error', reject);
    });
  }
  send(b: Buffer): void {
    if (!this.closed) this.sock.write(b);
  }
  close(): Promise<void> {
    return new Promise((r) => {
      if (this.sock.destroyed) return r();
      this.sock.once('close', () => r());
      this.sock.end();
      setTimeout(() => {
        this.sock.destroy();
        r();
      }, 200).unref();
    });
  }
}

class WsClient extends Client {
  private constructor(private readonly ws: WebSocket) {
    super('ws');
    this.localPort = (ws as unknown as { _socket?: net.Socket })._socket?.localPort ?? 0;
    // RFC 7118 §5: one SIP message per WebSocket message, text or binary.
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      const b = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      const m = readMessage(b);
      this.add([m ? { kind: 'msg', msg: m, at: Date.now() } : { kind: 'junk', raw: b, at: Date.now() }]);
    });
    ws.on('close', () => {
      this.closed = true;
      this.wake();
    });
    ws.on('error', () => undefined);
  }
  static open(port: number): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`, 'sip', { handshakeTimeout: 3000 });
      ws.once('open', () => {
        ws.removeAllListeners('error');
        if (ws.protocol !== 'sip') reject(new Error(`WebSocket subprotocol "${ws.protocol}", not "sip" (RFC 7118 §4.1)`));
        else resolve(new WsClient(ws));
      });
      ws.once('error', reject);
    });
  }
  send(b: Buffer): void {
    if (!this.closed) this.ws.send(b, { binary: !isUtf8(b) });
  }
  close(): Promise<void> {
    return new Promise((r) => {
      if (this.closed) return r();
      this.ws.once('close', () => r());
      this.ws.close();
      setTimeout(() => {
        this.ws.terminate();
        r();
      }, 200).unref();
    });
  }
}

function openClient(t: Transport, s: Server): Promise<Client> {
  const port = portFor(s, t);
  return t === 'udp' ? UdpClient.open(port) : t === 'tcp' ? TcpClient.open(port) : WsClient.open(port);
}

// ---- messages -----------------------------------------------------------------------------

const rand = (n = 6): string => randomBytes(n).toString('hex');

/** The corpus file with its placeholders filled (see torture/README.md). */
function fill(file: string, s: Server, c: Client): Buffer {
  const text = fs.readFileSync(path.join(CORPUS, file), 'latin1');
  const vars: Record<string, string> = {
    PORT: String(portFor(s, c.transport)),
    LPORT: String(c.localPort),
    TRANSPORT: c.transport.toUpperCase(),
    BRANCH: `z9hG4bK${rand()}`,
    CALLID: `${rand()}@torture.invalid`,
    TAG: rand(4),
    NUL: '\0',
    CR: '\r',
  };
  return Buffer.from(text.replace(/\{\{([A-Z]+)\}\}/g, (all, k: string) => vars[k] ?? all), 'latin1');
}

function options(s: Server, c: Client): Buffer {
  const port = portFor(s, c.transport);
  return Buffer.from(
    [
      `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
      `Via: SIP/2.0/${c.transport.toUpperCase()} 127.0.0.1:${c.localPort};branch=z9hG4bK${rand()};rport`,
      'Max-Forwards: 70',
      `From: <sip:probe@client.invalid>;tag=${rand(4)}`,
      `To: <sip:127.0.0.1:${port}>`,
      `Call-ID: probe-${rand()}@torture.invalid`,
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

/** Hop-by-hop ACK for a non-2xx final response to an INVITE (RFC 3261 §17.1.1.3), or undefined. */
function ackFor(reqBytes: Buffer, res: WireMessage): Buffer | undefined {
  const req = readMessage(Buffer.from(reqBytes.toString('latin1').replace(/^(\r\n)+/, ''), 'latin1'));
  const via = req ? headerAll(req, 'via')[0] : undefined;
  const [from, to, callId, cseq] = [req && header(req, 'from'), header(res, 'to'), req && header(req, 'call-id'), req && header(req, 'cseq')];
  if (!req || !via || !from || !to || !callId || !cseq) return undefined;
  const uri = req.startLine.split(' ')[1];
  return Buffer.from(
    [`ACK ${uri} SIP/2.0`, `Via: ${firstViaValue(via)}`, 'Max-Forwards: 70', `From: ${from}`, `To: ${to}`, `Call-ID: ${callId}`, `CSeq: ${cseq.split(/\s+/)[0]} ACK`, 'Content-Length: 0', '', ''].join('\r\n'),
    'latin1',
  );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An OPTIONS over a fresh client of transport t: undefined when answered 200, else what happened. */
async function probe(s: Server, t: Transport): Promise<string | undefined> {
  let c: Client;
  try {
    c = await openClient(t, s);
  } catch (e) {
    return `${t} probe: cannot connect (${(e as Error).message})`;
  }
  try {
    c.send(options(s, c));
    const final = (): WireMessage | undefined => c.msgs().find((m) => (m.status ?? 0) >= 200);
    await c.waitFor(() => final() !== undefined || c.closed || s.proc.exitStatus() !== null, PROBE_MS);
    const f = final();
    if (f?.status === 200) return undefined;
    return `${t} OPTIONS probe: ${f ? `got ${f.startLine}` : c.closed ? 'connection closed, no answer' : 'no answer'}`;
  } finally {
    await c.close();
  }
}

// ---- the cases ----------------------------------------------------------------------------

interface Outcome {
  file: string;
  transport: Transport;
  expect: string;
  got: string;
  alive: string;
  pass: boolean;
  failures: string[];
}

const outcomes: Outcome[] = [];

function describeEvents(c: Client): string {
  if (c.events.length === 0) return c.closed ? 'no answer, connection closed' : 'no answer';
  return c.events
    .map((e) => (e.kind === 'crlf' ? 'CRLF' : e.kind === 'junk' ? `unreadable ${e.raw.length} bytes` : JSON.stringify(e.msg.startLine)))
    .join(', ') + (c.closed ? ', then connection closed' : '');
}

async function runCase(t: TestContext, row: Row, transport: Transport): Promise<void> {
  const notes: string[] = [];
  const failures: string[] = [];
  const s = await ensureServer(notes);
  const c = await openClient(transport, s);
  const bytes = fill(row.file, s, c);
  const finalRes = (): WireMessage | undefined => c.msgs().find((m) => (m.status ?? 0) >= 200);
  const dead = (): boolean => s.proc.exitStatus() !== null;
  try {
    c.send(bytes);
    if (/^\d{3}$/.test(row.expect)) {
      await c.waitFor(() => finalRes() !== undefined || c.closed || dead(), FINAL_MS);
      if (finalRes()) await sleep(GRACE_MS);
    } else {
      await sleep(DROP_MS);
    }
    const got = describeEvents(c);
    const f = finalRes();

    if (/^\d{3}$/.test(row.expect)) {
      if (!f) failures.push(`expected ${row.expect}, got ${got}`);
      else {
        if (f.status !== Number(row.expect)) failures.push(`expected ${row.expect}, got ${f.startLine}`);
        if (row.reasons.length && !row.reasons.some((r) => (f.reason ?? '').toLowerCase().includes(r.toLowerCase()))) {
          failures.push(`reason phrase "${f.reason}" does not name ${row.reasons.map((r) => `"${r}"`).join(' or ')} (RFC 3261 §21.4.1)`);
        }
        // Answer the final response to an INVITE (hop-by-hop ACK), so nothing keeps retransmitting.
        if (/^\S+ INVITE$/i.test(header(f, 'cseq') ?? '') && f.status! >= 300) {
          const ack = ackFor(bytes, f);
          if (ack) c.send(ack);
        }
      }
    } else if (row.expect === 'drop') {
      if (c.events.length > 0) failures.push(`expected no answer, got ${got}`);
    } else if (row.expect === 'pong') {
      const crlfs = c.events.filter((e) => e.kind === 'crlf').length;
      if (crlfs !== 1 || c.events.length !== 1) failures.push(`expected exactly one CRLF pong, got ${got}`);
      // The connection stays usable after a keep-alive (RFC 5626 §3.5.1).
      if (!c.closed && !dead()) {
        const before = c.msgs().length;
        c.send(options(s, c));
        await c.waitFor(() => c.msgs().length > before || c.closed || dead(), PROBE_MS);
        const r = c.msgs()[before];
        if (r?.status !== 200) failures.push(`OPTIONS on the same connection after the ping: ${r ? r.startLine : 'no answer'}`);
      } else if (c.closed) failures.push('the server closed the connection after the ping');
    } else throw new Error(`MANIFEST.tsv: unknown expect "${row.expect}" for ${row.file}`);

    // Alive: not exited, answers OPTIONS over UDP and over this case's transport.
    const alive: string[] = [];
    const ex0 = exitText(s);
    if (ex0) alive.push(ex0);
    else {
      for (const tr of new Set<Transport>(['udp', transport])) {
        const p = await probe(s, tr);
        if (p) alive.push(p);
      }
      const ex1 = exitText(s);
      if (ex1) alive.push(ex1);
    }
    failures.push(...alive);

    const gotText = `${got}${notes.length ? ` ${notes.join(' ')}` : ''}`;
    t.diagnostic(`got: ${gotText}; ${alive.length ? alive.join('; ') : 'server alive (OPTIONS 200)'}`);
    outcomes.push({ file: row.file, transport, expect: row.expect, got: gotText, alive: alive.join('; ') || 'alive', pass: failures.length === 0, failures });
    assert.deepEqual(failures, [], `${row.file} over ${transport}:\n  ${failures.join('\n  ')}`);
  } finally {
    await c.close();
  }
}

function expectText(row: Row): string {
  if (row.expect === 'drop') return 'dropped, no answer';
  if (row.expect === 'pong') return 'CRLF pong';
  return `${row.expect}${row.reasons.length ? ` naming ${row.reasons.join(' / ')}` : ''}`;
}

before(async () => {
  server = await startServer();
});

after(async () => {
  for (const s of allServers) {
    await s.proc.stop();
    s.cfg.cleanup();
    fs.rmSync(s.dbDir, { recursive: true, force: true });
  }
  if (process.env.TORTURE_SUMMARY) fs.writeFileSync(process.env.TORTURE_SUMMARY, JSON.stringify(outcomes, null, 2));
});

test('torture corpus: every file listed once, CRLF line ends, Content-Length true to the body except where it is the point', () => {
  const files = fs.readdirSync(CORPUS).filter((f) => f.endsWith('.sip')).sort();
  assert.deepEqual([...ROWS.map((r) => r.file)].sort(), files, 'MANIFEST.tsv lists exactly the .sip files');
  for (const row of ROWS) {
    const text = fs.readFileSync(path.join(CORPUS, row.file), 'latin1');
    assert.ok(!/(^|[^\r])\n/.test(text), `${row.file}: a bare LF`);
    assert.ok(!/\r(?!\n)/.test(text), `${row.file}: a bare CR`);
    for (const t of row.transports) assert.ok(['udp', 'tcp', 'ws'].includes(t), `${row.file}: transport ${t}`);
    const msg = text.replace(/^(\r\n)+/, '');
    if (msg === '') continue; // the keep-alive ping
    const end = msg.indexOf('\r\n\r\n');
    assert.ok(end > 0, `${row.file}: no end of headers`);
    const cl = /\r\nContent-Length: (\d+)\r\n/i.exec(msg.slice(0, end + 2));
    assert.ok(cl, `${row.file}: no Content-Length`);
    const body = msg.slice(end + 4);
    assert.ok(!body.includes('{{'), `${row.file}: a placeholder in the body`);
    if (!row.reasons.includes('Content-Length')) assert.equal(Number(cl[1]), body.length, `${row.file}: Content-Length`);
  }
});

for (const row of ROWS) {
  for (const transport of row.transports) {
    test(`${row.rfc}: ${row.title} → ${expectText(row)} [${transport}] (${row.file})`, { timeout: 15_000 }, (t) => runCase(t, row, transport));
  }
}
