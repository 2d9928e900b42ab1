// A real, headless baresip (Debian bookworm: 1.0.0, package baresip-core) inside a NAT lab
// namespace (test/harness/netns.ts), bound to that namespace's address, driven from the test.
//
//   const alice = await NetnsBaresip.start({ lab, where: 'phone1', user: 'alice', domain: '203.0.113.1', registrar: '203.0.113.1:5060' });
//   const mark = alice.mark();
//   await alice.command('dial', 'sip:bob@203.0.113.1');
//   await alice.waitEvent('CALL_ESTABLISHED', { since: mark.events });
//   …
//   await alice.command('hangup');
//   const stats = await alice.waitRtpStats(mark);   // { tx, rx } packets, counted by baresip itself
//   await alice.stop();
//
// How it is driven. baresip's ctrl_tcp module (netstring JSON: commands, their answers, events)
// listens on 127.0.0.1:ctrlPort — the loopback of the phone's namespace, which the test process
// (in the host's namespace) cannot reach. A small node relay runs next to baresip in the same
// namespace (lab.exec) and forwards a Unix socket in this UA's temp dir to that TCP port:
// filesystem sockets are not scoped by network namespace, so the test connects to the Unix socket
// and talks to ctrl_tcp as if it were local (ctrl_tcp takes one client at a time; we are it).
// Both processes are started with processes.ts (bounded lifetime, stopped by PID); `ip netns
// exec` execs baresip, so the Managed PID is baresip's own.
//
// Audio: the `ausine` source (a 440 Hz tone, no sound card) and no player; G.711 only.
// `rtp_stats yes` makes baresip print, when a call's audio stream is freed (just after
// CALL_CLOSED), the packets its own RTP socket sent and received:
//
//   audio           Transmit:     Receive:
//   packets:            151          149
//
// rtpStats()/waitRtpStats() read those lines from baresip's output; rtpSources() reads "stream:
// incoming rtp for 'audio' established, receiving from IP:PORT" (where the first RTP came from).
// The ctrl_tcp `callstat` command cannot be used for the counts: in 1.0.0 it stops with
// "error processing command (Operation not supported)" before the stream part.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabPlace, NatLab } from '../../harness/netns.js';
import type { Managed } from '../../harness/processes.js';

export interface NetnsBaresipOptions {
  lab: NatLab;
  /** The namespace: a phone ('phone1'…, behind a NAT) or a public host ('host1'…). */
  where: LabPlace;
  user: string;
  /** Digest password; default `${user}pw`. */
  password?: string;
  /** The AOR's host (sip:user@domain). */
  domain: string;
  /** host:port of the registrar, also the outbound proxy of every request. */
  registrar: string;
  transport?: 'udp' | 'tcp';
  /** SIP port on the namespace's address (baresip also binds port+1 for TLS). Default 5060. */
  sipPort?: number;
  /** ctrl_tcp port on the namespace's loopback. Default 4444. */
  ctrlPort?: number;
  /** Default auto (answers an incoming call at once). */
  answerMode?: 'auto' | 'manual';
  /** Register at start (and wait for the 200). Default true. */
  register?: boolean;
  /** Registration interval (s). Default 600: no refresh within a test. */
  regint?: number;
  /** RTP port range. Default 30000-30019. */
  rtpPorts?: string;
  /** baresip -t: it quits by itself after this long. Default 240 s. */
  lifetimeS?: number;
  /** Bound for start-up and registration. Default 10 000 ms. */
  startTimeoutMs?: number;
}

export interface BaresipEvent {
  event: true;
  type: string;
  class?: string;
  accountaor?: string;
  direction?: 'incoming' | 'outgoing';
  peeruri?: string;
  id?: string;
  param?: string;
  [k: string]: unknown;
}

export interface BaresipResponse {
  response: true;
  ok: boolean;
  data?: string;
  token?: string;
}

/** A point in the UA's history: events and output seen so far. */
export interface Mark {
  events: number;
  output: number;
}

