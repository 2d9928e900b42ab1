/**
 * Helpers for the black-box wire conformance test (`wire.test.ts`): a tiny independent SIP
 * reader (the test must not trust the parser it is testing), TCP stream framing, a UDP inbox,
 * and the two byte-level rewrites the corpus README allows.
 */
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

export type Kind = 'valid' | 'invalid' | 'valid-but-should-be-handled-specially';

export interface Row {
  suite: string;
  file: string;
  section: string;
  kind: Kind;
  expected: string;
  transport: string;
}

export function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${start}`);
    dir = up;
  }
}

export function readManifest(dir: string, suite: string): Row[] {
  const text = fs.readFileSync(path.join(dir, suite, 'MANIFEST.tsv'), 'utf8');
  const lines = text.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim().length > 0);
  const header = lines[0]!.split('\t');
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`${suite}/MANIFEST.tsv has no "${name}" column`);
    return i;
  };
  const [fi, si, ki, ei, ti] = [col('file'), col('rfc_section'), col('kind'), col('expected_behaviour'), col('transport')];
  return lines.slice(1).map((l) => {
    const c = l.split('\t');
    return { suite, file: c[fi]!, section: c[si]!, kind: c[ki] as Kind, expected: c[ei] ?? '', transport: c[ti] ?? 'any' };
  });
}

// ---- a minimal, independent message reader -------------------------------------------------

const COMPACT: Record<string, string> = {
  i: 'call-id', v: 'via', f: 'from', t: 'to', l: 'content-length', m: 'contact', c: 'content-type', k: 'supported',
};

export interface WireMessage {
  startLine: string;
  /** Response status, or undefined for a request. */
  status?: number;
  reason?: string;
  method?: string;
  /** Unfolded header lines, names lower-cased and compact forms expanded. */
  headers: Array<[string, string]>;
  raw: Buffer;
}

export function header(m: WireMessage, name: string): string | undefined {
  return m.headers.find(([n]) => n === name)?.[1];
}

export function headerAll(m: WireMessage, name: string): string[] {
  return m.headers.filter(([n]) => n === name).map(([, v]) => v);
}

export function readMessage(raw: Buffer): WireMessage | undefined {
  const text = raw.toString('latin1');
  let end = text.indexOf('\r\n\r\n');
  if (end < 0) end = text.length;
  const lines = text.slice(0, end).replace(/\r\n[ \t]+/g, ' ').split('\r\n');
  const startLine = lines[0] ?? '';
  const headers: Array<[string, string]> = [];
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i < 0) continue;
    const n = l.slice(0, i).trim().toLowerCase();
    headers.push([COMPACT[n] ?? n, l.slice(i + 1).trim()]);
  }
  const st = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(startLine);
  if (st) return { startLine, status: Number(st[1]), reason: Buffer.from(st[2]!, 'latin1').toString('utf8'), headers, raw };
  const rq = /^(\S+) \S+ SIP\/2\.0$/.exec(startLine);
  if (rq) return { startLine, method: rq[1]!, headers, raw };
  return undefined;
}

/** Call-ID of the first message in a raw file (for matching replies). */
export function callIdOf(raw: Buffer): string | undefined {
  const m = readMessage(raw);
  return m ? header(m, 'call-id') : undefined;
}

/** Splits the first Via value (the topmost) off a Via header line that may hold several. */
export function firstViaValue(v: string): string {
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < v.length; i++) {
    const ch = v[i];
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === '[') depth++;
    else if (!quoted && ch === ']') depth--;
    else if (!quoted && depth === 0 && ch === ',') return v.slice(0, i).trim();
  }
  return v.trim();
}

// ---- byte-level rewrites the corpus README allows ------------------------------------------

/** Offset just after the colon of the first Via header (full or compact name), or -1. */
function topViaValueOffset(text: string): number {
  let headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) headEnd = text.length;
  const m = /\r\n(?:via|v)[ \t]*:/i.exec(text);
  if (!m || m.index > headEnd) return -1;
  return m.index + m[0].length;
}

/** `SIP/2.0/UDP` → `SIP/2.0/TCP` in the top Via only (LWS and folding inside the token kept). */
export function topViaToTcp(buf: Buffer): Buffer {
  const text = buf.toString('latin1'); // one char per byte: offsets are byte offsets
  const at = topViaValueOffset(text);
  if (at < 0) return buf;
  const tok = /^(\s*SIP\s*\/\s*2\.0\s*\/\s*)UDP\b/i.exec(text.slice(at));
  if (!tok) return buf;
  const p = at + tok[1]!.length;
  return Buffer.concat([buf.subarray(0, p), Buffer.from('TCP', 'latin1'), buf.subarray(p + 3)]);
}

/** Replaces the sent-by (host[:port]) of the top Via only. */
export function topViaSentBy(buf: Buffer, sentBy: string): Buffer {
  const text = buf.toString('latin1');
  const at = topViaValueOffset(text);
  if (at < 0) return buf;
  const m = /^(\s*SIP\s*\/\s*2\.0\s*\/\s*[A-Za-z0-9._!%*+`'~-]+\s+)([^\s;,]+)/i.exec(text.slice(at));
  if (!m) return buf;
  const p = at + m[1]!.length;
  return Buffer.concat([buf.subarray(0, p), Buffer.from(sentBy, 'latin1'), buf.subarray(p + m[2]!.length)]);
}

