// Copied from /work/shared/interop/node/baresip-ua.ts (unchanged below this header) so the
// project build compiles it; keep the two in sync.
//
// baresip-ua.ts - drive a real, headless baresip (Debian bookworm: 1.0.0,
// package baresip-core) from TypeScript tests. No npm dependencies.
//
//   const bob = await BaresipUA.start({ user: 'bob', sipPort: 5264, ctrlPort: 4464 });
//   const alice = await BaresipUA.start({ user: 'alice', sipPort: 5262, ctrlPort: 4462,
//                                         contacts: ['sip:bob@127.0.0.1'] });
//   await alice.command('dial', 'sip:bob@127.0.0.1');
//   await alice.waitEvent('CALL_ESTABLISHED');
//   await bob.waitEvent('CALL_ESTABLISHED');
//   await alice.command('hangup');
//   await bob.waitEvent('CALL_CLOSED');
//   await alice.stop(); await bob.stop();
//
// Each UA writes its config to a fresh dir under /tmp, binds SIP to
// 127.0.0.1:sipPort (UDP+TCP, and TLS on sipPort+1: give UAs ports 2 apart),
// and is controlled over ctrl_tcp (netstring JSON). ctrl_tcp accepts ONE client
// at a time: this class keeps that single connection and records every event.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

export interface BaresipOptions {
  user: string;
  password?: string;            // default `${user}pw`
  domain?: string;              // AOR host, default 127.0.0.1
  registrar?: string;           // host:port of registrar/outbound proxy, default 127.0.0.1:5060
  transport?: 'udp' | 'tcp';    // default udp
  sipPort: number;
  ctrlPort: number;
  answerMode?: 'auto' | 'manual' | 'early'; // default auto
  register?: boolean;           // default true
  contacts?: string[];          // first one is the target of the 'message' command
  rtpPorts?: string;            // e.g. "30000-30019"
  lifetimeS?: number;           // baresip -t: quits by itself, default 300
  startTimeoutMs?: number;      // default 10000
}

export interface BaresipEvent {
  event: true;
  type: string;                 // REGISTER_OK, CALL_INCOMING, CALL_RINGING, CALL_ESTABLISHED,
                                // CALL_CLOSED, CALL_DTMF_START, CALL_RTPESTAB, ...
  class?: string;
  accountaor?: string;
  direction?: 'incoming' | 'outgoing';
  peeruri?: string;
  id?: string;
  param?: string;
  [k: string]: unknown;
}

interface Response { response: true; ok: boolean; data?: string; token?: string }

const CONFIG = (o: Required<Pick<BaresipOptions, 'sipPort' | 'ctrlPort' | 'rtpPorts'>>) => `
poll_method epoll
sip_listen 127.0.0.1:${o.sipPort}
net_interface 127.0.0.1
dns_server 127.0.0.1:53
call_local_timeout 60
audio_path /usr/share/baresip
audio_source ausine,440
ausrc_srate 48000
ausrc_channels 2
audio_player none,none
audio_alert none,none
rtp_ports ${o.rtpPorts}
module_path /usr/lib/baresip/modules
module stdio.so
module g711.so
module ausine.so
module_tmp uuid.so
module_tmp account.so
module_app contact.so
module_app menu.so
module_app presence.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:${o.ctrlPort}
statmode_default off
ringback_disabled yes
`;

export class BaresipUA {
  readonly events: BaresipEvent[] = [];
  private proc!: ChildProcess;
  private sock!: net.Socket;
  private buf = Buffer.alloc(0);
  private token = 0;
  private pending = new Map<string, (r: Response) => void>();
  private listeners: Array<(e: BaresipEvent) => void> = [];
  private constructor(readonly opts: BaresipOptions, readonly dir: string) {}

  get aor(): string { return `sip:${this.opts.user}@${this.opts.domain ?? '127.0.0.1'}`; }
  get pid(): number | undefined { return this.proc.pid; }
  /** stdout+stderr of baresip so far (incoming MESSAGE text shows up here). */
  log(): string { return readFileSync(join(this.dir, 'log'), 'utf8'); }

  static async start(opts: BaresipOptions): Promise<BaresipUA> {
    const dir = mkdtempSync(join(tmpdir(), `baresip-${opts.user}-`));
    const ua = new BaresipUA(opts, dir);
    const rtpBase = 30000 + (opts.sipPort % 1000) * 20;
    writeFileSync(join(dir, 'config'), CONFIG({
      sipPort: opts.sipPort, ctrlPort: opts.ctrlPort,
      rtpPorts: opts.rtpPorts ?? `${rtpBase}-${rtpBase + 19}`,
    }));
    const t = opts.transport ?? 'udp';
    writeFileSync(join(dir, 'accounts'),
      `<sip:${opts.user}@${opts.domain ?? '127.0.0.1'};transport=${t}>` +
      `;auth_pass=${opts.password ?? `${opts.user}pw`}` +
      `;outbound="sip:${opts.registrar ?? '127.0.0.1:5060'};transport=${t}"` +
      `;regint=${opts.register === false ? 0 : 600};answermode=${opts.answerMode ?? 'auto'}` +
      `;audio_codecs=PCMU,PCMA\n`);
    writeFileSync(join(dir, 'contacts'), (opts.contacts ?? []).map((c) => `<${c}>;presence=p2p\n`).join(''));
    try {
      await ua.launch();
    } catch (e) {
      await ua.stop(500); // never leave a baresip behind (it would keep the test runner alive)
      throw e;
    }
    return ua;
  }

