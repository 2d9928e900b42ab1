// Helpers for the handbook call flows run end to end on loopback: a `--trace` parser (which
// message each hop sent or received), example configs copied with free ports, `serve` started
// as a child process (bounded, stopped by PID), and a raw UDP socket for hand-made requests.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as dgram from 'node:dgram';
import crypto from 'node:crypto';
import { freePortBoth, isListening, startProcess, type Managed, type RunResult } from '../../harness/processes.js';
import { SWITCHBOARD_CLI } from '../sipp/sipp.js';

export { SWITCHBOARD_CLI };

/** examples/ of the repository (the YAML sources, not copied by tsc). */
export const EXAMPLES_DIR = fileURLToPath(new URL('../../../../examples/', import.meta.url));

// ---------------------------------------------------------------------------------------------
// Trace parser

export interface TraceMsg {
  /** Server name (multi-server configs prefix every line with `NAME: `), else the default hop. */
  hop: string;
  dir: 'Sent' | 'Received';
  transport: string;
  local: string;
  remote: string;
  /** Port of the remote side (the peer this message went to / came from). */
  remotePort: number;
  kind: 'request' | 'response';
  method?: string;
  status?: number;
  reason?: string;
  requestUri?: string;
  cseq: number;
  cseqMethod: string;
  callId: string;
  /** Header lines (name, value) in order, the head only. */
  headers: Array<[string, string]>;
  text: string;
}

const TRACE_TIME = /^(?:[A-Za-z0-9_.-]+: )?\[\d{4}-\d\d-\d\dT[\d:.]+Z\]$/;
const LOG_LINE = /^switchboard: /;
const TRACE_HEAD = /^(?:([A-Za-z0-9_.-]+): )?(Sent|Received): ([A-Z]+) (\S+) -> (\S+) \((\d+) bytes\)$/gm;

/** Parses `--trace` output (stderr of `serve` / `call` / `answer`) into messages, in order. */
export function parseTrace(output: string, defaultHop = ''): TraceMsg[] {
  const heads = [...output.matchAll(TRACE_HEAD)];
  const msgs: TraceMsg[] = [];
  heads.forEach((m, i) => {
    const start = m.index! + m[0].length + 1;
    const end = i + 1 < heads.length ? heads[i + 1]!.index! : output.length;
    // What else the process writes between two messages — the time line that heads each message,
    // the server's log lines — is not part of the message.
    const text = output.slice(start, end).split('\n').filter((l) => !TRACE_TIME.test(l) && !LOG_LINE.test(l)).join('\n');
    const [hop, dir, transport, a, b] = [m[1] ?? defaultHop, m[2] as 'Sent' | 'Received', m[3]!, m[4]!, m[5]!];
    // Sent: local -> remote; Received: remote -> local.
    const local = dir === 'Sent' ? a : b;
    const remote = dir === 'Sent' ? b : a;
    const lines = text.split('\n');
    const first = lines[0] ?? '';
    const headers: Array<[string, string]> = [];
    for (const l of lines.slice(1)) {
      if (l.trim() === '') break;
      const c = l.indexOf(':');
      if (c > 0) headers.push([l.slice(0, c).trim(), l.slice(c + 1).trim()]);
    }
    const h = (n: string): string => headers.find(([k]) => k.toLowerCase() === n.toLowerCase())?.[1] ?? '';
    const cseq = h('CSeq').split(/\s+/);
    const msg: TraceMsg = {
      hop, dir, transport, local, remote,
      remotePort: Number(remote.slice(remote.lastIndexOf(':') + 1)),
      kind: first.startsWith('SIP/2.0 ') ? 'response' : 'request',
      cseq: Number(cseq[0] ?? NaN), cseqMethod: cseq[1] ?? '', callId: h('Call-ID') || h('i'), headers, text,
    };
    if (msg.kind === 'response') {
      const r = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(first);
      msg.status = r ? Number(r[1]) : NaN;
      msg.reason = r?.[2];
    } else {
      const r = /^(\S+) (\S+) SIP\/2\.0$/.exec(first);
      msg.method = r?.[1] ?? first.split(' ')[0];
      msg.requestUri = r?.[2];
    }
    msgs.push(msg);
  });
  return msgs;
}

/** All values of one header of a traced message. */
export function headerValues(m: TraceMsg, name: string): string[] {
  return m.headers.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
}

/** `INVITE`, `180`, `ACK` … — the method of a request or the status of a response. */
export function label(m: TraceMsg): string {
  return m.kind === 'request' ? m.method! : `${m.status}`;
}