// ---- transports ---------------------------------------------------------------------------

/** Splits a byte stream into SIP messages (Content-Length framing, 0 when absent). */
export class StreamReader {
  private buf = Buffer.alloc(0);
  push(chunk: Buffer): WireMessage[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: WireMessage[] = [];
    for (;;) {
      while (this.buf.length >= 2 && this.buf[0] === 0x0d && this.buf[1] === 0x0a) this.buf = this.buf.subarray(2); // keep-alives
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return out;
      const head = this.buf.subarray(0, end).toString('latin1');
      const cl = /\r\n(?:content-length|l)[ \t]*:[ \t]*(\d+)/i.exec(head);
      const len = cl ? Number(cl[1]) : 0;
      if (this.buf.length < end + 4 + len) return out;
      const raw = this.buf.subarray(0, end + 4 + len);
      this.buf = this.buf.subarray(end + 4 + len);
      const m = readMessage(raw);
      if (m) out.push(m);
    }
  }
}

/** One TCP connection to the server, collecting what comes back. */
export class TcpPeer {
  readonly messages: WireMessage[] = [];
  closed = false;
  private readonly reader = new StreamReader();
  private waiters: Array<() => void> = [];
  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (b: Buffer) => {
      this.messages.push(...this.reader.push(b));
      this.wake();
    });
    const onClose = () => {
      this.closed = true;
      this.wake();
    };
    sock.on('close', onClose);
    sock.on('end', onClose);
    sock.on('error', onClose);
  }
  static connect(port: number, host = '127.0.0.1'): Promise<TcpPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host }, () => {
        s.removeListener('error', reject);
        resolve(new TcpPeer(s));
      });
      s.once('error', reject);
    });
  }
  get localPort(): number {
    return this.sock.localPort ?? 0;
  }
  write(b: Buffer | string): void {
    if (!this.closed) this.sock.write(b);
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  /** Resolves when `done()` holds, the peer closes, or after `ms`. */
  async waitFor(done: () => boolean, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done() && !this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
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

/** The test's UDP socket: every datagram received, in order. */
export class UdpPeer {
  readonly inbox: Array<{ at: number; msg: WireMessage }> = [];
  private waiters: Array<() => void> = [];
  private constructor(private readonly sock: dgram.Socket) {
    sock.on('message', (b: Buffer) => {
      const m = readMessage(b);
      if (m) this.inbox.push({ at: Date.now(), msg: m });
      for (const w of this.waiters.splice(0)) w();
    });
  }
  /** Binds 127.0.0.1:`port` (0 for any); rejects (EADDRINUSE …) when that port is taken. */
  static bind(port: number): Promise<UdpPeer> {
    return new Promise((resolve, reject) => {
      const s = dgram.createSocket({ type: 'udp4', reuseAddr: false });
      s.once('error', (e) => {
        s.close();
        reject(e);
      });
      s.bind(port, '127.0.0.1', () => {
        s.removeAllListeners('error');
        s.on('error', () => undefined);
        resolve(new UdpPeer(s));
      });
    });
  }
  get port(): number {
    return this.sock.address().port;
  }
  send(b: Buffer | string, port: number): Promise<void> {
    return new Promise((resolve, reject) => this.sock.send(typeof b === 'string' ? Buffer.from(b) : b, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }
  async waitFor(done: () => boolean, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  close(): Promise<void> {
    return new Promise((r) => this.sock.close(() => r()));
  }
}
