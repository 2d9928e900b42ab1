import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSipUri } from '../sip/index.js';
import { type DnsLike, Resolver, orderSrv } from './resolver.js';

type Naptr = Awaited<ReturnType<DnsLike['resolveNaptr']>>[number];
type Srv = Awaited<ReturnType<DnsLike['resolveSrv']>>[number];

/** A fake DNS: records by name; every query is logged; a missing name is ENOTFOUND like node's. */
class FakeDns implements DnsLike {
  readonly queries: string[] = [];
  constructor(
    private readonly zone: {
      naptr?: Record<string, Naptr[]>;
      srv?: Record<string, Srv[]>;
      a?: Record<string, string[]>;
      aaaa?: Record<string, string[]>;
    } = {},
  ) {}
  private answer<T>(type: string, table: Record<string, T[]> | undefined, name: string): Promise<T[]> {
    this.queries.push(`${type} ${name}`);
    const r = table?.[name];
    if (!r) return Promise.reject(Object.assign(new Error(`query${type} ENOTFOUND ${name}`), { code: 'ENOTFOUND' }));
    return Promise.resolve(r);
  }
  resolveNaptr(name: string) { return this.answer('NAPTR', this.zone.naptr, name); }
  resolveSrv(name: string) { return this.answer('SRV', this.zone.srv, name); }
  resolve4(name: string) { return this.answer('A', this.zone.a, name); }
  resolve6(name: string) { return this.answer('AAAA', this.zone.aaaa, name); }
}

const naptr = (order: number, preference: number, service: string, replacement: string, flags = 's'): Naptr =>
  ({ flags, service, regexp: '', replacement, order, preference });
const srv = (name: string, port: number, priority = 10, weight = 0): Srv => ({ name, port, priority, weight });

const short = (list: Array<{ kind: string; address: string; port: number }>) => list.map((t) => `${t.kind} ${t.address}:${t.port}`);

test('NAPTR: records sorted by order then preference, each followed through SRV to A', async () => {
  const dns = new FakeDns({
    naptr: {
      'example.com': [
        naptr(20, 10, 'SIP+D2U', '_sip._udp.example.com'),
        naptr(10, 20, 'SIP+D2T', '_sip._tcp.example.com'),
        naptr(10, 10, 'SIPS+D2T', '_sips._tcp.example.com'),
        naptr(5, 5, 'SIP+D2U', 'ignored.example.com', 'a'), // not an "s" record
      ],
    },
    srv: {
      '_sip._udp.example.com': [srv('udp.example.com', 5060)],
      '_sip._tcp.example.com': [srv('tcp.example.com', 5070)],
      '_sips._tcp.example.com': [srv('tls.example.com', 5061)],
    },
    a: { 'udp.example.com': ['192.0.2.1'], 'tcp.example.com': ['192.0.2.2'], 'tls.example.com': ['192.0.2.3'] },
  });
  const r = new Resolver({ dns });
  const out = await r.resolve(parseSipUri('sip:bob@example.com'));
  assert.deepEqual(short(out), ['tls 192.0.2.3:5061', 'tcp 192.0.2.2:5070', 'udp 192.0.2.1:5060']);
  assert.equal(out[0]!.hostname, 'tls.example.com');
  assert.ok(!dns.queries.some((q) => q.includes('ignored')), 'a non-"s" NAPTR record is not followed');
});

test('NAPTR: services we cannot send on are skipped', async () => {
  const dns = new FakeDns({
    naptr: { 'example.com': [naptr(10, 10, 'SIP+D2T', '_sip._tcp.example.com'), naptr(20, 10, 'SIP+D2U', '_sip._udp.example.com')] },
    srv: { '_sip._tcp.example.com': [srv('h.example.com', 5060)], '_sip._udp.example.com': [srv('h.example.com', 5060)] },
    a: { 'h.example.com': ['192.0.2.9'] },
  });
  const out = await new Resolver({ dns, transports: ['udp'] }).resolve(parseSipUri('sip:example.com'));
  assert.deepEqual(short(out), ['udp 192.0.2.9:5060']);
});

test('no NAPTR: SRV for udp, tcp, tls in turn; first answer wins', async () => {
  const dns = new FakeDns({
    srv: { '_sip._tcp.example.com': [srv('t.example.com', 5080)] },
    a: { 't.example.com': ['192.0.2.7'] },
  });
  const out = await new Resolver({ dns }).resolve(parseSipUri('sip:example.com'));
  assert.deepEqual(short(out), ['tcp 192.0.2.7:5080']);
  assert.deepEqual(dns.queries.slice(0, 3), ['NAPTR example.com', 'SRV _sip._udp.example.com', 'SRV _sip._tcp.example.com']);
});

