/**
 * Parser micro-benchmark: Switchboard against the other JavaScript SIP stacks on npm
 * (`sip`, JsSIP, SIP.js), each doing the same work on the handbook INVITE
 * (`shared/bench/seed-invite.sip`): take the received Buffer, parse it, and read the routing
 * fields (top Via branch, From tag, To tag, Call-ID, CSeq number and method, Max-Forwards,
 * Content-Length and the first Contact URI as text).
 *
 * The other stacks parse strings, so their Buffer→string conversion is inside the timing, as
 * it is in a real transport (npm `sip` itself calls `toString('binary')` on what it is given).
 *
 * Run: `npm run bench:parser` (builds, then `node dist/bench/parse.bench.js`).
 * Env: BENCH_SECONDS (per stack, default 2), BENCH_ROUNDS (default 5), BENCH_WARMUP_MS (default 500).
 * Prints a table and a final `PARSER_BENCH switchboard=N sip=N jssip=N sipjs=N ratio_vs_fastest=X` line.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { parseMessage } from '../src/sip/parse/parse-message.js';

/** What every stack must read out of the message. */
interface Digest {
  branch: string | undefined;
  fromTag: string | undefined;
  toTag: string | undefined;
  callId: string;
  seq: number;
  method: string;
  maxForwards: number | undefined;
  contentLength: number;
  contact: string | undefined;
}

interface Stack {
  key: 'switchboard' | 'switchboard+check' | 'sip' | 'jssip' | 'sipjs';
  label: string;
  run: (buf: Buffer) => Digest;
}

