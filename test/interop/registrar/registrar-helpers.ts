// Helpers for the registrar interop tests: run `switchboard serve` / `location list` / `user …`
// as child processes, and talk to the server with raw UDP datagrams built by the test.
//
// The digest here is computed with node:crypto straight from RFC 3261 §22.4 / RFC 7616 §3.4.1,
// independently of src/auth, so a bug shared by our client and server code cannot hide.

import { createHash, randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isListening, startProcess, type Managed, type RunResult } from '../../harness/processes.js';
import { runSwitchboard, SWITCHBOARD_CLI } from '../sipp/sipp.js';

export { runSwitchboard, SWITCHBOARD_CLI };

/** A fresh temporary directory for one test file. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}

/** Write a YAML config (the text as given) into dir and return its path. */
export function writeConfig(dir: string, name: string, yaml: string): string {
  const p = join(dir, name);
  writeFileSync(p, yaml);
  return p;
}

export interface ServeOptions {
  port: number;
  db?: string;
  store?: string;
  config?: string;
  domain?: string;
  maxLifetimeMs?: number;
}

/** `switchboard serve … --listen udp:127.0.0.1:PORT`, ready once it printed its listening line. */
export async function startServe(o: ServeOptions): Promise<Managed> {
  const args = [SWITCHBOARD_CLI, 'serve', '--listen', `udp:127.0.0.1:${o.port}`, '--domain', o.domain ?? '127.0.0.1'];
  if (o.config) args.push('--config', o.config);
  if (o.db) args.push('--db', o.db);
  if (o.store) args.push('--store', o.store);
  return startProcess(process.execPath, args, {
    readyPattern: new RegExp(`listening on udp:127\\.0\\.0\\.1:${o.port}\\b`),
    readyCheck: () => isListening('udp', o.port),
    timeoutMs: 15_000,
    maxLifetimeMs: o.maxLifetimeMs ?? 5 * 60_000,
  });
}

