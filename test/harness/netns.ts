// A NAT laboratory made of Linux network namespaces, for the "phones behind NAT" tests (issue 18).
//
//   createNatLab({ name, phones: 2 }) builds, on this machine only:
//
//     sb-pub-S (the "internet")          sb-rtr-S (the home router)             sb-p1-S, sb-p2-S … (phones)
//     br0 203.0.113.1/24  ── rtr0 ═══ wan 203.0.113.2/24                      eth0 10.1.2.3/24 (phone1)
//      │  (server runs here)                br0 10.1.2.1/24 ── lan1 ═══════════ eth0 10.1.2.4/24 (phone2) …
//      ├─ h1 ═══ sb-h1-S eth0 203.0.113.11/24 (optional public hosts)          default via 10.1.2.1
//      no route to 10.0.0.0/8              nft: masquerade LAN → wan,
//                                          forward: LAN → wan + replies only,
//                                          input from wan: replies only
//
//   (═══ a veth pair; S a suffix made of this process's PID in base 36 and a two-character
//   counter, so parallel test files and labs never collide; every name is at most 15 characters.)
//
//   createNatLab({ name, phones: 2, routerPerPhone: true }) gives each phone a home of its own —
//   its own router (NAT), wan address and LAN — as for two subscribers on the internet:
//
//     sb-pub-S                        sb-rtr-S = router1                          sb-p1-S = phone1
//     br0 203.0.113.1/24 ── rtr0 ═══ wan 203.0.113.2/24, br0 10.1.2.1/24 ── lan1 ═══ eth0 10.1.2.3/24
//      │                              sb-r2-S = router2                           sb-p2-S = phone2
//      ├─ rtr1 ═════════════════════ wan 203.0.113.3/24, br0 10.1.3.1/24 ── lan2 ═══ eth0 10.1.3.3/24
//      └─ … router k: wan 203.0.113.(1+k), LAN 10.1.(1+k).0/24, phone k = 10.1.(1+k).3 (k ≤ 8,
//           so the wan addresses stay below the public hosts' 203.0.113.11 …)
//
//   Router 1 keeps the names and addresses of the shared-router lab (sb-rtr-S, 203.0.113.2,
//   10.1.2.1, phone1 = 10.1.2.3), so 'router', ns.router, addr.routerWan and addr.routerLan still
//   mean router 1; 'router2' …, ns.routers[], addr.routerWans[] / routerLans[] and
//   routerOf('phone2') name the others. Every router gets the same NAT rules, SIP ALG choice and
//   UDP timeout (setUdpTimeout and flushMappings act on all of them; conntrack(all, 'router2')
//   reads one).
//
// Why this is as good as loopback: the 203.0.113.0/24 (TEST-NET-3, RFC 5737) and 10.1.2.0/24
// addresses exist only on interfaces inside these namespaces. Every veth pair is created with
// both ends inside lab namespaces (`ip -n A link add … peer … netns B`): no interface is ever
// added to the host's own namespace, the host's routing table is not touched, and no namespace
// has a link to a real interface — so no packet can leave the machine (or even reach the host's
// stack), exactly as with 127.0.0.1. Deleting the namespaces deletes their interfaces, bridges,
// nft tables, conntrack entries and sysctls with them.
//
// NAT behaviour (Linux conntrack + nft masquerade in sb-rtr-S):
//   - 'port-restricted' (default): endpoint-independent mapping (conntrack keeps the source port
//     when it is free, so one phone socket appears from one 203.0.113.2:port whatever it talks
//     to) and address-and-port-dependent filtering (only packets matching a conntrack entry come
//     in; anything unsolicited from the wan side is dropped silently, like a home router).
//   - 'symmetric': `masquerade fully-random` — every new flow (other destination) gets its own
//     random public port.
//   - sipAlg: true attaches the kernel's SIP helper (nf_conntrack_sip / nf_nat_sip) to UDP port
//     5060 — a router with a "SIP ALG" that rewrites Via/Contact/SDP addresses. Off by default
//     (kernel ≥ 6.0 never assigns helpers automatically).
//
// Conntrack UDP timeouts — what is per namespace and what is global (checked on Linux 6.18):
//   - net.netfilter.nf_conntrack_udp_timeout (unreplied flows, default 30 s) and
//     nf_conntrack_udp_timeout_stream (flows that saw a reply and lived > 2 s, default 120 s)
//     are PER NETWORK NAMESPACE: writing them inside sb-rtr-S changes neither the host nor other
//     labs. createNatLab({ udpTimeoutS }) sets both in every router namespace, and checks that the
//     host's value did not move; if it did (a kernel where they are global) it restores the
//     host's value and leaves lab.udpTimeoutS undefined with lab.udpTimeoutUnsupported saying why.
//     A timeout applies when a packet refreshes an entry, so setUdpTimeout() affects existing
//     mappings from their next packet on.
//   - Global (one for the whole machine, writable only from the host namespace): nf_conntrack_max,
//     nf_conntrack_buckets (hash size) and the helper modules themselves. nft "ct timeout"
//     objects (per rule) exist too, but nft 1.0.6's UDP policy gave wrong timeouts here — unused.
//   - net.bridge.bridge-nf-call-iptables (br_netfilter is built into this kernel) is per
//     namespace too: it is set to 0 in the lab so bridged LAN traffic does not go through the
//     router's IP hooks.
//
// Requirements (natLabSupported() says which one is missing): Linux, root (CAP_NET_ADMIN and
// CAP_SYS_ADMIN for `ip netns`), iproute2 (`ip`), nft (Debian package `nftables`); the optional
// lab.flushMappings() also wants `conntrack` (Debian package `conntrack`).
//
// Cleanup: lab.destroy() (idempotent; also run when createNatLab fails half-way) SIGKILLs any
// process still inside the namespaces the lab created (by PID, from `ip netns pids`), deletes
// those namespaces and the lab's temp dir. Every lab is also registered with a process 'exit' handler
// (synchronous `ip netns del`) and SIGINT/SIGTERM/SIGHUP handlers, so a crashing test cleans up;
// namespaces left by a test process that was SIGKILLed (its PID is in the name) are deleted by
// the next createNatLab.
//
// Processes: lab.exec(where, cmd, args, opts) is processes.ts's startProcess on
// `ip netns exec NS cmd args…` — `ip netns exec` execs the program, so Managed.pid is the
// program's own PID and stop()/signal() reach it directly.

