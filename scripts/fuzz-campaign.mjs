#!/usr/bin/env node
// fuzz-campaign: a black-box mutation campaign against `switchboard serve` (issue 12, "no input
// may crash a server"). Plain Node, no dependencies beyond the project's own (better-sqlite3 for
// the integrity check). Needs a build: `npm run build`.
//
//   node scripts/fuzz-campaign.mjs                       # 100,000 messages, UDP and TCP
//   node scripts/fuzz-campaign.mjs --messages 8000 --seed 42 --rate 3000
//   node scripts/fuzz-campaign.mjs --replay test/fuzz/corpus/regressions   # replay saved inputs
//   node scripts/fuzz-campaign.mjs --help
//
// What it does (docs/fuzzing.md, "Black-box campaign"):
//  1. starts `node dist/src/app/cli/main.js serve --config <tmp yaml>` (registrar + proxy, SQLite
//     store in a temp dir, udp: and tcp: listeners on 127.0.0.1 and one free port, domains
//     fuzz.invalid and example.com, and a static `hosts:` map sending those names and every host
//     name of the corpus to the campaign's own sockets: no DNS, no traffic to fixed ports);
//  2. registers N bindings (sip:fuzzN@fuzz.invalid) with digest-authenticated REGISTERs (MD5,
//     qop=auth), each from its own loopback address, and checks them with `switchboard location
//     list --json`; each binding's contact is a small UDP "sink" that answers what the proxy
//     forwards to it (one reply in four mutated: the proxy's response path);
//  3. sends mutated messages, paced (default 3,000/s), from many loopback source addresses
//     (127.0.0.2 … 127.0.0.254; Linux routes all of 127/8), over UDP and over several TCP
//     connections (with and without a correct Content-Length, garbage before, keep-alive CRLFs,
//     split writes). Seeds: the RFC 4475 / RFC 5118 corpora (../shared/conformance) and built-in
//     valid requests and responses. Mutations: byte-level (flip, set, insert, delete, truncate,
//     repeat, splice) and SIP-aware (header lines duplicated/deleted/swapped, unterminated quotes,
//     commas, huge numbers, NULs, bad header names, CRLF variants, folding, IPv6 brackets, very
//     long values, start-line, parameter, digest and body damage);
//  4. every --probe-every messages: an OPTIONS to the server over UDP (and a fresh TCP
//     connection) must be answered within --probe-timeout ms; the server's RSS must stay under
//     --rss-limit MB. The server's exit at any time is a crash;
//  5. on a crash (exit) the last --window inputs (1,000 on a failed probe) are written, one file
//     per message with the bytes as sent, to --out (default test/fuzz/corpus/regressions) as
//     campaign-<timestamp>-NNN-<udp|tcp>.sip, with campaign-<timestamp>.txt (reason, server
//     stderr, index of the files, triage). Then a triage replays them against a fresh server (same
//     registrations and nonce secret) and names the input(s) that kill it; when every culprit
//     reproduces on its own and one dies where the campaign's server died, the other files are
//     removed (--keep-window keeps them);
//  6. at the end: the server must answer a probe, stops on SIGTERM (by PID), the SQLite file
//     passes PRAGMA integrity_check and every registered binding is still listed (and no other
//     binding appeared: the campaign never sends valid credentials).
//
// Exit code: 0 every check passed, 1 a check failed (crash, hang, memory, store, bindings),
// 2 usage error. Hidden options for the self-test (test/fuzz/campaign.test.ts):
// --kill-after N (SIGKILL the server after N messages), --stop-after N (SIGSTOP it).

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = path.join(ROOT, 'dist', 'src', 'app', 'cli', 'main.js');
const require = createRequire(import.meta.url);

const USAGE = `usage: node scripts/fuzz-campaign.mjs [options]
       node scripts/fuzz-campaign.mjs --replay FILE_OR_DIR…

  --messages N        mutated messages to send (default 100000)
  --seed S            PRNG seed, 32-bit integer (default: random, printed)
  --rate R            messages per second, 0 = unpaced (default 3000)
  --udp-only | --tcp-only
  --tcp-share F       fraction sent over TCP when both run (default 0.4)
  --bindings N        registrations made before mutating (default 20)
  --sources N         loopback source addresses 127.0.0.2… (default 253)
  --tcp-connections N TCP connections kept open at once (default 8)
  --probe-every N     messages between liveness probes (default 1000)
  --probe-timeout MS  a probe's deadline (default 2000)
  --rss-limit MB      fail when the server's RSS exceeds this (default 400)
  --window N          inputs saved on a crash (default 200; 1000 on a failed probe)
  --max-crashes N     restart the server after a crash and go on until N crashes (default 1)
  --out DIR           where crash inputs go (default test/fuzz/corpus/regressions)
  --corpus DIR        conformance corpus (default ../shared/conformance)
  --no-triage         do not replay the saved inputs to find the culprit
  --keep-window       keep every saved input, not just the culprits
  --json FILE         also write the summary as JSON
  --keep              keep the temp dir (config, database, server output)
  --quiet             no progress lines
  --replay            replay .sip files (transport from the name: …-tcp.sip or udp) against a
                      fresh server, probing after each; exit 1 if any kills or hangs it`;

// ---------------------------------------------------------------------------------------------
// Options

