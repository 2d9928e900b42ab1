// Run SIPp (package sip-tester) as a child process of the test and parse its results.
//
// SIPp 3.6.1 facts this relies on (checked by hand and by harness.test.ts):
//  - exit codes: 0 all calls successful, 1 at least one call failed, 97 exit on internal
//    command / -timeout reached without -timeout_error, 99 normal exit without calls processed
//    (also `sipp -v`), 255 (-1) fatal error (also -timeout reached with -timeout_error),
//    254 (-2) fatal error binding a socket.
//  - stdout is block-buffered when not a TTY: nothing shows up until exit, so readiness is
//    detected by polling /proc/net for the bound port, not by a pattern.
//  - SIGUSR1 makes SIPp quit gracefully (like pressing 'q'): it waits for running calls (the
//    built-in uas keeps each call 4 s after the BYE), then writes final stats/screen. Send it
//    ONCE: a second SIGUSR1 during that wait left SIPp running forever in a test by hand.
//    SIGTERM ends it at once (exit code 0!) without writing the screen file.
//  - `-t tn` needs -max_socket below `ulimit -n` (default 50000 fails with "Maximum number of
//    open sockets"), so -max_socket is always passed.
//  - a TCP uas counts calls as FailedTcpClosed when the uac closes the connection during its
//    final pause: judge a TCP run by the uac side.

import { mkdtempSync, readFileSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isListening, runProcess, startProcess, type ExitStatus, type Managed, type RunResult } from '../../harness/processes.js';

export const SIPP_BIN = process.env.SIPP_BIN || 'sipp';

/** Built-in scenarios (`-sn`); anything else is a path to an XML scenario (`-sf`). */
const BUILTIN = new Set([
  'uac',
  'uas',
  'regexp',
  'branchc',
  'branchs',
  'uac_pcap',
  '3pcc-A',
  '3pcc-B',
  '3pcc-C-A',
  '3pcc-C-B',
]);

export type SippTransport = 'u1' | 'un' | 'ui' | 't1' | 'tn' | 'l1' | 'ln';

export interface SippOptions {
  /** 'uac' | 'uas' | other built-in name, or a path to an XML scenario file. */
  scenario: 'uac' | 'uas' | string;
  /** Remote host:port, e.g. '127.0.0.1:5060' (required for client scenarios). */
  target?: string;
  /** Local SIP port (-p). */
  localPort: number;
  /** Local IP (-i); default 127.0.0.1. Tests only ever use loopback. */
  localIp?: string;
  /** -t; default u1. */
  transport?: SippTransport;
  /** -m: stop after this many calls. */
  calls?: number;
  /** -r: calls per second. */
  rate?: number;
  /** -l: max simultaneous calls. */
  limit?: number;
  /** -lost: percentage of packets to drop. */
  lost?: number;
  /** SIPp -timeout (seconds); we hard-kill a few seconds after it. */
  timeoutS: number;
  /** Extra raw arguments, appended last. */
  extra?: string[];
  /** -trace_msg: keep every SIP message in messages.log. */
  trace?: boolean;
  /** Keep the run directory even when the run succeeded (also env SIPP_KEEP=1). */
  keepFiles?: boolean;
}

export interface SippFiles {
  /** Per-run directory (SIPp's cwd). Removed after a successful run unless kept. */
  dir: string;
  kept: boolean;
  stats: string;
  screen: string;
  errors: string;
  messages?: string;
}

export interface SippResult {
  /** SIPp's exit code (null if killed by a signal). */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** true if we had to kill SIPp because it outlived timeoutS + grace. */
  killed: boolean;
  /** Cumulative SuccessfulCall / FailedCall (from the stats CSV, else the screen dump; -1 unknown). */
  successful: number;
  failed: number;
  retransmissions?: number;
  /** The last row of the stats CSV, by column name (cumulative "(C)" and periodic "(P)"). */
  stats: Record<string, string>;
  stdout: string;
  stderr: string;
  /** Content of SIPp's error log (unexpected messages etc.), possibly truncated. */
  errorLog: string;
  files: SippFiles;
  args: string[];
}

const HARD_KILL_GRACE_S = 5;

function buildArgs(opts: SippOptions, files: SippFiles): string[] {
  const args: string[] = [];
  if (BUILTIN.has(opts.scenario)) args.push('-sn', opts.scenario);
  else args.push('-sf', isAbsolute(opts.scenario) ? opts.scenario : resolve(process.cwd(), opts.scenario));
  if (opts.target) args.push(opts.target);
  args.push('-i', opts.localIp ?? '127.0.0.1', '-p', String(opts.localPort));
  args.push('-t', opts.transport ?? 'u1');
  if (opts.calls !== undefined) args.push('-m', String(opts.calls));
  if (opts.rate !== undefined) args.push('-r', String(opts.rate));
  if (opts.limit !== undefined) args.push('-l', String(opts.limit));
  if (opts.lost !== undefined) {
    args.push('-lost', String(opts.lost));
    // SIPp gives up on a UDP transaction after 5 (non-INVITE) / 7 (INVITE) retransmissions. With
    // 10 % loss each way a round trip fails with p ≈ 0.19, so a BYE exhausts SIPp's own limit with
    // p ≈ 0.19^6 ≈ 5e-5 per call (≈ 1 % of 200-call runs), whatever the server does. Raise SIPp's
    // limits so only a server that stops answering can fail the run.
    args.push('-max_non_invite_retrans', '12', '-max_invite_retrans', '12');
  }
  args.push('-nostdin');
  args.push('-timeout', `${opts.timeoutS}s`, '-timeout_error');
  args.push('-max_socket', '512');
  args.push('-trace_stat', '-stf', files.stats, '-fd', '1');
  args.push('-trace_screen', '-screen_file', files.screen);
  args.push('-trace_err', '-error_file', files.errors);
  if (opts.trace && files.messages) args.push('-trace_msg', '-message_file', files.messages);
  if (opts.extra) args.push(...opts.extra);
  return args;
}