export interface RtpStats {
  /** RTP packets sent by baresip's audio socket. */
  tx: number;
  /** RTP packets received on it. */
  rx: number;
}

// The relay: Unix socket (in the UA's dir, reachable from any namespace) ↔ 127.0.0.1:ctrlPort
// (ctrl_tcp, in this namespace's loopback). One TCP connection per client connection.
const RELAY_SCRIPT = String.raw`'use strict';
const net = require('node:net');
const fs = require('node:fs');
const [sockPath, port] = process.argv.slice(2);
try { fs.unlinkSync(sockPath); } catch {}
const srv = net.createServer((c) => {
  const t = net.connect({ host: '127.0.0.1', port: Number(port) });
  const end = () => { c.destroy(); t.destroy(); };
  c.pipe(t);
  t.pipe(c);
  c.on('error', end); t.on('error', end); c.on('close', end); t.on('close', end);
});
srv.listen(sockPath, () => process.stdout.write('relay ready\n'));
process.on('SIGTERM', () => process.exit(0));
`;

const stripAnsi = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function baresipConfig(o: { address: string; sipPort: number; ctrlPort: number; rtpPorts: string }): string {
  return `
poll_method		epoll
sip_listen		${o.address}:${o.sipPort}
net_interface		${o.address}
dns_server		127.0.0.1:53
call_local_timeout	60
call_max_calls		4
audio_path		/usr/share/baresip
audio_source		ausine,440
ausrc_srate		48000
ausrc_channels		2
audio_player		none,none
audio_alert		none,none
audio_level		no
rtp_ports		${o.rtpPorts}
rtcp_mux		no
jitter_buffer_delay	5-10
rtp_stats		yes
module_path		/usr/lib/baresip/modules
module			g711.so
module			ausine.so
module_tmp		uuid.so
module_tmp		account.so
module_app		contact.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:${o.ctrlPort}
statmode_default	off
ringback_disabled	yes
menu_bell		no
`;
}

export class NetnsBaresip {
  readonly events: BaresipEvent[] = [];
  readonly address: string;
  private proc: Managed | undefined;
  private relay: Managed | undefined;
  private sock: net.Socket | undefined;
  private buf = Buffer.alloc(0);
  private token = 0;
  private cursor = 0;
  private readonly pending = new Map<string, (r: BaresipResponse) => void>();
  private listeners: Array<(e: BaresipEvent) => void> = [];
  private stopped = false;

  private constructor(
    readonly opts: NetnsBaresipOptions,
    readonly dir: string,
  ) {
    this.address = opts.lab.addrOf(opts.where);
  }

  get user(): string {
    return this.opts.user;
  }
  get aor(): string {
    return `sip:${this.opts.user}@${this.opts.domain}`;
  }
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  static async start(opts: NetnsBaresipOptions): Promise<NetnsBaresip> {
    const dir = mkdtempSync(join(tmpdir(), `sb-baresip-${opts.user}-`));
    const ua = new NetnsBaresip(opts, dir);
    try {
      await ua.launch();
    } catch (e) {
      const log = ua.log();
      await ua.stop(500);
      throw new Error(`baresip ${opts.user} in ${opts.where}: ${(e as Error).message}\n--- baresip output ---\n${log.slice(-4000)}`);
    }
    return ua;
  }