let opts;
try {
  opts = parseArgs({
    allowPositionals: true,
    options: {
      messages: { type: 'string', default: '100000' },
      seed: { type: 'string' },
      rate: { type: 'string', default: '3000' },
      'udp-only': { type: 'boolean', default: false },
      'tcp-only': { type: 'boolean', default: false },
      'tcp-share': { type: 'string', default: '0.4' },
      bindings: { type: 'string', default: '20' },
      sources: { type: 'string', default: '253' },
      'tcp-connections': { type: 'string', default: '8' },
      'probe-every': { type: 'string', default: '1000' },
      'probe-timeout': { type: 'string', default: '2000' },
      'rss-limit': { type: 'string', default: '400' },
      window: { type: 'string', default: '200' },
      'max-crashes': { type: 'string', default: '1' },
      out: { type: 'string' },
      corpus: { type: 'string' },
      'no-triage': { type: 'boolean', default: false },
      'keep-window': { type: 'boolean', default: false },
      json: { type: 'string' },
      keep: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      replay: { type: 'boolean', default: false },
      'kill-after': { type: 'string' },
      'stop-after': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
} catch (e) {
  usageError(e.message);
}
if (opts.values.help) {
  process.stdout.write(USAGE + '\n');
  process.exit(0);
}

function usageError(msg) {
  process.stderr.write(`fuzz-campaign: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function intOpt(name, min, max = Number.MAX_SAFE_INTEGER) {
  const raw = opts.values[name];
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) usageError(`--${name} "${raw}": expected an integer`);
  const n = Number(raw);
  if (n < min || n > max) usageError(`--${name} ${n}: expected ${min}…${max}`);
  return n;
}

const O = {
  messages: intOpt('messages', 1),
  seed: opts.values.seed !== undefined ? intOpt('seed', 0, 0xffffffff) : (Math.random() * 0x100000000) >>> 0,
  rate: intOpt('rate', 0),
  mode: opts.values['udp-only'] ? 'udp' : opts.values['tcp-only'] ? 'tcp' : 'both',
  tcpShare: Number(opts.values['tcp-share']),
  bindings: intOpt('bindings', 0, 250),
  sources: intOpt('sources', 1, 253),
  tcpConnections: intOpt('tcp-connections', 1, 200),
  probeEvery: intOpt('probe-every', 1),
  probeTimeout: intOpt('probe-timeout', 100),
  rssLimitMb: intOpt('rss-limit', 16),
  window: intOpt('window', 1, 100000),
  maxCrashes: intOpt('max-crashes', 1),
  out: path.resolve(opts.values.out ?? path.join(ROOT, 'test', 'fuzz', 'corpus', 'regressions')),
  corpus: path.resolve(opts.values.corpus ?? path.join(ROOT, '..', 'shared', 'conformance')),
  triage: !opts.values['no-triage'],
  keepWindow: opts.values['keep-window'],
  json: opts.values.json,
  keep: opts.values.keep,
  quiet: opts.values.quiet,
  killAfter: intOpt('kill-after', 1),
  stopAfter: intOpt('stop-after', 1),
};
if (opts.values['udp-only'] && opts.values['tcp-only']) usageError('--udp-only and --tcp-only exclude each other');
if (!(O.tcpShare >= 0 && O.tcpShare <= 1)) usageError(`--tcp-share "${opts.values['tcp-share']}": expected 0…1`);
if (!opts.values.replay && opts.positionals.length > 0) usageError(`unexpected argument "${opts.positionals[0]}"`);
if (!fs.existsSync(MAIN)) usageError(`${path.relative(ROOT, MAIN)} not found: run \`npm run build\` first`);

const log = (line) => {
  if (!O.quiet) process.stderr.write(`[fuzz] ${line}\n`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));

// ---------------------------------------------------------------------------------------------
// Deterministic PRNG (mulberry32)

class Rng {
  constructor(seed) {
    this.a = seed >>> 0;
  }
  next() {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n) {
    return Math.floor(this.next() * n);
  }
  range(a, b) {
    return a + this.int(b - a + 1);
  }
  chance(p) {
    return this.next() < p;
  }
  pick(arr) {
    return arr[this.int(arr.length)];
  }
  hex(n) {
    let s = '';
    for (let i = 0; i < n; i++) s += '0123456789abcdef'[this.int(16)];
    return s;
  }
  /** A length skewed towards small: mostly 1–8, sometimes up to 20,000. */
  len() {
    const r = this.next();
    return r < 0.5 ? this.range(1, 8) : r < 0.8 ? this.range(9, 64) : r < 0.95 ? this.range(65, 1024) : this.range(1025, 20000);
  }
  bytes(n) {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.int(256));
    return s;
  }
}

function weighted(list) {
  const total = list.reduce((a, [w]) => a + w, 0);
  return (r) => {
    let x = r.next() * total;
    for (const [w, f] of list) {
      x -= w;
      if (x < 0) return f;
    }
    return list[list.length - 1][1];
  };
}

// ---------------------------------------------------------------------------------------------
// Seeds. Messages are handled as latin1 strings (one char = one byte) so every byte survives.

const SDP = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 97',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:97 iLBC/8000',
  '',
].join('\r\n');

/**
 * The domain the server serves and the users live in. A name, not 127.0.0.1: the proxy sends
 * an in-dialog request for a served host straight to it (default port 5060), and the config's
 * static `hosts:` map sends this name, example.com and every host name of the corpus to a sink
 * of ours. So the campaign's traffic stays on its own sockets (no DNS, no fixed ports).
 */
const DOMAIN = 'fuzz.invalid';
const VIA = 'Via: SIP/2.0/{T} {SRC};branch={BRANCH};rport';
const MF = 'Max-Forwards: 70';
const T = (lines) => lines.join('\r\n');

// Built-in templates: {P} server port, {T} UDP|TCP, {SRC} sender ip:port, {U}/{U2} registered
// users, {CL} the body length. Valid as written (before mutation).
const TEMPLATES = {
  'register-unauth': T(['REGISTER sip:127.0.0.1:{P} SIP/2.0', VIA, MF, 'From: <sip:{U}@{D}>;tag={TAG}', 'To: <sip:{U}@{D}>', 'Call-ID: {CALLID}', 'CSeq: {N} REGISTER', 'Contact: <sip:{U}@{SRC}>;expires=3600', 'Expires: 3600', 'Content-Length: 0', '', '']),
  'register-badauth': T(['REGISTER sip:{D} SIP/2.0', VIA, MF, 'From: <sip:{U}@{D}>;tag={TAG}', 'To: <sip:{U}@{D}>', 'Call-ID: {CALLID}', 'CSeq: {N} REGISTER', 'Contact: <sip:{U}@{SRC}>;q=0.5', 'Authorization: Digest username="{U}", realm="{D}", nonce="{NONCE}", uri="sip:{D}", response="{HEX32}", algorithm=MD5, cnonce="{HEX}", qop=auth, nc=00000001', 'Content-Length: 0', '', '']),
  'register-star': T(['REGISTER sip:{D} SIP/2.0', VIA, MF, 'From: <sip:{U}@{D}>;tag={TAG}', 'To: <sip:{U}@{D}>', 'Call-ID: {CALLID}', 'CSeq: {N} REGISTER', 'Contact: *', 'Expires: 0', 'Content-Length: 0', '', '']),
  'register-query': T(['REGISTER sip:{D} SIP/2.0', VIA, MF, 'From: <sip:{U}@{D}>;tag={TAG}', 'To: <sip:{U}@{D}>', 'Call-ID: {CALLID}', 'CSeq: {N} REGISTER', 'Supported: path, outbound, gruu', 'Path: <sip:127.0.0.1:{P};lr>', 'Content-Length: 0', '', '']),
  'invite-foreign': T(['INVITE sip:{U}@{D} SIP/2.0', VIA, MF, 'From: "Alice" <sip:alice@atlanta.example.com>;tag={TAG}', 'To: <sip:{U}@{D}>', 'Call-ID: {CALLID}', 'CSeq: {N} INVITE', 'Contact: <sip:alice@{SRC}>', 'Supported: 100rel, timer', 'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS', 'Content-Type: application/sdp', 'Content-Length: {CL}', '', SDP]),
  'invite-local': T(['INVITE sip:{U}@{D} SIP/2.0', VIA, MF, 'From: <sip:{U2}@{D}>;tag={TAG}', 'To: "Bob" <sip:{U}@{D}>', 'Call-ID: {CALLID}', 'CSeq: {N} INVITE', 'Contact: <sip:{U2}@{SRC};transport=udp>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"', 'Content-Type: application/sdp', 'Content-Length: {CL}', '', SDP]),
  'invite-proxyauth': T(['INVITE sip:{U}@{D} SIP/2.0', VIA, 'Max-Forwards: 2', 'Route: <sip:127.0.0.1:{P};lr>', 'From: <sip:{U2}@{D}>;tag={TAG}', 'To: <sip:{U}@{D}>', 'Call-ID: {CALLID}', 'CSeq: {N} INVITE', 'Contact: <sip:{U2}@{SRC}>', 'Proxy-Authorization: Digest username="{U2}", realm="{D}", nonce="{NONCE}", uri="sip:{U}@{D}", response="{HEX32}", algorithm=SHA-256, cnonce="{HEX}", qop=auth, nc=00000002', 'Content-Length: 0', '', '']),
  'options-server': T(['OPTIONS sip:127.0.0.1:{P} SIP/2.0', VIA, MF, 'From: <sip:fuzzer@probe.invalid>;tag={TAG}', 'To: <sip:127.0.0.1:{P}>', 'Call-ID: {CALLID}', 'CSeq: {N} OPTIONS', 'Accept: application/sdp', 'Content-Length: 0', '', '']),
  'options-user': T(['OPTIONS sip:{U}@{D} SIP/2.0', VIA, MF, 'From: <sip:carol@chicago.example.com>;tag={TAG}', 'To: <sip:{U}@{D}>', 'Call-ID: {CALLID}', 'CSeq: {N} OPTIONS', 'Content-Length: 0', '', '']),
  // A pre-loaded Route to another hop (one of the sinks): forwarded along the Route, not through
  // the location service.
  'options-preloaded-route': T(['OPTIONS sip:bob@example.net SIP/2.0', VIA, MF, 'Route: <sip:{SINK};lr>', 'From: <sip:carol@chicago.example.com>;tag={TAG}', 'To: <sip:bob@example.net>', 'Call-ID: {CALLID}', 'CSeq: {N} OPTIONS', 'Content-Length: 0', '', '']),
  'invite-preloaded-route': T(['INVITE sip:{U}@{D} SIP/2.0', VIA, MF, 'Route: <sip:127.0.0.1:{P};lr>, <sip:{SINK};lr>', 'From: <sip:alice@atlanta.example.com>;tag={TAG}', 'To: <sip:{U}@{D}>', 'Call-ID: {CALLID}', 'CSeq: {N} INVITE', 'Contact: <sip:alice@{SRC}>', 'Content-Type: application/sdp', 'Content-Length: {CL}', '', SDP]),
  'bye-dialog': T(['BYE sip:{U}@{D} SIP/2.0', VIA, MF, 'Route: <sip:127.0.0.1:{P};lr>', 'From: <sip:alice@atlanta.example.com>;tag={TAG}', 'To: <sip:{U}@{D}>;tag={HEX}', 'Call-ID: {CALLID}', 'CSeq: {N} BYE', 'Content-Length: 0', '', '']),
  ack: T(['ACK sip:{U}@{D} SIP/2.0', VIA, MF, 'From: <sip:alice@atlanta.example.com>;tag={TAG}', 'To: <sip:{U}@{D}>;tag={HEX}', 'Call-ID: {CALLID}', 'CSeq: {N} ACK', 'Content-Length: 0', '', '']),
  cancel: T(['CANCEL sip:{U}@{D} SIP/2.0', VIA, MF, 'From: <sip:alice@atlanta.example.com>;tag={TAG}', 'To: <sip:{U}@{D}>', 'Call-ID: {CALLID}', 'CSeq: {N} CANCEL', 'Reason: SIP;cause=487;text="Request Terminated"', 'Content-Length: 0', '', '']),
  message: T(['MESSAGE sip:{U}@{D} SIP/2.0', VIA, MF, 'From: <sip:alice@atlanta.example.com>;tag={TAG}', 'To: <sip:{U}@{D}>', 'Call-ID: {CALLID}', 'CSeq: {N} MESSAGE', 'Content-Type: text/plain;charset=utf-8', 'Content-Length: {CL}', '', 'Hello \xc3\xa9t\xc3\xa9 \xe2\x98\x83']),
  subscribe: T(['SUBSCRIBE sip:{U}@{D} SIP/2.0', VIA, MF, 'From: <sip:alice@atlanta.example.com>;tag={TAG}', 'To: <sip:{U}@{D}>', 'Call-ID: {CALLID}', 'CSeq: {N} SUBSCRIBE', 'Event: presence;id=1', 'Accept: application/pidf+xml', 'Expires: 600', 'Contact: <sip:alice@{SRC}>', 'Content-Length: 0', '', '']),
  notify: T(['NOTIFY sip:{U}@{D} SIP/2.0', VIA, MF, 'From: <sip:alice@atlanta.example.com>;tag={TAG}', 'To: <sip:{U}@{D}>;tag={HEX}', 'Call-ID: {CALLID}', 'CSeq: {N} NOTIFY', 'Event: refer', 'Subscription-State: active;expires=60', 'Content-Type: message/sipfrag;version=2.0', 'Content-Length: {CL}', '', 'SIP/2.0 200 OK\r\n']),
  refer: T(['REFER sip:{U}@{D} SIP/2.0', VIA, MF, 'From: <sip:alice@atlanta.example.com>;tag={TAG}', 'To: <sip:{U}@{D}>;tag={HEX}', 'Call-ID: {CALLID}', 'CSeq: {N} REFER', 'Refer-To: <sip:{U2}@{D}?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>', 'Referred-By: <sip:alice@atlanta.example.com>', 'Contact: <sip:alice@{SRC}>', 'Content-Length: 0', '', '']),
  prack: T(['PRACK sip:{U}@{D} SIP/2.0', VIA, MF, 'From: <sip:alice@atlanta.example.com>;tag={TAG}', 'To: <sip:{U}@{D}>;tag={HEX}', 'Call-ID: {CALLID}', 'CSeq: {N} PRACK', 'RAck: 1 314 INVITE', 'Content-Length: 0', '', '']),
  update: T(['UPDATE sip:{U}@{D} SIP/2.0', VIA, MF, 'From: <sip:alice@atlanta.example.com>;tag={TAG}', 'To: <sip:{U}@{D}>;tag={HEX}', 'Call-ID: {CALLID}', 'CSeq: {N} UPDATE', 'Session-Expires: 1800;refresher=uac', 'Min-SE: 90', 'Content-Length: 0', '', '']),
  info: T(['INFO sip:{U}@{D} SIP/2.0', VIA, MF, 'From: <sip:alice@atlanta.example.com>;tag={TAG}', 'To: <sip:{U}@{D}>;tag={HEX}', 'Call-ID: {CALLID}', 'CSeq: {N} INFO', 'Content-Type: application/dtmf-relay', 'Content-Length: {CL}', '', 'Signal=5\r\nDuration=160\r\n']),
  publish: T(['PUBLISH sip:{U}@{D} SIP/2.0', VIA, MF, 'From: <sip:{U}@{D}>;tag={TAG}', 'To: <sip:{U}@{D}>', 'Call-ID: {CALLID}', 'CSeq: {N} PUBLISH', 'Event: presence', 'Expires: 60', 'SIP-If-Match: dx200xyz', 'Content-Type: application/pidf+xml', 'Content-Length: {CL}', '', '<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:x@y"/>']),
  'invite-multipart': T(['INVITE sip:{U}@{D} SIP/2.0', VIA, MF, 'From: <sip:alice@atlanta.example.com>;tag={TAG}', 'To: <sip:{U}@{D}>', 'Call-ID: {CALLID}', 'CSeq: {N} INVITE', 'Contact: <sip:alice@{SRC}>', 'Content-Type: multipart/mixed;boundary=unique-boundary-1', 'MIME-Version: 1.0', 'Content-Length: {CL}', '', '--unique-boundary-1\r\nContent-Type: application/sdp\r\n\r\n' + SDP + '\r\n--unique-boundary-1\r\nContent-Type: application/isup;version=nxv3\r\nContent-Disposition: signal;handling=optional\r\n\r\n\x01\x00\x49\x00\x00\x03\x02\x00\x07\r\n--unique-boundary-1--\r\n']),
  'invite-ipv6': T(['INVITE sip:{U}@[::1]:{P} SIP/2.0', VIA, 'Via: SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bKas3-111;received=[2001:db8::9:255];rport=5070', MF, 'From: <sip:alice@[2001:db8::10]>;tag={TAG}', 'To: <sip:{U}@{D}>', 'Call-ID: {CALLID}', 'CSeq: {N} INVITE', 'Contact: <sip:alice@[2001:db8::10]:5070;maddr=[::1]>', 'Content-Length: 0', '', '']),
  'resp-200-invite': T(['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP 127.0.0.1:{P};branch={BRANCH}', VIA, 'Record-Route: <sip:127.0.0.1:{P};lr>', 'From: <sip:alice@atlanta.example.com>;tag={TAG}', 'To: <sip:{U}@{D}>;tag={HEX}', 'Call-ID: {CALLID}', 'CSeq: {N} INVITE', 'Contact: <sip:{U}@{SRC}>', 'Content-Type: application/sdp', 'Content-Length: {CL}', '', SDP]),
  'resp-180': T(['SIP/2.0 180 Ringing', 'Via: SIP/2.0/UDP 127.0.0.1:{P};branch={BRANCH}', VIA, 'From: <sip:alice@atlanta.example.com>;tag={TAG}', 'To: <sip:{U}@{D}>;tag={HEX}', 'Call-ID: {CALLID}', 'CSeq: {N} INVITE', 'Require: 100rel', 'RSeq: 1', 'Content-Length: 0', '', '']),
  'resp-486': T(['SIP/2.0 486 Busy Here', VIA, 'From: <sip:alice@atlanta.example.com>;tag={TAG}', 'To: <sip:{U}@{D}>;tag={HEX}', 'Call-ID: {CALLID}', 'CSeq: {N} INVITE', 'Retry-After: 60 (in a meeting);duration=3600', 'Content-Length: 0', '', '']),
  'resp-401': T(['SIP/2.0 401 Unauthorized', 'Via: SIP/2.0/UDP 127.0.0.1:{P};branch={BRANCH}', 'From: <sip:{U}@{D}>;tag={TAG}', 'To: <sip:{U}@{D}>;tag={HEX}', 'Call-ID: {CALLID}', 'CSeq: {N} REGISTER', 'WWW-Authenticate: Digest realm="{D}", nonce="{NONCE}", algorithm=MD5, qop="auth,auth-int", stale=true', 'Content-Length: 0', '', '']),
  'resp-302': T(['SIP/2.0 302 Moved Temporarily', 'Via: SIP/2.0/UDP 127.0.0.1:{P};branch={BRANCH}', VIA, 'From: <sip:alice@atlanta.example.com>;tag={TAG}', 'To: <sip:{U}@{D}>;tag={HEX}', 'Call-ID: {CALLID}', 'CSeq: {N} INVITE', 'Contact: <sip:{U2}@{D}>;q=0.7, <sip:x@[::1]:{P}>;q=0.1', 'Content-Length: 0', '', '']),
};

let SEEDS = { seeds: [], corpus: 0 };
function loadSeeds(corpusDir) {
  const seeds = Object.entries(TEMPLATES).map(([name, text]) => ({ name: `builtin:${name}`, text, template: true, response: text.startsWith('SIP/2.0 ') }));
  let corpus = 0;
  for (const sub of ['rfc4475', 'rfc5118', path.join('rfc5118', 'archive')]) {
    const dir = path.join(corpusDir, sub);
    let files;
    try {
      files = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const f of files) {
      if (!f.isFile() || f.name === 'MANIFEST.tsv' || f.name === 'SHA256SUMS' || f.name.startsWith('.') || /\.(md|txt|tsv)$/i.test(f.name)) continue;
      const text = fs.readFileSync(path.join(dir, f.name)).toString('latin1');
      seeds.push({ name: `${sub}/${f.name}`, text, template: false, response: /^SIP\//i.test(text) });
      corpus++;
    }
  }
  return { seeds, corpus };
}

// ---------------------------------------------------------------------------------------------
// Mutation

const COMPACT = { v: 'via', f: 'from', t: 'to', m: 'contact', i: 'call-id', l: 'content-length', c: 'content-type', e: 'content-encoding', k: 'supported', s: 'subject', o: 'event', r: 'refer-to', u: 'allow-events', x: 'session-expires', b: 'referred-by' };
const IMPORTANT = ['via', 'from', 'to', 'call-id', 'cseq', 'max-forwards', 'content-length', 'contact', 'content-type', 'route', 'record-route', 'authorization', 'proxy-authorization', 'expires', 'event'];
const ADDR_HEADERS = ['via', 'from', 'to', 'contact', 'route', 'record-route', 'authorization', 'proxy-authorization', 'www-authenticate', 'proxy-authenticate', 'refer-to', 'referred-by', 'path', 'p-asserted-identity', 'reply-to', 'call-info', 'alert-info', 'error-info', 'replaces'];
const NAME_ADDR_HEADERS = ['from', 'to', 'contact', 'route', 'record-route', 'refer-to', 'referred-by', 'path', 'p-asserted-identity', 'reply-to'];

const NUMBERS = ['0', '1', '-1', '00', '+1', '255', '256', '4294967295', '4294967296', '2147483647', '2147483648', '-2147483649', '9007199254740991', '9007199254740993', '99999999999999999999', '18446744073709551616', '1e3', '1e309', '0x1f', '1.5', '.5', 'NaN', 'Infinity', '', '  ', '12abc', '\xd9\xa1\xd9\xa2', '65535', '65536', '70 70', '  5  ', '0'.repeat(300) + '1', '9'.repeat(400)];
const QUOTE_TAILS = [';x="open', ';x="open\\', ';x="a\\"', ';x="', ';"', ';tag="', ';branch="z9hG4bK', ';received="', ';maddr="', ';x="\\', '"', ' "unterminated display <sip:a@b>', ';x="a;b=c, SIP/2.0/UDP h;branch=z9hG4bKq', ';x="\r\n', ';x=""', ';x=""""', ';x="\xff\xfe', ';x="a"b"c', ', "', '\\"', ';x=\\"'];
// Loopback hosts always carry the campaign server's port ({P}): the proxy forwards to, and
// answers at, what a message names, and other tests on this machine listen on fixed loopback
// ports (5060, …).
const HOSTS = ['[2001:db8::10]', '[2001:db8::10', '2001:db8::10', '[2001:db8::10]]', '[::1]:{P}', '[::1]:99999', '[::1]:', '[::ffff:192.0.2.1]:5060', '[]', '[:]', '[:::]', '[::::::::]', '[v1.fe]', '[2001:db8:::192.0.2.1]', '[2001:db8::192.0.2.1]', '[fe80::1%25eth0]', '[fe80::1%eth0]', '[1:2:3:4:5:6:7:8:9]', '[0:0:0:0:0:0:0:0:0:0]', '[' + 'f'.repeat(300) + ']', '[2001:db8::10]:0', '[::1]:-1', '[[::1]]', '[::1]%', ']', '[', '127.0.0.1:{P}', '0.0.0.0:{P}', '[::1]:{P}', '[::ffff:127.0.0.1]:{P}', '255.255.255.255', '224.0.0.1', '999.1.1.1', '1.2.3', '1.2.3.4.5', '127.0.0.1:0', '127.0.0.1:65536', 'a..b', '.', '-', 'x'.repeat(300), 'a.'.repeat(200) + 'com', 'host:', ':5060', 'h_o_s_t', 'h%20st', 'ex ample.com', '', '@', 'example.com:99999999999', 'localhost:{P}', '__proto__', 'constructor'];
const URIS = ['sip:', 'sip:@', 'sip:user@', 'sip:@host', 'sip:127.0.0.1:{P}', 'sip:fuzz0@{D}', 'sips:fuzz1@{D}', 'tel:+1-201-555-0123', 'tel:', 'tel:+1;phone-context=', 'urn:service:sos', 'http://x', '*', 'sip:user@[::1', 'sip:a@b;;;;', 'sip:a@b;=', 'sip:a@b;lr=;maddr=', 'sip:a@b?', 'sip:a@b?&&=', 'sip:a@b?Route=%3Csip:x%3E', 'sip:%00@host', 'sip:a%zz@host', 'sip:a%@host', 'sip:a@b:c@d', 'sip:a:b:c@d', 'sip:a@b:0', 'sip:a@b:-5', 'sip:a@b:99999999', 'sip:' + 'a'.repeat(5000) + '@b', 'sip:a@' + 'b'.repeat(5000), 'SIP:FUZZ0@{D}', 'sip:a@b;transport=', 'sip:a@b;transport=sctp;transport=tls', 'sip:a@b;method=INVITE?x', '<sip:a@b>', 'sip:a@b>', 'sip:a b@c', 'sip:a@b;maddr=[::1', 'sips:a@b;transport=udp', 'sip:a@b;user=phone', 'sip:+1@b;user=phone', 'sip:127.0.0.1:{P};transport=tcp', 'sip:127.0.0.1:{P};lr', 'sip:fuzz0@{D}:{P};maddr=127.0.0.1', 'sip:__proto__@{D}', 'sip:constructor@{D}', 'sip:[::1]:{P}', 'sip:fuzz1@[::ffff:127.0.0.1]:{P}'];
const METHODS = ['INVITE', 'REGISTER', 'OPTIONS', 'BYE', 'CANCEL', 'ACK', 'PRACK', 'UPDATE', 'INFO', 'SUBSCRIBE', 'NOTIFY', 'REFER', 'MESSAGE', 'PUBLISH', 'FOO', 'invite', 'Register', 'INVITE\0', 'INV ITE', '', '-', "!interesting-Method0123456789_*+`.%indeed'~", 'I'.repeat(3000), '\xe9', '__proto__', 'constructor', 'toString'];
const VERSIONS = ['SIP/2.0', 'SIP/2.1', 'SIP/3.0', 'sip/2.0', 'SIP/20', 'SIP/', 'SIP', 'SIP/2.0 ', 'SIP/2.0\0', 'SIP/2.00', 'SIP/7.0', 'HTTP/1.1', 'SIP/2.0/UDP', 'SIP/-2.0', 'SIP/2.9999999999', ''];
const STATUS = ['100', '180', '183', '199', '200', '202', '299', '300', '302', '401', '407', '408', '481', '486', '487', '491', '500', '503', '603', '699', '000', '099', '1000', '-200', '20', '2000', 'abc', '200 ', '900', '999', '2OO', ''];
const WEIRD = ['', ' ', '\t', ',', ',,', ';', ';;', '=', '"', '""', '"\\', '\\', '<', '>', '<>', '<<sip:a@b>>', '@', ':', '::', '%', '%00', '%zz', '*', '\xff', '\xc3\xa9', '\x7f', '\x01', '\0', '\r', '\n', 'null', 'undefined', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '-1', '0', '1e309', 'A'.repeat(1024), '<sip:a@b>;tag=', 'SIP/2.0/UDP', 'sip:'];
const BAD_NAMES = ['', ' ', 'Via ', ' Via', 'V ia', 'Vi\0a', 'Via\t', '\x7f', 'V\xeda', 'X'.repeat(5000), 'Via:Via', '[', ']', '"Via"', 'Content-Length ', 'content-LENGTH', 'L', 'l', 'v', 'i', 'f', 't', 'm', 'c', '__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf', '__defineGetter__', '0', '-', 'Via;x=1', 'Via,To', 'Via\r', 'X-\xff', 'CSeq', 'Call-ID', 'Max-Forwards', 'Content-Type', 'Route', 'Record-Route'];
const PARAMS = [';', ';;', ';=', ';a=', ';=b', ';a==b', ';branch', ';branch=', ';branch=z9hG4bK', ';branch=z9hG4bK' + 'x'.repeat(500), ';tag', ';tag=', ';lr', ';lr=1', ';maddr=', ';maddr=[::1', ';maddr=224.0.0.1', ';maddr=192.0.2.1', ';received=', ';received=[::1]', ';received=abc', ';rport', ';rport=', ';rport=abc', ';rport=99999999', ';ttl=256', ';ttl=-1', ';transport=', ';transport=foo', ';transport=tcp', ';expires=', ';expires=-1', ';expires=99999999999999999999', ';q=', ';q=2', ';q=-0.5', ';q=abc', ';q=0.1234', ';__proto__=1', ';constructor', ';toString=x', ';hasOwnProperty=1', ';ob', ';reg-id=1;+sip.instance="<urn:uuid:x>"', ';+sip.instance="<urn:uuid:', ';method=INVITE', ';user=phone', ';x=%00', ';%zz=%zz', ';x="a"', ';x="', ';alias', ';comp=sigcomp', ';sigcomp-id=', ';keep', ';keep=0', ';gr', ';gr=urn:uuid:x', ';pub-gruu=', ';x=' + 'v'.repeat(2000)];
const AUTHS = [
  'Digest username="{U}", realm="{D}", nonce="x", uri="sip:{D}", response="0"',
  'Digest username="{U}, realm="{D}", nonce="x", uri="sip:{D}", response="0"',
  'Digest username="{U}", realm="{D}", nonce="{NONCE}',
  'Digest', 'Digest ', 'Digest ,,,,', 'Digest username=', 'Digest =', 'Digest username="a\\"', 'Basic YWxhZGRpbjpvcGVuc2VzYW1l', 'Bearer x', '', 'Digest realm', 'Digest realm=""""',
  'Digest username="{U}", realm="{D}", nonce="{NONCE}", uri="sip:127.0.0.1:{P}", response="{HEX32}", algorithm=SHA-512-256, qop=auth, nc=zzzzzzzz, cnonce=""',
  'Digest username="{U}", realm="{D}", nonce="{NONCE}", uri="sip:127.0.0.1:{P}", response="{HEX32}", algorithm=MD5-sess, qop=auth-int, nc=ffffffff, cnonce="x"',
  'Digest username="{U}", username="x", realm="{D}", realm="y", nonce="1", nonce="2", uri="sip:{D}", response="1"',
  'Digest username="{U}", realm="{D}", nonce="' + 'A'.repeat(4000) + '", uri="sip:{D}", response="x", nc=' + '0'.repeat(100) + '1, qop=auth-int',
  'Digest username="__proto__", realm="constructor", nonce="toString", uri="sip:{D}", response="hasOwnProperty", __proto__="x", constructor=1',
  "Digest username*=UTF-8''%C3%A9, realm=\"{D}\", nonce=\"{NONCE}\", uri=\"sip:{D}\", response=\"0\", userhash=true",
  'Digest username="{U}", realm="{D}", nonce="{NONCE}", uri="sip:{D}", response="{HEX32}{HEX32}", algorithm=SHA-256, cnonce="1", qop=auth, nc=00000001',
  'Digest username="{U}", realm="{D}", nonce="{NONCE}", uri="<sip:{D}>", response="{HEX32}", opaque="", qop="auth"',
  'Digest username="{U}"\r\n , realm="{D}", nonce="{NONCE}", uri="sip:{D}", response="{HEX32}"',
];
const EXTRA_HEADERS = ['Require: foo', 'Proxy-Require: foo', 'Require: 100rel, timer, path, outbound, gruu', 'Supported: 100rel, timer, path, outbound, gruu, replaces', 'Route: <sip:127.0.0.1:{P};lr>', 'Route: <sip:127.0.0.1:{P};lr>, <sip:{U}@{D};lr>', 'Route: <sip:127.0.0.1:{P}>', 'Route: <sip:{SINK};lr>', 'Route: <sip:127.0.0.1:{P};lr>, <sip:{SINK};lr>', 'Route: <sip:[::1;lr>', 'Record-Route: <sip:[::1;lr>', 'Record-Route: <sip:127.0.0.1:{P};lr>', 'Path: <sip:127.0.0.1:{P};lr>', 'Event: presence;id=', 'Event: ', 'Subscription-State: terminated;reason=', 'Refer-To: <sip:{U}@{D}?Replaces=abc%3Bto-tag%3D1>', 'Replaces: callid;to-tag=;from-tag', 'RAck: 1 1 INVITE', 'RSeq: 0', 'Session-Expires: 90;refresher=', 'Min-SE: 0', 'Accept: ', 'Accept-Encoding: gzip', 'Content-Encoding: gzip', 'Content-Disposition: session;handling=required', 'Date: Sat, 13 Nov 2010 23:29:00 GMT', 'Date: bad', 'Timestamp: 54.5 x', 'Priority: emergency', 'Reply-To: <sip:a@b', 'Security-Client: digest', 'P-Asserted-Identity: <sip:{U}@{D}>', 'Diversion: <sip:x@y>;reason=', 'History-Info: <sip:a@b?Reason=SIP%3Bcause%3D302>;index=1.1.1.1.1.1', 'Privacy: id', 'Alert-Info: <http://x>', 'Call-Info: <http://x>;purpose=icon', 'Warning: 399 host "text', 'Identity: x', 'Reason: SIP;cause=200;text="', 'Retry-After: 18000;duration=3600', 'Unsupported: foo', 'User-Agent: ' + 'x'.repeat(100), 'Max-Breadth: 0', 'Min-Expires: 99999999999', 'Allow-Events: presence', 'Accept-Contact: *;+sip.instance', 'Request-Disposition: no-fork', 'Organization: \0', 'Subject: ', 'X-\xff: \xff', 'Via: SIP/2.0/UDP 127.0.0.1:{P};branch=z9hG4bKloop;received=127.0.0.1', 'Via: SIP/2.0/TCP [::1]:{P};branch=z9hG4bK1;maddr=127.0.0.1;ttl=1', 'Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKq;x="open', 'Max-Forwards: 0', 'Max-Forwards: 1', 'Content-Length: 0', 'Content-Length: 99999', 'Expires: 0', 'Contact: *', 'Contact: <sip:{U}@{D}>;expires=0', 'To: <sip:{U}@{D}>;tag=1', 'From: <sip:{U}@{D}>', 'Call-ID: ', 'CSeq: 1 ACK', 'Flow-Timer: 0', 'Sec-WebSocket-Protocol: sip', 'Authorization: Digest username="{U}"', 'Proxy-Authorization: Digest username="{U}", nonce="{NONCE}"', '__proto__: x', 'constructor: x', 'hasOwnProperty: x', 'Content-Type: application/sdp', 'Content-Type: multipart/mixed;boundary=x'];
const BAD_SDP = ['v=0\r\nc=IN IP6 [::1\r\nm=audio 99999999999 RTP/AVP 0 \r\n', 'v=0\r\no=- 0 0 IN IP4\r\ns=\r\nc=IN IP4 999.0.0.1/127/3\r\nt=x y\r\nm=audio -1 RTP/AVP\r\na=rtpmap:\r\na=fmtp:97 ' + 'x'.repeat(3000) + '\r\n', 'v=1\r\nm=\r\nm=video 0\r\nm=audio 0/0 RTP/SAVP 300\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:\r\n', '\r\n\r\n\r\n', 'v=0\nm=audio 1 RTP/AVP 0\n', 'v=0\r\n' + 'a=x\r\n'.repeat(5000), 'v=0\r\na=group:BUNDLE \r\na=candidate:1 1 UDP 2130706431 [::1 9 typ host\r\n'];

function headerName(line) {
  const i = line.indexOf(':');
  if (i <= 0) return '';
  const n = line.slice(0, i).trim().toLowerCase();
  return COMPACT[n] ?? n;
}
function splitLine(line) {
  const i = line.indexOf(':');
  return i < 0 ? [line, ''] : [line.slice(0, i + 1), line.slice(i + 1)];
}
function headerIdx(m, names) {
  const out = [];
  for (let i = 1; i < m.lines.length; i++) if (names.includes(headerName(m.lines[i]))) out.push(i);
  return out;
}
function pickHeader(m, r, names) {
  if (names) {
    const c = headerIdx(m, names);
    if (c.length) return r.pick(c);
  }
  return m.lines.length > 1 ? 1 + r.int(m.lines.length - 1) : -1;
}
function insertAt(m, r) {
  return m.lines.length > 1 ? 1 + r.int(m.lines.length) : m.lines.length;
}
function setHeader(m, r, name, value) {
  const idx = headerIdx(m, [name.toLowerCase()]);
  if (idx.length) m.lines[idx[0]] = splitLine(m.lines[idx[0]])[0] + ' ' + value;
  else m.lines.splice(insertAt(m, r), 0, `${name}: ${value}`);
}
function appendToHeader(m, r, names, text) {
  const i = pickHeader(m, r, names);
  if (i > 0) m.lines[i] += text;
}
function methodOf(m) {
  const l = m.lines[0] ?? '';
  if (/^SIP\//i.test(l)) {
    const c = headerIdx(m, ['cseq']);
    return c.length ? (splitLine(m.lines[c[0]])[1].trim().split(/\s+/)[1] ?? 'INVITE') : 'INVITE';
  }
  return l.split(' ')[0] || 'INVITE';
}

function toModel(s) {
  let idx = s.indexOf('\r\n\r\n');
  let sep = 4;
  if (idx < 0) {
    idx = s.indexOf('\n\n');
    sep = 2;
  }
  const head = idx < 0 ? s.replace(/\r?\n$/, '') : s.slice(0, idx);
  return { lines: head.split(/\r?\n/), body: idx < 0 ? '' : s.slice(idx + sep), eol: head.includes('\r\n') || !head.includes('\n') ? '\r\n' : '\n', closed: idx >= 0 };
}
function fromModel(m) {
  return m.lines.join(m.eol) + m.eol + (m.closed || m.body ? m.eol : '') + m.body;
}

// SIP-aware mutations, on the line model.
const MODEL = weighted([
  [3, function dupHeader(m, r) {
    const i = pickHeader(m, r);
    if (i < 0) return;
    const n = fits(r.pick([1, 1, 1, 2, 5, 50, 300, 2000]), m.lines[i].length);
    m.lines.splice(i, 0, ...new Array(n).fill(m.lines[i]));
  }],
  [3, function delHeader(m, r) {
    const i = pickHeader(m, r, r.chance(0.7) ? IMPORTANT : null);
    if (i > 0) m.lines.splice(i, 1);
  }],
  [2, function swapLines(m, r) {
    if (m.lines.length < 3) return;
    const a = r.chance(0.1) ? 0 : 1 + r.int(m.lines.length - 1);
    const b = 1 + r.int(m.lines.length - 1);
    [m.lines[a], m.lines[b]] = [m.lines[b], m.lines[a]];
  }],
  [4, function unterminatedQuote(m, r) {
    const i = pickHeader(m, r, ADDR_HEADERS);
    if (i < 0) return;
    const [n, v] = splitLine(m.lines[i]);
    if (r.chance(0.6)) m.lines[i] = n + v + r.pick(QUOTE_TAILS);
    else {
      const p = r.int(v.length + 1);
      m.lines[i] = n + v.slice(0, p) + '"' + v.slice(p);
    }
  }],
  [2, function secondViaOpenQuote(m, r, ctx) {
    const vias = headerIdx(m, ['via']);
    const at = vias.length ? vias[0] + 1 : 1;
    m.lines.splice(at, 0, `Via: SIP/2.0/${r.pick(['UDP', 'TCP', 'TLS'])} ${r.pick(['192.0.2.1', 'proxy.example.com:5070', '[2001:db8::1]', `127.0.0.1:${ctx.port}`])};branch=z9hG4bK${r.hex(8)}${r.pick(QUOTE_TAILS)}`);
  }],
  [3, function commas(m, r) {
    const i = pickHeader(m, r, r.chance(0.7) ? ADDR_HEADERS : null);
    if (i < 0) return;
    const [n, v] = splitLine(m.lines[i]);
    switch (r.int(4)) {
      case 0: {
        const p = r.int(v.length + 1);
        m.lines[i] = n + v.slice(0, p) + r.pick([',', ',,', ', ,', ' , ', ',"', ',<', ',;', ',\t']) + v.slice(p);
        break;
      }
      case 1:
        m.lines[i] = n + v + ',' + v;
        break;
      case 2:
        m.lines[i] = n + r.pick([',', ' ,', ',,']) + v;
        break;
      default:
        m.lines[i] = n + v + ','.repeat(r.pick([1, 2, 100, 5000]));
    }
  }],
  [3, function hugeNumber(m, r) {
    const num = r.pick(NUMBERS);
    switch (r.int(14)) {
      case 0: case 1: setHeader(m, r, 'CSeq', r.chance(0.85) ? `${num} ${methodOf(m)}` : num); break;
      case 2: case 3: setHeader(m, r, 'Max-Forwards', num); break;
      case 4: case 5: setHeader(m, r, 'Content-Length', num); break;
      case 6: setHeader(m, r, 'Expires', num); break;
      case 7: setHeader(m, r, r.pick(['Min-Expires', 'RSeq', 'Session-Expires', 'Retry-After', 'Timestamp', 'Min-SE', 'Max-Breadth']), num); break;
      case 8: setHeader(m, r, 'RAck', `${num} ${r.pick(NUMBERS)} INVITE`); break;
      case 9: appendToHeader(m, r, ['contact'], ';expires=' + num); break;
      case 10: appendToHeader(m, r, ['via'], ';rport=' + num); break;
      case 11: appendToHeader(m, r, ['via'], r.pick([';ttl=', ';received=127.0.0.1;rport=', ';branch=z9hG4bK']) + num); break;
      case 12: appendToHeader(m, r, ['contact'], ';q=' + num); break;
      default: m.lines[0] = m.lines[0].replace(/:(\d+)/, ':' + num);
    }
  }],
  [2, function nulBytes(m, r) {
    const i = r.int(m.lines.length);
    const l = m.lines[i];
    for (let k = r.range(1, 3); k > 0; k--) {
      const p = r.int(m.lines[i].length + 1);
      m.lines[i] = m.lines[i].slice(0, p) + (r.chance(0.8) ? '\0' : '%00') + m.lines[i].slice(p);
    }
    if (r.chance(0.1)) m.lines[i] = l.replace(/./g, (c) => (r.chance(0.3) ? '\0' : c));
  }],
  [2, function badHeaderName(m, r) {
    const i = pickHeader(m, r);
    if (i < 0) return;
    const [n, v] = splitLine(m.lines[i]);
    switch (r.int(4)) {
      case 0: m.lines[i] = r.pick(BAD_NAMES) + ':' + v; break;
      case 1: m.lines[i] = m.lines[i].replace(':', r.pick(['', ' ', '='])); break;
      case 2: m.lines.splice(i, 0, r.pick(BAD_NAMES) + ': ' + r.pick(WEIRD)); break;
      default: m.lines[i] = n.slice(0, -1) + r.pick([' :', '\t:', '::', ' : ', ':\0', '\r:']) + v;
    }
  }],
  [2, function fold(m, r) {
    const i = pickHeader(m, r);
    if (i < 0) return;
    const line = m.lines[i];
    switch (r.int(5)) {
      case 0: {
        const colon = Math.max(0, line.indexOf(':'));
        const p = colon + 1 + r.int(Math.max(1, line.length - colon));
        m.lines[i] = line.slice(0, p);
        m.lines.splice(i + 1, 0, r.pick([' ', '\t', '  ', ' \t']) + line.slice(p));
        break;
      }
      case 1: m.lines.splice(1, 0, r.pick([' ', '\t']) + r.pick(['continuation', '', 'Via: x', ':', line])); break;
      case 2: m.lines.splice(i + 1, 0, r.pick([' ', '\t', '  \t '])); break;
      case 3: m.lines.splice(i + 1, 0, ...new Array(r.pick([2, 50, 1000])).fill(' x')); break;
      default: {
        const [n, v] = splitLine(line);
        m.lines[i] = n;
        m.lines.splice(i + 1, 0, ' ' + v.trim());
      }
    }
  }],
  [3, function ipv6Host(m, r, ctx) {
    const re = /(?<=@|sips?:|\/(?:UDP|TCP|TLS|SCTP|WS|WSS)[ \t]+|maddr=|received=)(\[[^\]\s;>,]*\]?|[A-Za-z0-9.\-_]+)/gi;
    const cands = [];
    for (let i = 0; i < m.lines.length && cands.length < 200; i++) {
      if (m.lines[i].length > 4096) continue;
      for (const x of m.lines[i].matchAll(re)) cands.push([i, x.index, x[0].length]);
    }
    if (!cands.length) return;
    const [i, at, len] = r.pick(cands);
    const host = r.pick(HOSTS).replace('{P}', String(ctx.port));
    m.lines[i] = m.lines[i].slice(0, at) + host + (r.chance(0.3) ? r.pick([':', ':5060', ':0', ':99999', ']:5060']) : '') + m.lines[i].slice(at + len);
  }],
  [2, function longValue(m, r) {
    const i = pickHeader(m, r);
    if (i < 0) return;
    const [n, v] = splitLine(m.lines[i]);
    const size = r.pick([1000, 4000, 16000, 60000]);
    switch (r.int(5)) {
      case 0: m.lines[i] = n + v + r.pick(['a', '\xe9', ' ', '%41', '\\']).repeat(size); break;
      case 1: m.lines[i] = n + v + ';p=v'.repeat(size / 4); break;
      case 2: m.lines[i] = n + (v + ',').repeat(Math.max(1, Math.ceil(size / Math.max(1, v.length + 1)))).slice(0, -1); break;
      case 3: m.lines[i] = n + ' "' + 'q'.repeat(size) + '" <sip:a@b>'; break;
      default: m.lines[i] = n + v.replace(/sips?:/i, (s) => s + 'u'.repeat(size) + '@');
    }
  }],
  [3, function startLine(m, r, ctx) {
    const l = m.lines[0];
    const parts = l.split(' ');
    if (/^SIP\//i.test(l)) {
      switch (r.int(4)) {
        case 0: parts[1] = r.pick(STATUS); break;
        case 1: parts[0] = r.pick(VERSIONS); break;
        case 2: parts.splice(2, parts.length, ...(r.chance(0.5) ? [] : [r.pick(WEIRD)])); break;
        default: parts.push('x'.repeat(r.pick([10, 5000])));
      }
      m.lines[0] = parts.join(' ');
      return;
    }
    switch (r.int(7)) {
      case 0: parts[0] = r.pick(METHODS); break;
      case 1: parts[1] = r.pick(URIS).replace('{P}', String(ctx.port)).replace('{D}', DOMAIN); break;
      case 2: parts[parts.length - 1] = r.pick(VERSIONS); break;
      case 3: m.lines[0] = r.pick(['', ' ', '\t']) + parts.join(r.pick(['  ', '\t', ' \t ', '\0'])) + r.pick(['', ' ', '\t']); return;
      case 4: parts.splice(r.int(parts.length), 1); break;
      case 5: {
        const u = parts[1] ?? '';
        const p = r.int(u.length + 1);
        parts[1] = u.slice(0, p) + r.pick(WEIRD) + u.slice(p);
        break;
      }
      default: {
        // Method and CSeq method agree but are exotic.
        const meth = r.pick(METHODS);
        parts[0] = meth;
        setHeader(m, r, 'CSeq', `${1 + r.int(1000)} ${meth}`);
      }
    }
    m.lines[0] = parts.join(' ');
  }],
  [3, function paramSoup(m, r) {
    const i = pickHeader(m, r, r.chance(0.8) ? ADDR_HEADERS : null);
    if (i < 0) return;
    let s = '';
    for (let k = r.range(1, 5); k > 0; k--) s += r.pick(PARAMS);
    if (r.chance(0.3) && m.lines[i].includes('>')) m.lines[i] = m.lines[i].replace('>', s + '>');
    else m.lines[i] += s;
  }],
  [2, function angleBrackets(m, r, ctx) {
    const i = pickHeader(m, r, NAME_ADDR_HEADERS);
    if (i < 0) return;
    let l = m.lines[i];
    switch (r.int(6)) {
      case 0: l = l.replace('>', ''); break;
      case 1: l = l.replace('<', ''); break;
      case 2: l = l.replace('<', '<<').replace('>', '>>'); break;
      case 3: l = l.replace(/<[^>]*>/, '<>'); break;
      case 4: l = l.replace('<', '"unterminated <'); break;
      default: l = l.replace('<', '<' + r.pick(URIS).replace('{P}', String(ctx.port)).replace('{D}', DOMAIN) + '>, <');
    }
    m.lines[i] = l;
  }],
  [2, function interestingValue(m, r) {
    const i = pickHeader(m, r, r.chance(0.5) ? IMPORTANT : null);
    if (i < 0) return;
    const [n] = splitLine(m.lines[i]);
    m.lines[i] = n + ' ' + r.pick(WEIRD) + (r.chance(0.3) ? r.pick(WEIRD) : '');
  }],
  [2, function authMangle(m, r, ctx) {
    const name = r.pick(['Authorization', 'Proxy-Authorization', 'Authorization', 'Proxy-Authorization', 'WWW-Authenticate', 'Proxy-Authenticate']);
    const v = fill(r.pick(AUTHS), r, ctx, 'UDP', { ip: '127.0.0.1', port: 5060 });
    const idx = headerIdx(m, [name.toLowerCase()]);
    if (idx.length && r.chance(0.5)) m.lines[idx[0]] = name + ': ' + v;
    else m.lines.splice(insertAt(m, r), 0, name + ': ' + v);
  }],
  [1, function bodyMangle(m, r) {
    switch (r.int(6)) {
      case 0:
        setHeader(m, r, 'Content-Type', 'multipart/mixed;boundary=' + r.pick(['', '"', 'x', '"unterminated', 'a'.repeat(200), '"x"']));
        m.body = '--x\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--x' + r.pick(['--', '', '\r\n', '--\r\n--x--', '\r\nContent-Type: ;;\r\n\r\n']);
        break;
      case 1: setHeader(m, r, 'Content-Type', r.pick(['application/sdp', 'application/sdp;charset=', 'text/plain', 'message/sipfrag', 'application/pidf+xml', '', '/', 'a/b/c', ';;', 'multipart/alternative', 'multipart/mixed'])); break;
      case 2:
        setHeader(m, r, 'Content-Type', 'application/sdp');
        m.body = r.pick(BAD_SDP);
        break;
      case 3: m.body = r.bytes(r.len()); break;
      case 4: m.body = m.body.repeat(fits(r.pick([2, 50]), m.body.length)); break;
      default: m.body = '';
    }
  }],
  [2, function addHeader(m, r, ctx) {
    for (let k = r.chance(0.8) ? 1 : r.range(2, 6); k > 0; k--) m.lines.splice(insertAt(m, r), 0, fill(r.pick(EXTRA_HEADERS), r, ctx, 'UDP', { ip: '127.0.0.1', port: 5060 }));
  }],
  [1, function tagJuggle(m, r) {
    switch (r.int(4)) {
      case 0: appendToHeader(m, r, ['to'], `;tag=${r.hex(8)}`); break;
      case 1: {
        const i = pickHeader(m, r, ['from']);
        if (i > 0) m.lines[i] = m.lines[i].replace(/;tag=[^;,\s]*/i, '');
        break;
      }
      case 2: appendToHeader(m, r, ['from', 'to'], `;tag=${r.hex(4)};tag=${r.hex(4)}`); break;
      default: appendToHeader(m, r, ['from', 'to'], r.pick([';tag=', ';tag', ';tag=' + 'x'.repeat(3000)]));
    }
  }],
  [1, function routeToSelf(m, r, ctx) {
    const n = r.pick([1, 1, 2, 30]);
    for (let k = 0; k < n; k++) m.lines.splice(insertAt(m, r), 0, `Route: <sip:127.0.0.1:${ctx.port};lr${r.chance(0.3) ? r.pick(PARAMS) : ''}>`);
  }],
  [1, function contactStar(m, r) {
    setHeader(m, r, 'Contact', r.pick(['*', '*;expires=0', '*, <sip:x@y>', '* ', ' *', '"*" <*>', '<*>', '*;q=1', 'sip:*@127.0.0.1']));
    if (r.chance(0.5)) setHeader(m, r, 'Expires', r.pick(['0', '1', '-0', '00']));
  }],
]);

function bytePos(s, r) {
  return r.int(s.length + 1);
}
const INTERESTING_BYTES = ['\0', '\xff', '\x7f', ':', ';', ',', '"', '<', '>', '\r', '\n', ' ', '\t', '[', ']', '=', '@', '%', '\\', '/', '?', '&'];

// Wire-level mutations, on the whole string.
const WIRE = weighted([
  [3, function crlfVariant(s, r) {
    switch (r.int(9)) {
      case 0: return s.replace(/\r\n/g, '\n');
      case 1: return s.replace(/\r\n/g, '\r');
      case 2: return s.replace(/\r\n/g, () => r.pick(['\r\n', '\r\n', '\n', '\r', '\r\r\n', '\n\r']));
      case 3: {
        const i = s.indexOf('\r\n\r\n');
        return i < 0 ? s : s.slice(0, i) + '\r\n' + s.slice(i + 4);
      }
      case 4: return r.pick(['\r\n', '\r\n\r\n', '\n', ' ', '\r\n'.repeat(100)]) + s;
      case 5: return s + r.pick(['\r\n', '\r\n\r\n', 'garbage', '\0', '\r']);
      case 6: {
        const i = s.indexOf('\r\n\r\n');
        return i < 0 ? s + '\r\n\r\n' : s.slice(0, i) + '\r\n\r\n\r\n' + s.slice(i + 4);
      }
      case 7: return s.replace(/\r\n/, r.pick([' \r\n', '\t\r\n', '\r\n\r\n']));
      default: {
        const i = s.indexOf('\r\n\r\n');
        return i < 0 ? s : s.slice(0, i);
      }
    }
  }],
  [3, function flipBits(s, r) {
    for (let k = r.range(1, 8); k > 0 && s.length; k--) {
      const p = r.int(s.length);
      s = s.slice(0, p) + String.fromCharCode(s.charCodeAt(p) ^ (1 << r.int(8))) + s.slice(p + 1);
    }
    return s;
  }],
  [2, function setByte(s, r) {
    if (!s.length) return s;
    const p = r.int(s.length);
    return s.slice(0, p) + r.pick(INTERESTING_BYTES) + s.slice(p + 1);
  }],
  [2, function insertBytes(s, r) {
    const p = bytePos(s, r);
    const ins = r.chance(0.5) ? r.bytes(r.len()) : r.pick(INTERESTING_BYTES).repeat(r.len());
    return s.slice(0, p) + ins + s.slice(p);
  }],
  [2, function deleteRange(s, r) {
    const p = bytePos(s, r);
    return s.slice(0, p) + s.slice(p + r.len());
  }],
  [2, function truncate(s, r) {
    return s.slice(0, r.int(s.length + 1));
  }],
  [1, function repeatRange(s, r) {
    const p = bytePos(s, r);
    const chunk = s.slice(p, p + r.range(1, 64));
    return s.slice(0, p) + chunk.repeat(r.pick([2, 3, 10, 100, 1000])) + s.slice(p);
  }],
  [1, function splice(s, r, ctx) {
    const other = r.pick(ctx.seeds).text;
    const a = r.int(other.length);
    const p = bytePos(s, r);
    return s.slice(0, p) + other.slice(a, a + r.len()) + s.slice(p);
  }],
  [1, function doubleMessage(s, r, ctx) {
    return s + (r.chance(0.5) ? s : r.pick(ctx.seeds).text);
  }],
]);

/** 1–6 mutations: SIP-aware ones on the line model first, then wire-level ones on the bytes. */
function mutate(text, r, ctx) {
  const n = r.chance(0.5) ? 1 : r.chance(0.5) ? 2 : r.range(3, 6);
  const modelOps = [];
  const wireOps = [];
  for (let i = 0; i < n; i++) {
    if (r.chance(0.65)) modelOps.push(MODEL(r));
    else wireOps.push(WIRE(r));
  }
  let s = text;
  if (modelOps.length) {
    const m = toModel(s);
    for (const op of modelOps) op(m, r, ctx);
    s = fromModel(m);
  }
  for (const op of wireOps) {
    s = op(s, r, ctx);
    if (s.length > MAX_TEXT) s = s.slice(0, MAX_TEXT);
  }
  return s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s;
}
/** Longest message built (UDP sends at most 65,507 bytes of it, TCP 300,000). */
const MAX_TEXT = 400_000;
/** How many copies of `len` characters fit in about 200 KB (at least 1). */
const fits = (n, len) => Math.max(1, Math.min(n, Math.floor(200_000 / Math.max(1, len))));

function fixContentLength(s) {
  let idx = s.indexOf('\r\n\r\n');
  let sep = 4;
  if (idx < 0) {
    idx = s.indexOf('\n\n');
    sep = 2;
  }
  if (idx < 0) return s;
  const bodyLen = s.length - idx - sep;
  const head = s.slice(0, idx);
  const re = /^(content-length|l)([ \t]*:[ \t]*)[^\r\n]*$/im;
  if (re.test(head)) return head.replace(re, (_, n, c) => n + c + bodyLen) + s.slice(idx);
  return head + (sep === 4 ? '\r\n' : '\n') + 'Content-Length: ' + bodyLen + s.slice(idx);
}

function fill(t, r, ctx, transport, src) {
  const u = 'fuzz' + r.int(Math.max(1, ctx.bindings));
  const u2 = 'fuzz' + r.int(Math.max(1, ctx.bindings));
  const s = t.replace(/\{(\w+)\}/g, (all, k) => {
    switch (k) {
      case 'P': return String(ctx.port);
      case 'D': return DOMAIN;
      case 'T': return transport.toUpperCase();
      case 'SRC': return `${src.ip}:${src.port}`;
      case 'BRANCH': return 'z9hG4bK' + r.hex(16);
      case 'CALLID': return r.hex(20) + '@' + src.ip;
      case 'TAG': return r.hex(8);
      case 'U': return u;
      case 'U2': return u2;
      case 'N': return String(1 + r.int(100000));
      case 'HEX': return r.hex(16);
      case 'HEX32': return r.hex(32);
      case 'SINK': return ctx.sinkAddrs?.length ? r.pick(ctx.sinkAddrs) : `127.0.0.1:${ctx.port}`;
      case 'NONCE': return ctx.nonces.length && r.chance(0.8) ? r.pick(ctx.nonces) : 'AAAB' + r.hex(40);
      default: return all;
    }
  });
  if (!s.includes('{CL}')) return s;
  // {CL} sits in the header section: the body after the empty line is already final.
  const i = s.indexOf('\r\n\r\n');
  return s.replace('{CL}', String(i < 0 ? 0 : s.length - i - 4));
}

/** The seed as this message starts: templates filled in; corpus messages' top Via / Call-ID made ours. */
function prepare(seed, r, ctx, transport, src) {
  if (seed.template) return fill(seed.text, r, ctx, transport, src);
  let s = seed.text;
  if (!seed.response) {
    const via = `Via: SIP/2.0/${transport.toUpperCase()} ${src.ip}:${src.port};branch=z9hG4bK${r.hex(12)};rport`;
    if (r.chance(0.6)) {
      // A Via of ours on top (responses come back to us); keep the corpus one below it or not.
      const keep = r.chance(0.6);
      s = s.replace(/^(?:Via|v)[ \t]*:[^\r\n]*(\r?\n)/im, (line, eol) => (keep ? via + eol + line : via + eol));
    } else if (transport === 'tcp' && r.chance(0.5)) {
      s = s.replace(/^((?:Via|v)[ \t]*:[ \t]*SIP[ \t]*\/[ \t]*2\.0[ \t]*\/[ \t]*)UDP/im, '$1TCP');
    }
  }
  if (r.chance(0.6)) s = s.replace(/^((?:Call-ID|i)[ \t]*:[ \t]*)[^\r\n]*/im, `$1fz-${r.hex(16)}`);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Processes

/** Keeps the most recent `cap` bytes of a stream. */
class Tail {
  constructor(cap = 1 << 20) {
    this.cap = cap;
    this.chunks = [];
    this.size = 0;
    this.dropped = 0;
    this.lines = 0;
  }
  push(b) {
    this.chunks.push(b);
    this.size += b.length;
    for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) this.lines++;
    while (this.size > this.cap && this.chunks.length > 1) {
      const f = this.chunks.shift();
      this.size -= f.length;
      this.dropped += f.length;
    }
  }
  text() {
    const t = Buffer.concat(this.chunks).toString('utf8');
    return this.dropped ? `[… ${this.dropped} bytes dropped …]\n${t}` : t;
  }
}

const liveServers = new Set();
process.on('exit', () => {
  for (const s of liveServers) {
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    process.stderr.write(`fuzz-campaign: ${sig}, stopping the server(s)\n`);
    process.exit(130);
  });
}

class Server {
  /** Caught faults over every server of this run (see noteStderr). */
  static faults = new Map();
  constructor(cfgPath, cwd) {
    this.cfgPath = cfgPath;
    this.cwd = cwd;
    this.out = new Tail();
    this.err = new Tail();
    this.exit = null;
  }
  get alive() {
    return this.exit === null;
  }
  async start(timeoutMs = 30000) {
    const child = spawn(process.execPath, [MAIN, 'serve', '--config', this.cfgPath], { cwd: this.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.pid = child.pid;
    liveServers.add(this);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal, at: Date.now() };
        liveServers.delete(this);
        resolve(this.exit);
      });
      // Could not start at all (e.g. its directory vanished): an exit without a status.
      child.once('error', (err) => {
        this.err.push(Buffer.from(`fuzz-campaign: cannot run the server: ${err.message}\n`));
        if (this.exit) return;
        this.exit = { code: null, signal: null, error: err.message, at: Date.now() };
        liveServers.delete(this);
        resolve(this.exit);
      });
    });
    this.closed = new Promise((resolve) => {
      child.once('close', resolve);
      child.once('error', resolve);
    });
    let ready;
    const isReady = new Promise((r) => (ready = r));
    child.stdout.on('data', (b) => {
      this.out.push(b);
      if (/serving domains/.test(this.out.text())) ready(true);
    });
    let partial = '';
    child.stderr.on('data', (b) => {
      this.err.push(b);
      const lines = (partial + b.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) this.noteStderr(l);
    });
    const t0 = Date.now();
    const ok = await Promise.race([isReady, this.exited.then(() => false), sleep(timeoutMs).then(() => false)]);
    if (!ok) {
      this.kill();
      throw new Error(`the server did not start within ${Date.now() - t0} ms (${this.exit ? `exit ${this.exit.code ?? this.exit.signal}` : 'killed'})\n--- stdout ---\n${this.out.text()}\n--- stderr ---\n${this.err.text()}`);
    }
    return this;
  }
  /**
   * The server reports a fault it caught (and answered, usually 500) as one stderr line:
   * "switchboard: fault in WHERE from SRC Call-ID "…" (METHOD): Error: message  [at fn (file:line)]; answered N"
   * (or "; dropped").
   * Counted by (where, error, function) so the summary can list the distinct ones.
   */
  noteStderr(line) {
    const m = /^switchboard: fault in (\S+) .*?\(([^()]*)\): (\w*Error|\w+): (.*?)(?:\s+\[at ([^\s\]]+)[^\]]*\])?(?:; (answered \d+|dropped|[^;]{0,40}))?$/.exec(line);
    if (!m) return;
    const key = `${m[1]}: ${m[3]} at ${m[5] ?? '?'}${m[6] ? ` → ${m[6]}` : ''}`;
    const f = Server.faults.get(key) ?? { count: 0, sample: `${m[2]}: ${m[4].slice(0, 160)}` };
    f.count++;
    Server.faults.set(key, f);
  }
  rssKb() {
    try {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m ? Number(m[1]) : 0;
    } catch {
      return 0;
    }
  }
  signal(sig) {
    if (!this.alive) return;
    try {
      process.kill(this.pid, sig);
    } catch {
      /* gone */
    }
  }
  kill() {
    this.signal('SIGKILL');
  }
  /** SIGTERM by PID, SIGKILL after graceMs; resolves with the exit status. */
  async stop(graceMs = 10000) {
    if (!this.alive) return this.exit;
    this.signal('SIGTERM');
    const t = setTimeout(() => this.kill(), graceMs);
    const st = await this.exited;
    clearTimeout(t);
    return st;
  }
  /** Exit status plus complete output (waits for the pipes, at most 2 s). */
  async finished() {
    await this.exited;
    await Promise.race([this.closed, sleep(2000)]);
    return this.exit;
  }
}