test('SRV: lower priority first; A and AAAA both used', async () => {
  const dns = new FakeDns({
    srv: { '_sip._udp.example.com': [srv('backup.example.com', 5060, 20), srv('main.example.com', 5062, 10)] },
    a: { 'backup.example.com': ['192.0.2.20'], 'main.example.com': ['192.0.2.10'] },
    aaaa: { 'main.example.com': ['2001:db8::10'] },
  });
  const out = await new Resolver({ dns }).resolve(parseSipUri('sip:example.com'));
  assert.deepEqual(short(out), ['udp 192.0.2.10:5062', 'udp 2001:db8::10:5062', 'udp 192.0.2.20:5060']);
});

test('no NAPTR, no SRV: A records at the default port for the transport', async () => {
  const dns = new FakeDns({ a: { 'example.com': ['192.0.2.44'] } });
  assert.deepEqual(short(await new Resolver({ dns }).resolve(parseSipUri('sip:example.com'))), ['udp 192.0.2.44:5060']);
  const dns2 = new FakeDns({ a: { 'example.com': ['192.0.2.44'] } });
  assert.deepEqual(short(await new Resolver({ dns: dns2 }).resolve(parseSipUri('sips:example.com'))), ['tls 192.0.2.44:5061']);
});

test('transport= parameter skips NAPTR and queries only that SRV', async () => {
  const dns = new FakeDns({
    naptr: { 'example.com': [naptr(10, 10, 'SIP+D2U', '_sip._udp.example.com')] },
    srv: { '_sip._tcp.example.com': [srv('tcp.example.com', 5070)], '_sip._udp.example.com': [srv('udp.example.com', 5060)] },
    a: { 'tcp.example.com': ['192.0.2.2'], 'udp.example.com': ['192.0.2.1'] },
  });
  const out = await new Resolver({ dns }).resolve(parseSipUri('sip:example.com;transport=tcp'));
  assert.deepEqual(short(out), ['tcp 192.0.2.2:5070']);
  assert.ok(!dns.queries.some((q) => q.startsWith('NAPTR')), `no NAPTR query: ${dns.queries.join(', ')}`);
  assert.ok(!dns.queries.includes('SRV _sip._udp.example.com'));
});

test('numeric IP: no DNS at all (RFC 3263 §4.2)', async () => {
  const dns = new FakeDns();
  const r = new Resolver({ dns });
  assert.deepEqual(short(await r.resolve(parseSipUri('sip:bob@192.0.2.5'))), ['udp 192.0.2.5:5060']);
  assert.deepEqual(short(await r.resolve(parseSipUri('sip:bob@192.0.2.5:5070;transport=tcp'))), ['tcp 192.0.2.5:5070']);
  assert.deepEqual(short(await r.resolve(parseSipUri('sip:bob@[2001:db8::5]'))), ['udp 2001:db8::5:5060']);
  assert.deepEqual(short(await r.resolve(parseSipUri('sips:bob@192.0.2.5'))), ['tls 192.0.2.5:5061']);
  assert.deepEqual(dns.queries, []);
});

test('explicit port: A lookup only, no NAPTR/SRV', async () => {
  const dns = new FakeDns({
    naptr: { 'example.com': [naptr(10, 10, 'SIP+D2T', '_sip._tcp.example.com')] },
    srv: { '_sip._udp.example.com': [srv('other.example.com', 5099)] },
    a: { 'example.com': ['192.0.2.30'] },
  });
  const out = await new Resolver({ dns }).resolve(parseSipUri('sip:example.com:5090'));
  assert.deepEqual(short(out), ['udp 192.0.2.30:5090']);
  assert.ok(dns.queries.every((q) => q.startsWith('A ') || q.startsWith('AAAA ')), dns.queries.join(', '));
});