  private async launch(): Promise<void> {
    const o = this.opts;
    const t = o.transport ?? 'udp';
    const sipPort = o.sipPort ?? 5060;
    const ctrlPort = o.ctrlPort ?? 4444;
    const lifetimeS = o.lifetimeS ?? 240;
    const timeoutMs = o.startTimeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    writeFileSync(join(this.dir, 'config'), baresipConfig({ address: this.address, sipPort, ctrlPort, rtpPorts: o.rtpPorts ?? '30000-30019' }));
    writeFileSync(
      join(this.dir, 'accounts'),
      `<sip:${o.user}@${o.domain};transport=${t}>` +
        `;auth_pass=${o.password ?? `${o.user}pw`}` +
        `;outbound="sip:${o.registrar};transport=${t}"` +
        `;regint=${o.register === false ? 0 : (o.regint ?? 600)};answermode=${o.answerMode ?? 'auto'}` +
        ';audio_codecs=PCMU,PCMA\n',
    );
    writeFileSync(join(this.dir, 'contacts'), '');
    writeFileSync(join(this.dir, 'relay.cjs'), RELAY_SCRIPT);

    // 1. baresip (stdin is /dev/null: no stdio module, ctrl_tcp only).
    this.proc = await o.lab.exec(o.where, 'baresip', ['-f', this.dir, '-t', String(lifetimeS)], {
      readyPattern: /baresip is ready/,
      timeoutMs,
      maxLifetimeMs: (lifetimeS + 30) * 1000,
    });
    // 2. The relay to ctrl_tcp, and our one connection through it.
    const sockPath = join(this.dir, 'ctrl.sock');
    this.relay = await o.lab.exec(o.where, process.execPath, [join(this.dir, 'relay.cjs'), sockPath, String(ctrlPort)], {
      readyPattern: /relay ready/,
      timeoutMs: Math.max(1000, deadline - Date.now()),
      maxLifetimeMs: (lifetimeS + 30) * 1000,
    });
    await this.connect(sockPath);
    // 3. The registration result (REGISTER_OK may come before we are connected: poll reginfo).
    if (o.register === false) return;
    for (;;) {
      const info = stripAnsi((await this.command('reginfo')).data ?? '');
      if (/\bOK\b/.test(info)) return;
      const out = stripAnsi(this.log());
      if (/\bERR\b/.test(info) || /\{\d+\/[A-Z]+\/v4\} [3-6]\d\d /.test(out) || /reg: .* [3-6]\d\d /.test(out)) throw new Error(`registration failed: ${info.trim()}`);
      if (Date.now() > deadline) throw new Error(`not registered within ${timeoutMs} ms: ${info.trim()}`);
      await sleep(100);
    }
  }