async function freePort() {
  for (let i = 0; i < 100; i++) {
    const srv = net.createServer();
    const port = await new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => resolve(srv.address().port));
    });
    const u = dgram.createSocket('udp4');
    const ok = await new Promise((resolve) => {
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => resolve(true));
    });
    try {
      u.close();
    } catch {
      /* not bound */
    }
    await new Promise((r) => srv.close(r));
    if (ok) return port;
  }
  throw new Error('no port free for both UDP and TCP on 127.0.0.1');
}

/** Host names the corpus names (Request-URIs, Routes, Vias …): mapped to a sink by `hosts:`. */
function corpusHostNames(seeds) {
  const names = new Set([DOMAIN, 'example.com']);
  for (const sd of seeds) for (const m of sd.text.matchAll(/(?<=[@:/ \t<;=])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:com|net|org|example|invalid|test|arpa|local)\b/gi)) names.add(m[0].toLowerCase());
  return [...names].sort();
}

function writeConfig(dir, port, users, hosts = {}) {
  const cfgPath = path.join(dir, 'switchboard.yaml');
  const dbPath = path.join(dir, 'switchboard.db');
  const lines = [
    '# written by scripts/fuzz-campaign.mjs',
    `listen: [${JSON.stringify(`udp:127.0.0.1:${port}`)}, ${JSON.stringify(`tcp:127.0.0.1:${port}`)}]`,
    `domains: [${JSON.stringify(DOMAIN)}, "example.com"]`,
    'roles: [registrar, proxy]',
    'store: sqlite',
    `db: ${JSON.stringify(dbPath)}`,
    // One nonce secret for the campaign, its triage and --replay: a saved input's nonce (taken
    // from a real challenge) means the same to each of them.
    'auth: {nonceSecret: "switchboard-fuzz-campaign-nonce-secret"}',
  ];
  if (users.length) {
    lines.push('users:');
    for (const u of users) lines.push(`  - {user: ${JSON.stringify(u.user)}, password: ${JSON.stringify(u.password)}, domain: ${JSON.stringify(DOMAIN)}}`);
  }
  const names = Object.keys(hosts);
  if (names.length) {
    lines.push('hosts:');
    for (const n of names) lines.push(`  ${JSON.stringify(n)}: ${JSON.stringify(hosts[n])}`);
  }
  fs.writeFileSync(cfgPath, lines.join('\n') + '\n');
  return { cfgPath, dbPath };
}