/** Run a switchboard CLI command, failing with its output unless it exits 0. */
export async function cli(args: string[], timeoutMs = 30_000): Promise<RunResult> {
  const r = await runSwitchboard(args, timeoutMs);
  if (r.code !== 0 || r.timedOut) {
    throw new Error(`switchboard ${args.join(' ')} → code ${r.code}${r.timedOut ? ' (timed out)' : ''}\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}

export interface ListedBinding {
  aor: string;
  contact: string;
  expires: number;
  q: number;
  callId: string;
  cseq: number;
  received?: string;
  instanceId?: string;
  regId?: number;
  [k: string]: unknown;
}

/** `switchboard location list [AOR] --json` with the given store flags. */
export async function locationList(storeArgs: string[], aor?: string): Promise<ListedBinding[]> {
  const r = await cli(['location', 'list', ...(aor !== undefined ? [aor] : []), '--json', ...storeArgs]);
  return JSON.parse(r.stdout) as ListedBinding[];
}

// ---------------------------------------------------------------------------------------------
// SIP over raw UDP

export interface SipResponse {
  status: number;
  reason: string;
  /** Lower-cased header name → values in order (one entry per header line). */
  headers: Map<string, string[]>;
  raw: string;
}

const COMPACT: Record<string, string> = { m: 'contact', i: 'call-id', f: 'from', t: 'to', v: 'via', l: 'content-length' };

export function parseResponse(text: string): SipResponse {
  const head = text.split('\r\n\r\n')[0]!;
  const lines = head.split('\r\n');
  const m = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(lines[0]!);
  if (!m) throw new Error(`not a SIP response: ${JSON.stringify(lines[0])}`);
  const headers = new Map<string, string[]>();
  let last: { name: string; idx: number } | undefined;
  for (const line of lines.slice(1)) {
    if (/^[ \t]/.test(line) && last) {
      const arr = headers.get(last.name)!;
      arr[last.idx] = `${arr[last.idx]} ${line.trim()}`;
      continue;
    }
    const c = line.indexOf(':');
    if (c < 0) continue;
    let name = line.slice(0, c).trim().toLowerCase();
    name = COMPACT[name] ?? name;
    const arr = headers.get(name) ?? [];
    arr.push(line.slice(c + 1).trim());
    headers.set(name, arr);
    last = { name, idx: arr.length - 1 };
  }
  return { status: Number(m[1]), reason: m[2]!, headers, raw: text };
}

/** First value of a header (undefined if absent). */
export function header(r: SipResponse, name: string): string | undefined {
  return r.headers.get(name.toLowerCase())?.[0];
}

/** Split a comma-separated header value, ignoring commas inside <…> and "…". */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let angle = false;
  let quote = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (quote) {
      if (ch === '\\') {
        cur += ch + (value[i + 1] ?? '');
        i++;
        continue;
      }
      if (ch === '"') quote = false;
    } else if (ch === '"') quote = true;
    else if (ch === '<') angle = true;
    else if (ch === '>') angle = false;
    else if (ch === ',' && !angle) {
      out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** Every Contact of a response as {uri, params}, params lower-cased by name. */
export function responseContacts(r: SipResponse): Array<{ uri: string; params: Map<string, string | null> }> {
  const out: Array<{ uri: string; params: Map<string, string | null> }> = [];
  for (const v of r.headers.get('contact') ?? []) {
    for (const item of splitList(v)) {
      const m = /^(?:"[^"]*"\s*)?<([^>]*)>(.*)$/.exec(item);
      const uri = m ? m[1]! : item.split(';')[0]!;
      const rest = m ? m[2]! : item.slice(uri.length);
      const params = new Map<string, string | null>();
      for (const p of rest.split(';').slice(1)) {
        const eq = p.indexOf('=');
        if (eq < 0) params.set(p.trim().toLowerCase(), null);
        else params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim());
      }
      out.push({ uri, params });
    }
  }
  return out;
}

/** A UDP socket on 127.0.0.1 that sends requests and collects responses by Via branch. */
export class UdpSipClient {
  private readonly sock: dgram.Socket;
  private readonly waiting = new Map<string, (r: SipResponse) => void>();
  port = 0;

  private constructor() {
    this.sock = dgram.createSocket('udp4');
    this.sock.on('message', (msg) => {
      const text = msg.toString('latin1');
      let res: SipResponse;
      try {
        res = parseResponse(text);
      } catch {
        return; // a request (e.g. OPTIONS keep-alive): ignore
      }
      if (res.status < 200) return;
      const branch = /branch=([^;,\s]+)/i.exec(header(res, 'via') ?? '')?.[1];
      const w = branch ? this.waiting.get(branch) : undefined;
      if (w) {
        this.waiting.delete(branch!);
        w(res);
      }
    });
  }

  static async open(): Promise<UdpSipClient> {
    const c = new UdpSipClient();
    await new Promise<void>((resolve, reject) => {
      c.sock.once('error', reject);
      c.sock.bind(0, '127.0.0.1', () => {
        c.sock.off('error', reject);
        resolve();
      });
    });
    c.port = c.sock.address().port;
    return c;
  }

  /** `z9hG4bK` + random, for a Via. */
  static branch(): string {
    return `z9hG4bK-${randomBytes(8).toString('hex')}`;
  }

  /**
   * Send `text` (a complete request whose Via carries `branch`) to 127.0.0.1:port, retransmitting
   * like a non-INVITE client transaction (T1 doubling, capped at T2); resolves with the final response.
   */
  send(port: number, text: string | Buffer, branch: string, timeoutMs = 8000): Promise<SipResponse> {
    const buf = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
    return new Promise((resolve, reject) => {
      let interval = 500;
      let retrans: NodeJS.Timeout;
      const fire = (): void => {
        this.sock.send(buf, port, '127.0.0.1');
        retrans = setTimeout(fire, interval);
        interval = Math.min(interval * 2, 4000);
      };
      const timer = setTimeout(() => {
        clearTimeout(retrans);
        this.waiting.delete(branch);
        reject(new Error(`no final response within ${timeoutMs} ms to:\n${buf.toString('latin1')}`));
      }, timeoutMs);
      this.waiting.set(branch, (r) => {
        clearTimeout(timer);
        clearTimeout(retrans);
        resolve(r);
      });
      fire();
    });
  }

  close(): void {
    this.sock.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Digest (RFC 3261 §22.4, RFC 7616 §3.4.1), independent of src/auth

export type Algo = 'MD5' | 'SHA-256';

function h(algo: Algo, s: string): string {
  return createHash(algo === 'MD5' ? 'md5' : 'sha256').update(s, 'utf8').digest('hex');
}

export interface Challenge {
  realm: string;
  nonce: string;
  algorithm: Algo;
  qop?: string;
  stale?: string;
  opaque?: string;
}

/** Parse one `WWW-Authenticate: Digest …` value. */
export function parseChallenge(value: string): Challenge {
  if (!/^Digest\s/i.test(value)) throw new Error(`not a Digest challenge: ${value}`);
  const params: Record<string, string> = {};
  const re = /([a-zA-Z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  for (const m of value.slice(6).matchAll(re)) params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
  return {
    realm: params.realm!,
    nonce: params.nonce!,
    algorithm: (params.algorithm ?? 'MD5') as Algo,
    qop: params.qop,
    stale: params.stale,
    opaque: params.opaque,
  };
}

/** Every Digest challenge of a 401, in order. */
export function challenges(r: SipResponse): Challenge[] {
  return (r.headers.get('www-authenticate') ?? []).map(parseChallenge);
}

export interface Credentials {
  username: string;
  password: string;
  method: string;
  uri: string;
  challenge: Challenge;
  nc: number;
  cnonce?: string;
}

/** An `Authorization` header value (qop=auth when the challenge offers it). */
export function authorization(c: Credentials): string {
  const { realm, nonce, algorithm } = c.challenge;
  const ha1 = h(algorithm, `${c.username}:${realm}:${c.password}`);
  const ha2 = h(algorithm, `${c.method}:${c.uri}`);
  const q = (s: string) => `"${s.replace(/(["\\])/g, '\\$1')}"`;
  if (c.challenge.qop) {
    const nc = c.nc.toString(16).padStart(8, '0');
    const cnonce = c.cnonce ?? randomBytes(6).toString('hex');
    const response = h(algorithm, `${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
    return `Digest username=${q(c.username)}, realm=${q(realm)}, nonce=${q(nonce)}, uri=${q(c.uri)}, response=${q(response)}, algorithm=${algorithm}, qop=auth, nc=${nc}, cnonce=${q(cnonce)}`;
  }
  const response = h(algorithm, `${ha1}:${nonce}:${ha2}`);
  return `Digest username=${q(c.username)}, realm=${q(realm)}, nonce=${q(nonce)}, uri=${q(c.uri)}, response=${q(response)}, algorithm=${algorithm}`;
}

// ---------------------------------------------------------------------------------------------
// REGISTER builder

export interface RegisterSpec {
  /** Request-URI, e.g. sip:127.0.0.1 */
  ruri: string;
  /** To/From URI, e.g. sip:alice@127.0.0.1 */
  aorUri: string;
  callId: string;
  cseq: number;
  /** Contact header values (one header line each); [] = no Contact (a query). */
  contacts: string[];
  expires?: string;
  authorization?: string;
  extraHeaders?: string[];
  localPort: number;
  branch: string;
}

export function registerText(s: RegisterSpec): string {
  const lines = [
    `REGISTER ${s.ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${s.localPort};branch=${s.branch};rport`,
    `Max-Forwards: 70`,
    `From: <${s.aorUri}>;tag=${randomBytes(4).toString('hex')}`,
    `To: <${s.aorUri}>`,
    `Call-ID: ${s.callId}`,
    `CSeq: ${s.cseq} REGISTER`,
    ...s.contacts.map((c) => `Contact: ${c}`),
    ...(s.expires !== undefined ? [`Expires: ${s.expires}`] : []),
    ...(s.authorization ? [`Authorization: ${s.authorization}`] : []),
    ...(s.extraHeaders ?? []),
    `User-Agent: registrar-interop-test`,
    `Content-Length: 0`,
    '',
    '',
  ];
  return lines.join('\r\n');
}

export function newCallId(): string {
  return `${randomBytes(8).toString('hex')}@127.0.0.1`;
}

/**
 * One registering UA for the tests: keeps Call-ID, CSeq and the last nonce (with its nc), answers
 * a 401 once with credentials computed by {@link authorization}.
 */
export class TestUA {
  callId = newCallId();
  cseq = 0;
  challenge: Challenge | undefined;
  nc = 0;
  /** Algorithm to answer with when several are offered (default: the first one offered). */
  prefer: Algo | undefined;

  constructor(
    readonly client: UdpSipClient,
    readonly serverPort: number,
    readonly user: string,
    readonly password: string,
    readonly domain = '127.0.0.1',
    readonly aorUri = `sip:${user}@${domain}`,
  ) {}

  get ruri(): string {
    return `sip:${this.domain}`;
  }

  /** Send one REGISTER as is (credentials only if `withAuth` and a challenge is known). */
  async sendOnce(o: { contacts: string[]; expires?: string; cseq?: number; withAuth?: boolean; extraHeaders?: string[]; ruri?: string }): Promise<SipResponse> {
    const cseq = o.cseq ?? ++this.cseq;
    if (o.cseq !== undefined) this.cseq = Math.max(this.cseq, o.cseq);
    const branch = UdpSipClient.branch();
    const ruri = o.ruri ?? this.ruri;
    let auth: string | undefined;
    if (o.withAuth !== false && this.challenge) {
      auth = authorization({ username: this.user, password: this.password, method: 'REGISTER', uri: ruri, challenge: this.challenge, nc: ++this.nc });
    }
    const text = registerText({
      ruri,
      aorUri: this.aorUri,
      callId: this.callId,
      cseq,
      contacts: o.contacts,
      expires: o.expires,
      authorization: auth,
      extraHeaders: o.extraHeaders,
      localPort: this.client.port,
      branch,
    });
    const r = await this.client.send(this.serverPort, text, branch);
    if (r.status === 401) this.learn(r);
    return r;
  }

  /** Remember the challenge of a 401 (nc restarts at 0). */
  learn(r: SipResponse): void {
    const all = challenges(r);
    const pick = (this.prefer && all.find((c) => c.algorithm === this.prefer)) || all[0];
    if (pick) {
      this.challenge = pick;
      this.nc = 0;
    }
  }

  /** REGISTER, answering one 401 with credentials (like a UA does). */
  async register(o: { contacts: string[]; expires?: string; extraHeaders?: string[] }): Promise<SipResponse> {
    const r = await this.sendOnce(o);
    if (r.status !== 401) return r;
    return this.sendOnce(o);
  }
}
