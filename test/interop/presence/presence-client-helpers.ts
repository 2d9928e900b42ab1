// Shared by presence-sipjs / presence-linphone / presence-twinkle .test.ts: `switchboard serve`
// (default roles registrar, proxy, presence) on free loopback ports with digest users, its
// `--trace` read back (NOTIFY bodies with parsePidf, never by substring), a Node UserAgent
// watcher that keeps every NOTIFY it receives, a console client driven through a FIFO on its
// stdin (linphonec, twinkle-console), and a polling `until`.

import assert from 'node:assert/strict';
import { closeSync, constants as fsc, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, type Managed } from '../../harness/processes.js';
import { sleep } from '../clients/interop-helpers.js';
import { freePorts, parseTrace, startServe, writeConfig, type TempConfig, type TracedProcess, type TraceMsg } from '../callflows/callflow-harness.js';
import { parsePidf, type PresenceDocument } from '../../../src/content/index.js';
import { SipRequest, parseMessage } from '../../../src/sip/index.js';
import { UserAgent } from '../../../src/roles/user-agent/index.js';
import type { ClientSubscription } from '../../../src/usage/subscription/index.js';

export const strip = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');

// ---------------------------------------------------------------------------------------------
// serve

export interface PresenceServer {
  /** UDP port (and the WebSocket port when asked for). */
  port: number;
  wsPort?: number;
  proc: TracedProcess;
  /** serve's own log lines (`switchboard: events: …`, `switchboard: presence: …`). */
  log(): string;
  trace(): TraceMsg[];
  stop(): Promise<void>;
}

/** `serve` with `users` (NAME / NAMEpw) for domain 127.0.0.1, UDP (+ `ws:` when `ws`) on free ports. */
export async function startPresenceServe(o: { users: string[]; ws?: boolean; maxLifetimeMs?: number }): Promise<PresenceServer> {
  const [port, wsPort] = (await freePorts(o.ws ? 2 : 1)) as [number, number | undefined];
  const cfg: TempConfig = writeConfig(
    [
      `listen: [udp:127.0.0.1:${port}${o.ws ? `, ws:127.0.0.1:${wsPort}` : ''}]`,
      'domains: [127.0.0.1]',
      'store: memory',
      'users:',
      ...o.users.map((u) => `  - {user: ${u}, password: ${u}pw}`),
      '',
    ].join('\n'),
  );
  let proc: TracedProcess;
  try {
    proc = await startServe(cfg.path, { udpPorts: [port], tcpPorts: o.ws ? [wsPort!] : [], maxLifetimeMs: o.maxLifetimeMs ?? 140_000 });
  } catch (e) {
    cfg.cleanup();
    throw e;
  }
  return {
    port,
    wsPort,
    proc,
    log: () => proc.output().stderr.split('\n').filter((l) => l.startsWith('switchboard: ')).join('\n'),
    trace: () => parseTrace(proc.output().stderr),
    async stop() {
      await proc.stop();
      cfg.cleanup();
    },
  };
}

/** Body of a traced message (after the blank line). */
export function traceBody(m: TraceMsg): string {
  const i = m.text.search(/\r?\n\r?\n/);
  return i < 0 ? '' : m.text.slice(i).replace(/^\r?\n\r?\n/, '');
}

export const header = (m: TraceMsg, name: string): string | undefined => m.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];

export interface SeenNotify {
  state: string;
  contentType: string | undefined;
  doc: PresenceDocument | undefined;
  msg: TraceMsg;
}

/** The NOTIFYs serve sent to one remote port, their PIDF bodies read with parsePidf. */
export function notifiesTo(srv: PresenceServer, port: number): SeenNotify[] {
  return srv
    .trace()
    .filter((m) => m.dir === 'Sent' && m.kind === 'request' && m.method === 'NOTIFY' && m.remotePort === port)
    .map((msg) => {
      const body = traceBody(msg).trim();
      return { msg, state: header(msg, 'Subscription-State') ?? '', contentType: header(msg, 'Content-Type'), doc: body ? parsePidf(body) : undefined };
    });
}

/** Final responses serve sent for one method to one remote port, in order. */
export function responsesTo(srv: PresenceServer, port: number, method: string): TraceMsg[] {
  return srv.trace().filter((m) => m.dir === 'Sent' && m.kind === 'response' && m.cseqMethod === method && m.remotePort === port && (m.status ?? 0) >= 200);
}

/** `open`, `closed`, `open/closed` … of a document's tuples. */
export const basics = (d: PresenceDocument | undefined): string => d?.tuples.map((t) => t.basic).join('/') ?? '(no body)';