function cli(args, timeoutMs = 30000) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

// ---------------------------------------------------------------------------------------------
// SIP helpers for the harness's own (valid) traffic

function parseHead(s) {
  const end = s.indexOf('\r\n\r\n');
  const lines = (end < 0 ? s : s.slice(0, end)).split('\r\n');
  const headers = [];
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers.push([headerName(l), l.slice(i + 1).trim()]);
  }
  const get = (n) => headers.find(([k]) => k === n)?.[1];
  const all = (n) => headers.filter(([k]) => k === n).map(([, v]) => v);
  const m = /^SIP\/2\.0 (\d{3})/.exec(lines[0]);
  return { first: lines[0], status: m ? Number(m[1]) : undefined, get, all };
}

function statusClass(buf) {
  // 'SIP/2.0 ' is 8 bytes; the status digit follows.
  if (buf.length >= 12 && buf.toString('latin1', 0, 8) === 'SIP/2.0 ') {
    const d = buf[8] - 48;
    if (d >= 1 && d <= 6) return `${d}xx`;
    return 'other';
  }
  return 'request';
}

const md5 = (s) => createHash('md5').update(s).digest('hex');

function parseChallenge(v) {
  const out = {};
  for (const m of v.replace(/^Digest\s+/i, '').matchAll(/(\w[\w-]*)\s*=\s*(?:"([^"]*)"|([^,\s]+))/g)) out[m[1].toLowerCase()] = m[2] ?? m[3];
  return out;
}

/**
 * A registered user's contact: a UDP socket on its own loopback address. It registers (digest
 * MD5) and answers what the proxy forwards to it: 486/200/180+486/603 for INVITE, 200 for the
 * rest, nothing for ACK; one reply in four is mutated (the proxy's response path).
 */
class Sink {
  constructor(ip, rng, ctx, record) {
    this.ip = ip;
    this.rng = rng;
    this.ctx = ctx;
    this.record = record;
    this.pending = new Map();
    this.requests = 0;
    this.replies = 0;
    this.mutated = 0;
  }
  async bind() {
    this.sock = dgram.createSocket('udp4');
    await new Promise((resolve, reject) => {
      this.sock.once('error', reject);
      this.sock.bind(0, this.ip, resolve);
    });
    this.sock.on('error', () => {});
    this.port = this.sock.address().port;
    this.sock.on('message', (b, rinfo) => this.onMessage(b, rinfo));
    return this;
  }
  onMessage(buf, rinfo) {
    const s = buf.toString('latin1');
    const h = parseHead(s);
    if (h.status !== undefined) {
      const p = this.pending.get(h.get('call-id'));
      if (p && h.status >= 200 && parseInt(h.get('cseq') ?? '', 10) === p.cseq) p.resolve(h);
      return;
    }
    this.requests++;
    const method = h.first.split(' ')[0];
    if (method === 'ACK') return;
    const r = this.rng;
    const base = (status, reason, extra = [], body = '') =>
      [`SIP/2.0 ${status} ${reason}`, ...h.all('via').map((v) => `Via: ${v}`), ...h.all('record-route').map((v) => `Record-Route: ${v}`), `From: ${h.get('from') ?? ''}`, `To: ${h.get('to') ?? ''}${/;tag=/i.test(h.get('to') ?? '') ? '' : `;tag=sink${r.hex(6)}`}`, `Call-ID: ${h.get('call-id') ?? ''}`, `CSeq: ${h.get('cseq') ?? ''}`, ...extra, `Content-Length: ${body.length}`, '', body].join('\r\n');
    const replies = [];
    if (method === 'INVITE') {
      const k = r.int(4);
      if (k === 0) replies.push(base(486, 'Busy Here'));
      else if (k === 1) replies.push(base(180, 'Ringing', [`Contact: <sip:sink@${this.ip}:${this.port}>`]), base(486, 'Busy Here'));
      else if (k === 2) replies.push(base(200, 'OK', [`Contact: <sip:sink@${this.ip}:${this.port}>`, 'Content-Type: application/sdp'], SDP));
      else replies.push(base(603, 'Decline'));
    } else if (method === 'CANCEL' || r.chance(0.8)) replies.push(base(200, 'OK'));
    else replies.push(base(404, 'Not Found'));
    for (let text of replies) {
      if (this.ctx.sinkMutate && r.chance(0.25)) {
        text = mutate(text, r, this.ctx);
        this.mutated++;
      }
      const bytes = Buffer.from(text, 'latin1').subarray(0, 65507);
      this.sock.send(bytes, rinfo.port, rinfo.address);
      this.replies++;
      this.record({ transport: 'udp', src: `${this.ip}:${this.port}`, kind: 'sink-reply', seed: `reply to ${method}`, bytes });
    }
  }
  /** REGISTER → 401 → REGISTER with credentials → 200. */
  async register(user, password, port) {
    const callId = `reg-${user}-${this.ip}-${this.port}`;
    const contact = `sip:${user}@${this.ip}:${this.port}`;
    const send = async (cseq, auth) => {
      const msg = [`REGISTER sip:${DOMAIN} SIP/2.0`, `Via: SIP/2.0/UDP ${this.ip}:${this.port};branch=z9hG4bK${callId.replace(/[^a-z0-9]/gi, '')}${cseq};rport`, 'Max-Forwards: 70', `From: <sip:${user}@${DOMAIN}>;tag=t${cseq}`, `To: <sip:${user}@${DOMAIN}>`, `Call-ID: ${callId}`, `CSeq: ${cseq} REGISTER`, `Contact: <${contact}>`, 'Expires: 3600', ...(auth ? [`Authorization: ${auth}`] : []), 'Content-Length: 0', '', ''].join('\r\n');
      const got = new Promise((resolve) => this.pending.set(callId, { cseq, resolve }));
      for (let attempt = 0; attempt < 6; attempt++) {
        this.sock.send(msg, port, '127.0.0.1');
        const h = await Promise.race([got, sleep(500 * 2 ** Math.min(attempt, 2))]);
        if (h) return h;
      }
      throw new Error(`REGISTER ${user} from ${this.ip}:${this.port}: no final response`);
    };
    const first = await send(1);
    if (first.status !== 401) throw new Error(`REGISTER ${user}: expected 401, got ${first.first}`);
    const ch = first.all('www-authenticate').map(parseChallenge).find((c) => (c.algorithm ?? 'MD5').toUpperCase() === 'MD5');
    if (!ch) throw new Error(`REGISTER ${user}: no MD5 challenge in ${first.first}`);
    this.ctx.nonces.push(ch.nonce);
    const uri = `sip:${DOMAIN}`;
    const cnonce = this.rng.hex(16);
    const nc = '00000001';
    const ha1 = md5(`${user}:${ch.realm}:${password}`);
    const ha2 = md5(`REGISTER:${uri}`);
    const response = ch.qop ? md5(`${ha1}:${ch.nonce}:${nc}:${cnonce}:auth:${ha2}`) : md5(`${ha1}:${ch.nonce}:${ha2}`);
    const auth = `Digest username="${user}", realm="${ch.realm}", nonce="${ch.nonce}", uri="${uri}", response="${response}", algorithm=MD5` + (ch.qop ? `, cnonce="${cnonce}", qop=auth, nc=${nc}` : '') + (ch.opaque !== undefined ? `, opaque="${ch.opaque}"` : '');
    const second = await send(2, auth);
    if (second.status !== 200) throw new Error(`REGISTER ${user}: expected 200 after the challenge, got ${second.first}`);
    this.pending.delete(callId);
    return { aor: `sip:${user}@${DOMAIN}`, contact };
  }
  close() {
    try {
      this.sock.close();
    } catch {
      /* closed */
    }
  }
}

/** Counts the responses in a TCP byte stream (framed by Content-Length). */
class StreamCounter {
  constructor(onMessage) {
    this.buf = Buffer.alloc(0);
    this.onMessage = onMessage;
  }
  push(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      let start = 0;
      while (start < this.buf.length && (this.buf[start] === 13 || this.buf[start] === 10)) start++;
      if (start) this.buf = this.buf.subarray(start);
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.buf.length > 1 << 20) this.buf = Buffer.alloc(0);
        return;
      }
      const head = this.buf.toString('latin1', 0, end);
      const m = /^(?:content-length|l)[ \t]*:[ \t]*(\d+)/im.exec(head);
      const total = end + 4 + (m ? Number(m[1]) : 0);
      if (this.buf.length < total) return;
      this.onMessage(this.buf.subarray(0, total));
      this.buf = this.buf.subarray(total);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Liveness probes

let probeSeq = 0;
let probeSock;
const probeWaiters = new Map();

async function probeSocket() {
  if (probeSock) return probeSock;
  probeSock = dgram.createSocket('udp4');
  await new Promise((resolve, reject) => {
    probeSock.once('error', reject);
    probeSock.bind(0, '127.0.0.1', resolve);
  });
  probeSock.on('error', () => {});
  probeSock.on('message', (b) => {
    const m = /^(?:Call-ID|i)[ \t]*:[ \t]*(\S+)/im.exec(b.toString('latin1'));
    const w = m && probeWaiters.get(m[1]);
    if (w) w(b);
  });
  return probeSock;
}

function probeMessage(port, transport, localPort, callId) {
  return [`OPTIONS sip:127.0.0.1:${port} SIP/2.0`, `Via: SIP/2.0/${transport} 127.0.0.1:${localPort};branch=z9hG4bK${callId.replace(/[^a-z0-9]/gi, '')};rport`, 'Max-Forwards: 70', `From: <sip:probe@probe.invalid>;tag=${callId.slice(-8)}`, `To: <sip:127.0.0.1:${port}>`, `Call-ID: ${callId}`, 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', ''].join('\r\n');
}

/** OPTIONS over UDP, retransmitted (0, 250, 750, 1500 ms) until the deadline; any response counts. */
async function probeUdp(port, timeoutMs) {
  const sock = await probeSocket();
  const callId = `probe-${process.pid}-${++probeSeq}-${Date.now().toString(36)}`;
  const msg = probeMessage(port, 'UDP', sock.address().port, callId);
  const t0 = performance.now();
  let done;
  const got = new Promise((r) => (done = r));
  probeWaiters.set(callId, done);
  const timers = [0, 250, 750, 1500].filter((t) => t < timeoutMs).map((t) => setTimeout(() => sock.send(msg, port, '127.0.0.1'), t));
  const res = await Promise.race([got, sleep(timeoutMs).then(() => null)]);
  for (const t of timers) clearTimeout(t);
  probeWaiters.delete(callId);
  return { ok: !!res, ms: performance.now() - t0, status: res ? res.toString('latin1', 0, 12) : undefined, transport: 'udp' };
}

/** OPTIONS over a fresh TCP connection: the listener must still accept and answer. */
async function probeTcp(port, timeoutMs) {
  const callId = `probe-${process.pid}-${++probeSeq}-${Date.now().toString(36)}`;
  const t0 = performance.now();
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' });
    let buf = '';
    let finished = false;
    const finish = (ok, why) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ ok, ms: performance.now() - t0, status: ok ? buf.slice(0, 12) : why, transport: 'tcp' });
    };
    const timer = setTimeout(() => finish(false, 'timeout'), timeoutMs);
    sock.on('connect', () => sock.write(probeMessage(port, 'TCP', sock.localPort, callId)));
    sock.on('data', (b) => {
      buf += b.toString('latin1');
      if (buf.includes(callId)) finish(true);
    });
    sock.on('error', (e) => finish(false, e.code ?? e.message));
    sock.on('close', () => finish(false, 'closed'));
  });
}

