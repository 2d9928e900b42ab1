// Helpers for tests that run external programs (SIPp, redis-server, …).
//
// Rules they enforce:
//  - every child is bounded in time (maxLifetimeMs, hard SIGKILL) and stopped by its PID;
//  - output is kept in bounded buffers (1 MiB per stream, the most recent bytes are kept);
//  - a module-level registry kills any child still running when this process exits.
//
// Children (and their stdio pipes) are unref'd: a leaked child never keeps a test file's
// process alive; as soon as nothing else is pending the process exits and the safety net
// SIGKILLs the leftovers. Anything awaiting a child (ready, waitExit, stop) holds a ref'd timer.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as dgram from 'node:dgram';
import * as net from 'node:net';

export const OUTPUT_CAP_BYTES = 1024 * 1024;
const DEFAULT_MAX_LIFETIME_MS = 5 * 60 * 1000;
const STOP_GRACE_MS = 3000;

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartOptions {
  /** Resolve once this matches the collected stdout or stderr. */
  readyPattern?: RegExp;
  /** Alternatively (or additionally) poll this until it returns true (e.g. isListening). */
  readyCheck?: () => boolean | Promise<boolean>;
  /** Bound for reaching readiness; the child is killed and the promise rejected after it. */
  timeoutMs: number;
  /** Hard bound for the child's whole life (SIGTERM, then SIGKILL). Default 5 minutes. */
  maxLifetimeMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface Managed {
  readonly pid: number;
  readonly command: string;
  /** Collected output so far (each stream capped at OUTPUT_CAP_BYTES, oldest bytes dropped). */
  output(): { stdout: string; stderr: string };
  /** null while running. */
  exitStatus(): ExitStatus | null;
  /** Wait for exit; rejects (without killing) if it has not exited within timeoutMs. */
  waitExit(timeoutMs: number): Promise<ExitStatus>;
  /** Send a signal by PID (no-op if exited). */
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM by PID, SIGKILL after graceMs (default 3 s); resolves when the child has exited. */
  stop(graceMs?: number): Promise<ExitStatus>;
}

/** Bounded buffer that keeps the most recent `cap` bytes. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  private dropped = 0;
  constructor(private readonly cap: number) {}
  push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    while (this.size > this.cap && this.chunks.length > 0) {
      const first = this.chunks[0]!;
      const excess = this.size - this.cap;
      if (first.length <= excess) {
        this.chunks.shift();
        this.size -= first.length;
        this.dropped += first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.size -= excess;
        this.dropped += excess;
      }
    }
  }
  text(): string {
    const body = Buffer.concat(this.chunks).toString('utf8');
    return this.dropped > 0 ? `[… ${this.dropped} bytes dropped …]\n${body}` : body;
  }
}

// ---------------------------------------------------------------------------------------------
// Registry + safety net

const live = new Set<ManagedChild>();
let safetyNetInstalled = false;

function killAllNow(): void {
  for (const m of live) m.signal('SIGKILL');
  live.clear();
}

function installSafetyNet(): void {
  if (safetyNetInstalled) return;
  safetyNetInstalled = true;
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      killAllNow();
      process.removeListener(sig, handler);
      // Re-raise with the default behaviour if nobody else handles it.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

/** PIDs of children started through this module that are still running. */
export function runningChildren(): number[] {
  return [...live].map((m) => m.pid);
}

/** Stop every child still running (e.g. in an `after` hook). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((m) => m.stop().catch(() => undefined)));
}

// ---------------------------------------------------------------------------------------------

class ManagedChild implements Managed {
  readonly pid: number;
  readonly command: string;
  private readonly out = new TailBuffer(OUTPUT_CAP_BYTES);
  private readonly err = new TailBuffer(OUTPUT_CAP_BYTES);
  private status: ExitStatus | null = null;
  private readonly exited: Promise<ExitStatus>;
  private readonly listeners = new Set<() => void>();
  private lifetimeTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<ExitStatus> | undefined;
  private pidGone = false;

  constructor(private readonly child: ChildProcess, command: string, maxLifetimeMs: number) {
    if (child.pid === undefined) throw new Error(`spawn ${command}: no pid`);
    this.pid = child.pid;
    this.command = command;
    child.stdout?.on('data', (b: Buffer) => {
      this.out.push(b);
      this.notify();
    });
    child.stderr?.on('data', (b: Buffer) => {
      this.err.push(b);
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      // Prefer 'close' (stdio drained, so output() is complete); fall back to 'exit' + 1 s in
      // case a grandchild keeps the pipes open.
      let settled = false;
      const settle = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (settled) return;
        settled = true;
        this.status = { code, signal };
        live.delete(this);
        if (this.lifetimeTimer) clearTimeout(this.lifetimeTimer);
        this.notify();
        resolve(this.status);
      };
      child.once('exit', (code, signal) => {
        this.pidGone = true;
        setTimeout(() => settle(code, signal), 1000).unref();
      });
      child.once('close', (code, signal) => settle(code, signal));
    });
    this.lifetimeTimer = setTimeout(() => {
      void this.stop();
    }, maxLifetimeMs);
    this.lifetimeTimer.unref();
    live.add(this);
    child.unref();
    for (const s of [child.stdout, child.stderr]) {
      (s as unknown as { unref?: () => void } | null)?.unref?.();
    }
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  /** Internal: call fn on every output chunk / exit until it returns true. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  output(): { stdout: string; stderr: string } {
    return { stdout: this.out.text(), stderr: this.err.text() };
  }

  exitStatus(): ExitStatus | null {
    return this.status;
  }

  waitExit(timeoutMs: number): Promise<ExitStatus> {
    if (this.status) return Promise.resolve(this.status);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        reject(new Error(`${this.command} (pid ${this.pid}) did not exit within ${timeoutMs} ms\n${formatOutput(this.output())}`));
      }, timeoutMs);
      void this.exited.then((s) => {
        clearTimeout(t);
        resolve(s);
      });
    });
  }

  signal(sig: NodeJS.Signals): void {
    // Never signal a PID that has been reaped: it may belong to someone else by now.
    if (this.status || this.pidGone) return;
    try {
      process.kill(this.pid, sig);
    } catch {
      /* already gone */
    }
  }

  stop(graceMs: number = STOP_GRACE_MS): Promise<ExitStatus> {
    if (this.status) return Promise.resolve(this.status);
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      this.signal('SIGTERM');
      try {
        return await this.waitExit(graceMs);
      } catch {
        this.signal('SIGKILL');
        return await this.waitExit(10_000);
      }
    })();
    return this.stopping;
  }
}

