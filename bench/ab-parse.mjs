#!/usr/bin/env node
/**
 * Two builds of the parser side by side in one process: the parse alone, and the parse plus
 * validate() (the syntax check the transport runs on every received message), on the seed
 * INVITE of ../shared/bench, in interleaved rounds. For a before/after of a parser change:
 *
 *   git worktree add /tmp/before <commit> && (cd /tmp/before && npm ci && npm run build)
 *   node bench/ab-parse.mjs /tmp/before/dist /work/main/dist [rounds]
 *
 * Prints ns per message (median of the rounds) and the validate() share for each build.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [, , distA, distB, roundsArg] = process.argv;
if (!distA || !distB) {
  process.stderr.write('usage: node bench/ab-parse.mjs DIST_BEFORE DIST_AFTER [rounds]\n');
  process.exit(2);
}
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const A = await import(path.resolve(distA, 'src/sip/parse/parse-message.js'));
const B = await import(path.resolve(distB, 'src/sip/parse/parse-message.js'));
const text = fs.readFileSync(path.resolve(root, '../shared/bench/seed-invite.sip'), 'latin1').replace(/\r?\n/g, '\r\n');
const cut = text.indexOf('\r\n\r\n');
const body = text.slice(cut + 4);
const seed = Buffer.from(text.slice(0, cut).replace(/Content-Length:[^\r]*/i, `Content-Length: ${Buffer.byteLength(body, 'latin1')}`) + '\r\n\r\n' + body, 'latin1');

let sink = 0;
function run(P, validate, n) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const m = P.parseMessage(seed);
    if (validate) m.validate();
    sink += m.cseq.seq + m.callId.length + m.topVia.branch.length + (m.from.tag?.length ?? 0) + (m.to.tag?.length ?? 0) + m.contact.length;
  }
  return Number(process.hrtime.bigint() - t) / n;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const rounds = Number(roundsArg ?? 9);
const N = 100_000;
for (const P of [A, B]) run(P, true, 20_000); // warm-up
const r = { a: [], av: [], b: [], bv: [] };
for (let k = 0; k < rounds; k++) {
  r.a.push(run(A, false, N));
  r.av.push(run(A, true, N));
  r.b.push(run(B, false, N));
  r.bv.push(run(B, true, N));
}
const f = (x) => x.toFixed(0).padStart(6);
console.log(`seed INVITE ${seed.length} bytes; ${rounds} interleaved rounds of ${N} messages; ns per message (median; min–max)`);
for (const [label, k, kv] of [[`before ${distA}`, 'a', 'av'], [`after  ${distB}`, 'b', 'bv']]) {
  const p = median(r[k]);
  const v = median(r[kv]);
  console.log(`${label}\n  parse + reads      ${f(p)}  (${f(Math.min(...r[k]))}–${f(Math.max(...r[k]))})\n  + validate()       ${f(v)}  (${f(Math.min(...r[kv]))}–${f(Math.max(...r[kv]))})  validate share ${(((v - p) / v) * 100).toFixed(0)} %`);
}
console.log(`AB_PARSE before_parse=${median(r.a).toFixed(0)} before_checked=${median(r.av).toFixed(0)} after_parse=${median(r.b).toFixed(0)} after_checked=${median(r.bv).toFixed(0)}${sink === 42 ? ' ' : ''}`);