function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${start}`);
    dir = up;
  }
}

/** The seed as a wire message: CRLF line ends and a Content-Length matching the body. */
function loadSeed(repoRoot: string): Buffer {
  const file = path.resolve(repoRoot, '../shared/bench/seed-invite.sip');
  const text = fs.readFileSync(file, 'utf8');
  const crlf = text.replace(/\r?\n/g, '\r\n');
  const cut = crlf.indexOf('\r\n\r\n');
  if (cut < 0) throw new Error(`${file}: no empty line after the headers`);
  const head = crlf.slice(0, cut);
  const body = crlf.slice(cut + 4);
  const bodyLen = Buffer.byteLength(body, 'utf8');
  const fixed = /\r\n(Content-Length|l)[ \t]*:[^\r\n]*/i.test(head)
    ? head.replace(/\r\n(Content-Length|l)[ \t]*:[^\r\n]*/i, `\r\nContent-Length: ${bodyLen}`)
    : `${head}\r\nContent-Length: ${bodyLen}`;
  return Buffer.from(`${fixed}\r\n\r\n${body}`, 'utf8');
}

const num = (v: unknown): number | undefined => (v === undefined || v === null ? undefined : Number(v));
const opt = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));

const repoRoot = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));
const require = createRequire(path.join(repoRoot, 'package.json'));
const seed = loadSeed(repoRoot);

const switchboard: Stack = {
  key: 'switchboard',
  label: 'Switchboard parseMessage (Buffer)',
  run: (buf) => digestOf(parseMessage(buf)),
};

/**
 * What the transport layer does per received message: the parse, then the syntax check of RFC
 * 3261 §8.2 / §16.3 step 1 (`validate()`: every Via, From, To, Call-ID, CSeq, Max-Forwards,
 * Route / Record-Route when present, no stray NUL), then the same reads.
 */
const switchboardChecked: Stack = {
  key: 'switchboard+check',
  label: 'Switchboard parseMessage + validate()',
  run(buf) {
    const m = parseMessage(buf);
    m.validate();
    return digestOf(m);
  },
};

function digestOf(m: ReturnType<typeof parseMessage>): Digest {
  const cseq = m.cseq;
  const contact = m.contact;
  return {
    branch: m.topVia.branch,
    fromTag: m.from.tag,
    toTag: m.to.tag,
    callId: m.callId,
    seq: cseq.seq,
    method: cseq.method,
    maxForwards: m.maxForwards,
    contentLength: m.contentLength,
    contact: contact.length > 0 ? contact[0]!.uriText : undefined,
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

function loadOthers(): Promise<Stack[]> {
  const stacks: Stack[] = [];
  const sip: Any = require('sip');
  stacks.push({
    key: 'sip',
    label: "npm sip parse(buf.toString('binary'))",
    run(buf) {
      const m = sip.parse(buf.toString('binary'));
      const h = m.headers;
      return {
        branch: opt(h.via[0].params.branch),
        fromTag: opt(h.from.params.tag),
        toTag: opt(h.to.params.tag),
        callId: h['call-id'],
        seq: h.cseq.seq,
        method: h.cseq.method,
        maxForwards: num(h['max-forwards']),
        contentLength: Number(h['content-length']),
        contact: h.contact ? opt(h.contact[0].uri) : undefined,
      };
    },
  });
  const jssipParser: Any = require('jssip/lib/Parser');
  const ua = {}; // IncomingRequest only stores it (lib/SIPMessage.js)
  stacks.push({
    key: 'jssip',
    label: 'JsSIP Parser.parseMessage(buf.toString())',
    run(buf) {
      const m = jssipParser.parseMessage(buf.toString(), ua);
      const contact = m.parseHeader('contact');
      return {
        branch: opt(m.via_branch),
        fromTag: opt(m.from_tag),
        toTag: opt(m.to_tag),
        callId: m.call_id,
        seq: m.cseq,
        method: m.method,
        maxForwards: num(m.getHeader('max-forwards')),
        contentLength: Number(m.getHeader('content-length')),
        contact: contact ? String(contact.uri) : undefined,
      };
    },
  });
  const sipjsPath = require.resolve('sip.js/lib/core/messages/parser.js');
  return import(sipjsPath).then((mod: Any) => {
    const Parser = mod.Parser;
    const noop = () => {};
    const logger = { error: noop, warn: noop, log: noop, debug: noop };
    stacks.push({
      key: 'sipjs',
      label: 'SIP.js Parser.parseMessage(buf.toString())',
      run(buf) {
        const m = Parser.parseMessage(buf.toString(), logger);
        const contact = m.parseHeader('contact');
        return {
          branch: opt(m.viaBranch),
          fromTag: opt(m.fromTag),
          toTag: opt(m.toTag),
          callId: m.callId,
          seq: m.cseq,
          method: m.method,
          maxForwards: num(m.getHeader('max-forwards')),
          contentLength: Number(m.getHeader('content-length')),
          contact: contact ? String(contact.uri) : undefined,
        };
      },
    });
    return stacks;
  });
}

let sink = 0;
function consume(d: Digest): void {
  sink = (sink + d.seq + d.callId.length + (d.branch?.length ?? 0) + (d.maxForwards ?? 0)) | 0;
}

/** Runs `stack` for about `ms`, returns messages per second. */
function measure(stack: Stack, buf: Buffer, ms: number): number {
  let batch = 16;
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < batch; i++) consume(stack.run(buf));
    n += batch;
    t = performance.now();
    if (t - t0 < ms / 20 && batch < 65536) batch *= 2;
  }
  return (n * 1000) / (t - t0);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const seconds = Number(process.env.BENCH_SECONDS ?? 2);
  const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5));
  const warmupMs = Number(process.env.BENCH_WARMUP_MS ?? 500);
  const stacks = [switchboard, switchboardChecked, ...(await loadOthers())];

  // Sanity: every stack reads the same values from the same bytes.
  const expected = switchboard.run(seed);
  const want: Digest = {
    branch: 'z9hG4bKA1798', fromTag: '105741C-1D5E', toTag: undefined, callId: 'E937365B-2C0C11D6-802FA93D-4772A3BB@10.6.3.1',
    seq: 101, method: 'INVITE', maxForwards: 70, contentLength: expected.contentLength, contact: 'sip:4105553501@10.6.3.1:5060',
  };
  if (!isDeepStrictEqual(expected, want)) throw new Error(`Switchboard read unexpected values: ${JSON.stringify(expected)}`);
  for (const s of stacks) {
    const got = s.run(seed);
    if (!isDeepStrictEqual(got, expected)) {
      throw new Error(`sanity check failed: ${s.key} read ${JSON.stringify(got)}, Switchboard read ${JSON.stringify(expected)}`);
    }
  }

  console.log(`seed: shared/bench/seed-invite.sip, ${seed.length} bytes (CRLF, Content-Length ${expected.contentLength})`);
  console.log(`node ${process.version}; ${seconds}s per stack in ${rounds} interleaved rounds after ${warmupMs} ms warm-up; median of the rounds`);
  for (const s of stacks) measure(s, seed, warmupMs);
  const results = new Map<string, number[]>(stacks.map((s) => [s.key, []]));
  const perRound = (seconds * 1000) / rounds;
  for (let r = 0; r < rounds; r++) {
    for (const s of stacks) results.get(s.key)!.push(measure(s, seed, perRound));
  }
  const med = new Map<string, number>(stacks.map((s) => [s.key, median(results.get(s.key)!)]));
  const sb = med.get('switchboard')!;
  const others = stacks.filter((s) => !s.key.startsWith('switchboard'));
  const fastestOther = Math.max(...others.map((s) => med.get(s.key)!));

  const rows = stacks.map((s) => {
    const xs = results.get(s.key)!;
    return [s.key, s.label, fmt(med.get(s.key)!), fmt(Math.min(...xs)), fmt(Math.max(...xs)), s.key === 'switchboard' ? '1.00' : (sb / med.get(s.key)!).toFixed(2)];
  });
  const header = ['stack', 'what is timed', 'median msg/s', 'min', 'max', 'switchboard / stack'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  const ratio = sb / fastestOther;
  console.log(`switchboard / fastest other: ${ratio.toFixed(2)}x; target >= 1,000,000 msg/s and >= 5x: ${sb >= 1_000_000 && ratio >= 5 ? 'met' : 'NOT met'}`);
  if (sink === 42) console.log('');
  console.log(
    `PARSER_BENCH switchboard=${Math.round(sb)} checked=${Math.round(med.get('switchboard+check')!)} sip=${Math.round(med.get('sip')!)} jssip=${Math.round(med.get('jssip')!)} sipjs=${Math.round(med.get('sipjs')!)} ratio_vs_fastest=${ratio.toFixed(2)}`,
  );
}

await main();