/** One line per message, for assertion messages: `proxy-a Received INVITE (CSeq 1 INVITE) from :5160`. */
export function describe(msgs: TraceMsg[]): string {
  return msgs
    .map((m) => `${m.hop || '-'} ${m.dir} ${label(m).padEnd(8)} CSeq ${m.cseq} ${m.cseqMethod} ${m.dir === 'Sent' ? 'to' : 'from'} ${m.remote}`)
    .join('\n');
}

/**
 * The compact sequence one hop saw: `>INVITE` (received), `<180` (sent) … Retransmissions are
 * collapsed (a message equal to the previous one of the same hop, direction and label).
 */
export function sequence(msgs: TraceMsg[], filter: (m: TraceMsg) => boolean = () => true): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const m of msgs.filter(filter)) {
    const key = `${m.dir === 'Received' ? '>' : '<'}${label(m)}`;
    const id = `${key}|${m.cseq}|${m.cseqMethod}|${m.remote}`;
    if (seen.has(id)) continue; // retransmission
    seen.add(id);
    out.push(key);
  }
  return out;
}

/** Index of the first message matching pred (-1 if none). */
export function indexOf(msgs: TraceMsg[], pred: (m: TraceMsg) => boolean): number {
  return msgs.findIndex(pred);
}

export const isReq = (method: string) => (m: TraceMsg): boolean => m.kind === 'request' && m.method === method;
export const isRes = (status: number, cseqMethod?: string) => (m: TraceMsg): boolean =>
  m.kind === 'response' && m.status === status && (cseqMethod === undefined || m.cseqMethod === cseqMethod);

// ---------------------------------------------------------------------------------------------
// Configs with free ports