  private async launch(): Promise<void> {
    const { openSync } = await import('node:fs');
    const out = openSync(join(this.dir, 'log'), 'a');
    // stdin stays an open pipe: baresip's stdio module reads it
    this.proc = spawn('baresip', ['-f', this.dir, '-t', String(this.opts.lifetimeS ?? 300)],
      { stdio: ['pipe', out, out] });
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 10000);
    // 1. ctrl_tcp up
    for (;;) {
      if (this.proc.exitCode !== null) throw new Error(`baresip exited:\n${this.log()}`);
      try { await this.connect(); break; } catch {
        if (Date.now() > deadline) throw new Error(`ctrl_tcp not reachable:\n${this.log()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // 2. registration result (REGISTER_OK / REGISTER_FAIL events may predate the
    //    connection, so poll 'reginfo' instead)
    if (this.opts.register === false) return;
    for (;;) {
      // strip ANSI colours: "\x1b[32mOK \x1b[;m"
      const info = ((await this.command('reginfo')).data ?? '').replace(/\x1b\[[0-9;]*m/g, '');
      if (/\bOK\b/.test(info)) return;
      if (/\bERR\b/.test(info) || /reg: .* [3-6]\d\d /.test(this.log())) {
        throw new Error(`registration failed: ${info}\n${this.log()}`);
      }
      if (Date.now() > deadline) throw new Error(`registration timeout: ${info}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port: this.opts.ctrlPort });
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        this.sock = s;
        s.on('data', (d) => this.onData(d));
        s.on('error', () => {});
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
      if (this.buf.length < colon + 2 + len) return;
      const msg = JSON.parse(this.buf.subarray(colon + 1, colon + 1 + len).toString('utf8'));
      this.buf = this.buf.subarray(colon + 2 + len);
      if (msg.response) {
        const cb = this.pending.get(msg.token);
        if (cb) { this.pending.delete(msg.token); cb(msg); }
      } else if (msg.event) {
        this.events.push(msg);
        for (const l of [...this.listeners]) l(msg);
      }
    }
  }

  /** Run a menu command: dial URI, hangup, accept, sndcode 1, message TEXT,
   *  answermode auto, reginfo, listcalls, contacts, presence_online ...
   *  Rejects when baresip answers ok=false. */
  command(command: string, params = '', timeoutMs = 5000): Promise<Response> {
    const token = `t${++this.token}`;
    const body = JSON.stringify({ command, params, token });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(token); reject(new Error(`timeout: ${command}`)); }, timeoutMs);
      this.pending.set(token, (r) => {
        clearTimeout(timer);
        if (r.ok === false) reject(new Error(`${command} ${params}: ${r.data ?? 'failed'}`)); else resolve(r);
      });
      this.sock.write(`${Buffer.byteLength(body)}:${body},`);
    });
  }

  /** Resolve with the first event of `type` (matching `pred`) received after
   *  index `from` (default: any event so far that was not yet waited for). */
  private cursor = 0;
  waitEvent(type: string, pred: (e: BaresipEvent) => boolean = () => true, timeoutMs = 10000): Promise<BaresipEvent> {
    const match = (e: BaresipEvent) => e.type === type && pred(e);
    for (let i = this.cursor; i < this.events.length; i++) {
      if (match(this.events[i])) { this.cursor = i + 1; return Promise.resolve(this.events[i]); }
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((l) => l !== on);
        reject(new Error(`${this.opts.user}: no ${type} within ${timeoutMs} ms; got ${this.events.map((e) => e.type).join(',')}`));
      }, timeoutMs);
      const on = (e: BaresipEvent) => {
        if (!match(e)) return;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== on);
        this.cursor = this.events.indexOf(e) + 1;
        resolve(e);
      };
      this.listeners.push(on);
    });
  }

  /** Stop: SIGTERM (baresip un-REGISTERs, then exits); a 2nd SIGTERM after
   *  graceMs makes it exit at once (it waits ~30 s if the registrar is gone). */
  async stop(graceMs = 2000): Promise<void> {
    this.sock?.destroy();
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGTERM'), graceMs);
    const k = setTimeout(() => this.proc.kill('SIGKILL'), graceMs + 1000);
    await exited;
    clearTimeout(t); clearTimeout(k);
  }
}
