// dialplan-lookup: dial-plan lookups per second (DialPlan.outbound: the matching peers in hunt
// order) over carrier-like plans of 100 to 100,000 dial-peers (bench/dialplan-plan.mjs), and, at
// 10,000 peers, the same lookups done by testing every peer's pattern (what an index saves).
// Numbers are NANP numbers from the plan's own prefixes and random ones. Prints one line
// `DIALPLAN_LOOKUP size=… ` per size and `DIALPLAN_SCAN …` for the scan.
//
//   npm run build && node bench/dialplan-lookup.mjs [SECONDS_PER_SIZE]

import { loadDialPlan, compilePattern } from '../dist/src/dialplan/index.js';
import { carrierPlan } from './dialplan-plan.mjs';

const seconds = Number(process.argv[2] ?? 3);
let x = 987654;
const rnd = () => ((x = (x * 48271) % 2147483647) / 2147483647); // Park–Miller: exact in doubles

function numbers(plan, count) {
  const prefixes = plan.peers.map((p) => p.destinationPattern.replace(/[.T].*$/, '')).filter((p) => p.length >= 7);
  const out = [];
  for (let i = 0; i < count; i++) {
    const p = prefixes[Math.floor(rnd() * prefixes.length)] ?? '1408555';
    out.push(i % 4 === 3 ? `1${String(Math.floor(rnd() * 1e10)).padStart(10, '0')}` : `${p}${String(Math.floor(rnd() * 1e4)).padStart(4, '0')}`);
  }
  return out;
}

function measure(label, fn, nums) {
  // warm-up, then as many rounds as fit in `seconds`
  for (let i = 0; i < 20000; i++) fn(nums[i % nums.length]);
  let n = 0;
  let matched = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(Math.round(seconds * 1e9));
  let now = t0;
  while (now < end) {
    for (let i = 0; i < 1000; i++) matched += fn(nums[(n + i) % nums.length]);
    n += 1000;
    now = process.hrtime.bigint();
  }
  const s = Number(now - t0) / 1e9;
  return { label, lookups_per_s: Math.round(n / s), ns_per_lookup: Math.round((s / n) * 1e9), avg_matches: +(matched / n).toFixed(2) };
}

// The same numbers for every size (from the prefixes of the 100-peer plan, which every larger
// plan starts with: the generator is deterministic), so that only the plan's size changes; and
// numbers spread over each plan's own prefixes (what a carrier's traffic looks like: more of
// the index is touched, the processor's caches hold less of it).
const same = numbers(loadDialPlan(carrierPlan(100)).plan, 50000);
const results = [];
for (const size of [100, 1000, 10000, 100000]) {
  const { plan } = loadDialPlan(carrierPlan(size));
  const r = measure(`size=${size}`, (n) => plan.outbound(n).length, same);
  const spread = measure(`size=${size} spread`, (n) => plan.outbound(n).length, numbers(plan, 50000));
  results.push(r);
  process.stdout.write(`DIALPLAN_LOOKUP size=${size} lookups_per_s=${r.lookups_per_s} ns_per_lookup=${r.ns_per_lookup} avg_matches=${r.avg_matches} spread_lookups_per_s=${spread.lookups_per_s} spread_ns_per_lookup=${spread.ns_per_lookup}\n`);
  if (size === 10000) {
    const compiled = plan.peers.map((p) => compilePattern(p.destinationPattern));
    const s = measure('scan', (n) => { let m = 0; for (const c of compiled) if (c.test(n)) m++; return m; }, same);
    process.stdout.write(`DIALPLAN_SCAN size=${size} lookups_per_s=${s.lookups_per_s} ns_per_lookup=${s.ns_per_lookup} avg_matches=${s.avg_matches}\n`);
  }
}
const small = results[0].ns_per_lookup;
const big = results.find((r) => r.label === 'size=10000').ns_per_lookup;
process.stdout.write(`DIALPLAN_SUMMARY ns_per_lookup_10000_over_100=${(big / small).toFixed(2)}\n`);