/** n distinct ports free for UDP and TCP on 127.0.0.1. */
export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n) {
    const p = await freePortBoth();
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

export interface TempConfig {
  path: string;
  text: string;
  cleanup(): void;
}

/**
 * Copies examples/NAME.yaml to a temp file, replacing every port in `ports` (old → new, as whole
 * numbers) and then applying `edit` to the text.
 */
export function exampleConfig(name: string, ports: Record<number, number>, edit: (text: string) => string = (t) => t): TempConfig {
  let text = readFileSync(join(EXAMPLES_DIR, `${name}.yaml`), 'utf8');
  for (const [from, to] of Object.entries(ports)) text = text.replace(new RegExp(`\\b${from}\\b`, 'g'), String(to));
  text = edit(text);
  return writeConfig(text);
}

export function writeConfig(text: string): TempConfig {
  const dir = mkdtempSync(join(tmpdir(), 'callflow-'));
  const path = join(dir, 'config.yaml');
  writeFileSync(path, text);
  return { path, text, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

// ---------------------------------------------------------------------------------------------
// Processes

export interface TracedProcess extends Managed {
  /** Messages traced so far (stderr parsed). */
  trace(): TraceMsg[];
}

function traced(m: Managed, defaultHop: string): TracedProcess {
  return Object.assign(m, { trace: () => parseTrace(m.output().stderr, defaultHop) });
}

/**
 * `switchboard serve --config FILE --trace`; ready once every UDP port in `udpPorts` is bound
 * and the last server printed its `serving domains` line.
 */
export async function startServe(configPath: string, opts: { udpPorts: number[]; tcpPorts?: number[]; hop?: string; maxLifetimeMs?: number }): Promise<TracedProcess> {
  const m = await startProcess(process.execPath, [SWITCHBOARD_CLI, 'serve', '--config', configPath, '--trace'], {
    readyPattern: /serving domains/,
    readyCheck: () => opts.udpPorts.every((p) => isListening('udp', p)) && (opts.tcpPorts ?? []).every((p) => isListening('tcp', p)),
    timeoutMs: 20_000,
    maxLifetimeMs: opts.maxLifetimeMs ?? 120_000,
  });
  return traced(m, opts.hop ?? 'server');
}

/** `switchboard answer --listen udp:127.0.0.1:PORT --trace` (a GW-B). */
export async function startAnswerUa(port: number, opts: { maxLifetimeMs?: number; args?: string[] } = {}): Promise<TracedProcess> {
  const m = await startProcess(process.execPath, [SWITCHBOARD_CLI, 'answer', '--listen', `udp:127.0.0.1:${port}`, '--trace', ...(opts.args ?? [])], {
    readyPattern: new RegExp(`listening on udp:127\\.0\\.0\\.1:${port}\\b`),
    readyCheck: () => isListening('udp', port),
    timeoutMs: 20_000,
    maxLifetimeMs: opts.maxLifetimeMs ?? 120_000,
  });
  return traced(m, 'gw-b');
}

export function describeRun(r: RunResult, max = 6000): string {
  const clip = (s: string): string => (s.length > max ? `[…]${s.slice(-max)}` : s);
  return `exit ${r.code}${r.signal ? ` signal ${r.signal}` : ''}${r.timedOut ? ' (timed out)' : ''}\n--- stdout ---\n${clip(r.stdout)}\n--- stderr ---\n${clip(r.stderr)}`;
}

// ---------------------------------------------------------------------------------------------
// Raw UDP

export interface RawMsg {
  text: string;
  firstLine: string;
  status?: number;
  method?: string;
  header(name: string): string | undefined;
  from: { address: string; port: number };
}

function parseRaw(text: string, from: { address: string; port: number }): RawMsg {
  const lines = text.split(/\r?\n/);
  const first = lines[0] ?? '';
  const head: Array<[string, string]> = [];
  for (const l of lines.slice(1)) {
    if (l === '') break;
    const c = l.indexOf(':');
    if (c > 0) head.push([l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).trim()]);
  }
  const st = /^SIP\/2\.0 (\d{3})/.exec(first);
  return {
    text, firstLine: first, from,
    status: st ? Number(st[1]) : undefined,
    method: st ? undefined : first.split(' ')[0],
    header: (n) => head.find(([k]) => k === n.toLowerCase())?.[1],
  };
}

/** A UDP socket on 127.0.0.1 that sends hand-made SIP messages and collects what comes back. */
export class RawUdp {
  readonly received: RawMsg[] = [];
  private waiters: Array<() => void> = [];
  private constructor(private readonly sock: dgram.Socket, readonly port: number) {
    sock.on('message', (b, rinfo) => {
      this.received.push(parseRaw(b.toString('utf8'), { address: rinfo.address, port: rinfo.port }));
      for (const w of [...this.waiters]) w();
    });
  }

  static open(port = 0): Promise<RawUdp> {
    return new Promise((resolve, reject) => {
      const s = dgram.createSocket('udp4');
      s.once('error', reject);
      s.bind(port, '127.0.0.1', () => resolve(new RawUdp(s, s.address().port)));
    });
  }

  send(text: string, port: number): Promise<void> {
    const data = Buffer.from(text.replace(/\r?\n/g, '\r\n'));
    return new Promise((resolve, reject) => this.sock.send(data, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }

  sendBytes(data: Buffer, port: number): Promise<void> {
    return new Promise((resolve, reject) => this.sock.send(data, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }

  /** The first message (received since `since`) matching pred; rejects after timeoutMs. */
  wait(pred: (m: RawMsg) => boolean, timeoutMs: number, since = 0): Promise<RawMsg> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = this.received.slice(since).find(pred);
        if (!m) return false;
        cleanup();
        resolve(m);
        return true;
      };
      const t = setTimeout(() => {
        cleanup();
        reject(new Error(`no matching message within ${timeoutMs} ms; received:\n${this.received.map((m) => m.firstLine).join('\n')}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(t);
        this.waiters = this.waiters.filter((w) => w !== listener);
      };
      const listener = (): void => void check();
      this.waiters.push(listener);
      check();
    });
  }

  close(): void {
    try {
      this.sock.close();
    } catch {
      /* closed */
    }
  }
}

export function rand(n = 8): string {
  return crypto.randomBytes(n).toString('hex');
}

/**
 * One REGISTER from a RawUdp socket (used where the CLI cannot set header parameters such as
 * `;q=`): Contact `<contact>;q=Q`; resolves with the final response.
 */
export async function rawRegister(sock: RawUdp, registrarPort: number, aor: string, contact: string, opts: { q?: number; expires?: number } = {}): Promise<RawMsg> {
  const callId = `${rand()}@127.0.0.1`;
  const branch = `z9hG4bK${rand()}`;
  const msg = [
    `REGISTER sip:127.0.0.1:${registrarPort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${sock.port};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <${aor}>;tag=${rand(4)}`,
    `To: <${aor}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 REGISTER',
    `Contact: <${contact}>${opts.q !== undefined ? `;q=${opts.q}` : ''}`,
    `Expires: ${opts.expires ?? 120}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\n');
  const since = sock.received.length;
  await sock.send(msg, registrarPort);
  return sock.wait((m) => m.header('Call-ID') === callId && (m.status ?? 0) >= 200, 5000, since);
}