// ---------------------------------------------------------------------------------------------
// Sending

async function bindUdp(ip) {
  const s = dgram.createSocket('udp4');
  await new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, ip, resolve);
  });
  s.on('error', () => {});
  return s;
}

function loopback(i, n) {
  return `127.0.0.${2 + (i % n)}`;
}

function udpDrops(port) {
  // /proc/net/udp: local_address is hex IP:port (little-endian IP), the last column is drops.
  try {
    const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
    for (const line of fs.readFileSync('/proc/net/udp', 'utf8').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[1] === want) return Number(f[f.length - 1]);
    }
  } catch {
    /* not Linux */
  }
  return undefined;
}

function timestamp() {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.(\d{3})Z$/, '$1Z');
}

/** Writes one file per input (bytes as sent) and a .log; returns the descriptors. */
function saveInputs(entries, reason, details) {
  fs.mkdirSync(O.out, { recursive: true });
  const base = `campaign-${timestamp()}`;
  const files = entries.map((e, k) => {
    const name = `${base}-${String(k).padStart(3, '0')}-${e.transport}.sip`;
    fs.writeFileSync(path.join(O.out, name), e.bytes);
    return { ...e, file: name };
  });
  const logPath = path.join(O.out, `${base}.txt`);
  const index = files.map((f) => `${f.file}\t#${f.seq}\t${f.transport}\t${f.src}${f.conn !== undefined ? `\tconn ${f.conn}` : ''}\t${f.kind}\t${f.seed}\t${f.bytes.length} bytes`).join('\n');
  fs.writeFileSync(logPath, `${reason}\n\n${details}\n\n--- inputs (oldest first; bytes as sent) ---\n${index}\n`);
  return { base, files, logPath };
}