/** `open+busy`, `closed`, `open[registration]` … for messages. */
export function show(d: PresenceDocument | undefined, withIds = false): string {
  if (!d) return '(no body)';
  const t = d.tuples.map((x) => (withIds ? `${x.basic}[${x.id}]` : x.basic)).join('/');
  return `${t}${d.activities.length ? `+${d.activities.join(',')}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Polling

/** Polls until `read()` returns `want`; the values seen, in order (consecutive duplicates collapsed). */
export async function until<T>(read: () => Promise<T> | T, want: T, what: string, timeoutMs: number, ctx: () => string): Promise<T[]> {
  const seen: T[] = [];
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (seen[seen.length - 1] !== v) seen.push(v);
    if (v === want) return seen;
    if (Date.now() > end) assert.fail(`${what}: wanted ${String(want)}, saw ${seen.map(String).join(' → ')} within ${timeoutMs} ms${ctx()}`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// A Switchboard UserAgent watcher

export interface Watcher {
  ua: UserAgent;
  sub: ClientSubscription;
  /** Every NOTIFY the UA received (from its trace, so none is missed before subscribe() resolves). */
  notifies: SipRequest[];
  /** The PIDF documents of those NOTIFYs (parsePidf), in order. */
  docs(): PresenceDocument[];
  /** Unsubscribes, waits (≤ 4 s) for the final NOTIFY, stops the UA. */
  stop(): Promise<void>;
}

/** A Node UA `user` (digest NAME / NAMEpw) over UDP that subscribes to `target`'s presence through serve. */
export async function startWatcher(serverPort: number, user: string, target: string): Promise<Watcher> {
  const notifies: SipRequest[] = [];
  const ua = await UserAgent.start({
    listen: ['udp:127.0.0.1:0'],
    from: `sip:${user}@127.0.0.1`,
    outboundProxy: `sip:127.0.0.1:${serverPort}`,
    onTrace: (ev) => {
      if (ev.direction !== 'Received') return;
      try {
        const m = parseMessage(ev.bytes);
        if (m instanceof SipRequest && m.method === 'NOTIFY') notifies.push(m);
      } catch {
        /* not SIP */
      }
    },
  });
  let sub: ClientSubscription;
  try {
    sub = await ua.subscribe(target, 'presence', { credentials: { username: user, password: `${user}pw` }, expires: 600 });
  } catch (e) {
    await ua.stop();
    throw e;
  }
  let ended = sub.state === 'terminated';
  const endedP = new Promise<void>((r) => (ended ? r() : sub.once('terminated', () => ((ended = true), r()))));
  return {
    ua,
    sub,
    notifies,
    docs: () => notifies.filter((n) => n.body.length > 0).map((n) => parsePidf(n.body)),
    async stop() {
      try {
        if (!ended) {
          await sub.unsubscribe();
          await Promise.race([endedP, sleep(4000)]);
        }
      } finally {
        await ua.stop();
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A console client on a FIFO

export interface FifoClient {
  proc: Managed;
  dir: string;
  /** Writes one command line to the client's stdin (the FIFO); throws if nobody reads it any more. */
  send(line: string): void;
  out(): string;
  /** `quit` (if given), up to graceMs for the exit, then SIGTERM / SIGKILL by PID; removes the dir. */
  stop(quit?: string, graceMs?: number): Promise<void>;
}

/**
 * Starts `cmd args` with its stdin on a FIFO (opened read-write by the shell, so it never sees
 * EOF) in a fresh directory that is also its HOME. `exec` keeps the PID the client's own.
 * `prepare(dir)` writes its config files first.
 */
export async function startFifoClient(
  prefix: string,
  cmd: string,
  args: (dir: string) => string[],
  o: { prepare: (dir: string) => void; readyPattern: RegExp; timeoutMs: number; maxLifetimeMs: number },
): Promise<FifoClient> {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const fifo = join(dir, 'stdin');
  let p: Managed;
  try {
    o.prepare(dir);
    // mkfifo(1): node has no mkfifo.
    const mk = await startProcess('mkfifo', [fifo], { timeoutMs: 5000, maxLifetimeMs: 5000 });
    const st = await mk.waitExit(5000);
    if (st.code !== 0) throw new Error(`mkfifo ${fifo}: exit ${st.code}`);
    p = await startProcess('sh', ['-c', 'exec "$0" "$@" 0<>"$FIFO"', cmd, ...args(dir)], {
      env: { HOME: dir, FIFO: fifo },
      cwd: dir,
      readyPattern: o.readyPattern,
      timeoutMs: o.timeoutMs,
      maxLifetimeMs: o.maxLifetimeMs,
    });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const client: FifoClient = {
    proc: p,
    dir,
    send(line: string) {
      // O_NONBLOCK: fails (ENXIO) instead of blocking when the client has gone.
      const fd = openSync(fifo, fsc.O_WRONLY | fsc.O_NONBLOCK);
      try {
        writeSync(fd, `${line}\n`);
      } finally {
        closeSync(fd);
      }
    },
    out: () => strip(p.output().stdout + p.output().stderr),
    async stop(quit?: string, graceMs = 5000) {
      try {
        if (quit && p.exitStatus() === null) {
          try {
            client.send(quit);
            await p.waitExit(graceMs);
          } catch {
            /* still running, or the FIFO has no reader: the signals below */
          }
        }
        await p.stop(2000);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  return client;
}