function formatOutput(o: { stdout: string; stderr: string }, max = 8000): string {
  const clip = (s: string): string => (s.length > max ? `[…]${s.slice(-max)}` : s);
  return `--- stdout ---\n${clip(o.stdout)}\n--- stderr ---\n${clip(o.stderr)}`;
}

function spawnChild(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv | undefined, cwd: string | undefined): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], {
      cwd,
      env: env ? { ...process.env, ...env } : process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: false,
    });
    const onError = (err: Error): void => reject(new Error(`cannot start ${cmd}: ${err.message}`));
    child.once('error', onError);
    child.once('spawn', () => {
      child.removeListener('error', onError);
      child.on('error', () => undefined);
      resolve(child);
    });
  });
}

/**
 * Start a long-running child. Resolves once `readyPattern` appears in its stdout/stderr and/or
 * `readyCheck()` returns true (immediately after spawn if neither is given). Rejects — after
 * killing the child — with the collected output if it exits first or timeoutMs elapses.
 */
export async function startProcess(cmd: string, args: readonly string[], opts: StartOptions): Promise<Managed> {
  installSafetyNet();
  const command = [cmd, ...args].join(' ');
  const child = await spawnChild(cmd, args, opts.env, opts.cwd);
  const m = new ManagedChild(child, command, opts.maxLifetimeMs ?? DEFAULT_MAX_LIFETIME_MS);
  if (!opts.readyPattern && !opts.readyCheck) return m;

  const deadline = Date.now() + opts.timeoutMs;
  let patternSeen = !opts.readyPattern;
  let checkPassed = !opts.readyCheck;

  await new Promise<void>((resolve, reject) => {
    let done = false;
    let poll: NodeJS.Timeout | undefined;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      off();
      clearTimeout(timer);
      if (poll) clearTimeout(poll);
      if (err) {
        void m.stop().finally(() => reject(err));
      } else resolve();
    };
    const evaluate = (): void => {
      if (done) return;
      if (!patternSeen && opts.readyPattern) {
        const o = m.output();
        patternSeen = opts.readyPattern.test(o.stdout) || opts.readyPattern.test(o.stderr);
      }
      if (patternSeen && checkPassed) return finish();
      const st = m.exitStatus();
      if (st) {
        finish(new Error(`${command} exited (code ${st.code}, signal ${st.signal}) before it was ready\n${formatOutput(m.output())}`));
      }
    };
    const off = m.onChange(evaluate);
    const timer = setTimeout(() => {
      finish(new Error(`${command} (pid ${m.pid}) not ready within ${opts.timeoutMs} ms\n${formatOutput(m.output())}`));
    }, opts.timeoutMs);
    if (opts.readyCheck) {
      const check = opts.readyCheck;
      const tick = async (): Promise<void> => {
        if (done) return;
        try {
          if (await check()) checkPassed = true;
        } catch {
          /* not yet */
        }
        evaluate();
        if (!done && !checkPassed && Date.now() < deadline) poll = setTimeout(() => void tick(), 50);
      };
      void tick();
    }
    evaluate();
  });
  return m;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Run a short command to completion; SIGTERM then SIGKILL if it exceeds timeoutMs. */