/**
 * A server (temp dir, config, SQLite store) with --bindings users, each registered (digest MD5)
 * from a sink on its own loopback address. The campaign, the triage and --replay all use one, so
 * a saved input meets the same location service it was sent to.
 */
async function makeEnvironment(label, seed, record, sinkMutate) {
  const rng = new Rng((seed ^ 0x2545f491) >>> 0);
  // A prefix of its own: other fuzzers here use sb-fuzz-* and may clean those up.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sb-campaign-${label}-`));
  const port = await freePort();
  const users = Array.from({ length: O.bindings }, (_, i) => ({ user: `fuzz${i}`, password: `pw-${seed}-${i}-${rng.hex(6)}` }));
  const ctx = { port, bindings: O.bindings, nonces: [], seeds: [], sinkMutate };
  const env = { dir, port, users, ctx, sinks: [], expected: [] };
  // Sinks first (at least one, even with --bindings 0): the static host map points at one.
  const sinkRng = new Rng((seed ^ 0x5bd1e995) >>> 0);
  for (let i = 0; i < Math.max(1, O.bindings); i++) env.sinks.push(await new Sink(loopback(i, O.sources), sinkRng, ctx, record).bind());
  ctx.sinkAddrs = env.sinks.map((k) => `${k.ip}:${k.port}`);
  const hosts = Object.fromEntries(corpusHostNames(SEEDS.seeds).map((n, i) => [n, ctx.sinkAddrs[i % ctx.sinkAddrs.length]]));
  Object.assign(env, writeConfig(dir, port, users, hosts));
  try {
    env.server = await new Server(env.cfgPath, dir).start();
  } catch (e) {
    for (const k of env.sinks) k.close();
    throw e;
  }
  try {
    for (let i = 0; i < O.bindings; i++) env.expected.push(await env.sinks[i].register(users[i].user, users[i].password, port));
  } catch (e) {
    env.server.kill();
    for (const k of env.sinks) k.close();
    if (!O.keep) fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return env;
}

/**
 * Replays inputs against a fresh server, in chunks of 25 with a probe after each chunk (and
 * 250 ms for timers, e.g. an INVITE's 100 Trying, to fire). A chunk after which the server is
 * dead or silent is replayed one input at a time on a new server, after the inputs before it
 * (their transactions may be what the culprit needs). Returns the culprits with the stderr of
 * the server they killed; `entry.file` is undefined when the chunk did it but no single input
 * of it did.
 */
async function replayEntries(entries, { label = 'replay', chunk = 25 } = {}) {
  const env = await makeEnvironment(label, 1, () => {}, false);
  const { dir, port, cfgPath } = env;
  const socks = new Map();
  const udpFrom = async (ip) => {
    if (!socks.has(ip)) socks.set(ip, await bindUdp(ip).catch(() => bindUdp('127.0.0.1')));
    return socks.get(ip);
  };
  let server = env.server;
  const culprits = [];
  const send = async (e) => {
    const ip = (e.src ?? '127.0.0.2').split(':')[0] || '127.0.0.2';
    if (e.transport === 'tcp') {
      // A fresh connection: the bytes, then FIN (the server sees exactly this input).
      await new Promise((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port, localAddress: ip });
        const t = setTimeout(() => {
          s.destroy();
          resolve();
        }, 1000);
        s.on('error', () => {
          clearTimeout(t);
          resolve();
        });
        s.on('connect', () => {
          s.end(e.bytes);
          clearTimeout(t);
          resolve();
        });
        s.on('data', () => {});
        s.on('close', () => s.destroy());
      });
    } else (await udpFrom(ip)).send(e.bytes, port, '127.0.0.1');
  };
  const check = async () => {
    const p = await Promise.race([probeUdp(port, O.probeTimeout), server.exited.then(() => ({ ok: false }))]);
    if (p.ok) await Promise.race([sleep(250), server.exited]);
    return server.alive && p.ok ? null : server.alive ? 'hang (probe unanswered)' : 'exit';
  };
  // A server that died or hung is replaced only when the next input needs one; the new one
  // first gets `context` (the inputs before), without probes.
  let fresh = true;
  const ensure = async (context = []) => {
    if (server.alive && fresh) return;
    if (server.alive) server.kill();
    await server.finished();
    server = await new Server(cfgPath, dir).start();
    fresh = true;
    for (const e of context) await send(e);
    if (context.length) await sleep(50);
  };
  const blame = async (e, why) => {
    if (server.alive) server.kill();
    await server.finished();
    culprits.push({ entry: e, why, exit: server.exit, stderr: server.err.text() });
  };
  try {
    for (let i = 0; i < entries.length; i += chunk) {
      const part = entries.slice(i, i + chunk);
      await ensure();
      for (const e of part) await send(e);
      const why = await check();
      if (why === null) continue;
      if (part.length === 1) {
        await blame(part[0], why);
        continue;
      }
      // One of this chunk: again one at a time, on a new server, after the inputs before it.
      const chunkServer = server;
      await chunkServer.finished();
      fresh = false;
      const before = culprits.length;
      for (let k = 0; k < part.length; k++) {
        await ensure(entries.slice(0, i + k).filter((x) => !culprits.some((c) => c.entry === x)));
        await send(part[k]);
        const w = await check();
        if (w === null) continue;
        await blame(part[k], w);
      }
      if (culprits.length === before) culprits.push({ entry: { file: undefined, chunk: part.map((x) => x.file) }, why: `${why} after inputs ${part[0].file} … ${part[part.length - 1].file}, no single one of them`, exit: chunkServer.exit, stderr: chunkServer.err.text() });
    }
  } finally {
    await server.stop();
    for (const s of socks.values()) s.close();
    for (const k of env.sinks) k.close();
    if (!O.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
  return culprits;
}

function describeExit(x) {
  if (!x) return 'running';
  if (x.error) return `not started: ${x.error}`;
  return x.signal ? `killed by ${x.signal}` : `exit code ${x.code}`;
}

/** After a crash or hang: save the inputs, triage them, log what was found. */
async function recordFailure(kind, server, ring, count, stats) {
  const n = kind === 'hang' ? 1000 : O.window;
  const entries = ring.slice(-n);
  if (server.alive) server.kill();
  await server.finished();
  const stderr = server.err.text();
  const reason = `${kind === 'hang' ? 'HANG: a probe got no response within ' + O.probeTimeout + ' ms' : 'CRASH: the server exited (' + describeExit(server.exit) + ')'} after ${count} messages; seed ${O.seed}`;
  const saved = saveInputs(entries, reason, `--- server stderr ---\n${stderr}`);
  log(`${reason}; ${entries.length} inputs saved as ${path.join(O.out, saved.base)}-NNN-{udp,tcp}.sip`);
  const failure = { kind, atMessage: count, exit: server.exit, stderrTail: stderr.slice(-8000), log: saved.logPath, files: saved.files.length, culprits: [] };
  if (O.triage) {
    log(`triage: replaying ${saved.files.length} inputs against a fresh server …`);
    const culprits = await replayEntries(saved.files.filter((f) => f.kind === 'fuzz' || f.kind === 'sink-reply'), { label: 'triage' });
    const lines = [];
    for (const c of culprits) {
      if (c.entry.file === undefined) {
        // The chunk killed it, no single input did (on a fresh server, after the ones before).
        failure.culprits.push({ file: undefined, why: c.why, exit: describeExit(c.exit), alone: false, stack: firstStack(c.stderr) });
        lines.push(`${c.why} (${describeExit(c.exit)})\n${c.stderr}`);
        continue;
      }
      // Does it reproduce on its own, on a fresh server?
      const alone = await replayEntries([c.entry], { label: 'confirm', chunk: 1 });
      const rec = { file: c.entry.file, transport: c.entry.transport, seed: c.entry.seed, why: c.why, exit: describeExit(c.exit), alone: alone.length > 0, stack: firstStack(c.stderr) };
      failure.culprits.push(rec);
      lines.push(`${rec.file}: ${rec.why} (${rec.exit})${rec.alone ? ', reproduces on its own' : ', only after earlier inputs'}; seed ${rec.seed}\n${c.stderr}`);
      stats.culpritFiles.push(path.join(O.out, rec.file));
    }
    fs.appendFileSync(saved.logPath, `\n--- triage ---\n${culprits.length ? lines.join('\n\n') : 'not reproduced by replaying the inputs one by one against a fresh server'}\n`);
    log(`triage: ${culprits.length ? culprits.map((c) => (c.entry.file ? `${c.entry.file} (${c.why})` : c.why)).join(', ') : 'not reproduced'}`);
    // Keep only the culprits when each reproduces on its own and (for a crash) one of them dies
    // where the campaign's server died; otherwise the crash needs more context: keep them all.
    const crashTop = topFrame(stderr);
    failure.matched = kind === 'hang' || culprits.some((c) => topFrame(c.stderr) === crashTop);
    if (!failure.matched) fs.appendFileSync(saved.logPath, `\n(no culprit died at the campaign's crash site, ${crashTop}: every input is kept)\n`);
    if (culprits.length && !O.keepWindow && failure.matched && failure.culprits.every((c) => c.alone)) {
      const keep = new Set(failure.culprits.map((c) => c.file));
      for (const f of saved.files) if (!keep.has(f.file)) fs.rmSync(path.join(O.out, f.file), { force: true });
      fs.appendFileSync(saved.logPath, `\n(the other ${saved.files.length - keep.size} inputs were removed: every culprit reproduces on its own)\n`);
      failure.files = keep.size;
    }
  }
  return failure;
}

function topFrame(stderr) {
  const m = /^\s+at (.*)$/m.exec(stderr);
  return m ? m[1].trim() : undefined;
}

function firstStack(stderr) {
  const lines = stderr.split('\n');
  const i = lines.findIndex((l) => /^\s+at /.test(l));
  if (i < 0) return lines.filter(Boolean).slice(-5).join('\n');
  let s = Math.max(0, i - 6);
  const j = lines.findIndex((l, k) => k > i && !/^\s+at /.test(l));
  return lines.slice(s, j < 0 ? lines.length : j).join('\n');
}

// ---------------------------------------------------------------------------------------------
// The campaign

async function campaign() {
  const started = performance.now();
  const rng = new Rng(O.seed);
  const { seeds, corpus } = SEEDS;
  if (!corpus) log(`conformance corpus not found under ${O.corpus}: built-in seeds only`);
  const stats = {
    seed: O.seed,
    messagesRequested: O.messages,
    sent: { udp: 0, tcp: 0 },
    bytes: { udp: 0, tcp: 0 },
    responses: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, '6xx': 0, other: 0, request: 0 },
    responsesBy: { udp: 0, tcp: 0 },
    udpSendErrors: 0,
    tcp: { opened: 0, closedByServer: 0, errors: 0, congested: 0 },
    probes: { sent: 0, ok: 0, maxMs: 0 },
    sink: { requests: 0, replies: 0, mutated: 0 },
    maxRssKb: 0,
    rssLimitMb: O.rssLimitMb,
    rate: O.rate,
    mode: O.mode,
    seeds: { corpus, builtin: seeds.length - corpus },
    failures: [],
    culpritFiles: [],
    checks: {},
    server: { starts: 0, stderrLines: 0, udpDrops: undefined },
  };
  const ring = [];
  const RING = Math.max(1000, O.window);
  let seq = 0;
  const record = (e) => {
    e.seq = ++seq;
    ring.push(e);
    if (ring.length > RING * 2) ring.splice(0, ring.length - RING);
  };
  const countResponse = (buf, transport) => {
    stats.responses[statusClass(buf)]++;
    stats.responsesBy[transport]++;
  };

  let env;
  try {
    env = await makeEnvironment('run', O.seed, (e) => record({ ...e }), true);
  } catch (e) {
    process.stderr.write(`fuzz-campaign: could not set up the server and its registrations: ${e?.stack ?? e}\n`);
    return 1;
  }
  const { dir, port, cfgPath, dbPath, ctx, sinks, expected } = env;
  ctx.seeds = seeds;
  Object.assign(stats.server, { port, dir, cfgPath, dbPath, pid: env.server.pid, starts: 1 });
  log(`seed ${O.seed}; ${O.messages} messages (${O.mode}), ${O.rate ? `paced at ${O.rate}/s` : 'unpaced'}; ${seeds.length} seeds (${corpus} from the corpus); temp ${dir}`);
  let server = env.server;
  let rssTimer;
  const udpSocks = [];
  const conns = new Set();
  let killed = false;
  let stopped = false;
  let memoryFailure = false;
  let closeAllTcp = () => {};

  try {
    // ---- registrations (made by makeEnvironment), as the CLI lists them -------------------
    const listed = listBindings(cfgPath);
    const missing = expected.filter((b) => !listed.bindings?.some((x) => x.aor === b.aor && x.contact === b.contact));
    if (listed.error || missing.length) throw new Error(`after registering: ${listed.error ?? `${missing.length} binding(s) not listed: ${missing.map((b) => b.aor).join(', ')}`}`);
    log(`${expected.length} bindings registered from ${Math.min(O.bindings, O.sources)} addresses and listed by \`location list --json\``);

    // ---- senders ----------------------------------------------------------------------------
    if (O.mode !== 'tcp') {
      for (let i = 0; i < O.sources; i++) {
        const ip = loopback(i, O.sources);
        const s = await bindUdp(ip);
        s.on('message', (b) => countResponse(b, 'udp'));
        udpSocks.push({ sock: s, ip, port: s.address().port });
      }
    }
    let connSeq = 0;
    const openConn = () => {
      const ip = loopback(rng.int(O.sources), O.sources);
      // Short-lived connections: a framing error closes one (RFC 3261 §18.3), and whatever was
      // pipelined behind it is lost.
      const c = { id: ++connSeq, ip, sent: 0, limit: rng.pick([1, 1, 2, 3, 5, 8, 13, 40]), closedByUs: false, counter: null };
      c.sock = net.connect({ host: '127.0.0.1', port, localAddress: ip });
      c.sock.setNoDelay(true);
      c.counter = new StreamCounter((b) => countResponse(b, 'tcp'));
      c.sock.on('data', (b) => c.counter.push(b));
      c.sock.on('error', () => stats.tcp.errors++);
      c.sock.on('end', () => conns.delete(c)); // the server's FIN: write no more on it
      c.sock.on('close', () => {
        conns.delete(c);
        if (!c.closedByUs) stats.tcp.closedByServer++;
      });
      stats.tcp.opened++;
      conns.add(c);
      return c;
    };
    const retiring = new Set();
    const retire = (c, abrupt) => {
      c.closedByUs = true;
      conns.delete(c);
      if (abrupt) c.sock.destroy();
      else {
        // Close gracefully a little later, so answers that take a while (a proxied request, a
        // registration's commit) still find the connection open.
        retiring.add(c);
        c.timer = setTimeout(() => {
          retiring.delete(c);
          c.sock.end();
        }, 1500);
      }
    };
    closeAllTcp = () => {
      for (const c of [...conns, ...retiring]) {
        clearTimeout(c.timer);
        c.closedByUs = true;
        c.sock.destroy();
      }
      conns.clear();
      retiring.clear();
    };
    const pickConn = () => {
      while (conns.size < O.tcpConnections) openConn();
      const list = [...conns];
      return list[rng.int(list.length)];
    };

    const sendUdp = () => {
      const u = udpSocks[rng.int(udpSocks.length)];
      const seed = seeds[rng.int(seeds.length)];
      let s = prepare(seed, rng, ctx, 'udp', u);
      if (!rng.chance(0.05)) s = mutate(s, rng, ctx);
      if (rng.chance(0.5)) s = fixContentLength(s);
      let bytes = Buffer.from(s, 'latin1');
      if (bytes.length > 65507) bytes = bytes.subarray(0, 65507);
      u.sock.send(bytes, port, '127.0.0.1', (err) => {
        if (err) stats.udpSendErrors++;
      });
      stats.sent.udp++;
      stats.bytes.udp += bytes.length;
      record({ transport: 'udp', src: `${u.ip}:${u.port}`, kind: 'fuzz', seed: seed.name, bytes });
    };
    const sendTcp = () => {
      const c = pickConn();
      const src = { ip: c.ip, port: c.sock.localPort || 5060 };
      const seed = seeds[rng.int(seeds.length)];
      let s = prepare(seed, rng, ctx, 'tcp', src);
      if (!rng.chance(0.05)) s = mutate(s, rng, ctx);
      const framed = rng.chance(0.8);
      if (framed) s = fixContentLength(s);
      const x = rng.next();
      const prefix = x < 0.05 ? rng.bytes(rng.len()) : x < 0.08 ? rng.pick(['GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'xxxx\r\n', '\0\0\0\0', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03']) : x < 0.2 ? rng.pick(['\r\n\r\n', '\r\n', '\r\n\r\n\r\n\r\n', ' \r\n']) : '';
      let bytes = Buffer.from(prefix + s, 'latin1');
      if (bytes.length > 300000) bytes = bytes.subarray(0, 300000);
      if (c.sock.writableLength > 512 * 1024) {
        stats.tcp.congested++;
        retire(c, true);
        return sendTcp();
      }
      if (rng.chance(0.05) && bytes.length > 1) {
        const k = 1 + rng.int(bytes.length - 1);
        c.sock.write(bytes.subarray(0, k));
        setTimeout(() => {
          if (!c.sock.destroyed) c.sock.write(bytes.subarray(k));
        }, 1 + rng.int(20));
      } else c.sock.write(bytes);
      stats.sent.tcp++;
      stats.bytes.tcp += bytes.length;
      record({ transport: 'tcp', src: `${c.ip}:${c.sock.localPort ?? '?'}`, conn: c.id, kind: 'fuzz', seed: seed.name, bytes });
      c.sent++;
      // Garbage in front, no end of header section or a Content-Length left as the mutations
      // made it: the server may wait for bytes that never come or close the connection, and
      // whatever followed on it would be lost. Such a message is the connection's last.
      const poison = prefix.length > 0 && x < 0.08 ? true : !framed || !s.includes('\r\n\r\n');
      if (c.sent >= c.limit || poison) retire(c, rng.chance(0.1));
    };

    // ---- memory watch -------------------------------------------------------------------
    rssTimer = setInterval(() => {
      if (!server.alive) return;
      const kb = server.rssKb();
      if (kb > stats.maxRssKb) stats.maxRssKb = kb;
      if (kb > O.rssLimitMb * 1024) memoryFailure = true;
    }, 250);

    const probe = async () => {
      const results = [];
      const died = server.exited.then(() => ({ ok: false, status: 'server exited', transport: 'udp' }));
      if (O.mode !== 'tcp') results.push(await Promise.race([probeUdp(port, O.probeTimeout), died]));
      if (O.mode !== 'udp' && server.alive) results.push(await Promise.race([probeTcp(port, O.probeTimeout), died.then((x) => ({ ...x, transport: 'tcp' }))]));
      for (const p of results) {
        stats.probes.sent++;
        if (p.ok) {
          stats.probes.ok++;
          stats.probes.maxMs = Math.max(stats.probes.maxMs, Math.round(p.ms));
        }
      }
      return results;
    };

    // ---- the loop -----------------------------------------------------------------------
    let count = 0;
    let paceStart = performance.now();
    let paceSent = 0;
    let lastProgress = performance.now();
    const restartOrStop = async (kind) => {
      closeAllTcp();
      const f = await recordFailure(kind, server, ring, count, stats);
      stats.failures.push(f);
      ring.length = 0;
      if (stats.failures.length >= O.maxCrashes) return false;
      log(`restarting the server (${stats.failures.length}/${O.maxCrashes} failures so far)`);
      server = await new Server(cfgPath, dir).start();
      stats.server.starts++;
      paceStart = performance.now();
      paceSent = 0;
      return true;
    };
    while (count < O.messages) {
      if (!server.alive) {
        if (!(await restartOrStop('crash'))) break;
        continue;
      }
      if (memoryFailure) break;
      let due = O.rate ? Math.floor(((performance.now() - paceStart) * O.rate) / 1000) - paceSent : 100;
      if (due <= 0) {
        await sleep(1);
        continue;
      }
      if (O.rate && due > O.rate / 10) {
        // Fell behind by more than 100 ms (GC, a slow probe): do not burst to catch up.
        paceStart = performance.now();
        paceSent = 0;
        due = Math.max(1, Math.floor(O.rate / 100));
      }
      const nextProbe = (Math.floor(count / O.probeEvery) + 1) * O.probeEvery;
      const batch = Math.min(due, 100, nextProbe - count, O.messages - count);
      for (let i = 0; i < batch; i++) {
        const tcp = O.mode === 'tcp' || (O.mode === 'both' && rng.chance(O.tcpShare));
        if (tcp) sendTcp();
        else sendUdp();
        count++;
        paceSent++;
        if (O.killAfter === count && !killed) {
          killed = true;
          log(`--kill-after ${count}: SIGKILL to the server (pid ${server.pid})`);
          server.signal('SIGKILL');
        }
        if (O.stopAfter === count && !stopped) {
          stopped = true;
          log(`--stop-after ${count}: SIGSTOP to the server (pid ${server.pid})`);
          server.signal('SIGSTOP');
        }
      }
      await tick();
      if (count % O.probeEvery === 0 || count === O.messages) {
        const kb = server.rssKb();
        if (kb > stats.maxRssKb) stats.maxRssKb = kb;
        if (kb > O.rssLimitMb * 1024) memoryFailure = true;
        const results = await probe();
        if (results.some((p) => !p.ok)) {
          // A server that just died may not have been reaped yet: give its exit a moment.
          await Promise.race([server.exited, sleep(300)]);
          const dead = !server.alive;
          log(`probe after ${count} messages failed: ${results.map((p) => `${p.transport} ${p.ok ? 'ok' : p.status ?? 'timeout'}`).join(', ')}${dead ? ' (the server exited)' : ''}`);
          if (!(await restartOrStop(server.alive ? 'hang' : 'crash'))) break;
        }
        if (!O.quiet && (performance.now() - lastProgress > 5000 || count === O.messages)) {
          lastProgress = performance.now();
          log(`${count}/${O.messages} sent (udp ${stats.sent.udp}, tcp ${stats.sent.tcp}); responses ${stats.responsesBy.udp + stats.responsesBy.tcp}; rss ${(kb / 1024).toFixed(0)} MB; probes ${stats.probes.ok}/${stats.probes.sent}`);
        }
        paceStart = performance.now();
        paceSent = 0;
      }
    }
    stats.sentTotal = count;
    if (memoryFailure) stats.failures.push({ kind: 'memory', atMessage: count, maxRssKb: stats.maxRssKb });
    // Let the last responses arrive.
    await sleep(300);
  } catch (e) {
    stats.failures.push({ kind: 'harness', error: String(e?.stack ?? e) });
    log(`harness error: ${e?.stack ?? e}`);
  } finally {
    clearInterval(rssTimer);
  }

  // ---- the end ----------------------------------------------------------------------------
  stats.server.udpDrops = udpDrops(port);
  const end = {};
  if (server.alive) {
    const finalProbes = [];
    if (O.mode !== 'tcp') finalProbes.push(await probeUdp(port, O.probeTimeout));
    if (O.mode !== 'udp') finalProbes.push(await probeTcp(port, O.probeTimeout));
    end.finalProbe = finalProbes.every((p) => p.ok) ? 'ok' : finalProbes.map((p) => `${p.transport} ${p.ok ? 'ok' : p.status ?? 'timeout'}`).join(', ');
    closeAllTcp();
    const st = await server.stop();
    end.stop = describeExit(st);
    end.stopOk = st.code === 0;
  } else {
    end.finalProbe = 'server not running';
    end.stop = describeExit(server.exit);
    end.stopOk = false;
  }
  await server.finished();
  stats.server.stderrLines = server.err.lines;
  stats.faults = [...Server.faults].sort((a, b) => b[1].count - a[1].count).map(([kind, f]) => ({ kind, count: f.count, sample: f.sample }));
  stats.server.stderrTail = server.err.text().slice(-4000);
  for (const s of sinks) {
    stats.sink.requests += s.requests;
    stats.sink.replies += s.replies;
    stats.sink.mutated += s.mutated;
    s.close();
  }
  for (const u of udpSocks) u.sock.close();
  if (probeSock) probeSock.close();

  // Store: integrity and bindings.
  try {
    const Database = require('better-sqlite3');
    const db = new Database(dbPath, { fileMustExist: true });
    const rows = db.pragma('integrity_check');
    db.close();
    end.integrity = rows.map((r) => r.integrity_check).join('; ');
  } catch (e) {
    end.integrity = `error: ${e.message}`;
  }
  const listed = listBindings(cfgPath);
  if (listed.error) end.bindings = listed.error;
  else {
    const missing = expected.filter((b) => !listed.bindings.some((x) => x.aor === b.aor && x.contact === b.contact));
    const extra = listed.bindings.filter((x) => !expected.some((b) => b.aor === x.aor && b.contact === x.contact));
    end.bindingsListed = expected.length - missing.length;
    end.bindingsExpected = expected.length;
    end.bindingsMissing = missing.map((b) => `${b.aor} ${b.contact}`);
    end.bindingsExtra = extra.map((b) => `${b.aor} ${b.contact}`);
  }
  stats.checks = end;
  stats.durationS = (performance.now() - started) / 1000;

  const problems = [];
  for (const f of stats.failures) problems.push(f.kind === 'memory' ? `memory: RSS ${(f.maxRssKb / 1024).toFixed(0)} MB > ${O.rssLimitMb} MB` : f.kind === 'harness' ? `harness error: ${f.error.split('\n')[0]}` : `${f.kind} after ${f.atMessage} messages (${describeExit(f.exit)})`);
  if (stats.failures.length === 0) {
    if (end.finalProbe !== 'ok') problems.push(`final probe: ${end.finalProbe}`);
    if (!end.stopOk) problems.push(`SIGTERM: ${end.stop}`);
  }
  if (end.integrity !== 'ok') problems.push(`integrity_check: ${end.integrity}`);
  if (end.bindings) problems.push(`bindings: ${end.bindings}`);
  if (end.bindingsMissing?.length) problems.push(`bindings missing: ${end.bindingsMissing.join(', ')}`);
  if (end.bindingsExtra?.length) problems.push(`unexpected bindings (no valid credentials were sent): ${end.bindingsExtra.join(', ')}`);
  if ((stats.sentTotal ?? 0) < O.messages && !stats.failures.length) problems.push(`only ${stats.sentTotal ?? 0} of ${O.messages} messages sent`);
  stats.problems = problems;
  stats.result = problems.length ? 'FAIL' : 'PASS';

  printSummary(stats);
  if (O.json) fs.writeFileSync(O.json, JSON.stringify(stats, null, 2) + '\n');
  if (!O.keep) fs.rmSync(dir, { recursive: true, force: true });
  return problems.length ? 1 : 0;
}

