// Helpers for the real-client interop tests (baresip, linphone, twinkle, SIP.js, JsSIP, npm sip,
// sipsak, Kamailio): run `switchboard serve --trace` with its trace in a file, parse that trace,
// find free ports, and locate the shared interop scripts (../shared/interop beside the repo).

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { isListening, startProcess, type Managed } from '../../harness/processes.js';
import { SWITCHBOARD_CLI } from '../sipp/sipp.js';

/** Repository root (this file is dist/test/interop/clients/interop-helpers.js once compiled). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/** The shared interop scripts: $INTEROP_DIR, else ../shared/interop beside the repository. */
export function interopDir(): string | undefined {
  const candidates = [process.env.INTEROP_DIR, join(REPO_ROOT, '..', 'shared', 'interop'), '/work/shared/interop'].filter((d): d is string => !!d);
  return candidates.find((d) => existsSync(join(d, 'check-all.sh')));
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The users check-all.sh and the tests use: NAME with password NAMEpw in domain 127.0.0.1. */
export const MATRIX_USERS = ['alice', 'bob', 'carol', 'erin', 'henry', 'ivy', 'kate'];

export function usersYaml(names: string[], domain = '127.0.0.1'): string {
  return `users:\n${names.map((n) => `  - { user: ${n}, password: ${n}pw, domain: ${JSON.stringify(domain)} }`).join('\n')}\n`;
}

export interface TracedServer {
  proc: Managed;
  dir: string;
  traceFile: string;
  /** The whole trace so far (stderr of serve: `Sent:` / `Received:` blocks and log lines). */
  trace(): string;
  stop(): Promise<void>;
}

/**
 * `switchboard serve --config FILE --trace`, stderr (the trace) redirected to a file so a long
 * run keeps all of it. Ready once it printed "serving domains" and every UDP/TCP port listens.
 */
export async function startTracedServe(yaml: string, ports: Array<{ kind: 'udp' | 'tcp'; port: number }>, maxLifetimeMs = 10 * 60_000): Promise<TracedServer> {
  const dir = tempDir('sb-interop');
  const config = join(dir, 'switchboard.yaml');
  writeFileSync(config, yaml);
  const traceFile = join(dir, 'trace.log');
  // `exec` keeps the PID the node process' own, so stop() signals the server itself.
  const proc = await startProcess('sh', ['-c', 'exec "$0" "$@" 2>"$SB_TRACE"', process.execPath, SWITCHBOARD_CLI, 'serve', '--config', config, '--trace'], {
    env: { ...process.env, SB_TRACE: traceFile },
    readyPattern: /serving domains/,
    readyCheck: async () => {
      for (const p of ports) if (!(await isListening(p.kind, p.port))) return false;
      return true;
    },
    timeoutMs: 20_000,
    maxLifetimeMs,
  });
  const trace = () => (existsSync(traceFile) ? readFileSync(traceFile, 'utf8') : '');
  return { proc, dir, traceFile, trace, stop: async () => void (await proc.stop(3000)) };
}

export interface TracedMessage {
  dir: 'Sent' | 'Received';
  kind: string;
  /** For Sent: our side -> peer. For Received: peer -> our side. */
  from: string;
  to: string;
  /** First line: "INVITE sip:… SIP/2.0" or "SIP/2.0 200 OK". */
  start: string;
  text: string;
  method?: string;
  status?: number;
  cseqMethod?: string;
  callId?: string;
}

/** Splits a `--trace` output into messages (log lines between blocks are dropped). */
export function parseTrace(text: string): TracedMessage[] {
  const re = /^(Sent|Received): (\w+) (\S+) -> (\S+) \(\d+ bytes\)$/gm;
  const heads = [...text.matchAll(re)];
  return heads.map((m, i) => {
    const end = i + 1 < heads.length ? heads[i + 1]!.index! : text.length;
    const body = text.slice(m.index! + m[0].length + 1, end);
    const start = body.split('\n', 1)[0] ?? '';
    const header = (name: string) => new RegExp(`^(?:${name}):\\s*(.*)$`, 'im').exec(body.split('\n\n', 1)[0] ?? '')?.[1]?.trim();
    const cseq = header('CSeq');
    const msg: TracedMessage = { dir: m[1] as 'Sent' | 'Received', kind: m[2]!, from: m[3]!, to: m[4]!, start, text: body, cseqMethod: cseq?.split(/\s+/)[1], callId: header('Call-ID|i') };
    const st = /^SIP\/2\.0 (\d{3}) /.exec(start);
    if (st) msg.status = Number(st[1]);
    else msg.method = start.split(' ', 1)[0];
    return msg;
  });
}

/** One line per message: "Received UDP 127.0.0.1:5262 -> …  INVITE sip:bob@…" (for failure output). */
export function summarize(msgs: TracedMessage[]): string {
  return msgs.map((m) => `${m.dir.padEnd(8)} ${m.kind} ${m.from} -> ${m.to}  ${m.start}`).join('\n');
}

function canBind(kind: 'udp' | 'tcp', port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolveP) => {
    if (kind === 'udp') {
      const s = dgram.createSocket('udp4');
      s.once('error', () => { s.close(); resolveP(false); });
      s.bind(port, host, () => s.close(() => resolveP(true)));
    } else {
      const srv = net.createServer();
      srv.once('error', () => resolveP(false));
      srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolveP(true)));
    }
  });
}

/** Which of these ports are taken on 127.0.0.1 (UDP or TCP), e.g. ["udp:5060", "tcp:5066"]. */
export async function busyPorts(ports: Array<{ kind: 'udp' | 'tcp'; port: number }>): Promise<string[]> {
  const busy: string[] = [];
  for (const p of ports) if (!(await canBind(p.kind, p.port))) busy.push(`${p.kind}:${p.port}`);
  return busy;
}

/**
 * `count` even SIP ports, each with port and port+1 free for UDP and TCP (baresip also binds
 * TLS on port+1), spaced by 2, drawn from a random spot in 20000-28999.
 */
export async function freeSipPorts(count: number): Promise<number[]> {
  const out: number[] = [];
  let p = 20000 + 2 * Math.floor(Math.random() * 4000);
  for (let tries = 0; out.length < count && tries < 500; tries++, p += 2) {
    const ok = (await canBind('udp', p)) && (await canBind('tcp', p)) && (await canBind('udp', p + 1)) && (await canBind('tcp', p + 1));
    if (ok) out.push(p);
  }
  if (out.length < count) throw new Error(`freeSipPorts: found only ${out.length} of ${count}`);
  return out;
}