import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProcess, startProcess, type Managed, type RunResult, type StartOptions } from './processes.js';

export type NatType = 'port-restricted' | 'symmetric';

export interface NatLabOptions {
  /** A label for messages (names are generated: sb-pub-S, sb-rtr-S, sb-p1-S …). */
  name: string;
  /**
   * Phones: on one shared LAN, phone1 = 10.1.2.3, phone2 = 10.1.2.4 … (1–50); with
   * routerPerPhone, phone k = 10.1.(1+k).3 on router k's LAN (1–8).
   */
  phones: number;
  /**
   * true: each phone behind its own router (router k: wan 203.0.113.(1+k), LAN 10.1.(1+k).0/24);
   * false (default): all phones on the LAN of one router.
   */
  routerPerPhone?: boolean;
  natType?: NatType;
  /** Conntrack UDP timeout of the router, seconds (both unreplied and stream). Default: the kernel's (30 / 120). */
  udpTimeoutS?: number;
  /** The router's SIP ALG (kernel SIP helper on UDP 5060). Default false. */
  sipAlg?: boolean;
  /** Hosts on the public network next to the server: host1 = 203.0.113.11 … (0–50). Default 0. */
  publicHosts?: number;
  /**
   * What the server's (and public hosts') packets to private addresses (10.0.0.0/8) do:
   * 'no-route' (default): no route, a send fails at once (ENETUNREACH);
   * 'blackhole': routed to a neighbour that does not exist, so a send succeeds and the packet
   * is lost silently — as on the internet, where nobody answers for 10.1.2.3.
   */
  privateRoute?: 'no-route' | 'blackhole';
}

/** 'public' (the server's namespace), 'router' (= 'router1'), 'router2'…, 'phone1'…, 'host1'… */
export type LabPlace = 'public' | 'router' | `router${number}` | `phone${number}` | `host${number}`;

export interface Datagram {
  from: string;
  port: number;
  data: Buffer;
  text: string;
}

/** A UDP socket inside a namespace, driven from the test (see NatLab.udpAgent). */
export interface UdpAgent {
  readonly proc: Managed;
  /** Where the socket is bound (inside its namespace). */
  readonly local: { address: string; port: number };
  /** Send one datagram; rejects with the socket error's code (e.g. ENETUNREACH). */
  send(host: string, port: number, data: string | Buffer): Promise<void>;
  /** Datagrams received so far, in order. */
  received(): Datagram[];
  /** The first received datagram (from index `since` on) matching pred; rejects after timeoutMs. */
  waitFor(pred: (d: Datagram) => boolean, timeoutMs: number, since?: number): Promise<Datagram>;
  stop(): Promise<void>;
}

export interface ConntrackEntry {
  proto: string;
  /** Seconds left. */
  ttl: number;
  orig: { src: string; dst: string; sport: number; dport: number };
  reply: { src: string; dst: string; sport: number; dport: number };
  unreplied: boolean;
  assured: boolean;
  raw: string;
}