  private connect(sockPath: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(sockPath);
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        this.sock = s;
        s.on('data', (d: Buffer) => this.onData(d));
        s.on('error', () => undefined);
        s.unref(); // a forgotten UA never keeps the test process alive (its processes are bounded)
        resolve();
      });
    });
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      const colon = this.buf.indexOf(0x3a);
      if (colon < 0) return;
      const len = Number(this.buf.subarray(0, colon).toString('ascii'));
      if (!Number.isInteger(len) || this.buf.length < colon + 2 + len) return;
      const msg = JSON.parse(this.buf.subarray(colon + 1, colon + 1 + len).toString('utf8')) as Record<string, unknown>;
      this.buf = this.buf.subarray(colon + 2 + len);
      if (msg.response === true) {
        const r = msg as unknown as BaresipResponse;
        const cb = r.token !== undefined ? this.pending.get(r.token) : undefined;
        if (cb) {
          this.pending.delete(r.token!);
          cb(r);
        }
      } else if (msg.event === true) {
        const e = msg as unknown as BaresipEvent;
        this.events.push(e);
        for (const l of [...this.listeners]) l(e);
      }
    }
  }

  /** baresip's output so far (stdout and stderr, colour codes removed). */
  log(): string {
    if (!this.proc) return '';
    const o = this.proc.output();
    return stripAnsi(o.stdout + (o.stderr ? `\n--- stderr ---\n${o.stderr}` : ''));
  }

  private stdout(): string {
    return this.proc ? stripAnsi(this.proc.output().stdout) : '';
  }

  /** Where the UA's history is now: pass it to waitEvent/rtpStats to look only at what follows. */
  mark(): Mark {
    return { events: this.events.length, output: this.stdout().length };
  }

  /** A menu command (dial URI, hangup, accept, reginfo, listcalls …); rejects on ok=false or after timeoutMs. */
  command(command: string, params = '', timeoutMs = 5000): Promise<BaresipResponse> {
    const sock = this.sock;
    if (!sock) return Promise.reject(new Error(`${this.opts.user}: not connected`));
    const token = `t${++this.token}`;
    const body = JSON.stringify({ command, params, token });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(token);
        reject(new Error(`${this.opts.user}: no answer to "${command} ${params}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(token, (r) => {
        clearTimeout(timer);
        if (r.ok === false) reject(new Error(`${this.opts.user}: ${command} ${params}: ${r.data ?? 'failed'}`));
        else resolve(r);
      });
      sock.write(`${Buffer.byteLength(body)}:${body},`);
    });
  }

  /**
   * The first event of `type` (and matching pred) from `since` on (an event index, e.g.
   * mark().events; default: after the last event a waitEvent returned). Rejects after timeoutMs.
   */
  waitEvent(type: string, o: { since?: number; pred?: (e: BaresipEvent) => boolean; timeoutMs?: number } = {}): Promise<BaresipEvent> {
    const timeoutMs = o.timeoutMs ?? 10_000;
    const match = (e: BaresipEvent): boolean => e.type === type && (o.pred?.(e) ?? true);
    const from = o.since ?? this.cursor;
    for (let i = from; i < this.events.length; i++) {
      if (match(this.events[i]!)) {
        this.cursor = i + 1;
        return Promise.resolve(this.events[i]!);
      }
    }
    return new Promise((resolve, reject) => {
      const on = (e: BaresipEvent): void => {
        if (!match(e)) return;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== on);
        this.cursor = this.events.indexOf(e) + 1;
        resolve(e);
      };
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((l) => l !== on);
        reject(new Error(`${this.opts.user}: no ${type} within ${timeoutMs} ms; events: ${this.events.slice(from).map((e) => e.type).join(', ') || 'none'}`));
      }, timeoutMs);
      this.listeners.push(on);
    });
  }

  /** Whether an event of `type` arrived since `since` (an event index). */
  hasEvent(type: string, since = 0): boolean {
    return this.events.slice(since).some((e) => e.type === type);
  }

  /** The per-stream RTP counts baresip printed after `mark` (one entry per audio stream freed). */
  rtpStats(mark?: Mark): RtpStats[] {
    const text = this.stdout().slice(mark?.output ?? 0);
    const re = /audio\s+Transmit:\s+Receive:\s*\n\s*packets:\s+(\d+)\s+(\d+)/g;
    return [...text.matchAll(re)].map((m) => ({ tx: Number(m[1]), rx: Number(m[2]) }));
  }

  /**
   * The RTP counts of the call that ended after `mark`: waits (bounded) for baresip to print them
   * once the call's stream is freed. A call whose stream never sent nor received a packet prints
   * nothing: { tx: 0, rx: 0 } after the wait.
   */
  async waitRtpStats(mark: Mark, timeoutMs = 3000): Promise<RtpStats> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const s = this.rtpStats(mark);
      if (s.length > 0) return s[s.length - 1]!;
      if (Date.now() >= end) return { tx: 0, rx: 0 };
      await sleep(50);
    }
  }

  /** "IP:PORT" the first RTP of each stream came from, after `mark`. */
  rtpSources(mark?: Mark): string[] {
    const text = this.stdout().slice(mark?.output ?? 0);
    return [...text.matchAll(/incoming rtp for 'audio' established, receiving from (\S+)/g)].map((m) => m[1]!);
  }

  /** Stop by PID: the relay, then baresip (SIGTERM: it un-REGISTERs; SIGKILL after graceMs). */
  async stop(graceMs = 3000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.sock?.destroy();
    for (const p of [...this.pending.values()]) p({ response: true, ok: false, data: 'stopped' });
    this.pending.clear();
    await this.relay?.stop(1000);
    await this.proc?.stop(graceMs);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