function makeFiles(opts: SippOptions): SippFiles {
  const dir = mkdtempSync(join(tmpdir(), 'sipp-'));
  return {
    dir,
    kept: true,
    stats: join(dir, 'stats.csv'),
    screen: join(dir, 'screen.log'),
    errors: join(dir, 'errors.log'),
    messages: opts.trace ? join(dir, 'messages.log') : undefined,
  };
}

function readText(path: string, max = 256 * 1024): string {
  try {
    const t = readFileSync(path, 'utf8');
    return t.length > max ? `[…]${t.slice(-max)}` : t;
  } catch {
    return '';
  }
}

/** Parse SIPp's -trace_stat CSV: header row + one row per dump; the last row is the latest. */
export function parseStatsCsv(text: string): Record<string, string> {
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  if (lines.length < 2) return {};
  const header = lines[0]!.split(';');
  const row = lines[lines.length - 1]!.split(';');
  const out: Record<string, string> = {};
  header.forEach((h, i) => {
    if (h) out[h] = row[i] ?? '';
  });
  return out;
}

/** Fallback: the "Successful call | periodic | cumulative" lines of the screen dump (last one wins). */
export function parseScreen(text: string): { successful?: number; failed?: number } {
  const last = (re: RegExp): number | undefined => {
    let v: number | undefined;
    for (const m of text.matchAll(re)) v = Number(m[1]);
    return v;
  };
  return {
    successful: last(/Successful call\s*\|[^|]*\|\s*(\d+)/g),
    failed: last(/Failed call\s*\|[^|]*\|\s*(\d+)/g),
  };
}