export interface NatLab {
  readonly name: string;
  readonly suffix: string;
  readonly natType: NatType;
  /** Whether each phone has a router of its own (NatLabOptions.routerPerPhone). */
  readonly routerPerPhone: boolean;
  /** router = routers[0]; routers has one entry, or one per phone with routerPerPhone. */
  readonly ns: { public: string; router: string; routers: string[]; phones: string[]; hosts: string[] };
  /** routerWan/routerLan = router 1's; routerWans[k-1]/routerLans[k-1] = router k's. */
  readonly addr: { server: string; routerWan: string; routerLan: string; routerWans: string[]; routerLans: string[]; phones: string[]; hosts: string[] };
  /** The routers' UDP timeout in effect (s), when one was asked for and could be set per namespace. */
  readonly udpTimeoutS: number | undefined;
  /** Why udpTimeoutS could not be set (undefined when it was, or was not asked for). */
  readonly udpTimeoutUnsupported: string | undefined;
  /** Namespace name of a place. */
  nsOf(where: LabPlace): string;
  /** IPv4 address of a place (a router: its wan address). */
  addrOf(where: LabPlace): string;
  /** The router a phone sits behind: 'router' (shared) or 'routerK' (routerPerPhone). */
  routerOf(phone: LabPlace): LabPlace;
  /** startProcess(`ip netns exec NS cmd args…`): bounded, stopped by PID (see processes.ts). */
  exec(where: LabPlace, cmd: string, args: readonly string[], opts: StartOptions): Promise<Managed>;
  /** runProcess inside a namespace (short commands). */
  run(where: LabPlace, cmd: string, args: readonly string[], opts?: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string }): Promise<RunResult>;
  /** Whether a socket in that namespace listens on port (TCP LISTEN / UDP bound). */
  isListening(where: LabPlace, kind: 'udp' | 'tcp', port: number): Promise<boolean>;
  /** An HTTP request made from inside a namespace (e.g. to an admin API on 127.0.0.1 there). */
  http(where: LabPlace, url: string, init?: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number }): Promise<{ status: number; text: string }>;
  /** A UDP socket bound in a namespace (default 0.0.0.0:0), controlled from the test. */
  udpAgent(where: LabPlace, bind?: { address?: string; port?: number }): Promise<UdpAgent>;
  /** A router's conntrack table (UDP entries unless all); default router 1. */
  conntrack(all?: boolean, router?: LabPlace): Promise<ConntrackEntry[]>;
  /** Change every router's UDP timeouts (per namespace); the next packet of each flow picks it up. */
  setUdpTimeout(seconds: number): Promise<void>;
  /** Forget every UDP mapping of every router at once (router reboot); needs the `conntrack` tool. */
  flushMappings(): Promise<void>;
  /** Text describing the lab (names, addresses, nft ruleset) for failure messages. */
  describe(): Promise<string>;
  /** Delete everything; idempotent. */
  destroy(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Constants

const SERVER_ADDR = '203.0.113.1';
const BLACKHOLE_NEXT_HOP = '203.0.113.254';
const BLACKHOLE_MAC = '02:00:00:00:00:fe';
const NS_RE = /^sb-(?:pub|rtr|r\d+|p\d+|h\d+)-([0-9a-z]+)$/;
const CMD_TIMEOUT_MS = 10_000;
const PROBE_TIMEOUT_MS = 10_000;

const phoneAddr = (i: number): string => `10.1.2.${2 + i}`;
const hostAddr = (i: number): string => `203.0.113.${10 + i}`;
/** Router k (1-based): wan and LAN address, and (routerPerPhone) its phone. Router 1's are the shared router's. */
const MAX_SITES = 8;
const routerWanAddr = (k: number): string => `203.0.113.${1 + k}`;
const routerLanAddr = (k: number): string => `10.1.${1 + k}.1`;
const sitePhoneAddr = (k: number): string => `10.1.${1 + k}.3`;

// ---------------------------------------------------------------------------------------------
// Small command runner (not processes.ts: these are short, synchronous-in-spirit setup steps)

interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

function cmd(file: string, args: readonly string[], input?: string, timeoutMs = CMD_TIMEOUT_MS): Promise<CmdResult> {
  return new Promise((resolve) => {
    const child = execFile(file, [...args], { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      let code = 0;
      if (err) {
        const c = (err as unknown as { code?: unknown }).code;
        code = typeof c === 'number' && c !== 0 ? c : typeof c === 'string' ? 127 : 124; // 127: not started, 124: killed (timeout)
      }
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err ? err.message : '') });
    });
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

async function must(file: string, args: readonly string[], input?: string): Promise<string> {
  const r = await cmd(file, args, input);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

function hasBinary(bin: string): boolean {
  const r = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', bin], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0;
}

// ---------------------------------------------------------------------------------------------
// Support check

let supportCache: Promise<string | undefined> | undefined;

/** undefined when a NAT lab can be built here, else the reason (for t.skip / describe skip). */
export function natLabSupported(): Promise<string | undefined> {
  supportCache ??= (async () => {
    if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
    if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'network namespaces need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)';
    if (!hasBinary('ip')) return '`ip` (iproute2) is not installed';
    if (!hasBinary('nft')) return '`nft` is not installed (Debian package nftables)';
    const probe = `sb-probe-${randomBytes(3).toString('hex')}`;
    const add = await cmd('ip', ['netns', 'add', probe], undefined, PROBE_TIMEOUT_MS);
    if (add.code !== 0) return `ip netns add failed: ${add.stderr.trim()}`;
    try {
      const nft = await cmd('ip', ['netns', 'exec', probe, 'nft', 'list', 'ruleset'], undefined, PROBE_TIMEOUT_MS);
      if (nft.code !== 0) return `nft does not work in a namespace: ${nft.stderr.trim()}`;
      const veth = await cmd('ip', ['-n', probe, 'link', 'add', 'name', 'va', 'type', 'veth', 'peer', 'name', 'vb'], undefined, PROBE_TIMEOUT_MS);
      if (veth.code !== 0) return `cannot create a veth pair: ${veth.stderr.trim()}`;
    } finally {
      await cmd('ip', ['netns', 'del', probe], undefined, PROBE_TIMEOUT_MS);
    }
    return undefined;
  })();
  return supportCache;
}

// ---------------------------------------------------------------------------------------------
// Registry + safety net

const liveLabs = new Set<Lab>();
let labCounter = Math.floor(Math.random() * 36 * 36);
let safetyNetInstalled = false;

function destroyAllSync(): void {
  for (const lab of [...liveLabs]) lab.destroySync();
}

function installSafetyNet(): void {
  if (safetyNetInstalled) return;
  safetyNetInstalled = true;
  process.on('exit', destroyAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      destroyAllSync();
      process.removeListener(sig, handler);
      // Re-raise with the default behaviour if nobody else handles it (processes.ts does the same).
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie (killed, not reaped yet) answers kill(0) too.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Delete lab namespaces whose creating process is gone (it was SIGKILLed before it could clean
 * up): the PID in the name's suffix no longer exists.
 */
async function sweepStale(): Promise<void> {
  const r = await cmd('ip', ['netns', 'list']);
  if (r.code !== 0) return;
  const staleSuffixes = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    const name = line.trim().split(/\s+/)[0] ?? '';
    const m = NS_RE.exec(name);
    if (!m || m[1]!.length < 3) continue;
    const pid = parseInt(m[1]!.slice(0, -2), 36);
    if (!Number.isFinite(pid) || pid <= 0) continue;
    // Ours (this PID) only when no live lab of this process owns it (a dead process had our PID).
    if (pid === process.pid ? [...liveLabs].some((l) => l.created.includes(name)) : pidAlive(pid)) continue;
    // Processes still inside were started in that lab by the dead test process (its safety net
    // never ran): they can only be its leftovers.
    const pids = await cmd('ip', ['netns', 'pids', name]);
    for (const p of pids.stdout.split(/\s+/).filter(Boolean).map(Number)) {
      try {
        if (Number.isInteger(p) && p > 0 && p !== process.pid) process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await cmd('ip', ['netns', 'del', name]);
    staleSuffixes.add(m[1]!);
  }
  // Their temp dirs (sb-natlab-SUFFIX-XXXXXX).
  for (const entry of readdirSync(tmpdir())) {
    const t = /^sb-natlab-([0-9a-z]+)-/.exec(entry);
    if (t && staleSuffixes.has(t[1]!)) rmSync(join(tmpdir(), entry), { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The UDP agent: a node script run inside a namespace. Received datagrams go to stdout as JSON
// lines; the test sends through a Unix socket (filesystem sockets are not scoped by network
// namespace, so the test in the host namespace reaches it).

const AGENT_SCRIPT = String.raw`'use strict';
const dgram = require('node:dgram');
const net = require('node:net');
const fs = require('node:fs');
const [ctl, host, port] = process.argv.slice(2);
const sock = dgram.createSocket({ type: 'udp4' });
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
sock.on('message', (m, r) => out({ event: 'message', from: r.address, port: r.port, data: m.toString('base64') }));
sock.on('error', (e) => out({ event: 'error', code: e.code, message: e.message }));
sock.bind(Number(port), host, () => {
  try { fs.unlinkSync(ctl); } catch {}
  const srv = net.createServer((c) => {
    let buf = '';
    c.on('error', () => {});
    c.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const cmd = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (cmd.op === 'send') {
          sock.send(Buffer.from(cmd.data, 'base64'), cmd.port, cmd.host, (err) => {
            c.write(JSON.stringify({ id: cmd.id, ok: !err, code: err ? err.code || err.message : undefined }) + '\n');
          });
        }
      }
    });
  });
  srv.listen(ctl, () => {
    const a = sock.address();
    out({ event: 'ready', address: a.address, port: a.port });
  });
});
process.on('SIGTERM', () => process.exit(0));
`;

// ---------------------------------------------------------------------------------------------
// The lab

class Lab implements NatLab {
  readonly ns: { public: string; router: string; routers: string[]; phones: string[]; hosts: string[] };
  readonly addr: { server: string; routerWan: string; routerLan: string; routerWans: string[]; routerLans: string[]; phones: string[]; hosts: string[] };
  udpTimeoutS: number | undefined;
  udpTimeoutUnsupported: string | undefined;
  readonly tmp: string;
  /** Namespaces this lab has created (destroy deletes these and nothing else). */
  readonly created: string[] = [];
  private destroyed = false;
  private agentSeq = 0;

  constructor(
    readonly name: string,
    readonly suffix: string,
    readonly natType: NatType,
    phones: number,
    hosts: number,
    readonly routerPerPhone: boolean,
  ) {
    const routers = routerPerPhone ? phones : 1;
    // Router 1 is sb-rtr-S (as in the shared-router lab), router k ≥ 2 sb-rK-S.
    const routerNs = Array.from({ length: routers }, (_, i) => (i === 0 ? `sb-rtr-${suffix}` : `sb-r${i + 1}-${suffix}`));
    this.ns = {
      public: `sb-pub-${suffix}`,
      router: routerNs[0]!,
      routers: routerNs,
      phones: Array.from({ length: phones }, (_, i) => `sb-p${i + 1}-${suffix}`),
      hosts: Array.from({ length: hosts }, (_, i) => `sb-h${i + 1}-${suffix}`),
    };
    const routerWans = Array.from({ length: routers }, (_, i) => routerWanAddr(i + 1));
    const routerLans = Array.from({ length: routers }, (_, i) => routerLanAddr(i + 1));
    this.addr = {
      server: SERVER_ADDR,
      routerWan: routerWans[0]!,
      routerLan: routerLans[0]!,
      routerWans,
      routerLans,
      phones: Array.from({ length: phones }, (_, i) => (routerPerPhone ? sitePhoneAddr(i + 1) : phoneAddr(i + 1))),
      hosts: Array.from({ length: hosts }, (_, i) => hostAddr(i + 1)),
    };
    this.tmp = mkdtempSync(join(tmpdir(), `sb-natlab-${suffix}-`));
    writeFileSync(join(this.tmp, 'udp-agent.cjs'), AGENT_SCRIPT);
  }

  allNs(): string[] {
    return [this.ns.public, ...this.ns.routers, ...this.ns.phones, ...this.ns.hosts];
  }

  nsOf(where: LabPlace): string {
    if (where === 'public') return this.ns.public;
    if (where === 'router') return this.ns.router;
    const m = /^(phone|host|router)(\d+)$/.exec(where);
    const list = m ? (m[1] === 'phone' ? this.ns.phones : m[1] === 'router' ? this.ns.routers : this.ns.hosts) : undefined;
    const ns = m && list ? list[Number(m[2]) - 1] : undefined;
    if (!ns) {
      throw new Error(
        `nat lab ${this.name}: no place ${JSON.stringify(where)} (phones 1–${this.ns.phones.length}, routers 1–${this.ns.routers.length}, hosts 1–${this.ns.hosts.length})`,
      );
    }
    return ns;
  }

  addrOf(where: LabPlace): string {
    if (where === 'public') return this.addr.server;
    const ns = this.nsOf(where);
    const r = this.ns.routers.indexOf(ns);
    if (r >= 0) return this.addr.routerWans[r]!;
    const i = this.ns.phones.indexOf(ns);
    return i >= 0 ? this.addr.phones[i]! : this.addr.hosts[this.ns.hosts.indexOf(ns)]!;
  }

  routerOf(phone: LabPlace): LabPlace {
    const i = this.ns.phones.indexOf(this.nsOf(phone));
    if (i < 0) throw new Error(`nat lab ${this.name}: ${phone} is not a phone (only phones sit behind a router)`);
    return this.routerPerPhone ? `router${i + 1}` : 'router';
  }

  private ip(ns: string, ...args: string[]): Promise<string> {
    return must('ip', ['-n', ns, ...args]);
  }

  private sysctl(ns: string, ...settings: string[]): Promise<string> {
    return must('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', ...settings]);
  }

  async build(opts: Required<Pick<NatLabOptions, 'sipAlg' | 'privateRoute'>> & { udpTimeoutS?: number }): Promise<void> {
    for (const ns of this.allNs()) {
      await must('ip', ['netns', 'add', ns]);
      this.created.push(ns);
      await this.ip(ns, 'link', 'set', 'lo', 'up');
      // No IPv6 (no DAD delays, no router solicitations): the lab is IPv4 like a home NAT.
      await this.sysctl(ns, 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    }
    const pub = this.ns.public;

    // The public network: a bridge in sb-pub carrying the server's address.
    await this.ip(pub, 'link', 'add', 'name', 'br0', 'type', 'bridge');
    await this.sysctl(pub, 'net.bridge.bridge-nf-call-iptables=0');
    await this.ip(pub, 'addr', 'add', `${SERVER_ADDR}/24`, 'dev', 'br0');
    await this.ip(pub, 'link', 'set', 'br0', 'up');

    for (const [k, rtr] of this.ns.routers.entries()) {
      // Router wan ═══ public bridge (router 1: rtr0, router 2: rtr1 …).
      await this.ip(rtr, 'link', 'add', 'name', 'wan', 'type', 'veth', 'peer', 'name', `rtr${k}`, 'netns', pub);
      await this.ip(pub, 'link', 'set', `rtr${k}`, 'master', 'br0', 'up');
      await this.ip(rtr, 'addr', 'add', `${this.addr.routerWans[k]}/24`, 'dev', 'wan');
      await this.ip(rtr, 'link', 'set', 'wan', 'up');

      // Router LAN bridge.
      await this.ip(rtr, 'link', 'add', 'name', 'br0', 'type', 'bridge');
      await this.sysctl(rtr, 'net.bridge.bridge-nf-call-iptables=0');
      await this.ip(rtr, 'addr', 'add', `${this.addr.routerLans[k]}/24`, 'dev', 'br0');
      await this.ip(rtr, 'link', 'set', 'br0', 'up');
      await this.sysctl(rtr, 'net.ipv4.ip_forward=1');
    }

    for (const [i, ph] of this.ns.phones.entries()) {
      // Shared router: every phone on router 1's LAN; routerPerPhone: phone k alone on router k's.
      const k = this.routerPerPhone ? i : 0;
      const port = `lan${i + 1}`;
      await this.ip(this.ns.routers[k]!, 'link', 'add', 'name', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ph);
      await this.ip(this.ns.routers[k]!, 'link', 'set', port, 'master', 'br0', 'up');
      await this.ip(ph, 'addr', 'add', `${this.addr.phones[i]}/24`, 'dev', 'eth0');
      await this.ip(ph, 'link', 'set', 'eth0', 'up');
      await this.ip(ph, 'route', 'add', 'default', 'via', this.addr.routerLans[k]!);
    }

    for (const [i, h] of this.ns.hosts.entries()) {
      const port = `h${i + 1}`;
      await this.ip(pub, 'link', 'add', 'name', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h);
      await this.ip(pub, 'link', 'set', port, 'master', 'br0', 'up');
      await this.ip(h, 'addr', 'add', `${hostAddr(i + 1)}/24`, 'dev', 'eth0');
      await this.ip(h, 'link', 'set', 'eth0', 'up');
    }

    if (opts.privateRoute === 'blackhole') {
      // A next hop that does not exist (a permanent neighbour entry with a MAC nobody has): the
      // router's wan sees frames that are not for it and drops them; the sender gets no error.
      for (const [ns, dev] of [[pub, 'br0'], ...this.ns.hosts.map((h) => [h, 'eth0'] as const)] as const) {
        await this.ip(ns, 'neigh', 'add', BLACKHOLE_NEXT_HOP, 'lladdr', BLACKHOLE_MAC, 'dev', dev, 'nud', 'permanent');
        await this.ip(ns, 'route', 'add', '10.0.0.0/8', 'via', BLACKHOLE_NEXT_HOP, 'dev', dev);
      }
    }

    // The NAT.
    const masq = this.natType === 'symmetric' ? 'masquerade fully-random' : 'masquerade';
    const rules = [
      'table ip sbnat {',
      '  chain postrouting {',
      '    type nat hook postrouting priority srcnat; policy accept;',
      `    oifname "wan" ${masq}`,
      '  }',
      '  chain forward {',
      '    type filter hook forward priority filter; policy drop;',
      '    ct state established,related accept',
      '    iifname "br0" oifname "wan" accept',
      '  }',
      '  chain input {',
      '    type filter hook input priority filter; policy accept;',
      '    iifname "wan" ct state established,related accept',
      '    iifname "wan" drop',
      '  }',
      '}',
    ];
    if (opts.sipAlg) {
      rules.push(
        'table ip sbalg {',
        '  ct helper sip-udp { type "sip" protocol udp; l3proto ip; }',
        '  chain prerouting {',
        '    type filter hook prerouting priority filter; policy accept;',
        '    iifname "br0" udp dport 5060 ct helper set "sip-udp"',
        '  }',
        '}',
      );
    }
    for (const rtr of this.ns.routers) await must('ip', ['netns', 'exec', rtr, 'nft', '-f', '-'], rules.join('\n') + '\n');

    if (opts.udpTimeoutS !== undefined) await this.applyUdpTimeout(opts.udpTimeoutS);
  }

  private async applyUdpTimeout(seconds: number): Promise<void> {
    if (!Number.isInteger(seconds) || seconds < 1) throw new Error(`udpTimeoutS must be a positive integer, not ${seconds}`);
    const hostFile = '/proc/sys/net/netfilter/nf_conntrack_udp_timeout';
    const hostStreamFile = '/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream';
    const read = (f: string): string | undefined => {
      try {
        return readFileSync(f, 'utf8').trim();
      } catch {
        return undefined;
      }
    };
    const before = [read(hostFile), read(hostStreamFile)];
    let r: CmdResult = { code: 0, stdout: '', stderr: '' };
    for (const rtr of this.ns.routers) {
      r = await cmd('ip', ['netns', 'exec', rtr, 'sysctl', '-q', '-w', `net.netfilter.nf_conntrack_udp_timeout=${seconds}`, `net.netfilter.nf_conntrack_udp_timeout_stream=${seconds}`]);
      if (r.code !== 0) break;
    }
    const after = [read(hostFile), read(hostStreamFile)];
    if (before[0] !== after[0] || before[1] !== after[1]) {
      // Global on this kernel: put the host's values back, do not pretend.
      if (before[0] !== undefined) writeFileSync(hostFile, before[0]);
      if (before[1] !== undefined) writeFileSync(hostStreamFile, before[1]);
      this.udpTimeoutS = undefined;
      this.udpTimeoutUnsupported = 'nf_conntrack_udp_timeout is global on this kernel (writing it in the router namespace changed the host); not changed';
      return;
    }
    if (r.code !== 0) {
      this.udpTimeoutS = undefined;
      this.udpTimeoutUnsupported = `cannot set nf_conntrack_udp_timeout in the router namespace: ${r.stderr.trim()}`;
      return;
    }
    for (const rtr of this.ns.routers) {
      const check = await cmd('ip', ['netns', 'exec', rtr, 'cat', '/proc/sys/net/netfilter/nf_conntrack_udp_timeout']);
      if (check.stdout.trim() !== String(seconds)) {
        this.udpTimeoutS = undefined;
        this.udpTimeoutUnsupported = `nf_conntrack_udp_timeout in the router namespace ${rtr} reads ${check.stdout.trim()} after writing ${seconds}`;
        return;
      }
    }
    this.udpTimeoutS = seconds;
    this.udpTimeoutUnsupported = undefined;
  }

  async setUdpTimeout(seconds: number): Promise<void> {
    await this.applyUdpTimeout(seconds);
    if (this.udpTimeoutS !== seconds) throw new Error(this.udpTimeoutUnsupported ?? 'UDP timeout not applied');
  }

  exec(where: LabPlace, command: string, args: readonly string[], opts: StartOptions): Promise<Managed> {
    return startProcess('ip', ['netns', 'exec', this.nsOf(where), command, ...args], opts);
  }

  run(where: LabPlace, command: string, args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<RunResult> {
    return runProcess('ip', ['netns', 'exec', this.nsOf(where), command, ...args], { timeoutMs: opts.timeoutMs ?? CMD_TIMEOUT_MS, env: opts.env, cwd: opts.cwd });
  }

  async isListening(where: LabPlace, kind: 'udp' | 'tcp', port: number): Promise<boolean> {
    const r = await cmd('ip', ['netns', 'exec', this.nsOf(where), 'cat', kind === 'udp' ? '/proc/net/udp' : '/proc/net/tcp']);
    if (r.code !== 0) return false;
    const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
    return r.stdout
      .split('\n')
      .slice(1)
      .some((line) => {
        const cols = line.trim().split(/\s+/);
        return cols.length >= 4 && cols[1]!.endsWith(`:${hexPort}`) && (kind === 'tcp' ? cols[3] === '0A' : cols[3] === '07');
      });
  }

  async http(where: LabPlace, url: string, init: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<{ status: number; text: string }> {
    const script =
      'const [u, i] = process.argv.slice(1); fetch(u, JSON.parse(i)).then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, text: await r.text() })), (e) => { process.stderr.write(String(e && e.cause || e)); process.exit(1); });';
    const timeoutMs = init.timeoutMs ?? 5000;
    const r = await this.run(where, process.execPath, ['-e', script, url, JSON.stringify({ method: init.method ?? 'GET', headers: init.headers ?? {}, body: init.body })], { timeoutMs });
    if (r.code !== 0) throw new Error(`${init.method ?? 'GET'} ${url} from ${where} failed: ${r.timedOut ? 'timed out' : r.stderr.trim()}`);
    return JSON.parse(r.stdout) as { status: number; text: string };
  }

  async udpAgent(where: LabPlace, bind: { address?: string; port?: number } = {}): Promise<UdpAgent> {
    const ctl = join(this.tmp, `agent-${++this.agentSeq}.sock`);
    const proc = await this.exec(where, process.execPath, [join(this.tmp, 'udp-agent.cjs'), ctl, bind.address ?? '0.0.0.0', String(bind.port ?? 0)], {
      readyPattern: /"event":"ready"/,
      timeoutMs: 10_000,
      maxLifetimeMs: 10 * 60_000,
    });
    const events = (): Array<Record<string, unknown>> =>
      proc
        .output()
        .stdout.split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    const ready = events().find((e) => e.event === 'ready')!;
    const sock = net.createConnection(ctl);
    sock.unref();
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    sock.on('error', () => undefined);
    const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const ack = JSON.parse(buf.slice(0, i)) as { id: number; ok: boolean; code?: string };
        buf = buf.slice(i + 1);
        const p = pending.get(ack.id);
        pending.delete(ack.id);
        if (!p) continue;
        if (ack.ok) p.resolve();
        else p.reject(Object.assign(new Error(`send from ${where} failed: ${ack.code}`), { code: ack.code }));
      }
    });
    let seq = 0;
    const received = (): Datagram[] =>
      events()
        .filter((e) => e.event === 'message')
        .map((e) => {
          const data = Buffer.from(String(e.data), 'base64');
          return { from: String(e.from), port: Number(e.port), data, text: data.toString('utf8') };
        });
    const agent: UdpAgent = {
      proc,
      local: { address: String(ready.address), port: Number(ready.port) },
      send(host, port, data) {
        const id = ++seq;
        const payload = (typeof data === 'string' ? Buffer.from(data) : data).toString('base64');
        return new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            pending.delete(id);
            reject(new Error(`send from ${where}: no answer from the agent`));
          }, 5000);
          pending.set(id, {
            resolve: () => (clearTimeout(timer), resolve()),
            reject: (e) => (clearTimeout(timer), reject(e)),
          });
          sock.write(JSON.stringify({ id, op: 'send', host, port, data: payload }) + '\n');
        });
      },
      received,
      async waitFor(pred, timeoutMs, since = 0) {
        const end = Date.now() + timeoutMs;
        for (;;) {
          const hit = received().slice(since).find(pred);
          if (hit) return hit;
          if (Date.now() >= end) throw new Error(`${where}: no matching datagram within ${timeoutMs} ms (received ${received().length})`);
          await new Promise((r) => setTimeout(r, 20));
        }
      },
      async stop() {
        sock.destroy();
        await proc.stop();
      },
    };
    return agent;
  }

  async conntrack(all = false, router: LabPlace = 'router'): Promise<ConntrackEntry[]> {
    const ns = this.nsOf(router);
    if (!this.ns.routers.includes(ns)) throw new Error(`nat lab ${this.name}: ${router} is not a router`);
    const r = await cmd('ip', ['netns', 'exec', ns, 'cat', '/proc/net/nf_conntrack']);
    if (r.code !== 0) throw new Error(`cannot read the conntrack table of ${router}: ${r.stderr.trim()}`);
    const entries: ConntrackEntry[] = [];
    for (const line of r.stdout.split('\n')) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 6) continue;
      const proto = cols[2]!;
      if (!all && proto !== 'udp') continue;
      const kv = (key: string, nth: number): string | undefined => cols.filter((c) => c.startsWith(`${key}=`))[nth]?.slice(key.length + 1);
      const side = (nth: number): ConntrackEntry['orig'] => ({
        src: kv('src', nth) ?? '',
        dst: kv('dst', nth) ?? '',
        sport: Number(kv('sport', nth) ?? 0),
        dport: Number(kv('dport', nth) ?? 0),
      });
      entries.push({
        proto,
        ttl: Number(cols[4]),
        orig: side(0),
        reply: side(1),
        unreplied: cols.includes('[UNREPLIED]'),
        assured: cols.includes('[ASSURED]'),
        raw: line.trim(),
      });
    }
    return entries;
  }

  async flushMappings(): Promise<void> {
    if (!hasBinary('conntrack')) throw new Error('flushMappings needs the conntrack tool (Debian package conntrack)');
    for (const rtr of this.ns.routers) {
      const r = await cmd('ip', ['netns', 'exec', rtr, 'conntrack', '-D', '-p', 'udp']);
      // conntrack -D exits 1 when nothing matched.
      if (r.code !== 0 && !/\b0 flow entries/.test(r.stderr)) throw new Error(`conntrack -D in ${rtr} failed: ${r.stderr.trim()}`);
    }
  }

  async describe(): Promise<string> {
    const place = (k: number): LabPlace => (k === 0 ? 'router' : `router${k + 1}`);
    const label = (k: number): string => (this.routerPerPhone ? `router${k + 1}` : 'router');
    const lines = [
      `nat lab "${this.name}" (${this.natType}${this.routerPerPhone ? ', a router per phone' : ''}${this.udpTimeoutS !== undefined ? `, udp timeout ${this.udpTimeoutS} s` : ''})`,
      `  public  ${this.ns.public}: server ${this.addr.server}/24`,
      ...this.ns.routers.map((r, k) => `  ${label(k)}  ${r}: wan ${this.addr.routerWans[k]}/24, lan ${this.addr.routerLans[k]}/24`),
      ...this.ns.phones.map((p, i) => `  phone${i + 1}  ${p}: ${this.addr.phones[i]}/24 via ${this.addr.routerLans[this.routerPerPhone ? i : 0]}`),
      ...this.ns.hosts.map((h, i) => `  host${i + 1}   ${h}: ${this.addr.hosts[i]}/24`),
    ];
    if (!this.destroyed) {
      for (const [k, r] of this.ns.routers.entries()) {
        const rules = await cmd('ip', ['netns', 'exec', r, 'nft', 'list', 'ruleset']);
        lines.push(`  ${label(k)} ruleset:`, ...rules.stdout.split('\n').map((l) => `    ${l}`));
        try {
          lines.push(`  ${label(k)} conntrack (udp):`, ...(await this.conntrack(false, place(k))).map((e) => `    ${e.raw}`));
        } catch {
          /* ignore */
        }
      }
    }
    return lines.join('\n');
  }

  private pidsIn(ns: string, sync: boolean): number[] | Promise<number[]> {
    const parse = (s: string): number[] => s.split(/\s+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 0 && n !== process.pid);
    if (sync) {
      const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5000 });
      return r.status === 0 ? parse(r.stdout) : [];
    }
    return cmd('ip', ['netns', 'pids', ns]).then((r) => (r.code === 0 ? parse(r.stdout) : []));
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    liveLabs.delete(this);
    for (const ns of this.created) {
      // Anything a test left running in the lab (every one of them was started by this harness).
      for (const pid of await (this.pidsIn(ns, false) as Promise<number[]>)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await cmd('ip', ['netns', 'del', ns]);
    }
    rmSync(this.tmp, { recursive: true, force: true });
  }

  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    liveLabs.delete(this);
    for (const ns of this.created) {
      for (const pid of this.pidsIn(ns, true) as number[]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      spawnSync('ip', ['netns', 'del', ns], { timeout: 5000 });
    }
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

/**
 * Build a NAT lab (see the header). Throws — after removing whatever it had created — when a
 * step fails; call natLabSupported() first to skip on machines that cannot.
 */
export async function createNatLab(opts: NatLabOptions): Promise<NatLab> {
  const phones = opts.phones;
  const hosts = opts.publicHosts ?? 0;
  const routerPerPhone = opts.routerPerPhone ?? false;
  const maxPhones = routerPerPhone ? MAX_SITES : 50;
  if (!Number.isInteger(phones) || phones < 1 || phones > maxPhones) {
    throw new Error(`phones must be 1–${maxPhones}${routerPerPhone ? ' with routerPerPhone (one router each)' : ''}, not ${phones}`);
  }
  if (!Number.isInteger(hosts) || hosts < 0 || hosts > 50) throw new Error(`publicHosts must be 0–50, not ${hosts}`);
  installSafetyNet();
  await sweepStale();
  // PID in base 36 (≤ 5 characters for PIDs up to 2^22) + a per-process counter in 2 base-36
  // characters: unique among live processes and within this one; "sb-p50-" + 7 = 14 ≤ 15.
  const suffix = process.pid.toString(36) + (labCounter++ % (36 * 36)).toString(36).padStart(2, '0');
  const lab = new Lab(opts.name, suffix, opts.natType ?? 'port-restricted', phones, hosts, routerPerPhone);
  liveLabs.add(lab);
  try {
    await lab.build({ sipAlg: opts.sipAlg ?? false, privateRoute: opts.privateRoute ?? 'no-route', udpTimeoutS: opts.udpTimeoutS });
  } catch (e) {
    await lab.destroy();
    throw new Error(`nat lab ${opts.name}: ${(e as Error).message}`);
  }
  return lab;
}