function listBindings(cfgPath) {
  const r = cli(['location', 'list', '--json', '--config', cfgPath]);
  if (r.code !== 0) return { error: `location list --json: ${describeExit({ code: r.code, signal: r.signal })}: ${(r.stderr || String(r.error ?? '')).trim().slice(0, 500)}` };
  try {
    return { bindings: JSON.parse(r.stdout) };
  } catch (e) {
    return { error: `location list --json: not JSON: ${r.stdout.slice(0, 200)}` };
  }
}

function printSummary(s) {
  const total = (s.sentTotal ?? 0);
  const rate = total / Math.max(0.001, s.durationS);
  const resp = s.responses;
  const c = s.checks;
  const out = [
    '',
    `Switchboard black-box campaign: seed ${s.seed}, ${s.mode === 'both' ? 'UDP + TCP' : s.mode.toUpperCase()}`,
    `  messages   ${total} of ${s.messagesRequested} (udp ${s.sent.udp}, tcp ${s.sent.tcp}; ${((s.bytes.udp + s.bytes.tcp) / 1048576).toFixed(1)} MiB) in ${s.durationS.toFixed(1)} s; ${s.rate ? `paced at ${s.rate}/s` : 'unpaced'}, ${rate.toFixed(0)}/s overall`,
    `  seeds      ${s.seeds.corpus} corpus files + ${s.seeds.builtin} built-in; ${O.sources} loopback source addresses`,
    `  responses  1xx ${resp['1xx']}  2xx ${resp['2xx']}  3xx ${resp['3xx']}  4xx ${resp['4xx']}  5xx ${resp['5xx']}  6xx ${resp['6xx']}  other ${resp.other}  (udp ${s.responsesBy.udp}, tcp ${s.responsesBy.tcp}; requests to us ${resp.request})`,
    `  tcp        ${s.tcp.opened} connections opened, ${s.tcp.closedByServer} closed by the server, ${s.tcp.congested} congested`,
    `  proxied    ${s.sink.requests} requests reached the registered contacts, ${s.sink.replies} replies (${s.sink.mutated} mutated)`,
    `  probes     ${s.probes.ok}/${s.probes.sent} answered within ${O.probeTimeout} ms (slowest ${s.probes.maxMs} ms)`,
    `  memory     max RSS ${(s.maxRssKb / 1024).toFixed(0)} MB (limit ${s.rssLimitMb} MB)`,
    `  server     started ${s.server.starts}x; ${s.server.stderrLines} stderr lines; UDP socket drops ${s.server.udpDrops ?? 'n/a'}; final probe ${c.finalProbe}; SIGTERM: ${c.stop}`,
    `  faults     ${s.faults.length ? `${s.faults.reduce((a, f) => a + f.count, 0)} caught and reported by the server (not crashes), ${s.faults.length} distinct:` : 'none reported'}`,
    ...s.faults.slice(0, 8).map((f) => `             ${String(f.count).padStart(6)}  ${f.kind}  e.g. ${f.sample.slice(0, 90)}`),
    `  store      integrity_check ${c.integrity}; bindings ${c.bindings ?? `${c.bindingsListed}/${c.bindingsExpected} listed${c.bindingsExtra?.length ? `, ${c.bindingsExtra.length} unexpected` : ''}`}`,
    `  failures   ${s.failures.length ? s.failures.map((f) => f.kind + (f.atMessage !== undefined ? ` @${f.atMessage}` : '') + (f.culprits?.some((x) => x.file) ? ` → ${f.culprits.filter((x) => x.file).map((x) => x.file).join(', ')}` : f.log ? ` → ${f.log}` : '')).join('; ') : 'none'}`,
    `  result     ${s.result}${s.problems.length ? ': ' + s.problems.join('; ') : ''}`,
    '',
  ];
  process.stdout.write(out.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// --replay

async function replayCommand(paths) {
  if (!paths.length) usageError('--replay needs files or directories');
  const files = [];
  for (const p of paths) {
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (!st) usageError(`${p}: not found`);
    if (st.isDirectory()) for (const f of fs.readdirSync(p).filter((f) => f.endsWith('.sip')).sort()) files.push(path.join(p, f));
    else files.push(p);
  }
  const entries = files.map((f) => ({ file: path.basename(f), path: f, transport: /-tcp\.sip$/i.test(f) ? 'tcp' : 'udp', bytes: fs.readFileSync(f), src: '127.0.0.2', seed: f }));
  const t0 = performance.now();
  const culprits = await replayEntries(entries, { label: 'replay' });
  const ms = performance.now() - t0;
  for (const c of culprits) process.stdout.write(`${c.entry.path ?? 'several inputs'}: ${c.why} (${describeExit(c.exit)})\n${firstStack(c.stderr)}\n\n`);
  process.stdout.write(`replayed ${entries.length} file(s) in ${(ms / 1000).toFixed(1)} s: ${culprits.length ? `${culprits.length} killed or hung the server` : 'the server survived every one'}\n`);
  if (O.json) fs.writeFileSync(O.json, JSON.stringify({ files: entries.length, culprits: culprits.map((c) => ({ file: c.entry.path ?? null, why: c.why, exit: describeExit(c.exit), stack: firstStack(c.stderr) })) }, null, 2) + '\n');
  if (probeSock) probeSock.close();
  return culprits.length ? 1 : 0;
}

SEEDS = loadSeeds(O.corpus);
const code = await (opts.values.replay ? replayCommand(opts.positionals) : campaign()).catch((e) => {
  process.stderr.write(`fuzz-campaign: ${e?.stack ?? e}\n`);
  return 1;
});
process.exit(code);