function num(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function collect(
  opts: SippOptions,
  files: SippFiles,
  args: string[],
  status: ExitStatus,
  killed: boolean,
  output: { stdout: string; stderr: string },
): SippResult {
  const stats = parseStatsCsv(readText(files.stats, 4 * 1024 * 1024));
  // The screen dump also goes to stdout at exit; prefer the file, else stdout.
  const screen = parseScreen(readText(files.screen) || output.stdout);
  const successful = num(stats['SuccessfulCall(C)']) ?? screen.successful ?? -1;
  const failed = num(stats['FailedCall(C)']) ?? screen.failed ?? -1;
  const retransmissions = num(stats['Retransmissions(C)']);
  // SIPp also writes <scenario>_<pid>_*.log into its cwd for some errors; fold them in.
  let errorLog = readText(files.errors);
  try {
    for (const f of readdirSync(files.dir)) {
      if (/_errors\.log$/.test(f)) errorLog += readText(join(files.dir, f));
    }
  } catch {
    /* dir gone */
  }
  const ok = status.code === 0 && !killed;
  const keep = opts.keepFiles || process.env.SIPP_KEEP === '1' || !ok;
  if (!keep) {
    rmSync(files.dir, { recursive: true, force: true });
  }
  return {
    code: status.code,
    signal: status.signal,
    killed,
    successful,
    failed,
    retransmissions,
    stats,
    stdout: output.stdout,
    stderr: output.stderr,
    errorLog,
    files: { ...files, kept: keep && existsSync(files.dir) },
    args,
  };
}

/** Short human summary of a result, for assertion messages. */
export function describeSipp(r: SippResult): string {
  return [
    `sipp ${r.args.join(' ')}`,
    `exit code ${r.code}${r.signal ? ` signal ${r.signal}` : ''}${r.killed ? ' (killed)' : ''}`,
    `successful ${r.successful}, failed ${r.failed}, retransmissions ${r.retransmissions ?? '?'}`,
    r.files.kept ? `files kept in ${r.files.dir}` : '',
    r.errorLog ? `--- error log ---\n${r.errorLog.slice(-4000)}` : '',
    r.stderr ? `--- stderr ---\n${r.stderr.slice(-4000)}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

export interface SippProcess extends Managed {
  readonly files: SippFiles;
  readonly args: string[];
  /**
   * Quit gracefully (SIGUSR1 = 'q': final stats and screen are written), falling back to
   * SIGTERM/SIGKILL, then parse the results.
   */
  finish(graceMs?: number): Promise<SippResult>;
}

function isListenTransport(t: SippTransport | undefined): 'udp' | 'tcp' | null {
  if (!t || t.startsWith('u')) return 'udp';
  if (t.startsWith('t')) return 'tcp';
  return null; // TLS etc.: no readiness probe
}

/**
 * Start SIPp in the background (e.g. a uas), resolving once its SIP port is bound. The process
 * is still our child: stop it with finish() (graceful, parses results) or stop().
 */
export async function startSipp(opts: SippOptions): Promise<SippProcess> {
  const files = makeFiles(opts);
  const args = buildArgs(opts, files);
  const kind = isListenTransport(opts.transport);
  let m: Managed;
  try {
    m = await startProcess(SIPP_BIN, args, {
      cwd: files.dir,
      timeoutMs: 10_000,
      readyCheck: kind ? () => isListening(kind, opts.localPort) : undefined,
      maxLifetimeMs: (opts.timeoutS + HARD_KILL_GRACE_S) * 1000,
    });
  } catch (err) {
    throw new Error(`startSipp failed (files in ${files.dir}): ${(err as Error).message}`);
  }
  let killed = false;
  const finish = async (graceMs = 10_000): Promise<SippResult> => {
    let status = m.exitStatus();
    if (!status) {
      m.signal('SIGUSR1');
      try {
        status = await m.waitExit(graceMs);
      } catch {
        killed = true;
        status = await m.stop();
      }
    }
    return collect(opts, files, args, status, killed, m.output());
  };
  const proc: SippProcess = {
    pid: m.pid,
    command: m.command,
    files,
    args,
    output: () => m.output(),
    exitStatus: () => m.exitStatus(),
    waitExit: (t: number) => m.waitExit(t),
    signal: (s: NodeJS.Signals) => m.signal(s),
    stop: (g?: number) => m.stop(g),
    finish,
  };
  return proc;
}

/** Run SIPp to completion (bounded: SIPp's -timeout, then a hard kill a few seconds later). */
export async function runSipp(opts: SippOptions): Promise<SippResult> {
  const files = makeFiles(opts);
  const args = buildArgs(opts, files);
  const m = await startProcess(SIPP_BIN, args, {
    cwd: files.dir,
    timeoutMs: 0,
    maxLifetimeMs: (opts.timeoutS + HARD_KILL_GRACE_S + 10) * 1000,
  });
  let killed = false;
  let status: ExitStatus;
  try {
    status = await m.waitExit((opts.timeoutS + HARD_KILL_GRACE_S) * 1000);
  } catch {
    killed = true;
    status = await m.stop();
  }
  return collect(opts, files, args, status, killed, m.output());
}

// ---------------------------------------------------------------------------------------------
// Our own CLI (`switchboard`), run as a child process next to SIPp.

/** Compiled CLI entry point (dist/src/app/cli/main.js), or env SWITCHBOARD_CLI. */
export const SWITCHBOARD_CLI =
  process.env.SWITCHBOARD_CLI || fileURLToPath(new URL('../../../src/app/cli/main.js', import.meta.url));

/** Directory holding the SIPp XML scenarios of this suite (the sources: SIPp reads XML, tsc does not copy it). */
export const SCENARIO_DIR = fileURLToPath(new URL('../../../../test/interop/sipp/scenarios/', import.meta.url));

/** Run `switchboard <args>` to completion (bounded: SIGTERM, then SIGKILL after timeoutMs). */
export function runSwitchboard(args: readonly string[], timeoutMs: number): Promise<RunResult> {
  return runProcess(process.execPath, [SWITCHBOARD_CLI, ...args], { timeoutMs });
}

export interface AnswerProcess extends Managed {
  /** `call N ended: REASON` lines printed so far, in order. */
  endedReasons(): string[];
}

/**
 * Start `switchboard answer --listen udp:127.0.0.1:PORT --listen tcp:127.0.0.1:PORT` and resolve
 * once it printed its `listening on` lines and both sockets are bound.
 */
export async function startAnswer(opts: {
  port: number;
  maxCalls?: number;
  trace?: boolean;
  /** Hard bound for the whole life of the process (default 5 min). */
  maxLifetimeMs?: number;
}): Promise<AnswerProcess> {
  const args = [SWITCHBOARD_CLI, 'answer', '--listen', `udp:127.0.0.1:${opts.port}`, '--listen', `tcp:127.0.0.1:${opts.port}`];
  if (opts.maxCalls !== undefined) args.push('--max-calls', String(opts.maxCalls));
  if (opts.trace) args.push('--trace');
  const m = await startProcess(process.execPath, args, {
    readyPattern: new RegExp(`listening on tcp:127\\.0\\.0\\.1:${opts.port}\\b`),
    readyCheck: () => isListening('udp', opts.port) && isListening('tcp', opts.port),
    timeoutMs: 15_000,
    maxLifetimeMs: opts.maxLifetimeMs,
  });
  return Object.assign(m, {
    endedReasons: (): string[] => [...m.output().stdout.matchAll(/^call \d+ ended: (\S+)$/gm)].map((x) => x[1]!),
  });
}