test('static hosts map wins over DNS, with per-entry port and transport', async () => {
  const dns = new FakeDns({ a: { 'pbx.test': ['192.0.2.99'] } });
  const r = new Resolver({
    dns,
    hosts: {
      'pbx.test': '10.0.0.1',
      'multi.test': ['10.0.0.2', { address: '10.0.0.3', port: 5070, transport: 'tcp' }],
    },
  });
  assert.deepEqual(short(await r.resolve(parseSipUri('sip:a@pbx.test'))), ['udp 10.0.0.1:5060']);
  assert.deepEqual(short(await r.resolve(parseSipUri('sip:a@PBX.test:5080'))), ['udp 10.0.0.1:5080']);
  assert.deepEqual(short(await r.resolve(parseSipUri('sip:a@multi.test'))), ['udp 10.0.0.2:5060', 'tcp 10.0.0.3:5070']);
  assert.deepEqual(short(await r.resolve(parseSipUri('sip:a@multi.test;transport=tls'))), ['tls 10.0.0.2:5061', 'tls 10.0.0.3:5070']);
  assert.deepEqual(dns.queries, []);
});

test('sips: only TLS (NAPTR SIP+D2U/D2T ignored; SRV _sips._tcp)', async () => {
  const dns = new FakeDns({
    naptr: {
      'example.com': [
        naptr(10, 10, 'SIP+D2U', '_sip._udp.example.com'),
        naptr(10, 20, 'SIP+D2T', '_sip._tcp.example.com'),
        naptr(20, 10, 'SIPS+D2T', '_sips._tcp.example.com'),
      ],
    },
    srv: {
      '_sip._udp.example.com': [srv('udp.example.com', 5060)],
      '_sip._tcp.example.com': [srv('tcp.example.com', 5060)],
      '_sips._tcp.example.com': [srv('tls.example.com', 5061)],
    },
    a: { 'udp.example.com': ['192.0.2.1'], 'tcp.example.com': ['192.0.2.2'], 'tls.example.com': ['192.0.2.3'] },
  });
  assert.deepEqual(short(await new Resolver({ dns }).resolve(parseSipUri('sips:bob@example.com'))), ['tls 192.0.2.3:5061']);

  const noNaptr = new FakeDns({
    srv: { '_sip._udp.example.com': [srv('udp.example.com', 5060)], '_sips._tcp.example.com': [srv('tls.example.com', 5061)] },
    a: { 'udp.example.com': ['192.0.2.1'], 'tls.example.com': ['192.0.2.3'] },
  });
  assert.deepEqual(short(await new Resolver({ dns: noNaptr }).resolve(parseSipUri('sips:bob@example.com'))), ['tls 192.0.2.3:5061']);
  assert.ok(!noNaptr.queries.includes('SRV _sip._udp.example.com'), noNaptr.queries.join(', '));
});

test('orderSrv: priority first, then weighted choice with the injected random', () => {
  const recs = [
    { name: 'p20', priority: 20, weight: 100 },
    { name: 'a', priority: 10, weight: 10 },
    { name: 'b', priority: 10, weight: 30 },
    { name: 'c', priority: 10, weight: 60 },
  ];
  // random 0 → the first record with weight at each step.
  assert.deepEqual(orderSrv(recs, () => 0).map((r) => r.name), ['a', 'b', 'c', 'p20']);
  // 0.5 of 100 = 50: a (10) b (40) c (100) → c; then 0.5 of 40 = 20: a (10) b (40) → b; then a.
  assert.deepEqual(orderSrv(recs, () => 0.5).map((r) => r.name), ['c', 'b', 'a', 'p20']);
  // Almost 1: always the last of the pool.
  assert.deepEqual(orderSrv(recs, () => 0.999999).map((r) => r.name), ['c', 'b', 'a', 'p20']);
  // 0.15 of 100 = 15 → b; then 0.15 of 70 = 10.5 → c (a=10, c reaches 70); then a.
  assert.deepEqual(orderSrv(recs, () => 0.15).map((r) => r.name), ['b', 'c', 'a', 'p20']);
});

test('orderSrv: all-zero weights keep the given order; the input is not modified', () => {
  const recs = [
    { name: 'x', priority: 1, weight: 0 },
    { name: 'y', priority: 1, weight: 0 },
    { name: 'z', priority: 0, weight: 0 },
  ];
  const copy = recs.map((r) => ({ ...r }));
  assert.deepEqual(orderSrv(recs, () => 0.7).map((r) => r.name), ['z', 'x', 'y']);
  assert.deepEqual(recs, copy);
});

test('orderSrv: weighted choice follows the weights over many draws', () => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const recs = [
    { name: 'light', priority: 1, weight: 1 },
    { name: 'heavy', priority: 1, weight: 9 },
  ];
  let heavyFirst = 0;
  for (let i = 0; i < 2000; i++) if (orderSrv(recs, rnd)[0]!.name === 'heavy') heavyFirst++;
  assert.ok(heavyFirst > 1650 && heavyFirst < 1950, `heavy first ${heavyFirst}/2000`);
});