export async function runProcess(
  cmd: string,
  args: readonly string[],
  opts: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<RunResult> {
  installSafetyNet();
  const child = await spawnChild(cmd, args, opts.env, opts.cwd);
  const m = new ManagedChild(child, [cmd, ...args].join(' '), opts.timeoutMs + 15_000);
  let timedOut = false;
  let status: ExitStatus;
  try {
    status = await m.waitExit(opts.timeoutMs);
  } catch {
    timedOut = true;
    status = await m.stop(1000);
  }
  return { ...status, ...m.output(), timedOut };
}

// ---------------------------------------------------------------------------------------------
// Ports

function bindUdp(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4', reuseAddr: false });
    sock.once('error', (err) => {
      sock.close();
      reject(err);
    });
    sock.bind(port, host, () => {
      const p = sock.address().port;
      sock.close(() => resolve(p));
    });
  });
}

function bindTcp(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ port, host, exclusive: true }, () => {
      const addr = srv.address();
      const p = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(p));
    });
  });
}

/** A port currently free on host for the given protocol (bind port 0, read it, close). */
export function freePort(kind: 'udp' | 'tcp', host = '127.0.0.1'): Promise<number> {
  return kind === 'udp' ? bindUdp(0, host) : bindTcp(0, host);
}

/** A port currently free on host for both UDP and TCP (SIP listens on both). */
export async function freePortBoth(host = '127.0.0.1'): Promise<number> {
  let lastErr: unknown;
  for (let i = 0; i < 50; i++) {
    const port = await freePort('tcp', host);
    try {
      await bindUdp(port, host);
      await bindTcp(port, host); // still free for TCP after the UDP probe
      return port;
    } catch (err) {
      lastErr = err;
    }
  }
  throw new Error(`freePortBoth: no port free for UDP and TCP on ${host} after 50 tries: ${String(lastErr)}`);
}

/**
 * Whether some socket on this machine listens on `port` (Linux: /proc/net). TCP: LISTEN state;
 * UDP: any bound socket. Useful as `readyCheck` for programs that buffer their stdout (SIPp).
 */
export function isListening(kind: 'udp' | 'tcp', port: number): boolean {
  const files = kind === 'udp' ? ['/proc/net/udp', '/proc/net/udp6'] : ['/proc/net/tcp', '/proc/net/tcp6'];
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      const local = cols[1]!;
      const state = cols[3]!;
      if (!local.endsWith(`:${hexPort}`)) continue;
      if (kind === 'tcp' ? state === '0A' : state === '07') return true;
    }
  }
  return false;
}
