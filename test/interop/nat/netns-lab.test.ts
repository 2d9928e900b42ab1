// Self-test of the NAT laboratory (test/harness/netns.ts): real Linux NATs made of network
// namespaces on this machine (TEST-NET addresses inside namespaces with no link to the host's
// interfaces — nothing leaves the machine), then the project's own CLI behind one.
//  1. port-restricted NAT (lab A, 2 phones, UDP timeout 4 s): the server (203.0.113.1 in
//     sb-pub-…) sees phone 1's datagram from 203.0.113.2:P, not 10.1.2.3; a reply to
//     203.0.113.2:P reaches phone 1; phone 2, also on port 5060, gets another public port; the
//     same phone socket keeps P towards another server port (endpoint-independent mapping) but a
//     datagram from that other port to P is dropped until the phone has sent to it (filtering);
//     the server's datagram to 10.1.2.3 fails at once (ENETUNREACH: no route to private space).
//  2. the mapping expires: after 4 s + margin without traffic an unsolicited datagram to
//     203.0.113.2:P no longer reaches phone 1 and the conntrack entry is gone (skipped, with
//     the reason, where the timeout cannot be set per namespace).
//  3. lab B (symmetric, SIP ALG, blackhole route, one public host): each destination gets its own
//     public port; the ALG rewrites a REGISTER's Via/Contact to 203.0.113.2; the server's send to
//     10.1.2.3 "succeeds" and is lost; a public host reaches the server from its own address.
//  4. `switchboard serve` in sb-pub-… and `switchboard register … --contact sip:bob@10.1.2.3:5060`
//     in phone 1's namespace: the admin API (queried from inside sb-pub-…) lists the binding with
//     contact sip:bob@10.1.2.3:5060 and received udp:203.0.113.2:P; --trace shows the REGISTER
//     arriving from 203.0.113.2.
//  5. lab C (routerPerPhone, UDP timeout 5 s): each phone behind a router of its own — phone 1
//     (10.1.2.3) appears as 203.0.113.2, phone 2 (10.1.3.3) as 203.0.113.3; replies come back; each
//     router's conntrack holds only its own phone's mapping, with the timeout set on both; a phone
//     cannot reach the other's private address; destroy removes every namespace, routers included.
// (The proxy reaching bob through the flow: nat-call.test.ts; media through rtpengine: nat-media.test.ts.)
// Every process is stopped by PID (processes.ts), the labs are destroyed in `after`; the file is
// bounded well under 60 s.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopAll, type Managed } from '../../harness/processes.js';
import { createNatLab, natLabSupported, type NatLab, type UdpAgent } from '../../harness/netns.js';

const SWITCHBOARD_CLI = process.env.SWITCHBOARD_CLI || fileURLToPath(new URL('../../../src/app/cli/main.js', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const SERVER = '203.0.113.1';
const WAN = '203.0.113.2';
const PHONE1 = '10.1.2.3';
const QUIET_MS = 800; // how long "does not arrive" waits

const unsupported = await natLabSupported();
let labA: NatLab | undefined;
const agents: UdpAgent[] = [];

before(async () => {
  if (unsupported) return;
  labA = await createNatLab({ name: 'netns-lab A', phones: 2, udpTimeoutS: 4 });
});

after(async () => {
  await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
  await stopAll();
  await labA?.destroy();
});

async function agent(lab: NatLab, where: Parameters<NatLab['udpAgent']>[0], bind?: { address?: string; port?: number }): Promise<UdpAgent> {
  const a = await lab.udpAgent(where, bind);
  agents.push(a);
  return a;
}

/** Resolves true if no datagram matching pred arrives at a within QUIET_MS. */
async function staysQuiet(a: UdpAgent, pred: (text: string) => boolean): Promise<boolean> {
  await sleep(QUIET_MS);
  return !a.received().some((d) => pred(d.text));
}

test('port-restricted NAT: the server sees the router, replies come back, private addresses are unreachable', { skip: unsupported, timeout: 20_000 }, async () => {
  const lab = labA!;
  const server = await agent(lab, 'public', { address: SERVER, port: 5060 });
  const server2 = await agent(lab, 'public', { address: SERVER, port: 5070 });
  const phone1 = await agent(lab, 'phone1', { address: PHONE1, port: 5060 });
  const phone2 = await agent(lab, 'phone2', { address: '10.1.2.4', port: 5060 });
  try {
    await phone1.send(SERVER, 5060, 'hello from phone1');
    const d1 = await server.waitFor((d) => d.text === 'hello from phone1', 3000);
    assert.equal(d1.from, WAN, 'the server sees the router wan address, not 10.1.2.3');
    assert.ok(d1.port > 0);

    await server.send(d1.from, d1.port, 'reply to phone1');
    const r1 = await phone1.waitFor((d) => d.text === 'reply to phone1', 3000);
    assert.equal(r1.from, SERVER);
    assert.equal(r1.port, 5060);

    await phone2.send(SERVER, 5060, 'hello from phone2');
    const d2 = await server.waitFor((d) => d.text === 'hello from phone2', 3000);
    assert.equal(d2.from, WAN);
    assert.notEqual(d2.port, d1.port, 'two phones on port 5060 share the public address with different ports');

    const ct = await lab.conntrack();
    const e1 = ct.find((e) => e.orig.src === PHONE1 && e.orig.dport === 5060);
    assert.ok(e1, `conntrack entry of phone1\n${await lab.describe()}`);
    assert.equal(e1.reply.dst, WAN);
    assert.equal(e1.reply.dport, d1.port);

    // Filtering: another server port may not send to the mapping before the phone talked to it…
    await server2.send(WAN, d1.port, 'unsolicited from 5070');
    assert.ok(await staysQuiet(phone1, (t) => t === 'unsolicited from 5070'), 'port-restricted: a new source port is filtered');
    // …mapping: the same phone socket keeps its public port towards that other port…
    await phone1.send(SERVER, 5070, 'hello 5070');
    const d3 = await server2.waitFor((d) => d.text === 'hello 5070', 3000);
    assert.equal(d3.from, WAN);
    assert.equal(d3.port, d1.port, 'endpoint-independent mapping: same public port for another destination');
    // …after which it may.
    await server2.send(WAN, d1.port, 'solicited from 5070');
    await phone1.waitFor((d) => d.text === 'solicited from 5070', 3000);

    // The private Contact is unreachable from the public side: no route at all.
    await assert.rejects(server.send(PHONE1, 5060, 'straight to the private address'), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ENETUNREACH');
      return true;
    });
    assert.ok(await staysQuiet(phone1, (t) => t === 'straight to the private address'));
  } finally {
    await Promise.all([server, server2, phone1, phone2].map((a) => a.stop()));
  }
});

test('the mapping expires after the router conntrack UDP timeout', { skip: unsupported, timeout: 20_000 }, async (t) => {
  const lab = labA!;
  if (lab.udpTimeoutS === undefined) {
    t.skip(lab.udpTimeoutUnsupported ?? 'UDP timeout not set');
    return;
  }
  const server = await agent(lab, 'public', { address: SERVER, port: 5060 });
  const phone1 = await agent(lab, 'phone1', { address: PHONE1, port: 5060 });
  try {
    await phone1.send(SERVER, 5060, 'keepalive');
    const d = await server.waitFor((x) => x.text === 'keepalive', 3000);
    await server.send(d.from, d.port, 'within the timeout');
    await phone1.waitFor((x) => x.text === 'within the timeout', 3000);
    const before = (await lab.conntrack()).find((e) => e.orig.src === PHONE1 && e.reply.dport === d.port);
    assert.ok(before && before.ttl <= lab.udpTimeoutS, `conntrack entry with ttl ≤ ${lab.udpTimeoutS}: ${before?.raw}`);

    await sleep(lab.udpTimeoutS * 1000 + 1500);
    await server.send(d.from, d.port, 'after the timeout');
    assert.ok(await staysQuiet(phone1, (x) => x === 'after the timeout'), 'an expired mapping lets nothing in');
    const gone = (await lab.conntrack()).find((e) => e.orig.src === PHONE1 && e.orig.dport === 5060 && e.orig.dst === SERVER);
    assert.equal(gone, undefined, `no conntrack entry left: ${gone?.raw}`);

    // A new packet from the phone opens a new mapping (the same port again: it is free).
    await phone1.send(SERVER, 5060, 'keepalive 2');
    const d2 = await server.waitFor((x) => x.text === 'keepalive 2', 3000);
    await server.send(d2.from, d2.port, 'after reopening');
    await phone1.waitFor((x) => x.text === 'after reopening', 3000);
  } finally {
    await Promise.all([server, phone1].map((a) => a.stop()));
  }
});

test('symmetric NAT with a SIP ALG, a blackhole route and a public host', { skip: unsupported, timeout: 20_000 }, async () => {
  const lab = await createNatLab({ name: 'netns-lab B', phones: 1, natType: 'symmetric', sipAlg: true, privateRoute: 'blackhole', publicHosts: 1 });
  try {
    const server = await agent(lab, 'public', { address: SERVER, port: 5060 });
    const server2 = await agent(lab, 'public', { address: SERVER, port: 5070 });
    const phone1 = await agent(lab, 'phone1', { address: PHONE1, port: 5062 });
    const host1 = await agent(lab, 'host1', { port: 5060 });

    // Symmetric: one public port per destination.
    await phone1.send(SERVER, 5070, 'to 5070');
    await phone1.send(SERVER, 5060, 'to 5060 (not SIP)');
    const a = await server2.waitFor((d) => d.text === 'to 5070', 3000);
    const b = await server.waitFor((d) => d.text === 'to 5060 (not SIP)', 3000);
    assert.equal(a.from, WAN);
    assert.equal(b.from, WAN);
    assert.notEqual(a.port, b.port, 'symmetric NAT: another destination, another public port');

    // The SIP ALG rewrites the private addresses of a REGISTER to 5060.
    const register = [
      `REGISTER sip:${SERVER} SIP/2.0`,
      `Via: SIP/2.0/UDP ${PHONE1}:5062;branch=z9hG4bK-natlab-1;rport`,
      'Max-Forwards: 70',
      `From: <sip:bob@${SERVER}>;tag=natlab1`,
      `To: <sip:bob@${SERVER}>`,
      'Call-ID: natlab-alg-1',
      'CSeq: 1 REGISTER',
      `Contact: <sip:bob@${PHONE1}:5062>`,
      'Expires: 60',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    await phone1.send(SERVER, 5060, register);
    const seen = await server.waitFor((d) => d.text.startsWith('REGISTER'), 3000);
    assert.equal(seen.from, WAN);
    assert.match(seen.text, new RegExp(`^Contact: <sip:bob@${WAN.replace(/\./g, '\\.')}:\\d+>`, 'm'), seen.text);
    assert.doesNotMatch(seen.text, /10\.1\.2\.3/, 'the ALG left no private address');

    // Blackhole: sending to the private address succeeds and goes nowhere.
    await server.send(PHONE1, 5062, 'into the void');
    assert.ok(await staysQuiet(phone1, (t) => t === 'into the void'));

    // A host on the public network reaches the server directly, from its own address.
    await host1.send(SERVER, 5060, 'from a public host');
    const h = await server.waitFor((d) => d.text === 'from a public host', 3000);
    assert.equal(h.from, lab.addrOf('host1'));
    assert.equal(h.from, '203.0.113.11');
    await Promise.all([server, server2, phone1, host1].map((x) => x.stop()));
  } finally {
    const names = [lab.ns.public, lab.ns.router, ...lab.ns.phones, ...lab.ns.hosts];
    await lab.destroy();
    await lab.destroy(); // idempotent
    const left = await listNetns();
    assert.deepEqual(names.filter((n) => left.includes(n)), [], 'every namespace of lab B is gone');
  }
});

test('a router per phone: each phone behind a NAT of its own', { skip: unsupported, timeout: 20_000 }, async () => {
  const lab = await createNatLab({ name: 'netns-lab C', phones: 2, routerPerPhone: true, udpTimeoutS: 5 });
  const names = [lab.ns.public, ...lab.ns.routers, ...lab.ns.phones, ...lab.ns.hosts];
  try {
    assert.equal(lab.routerPerPhone, true);
    assert.equal(lab.ns.routers.length, 2);
    assert.equal(lab.ns.router, lab.ns.routers[0]);
    assert.deepEqual(lab.addr.routerWans, [WAN, '203.0.113.3']);
    assert.deepEqual(lab.addr.routerLans, ['10.1.2.1', '10.1.3.1']);
    assert.deepEqual(lab.addr.phones, [PHONE1, '10.1.3.3']);
    assert.equal(lab.nsOf('router2'), lab.ns.routers[1]);
    assert.equal(lab.nsOf('router1'), lab.ns.router);
    assert.equal(lab.addrOf('router2'), '203.0.113.3');
    assert.equal(lab.routerOf('phone1'), 'router1');
    assert.equal(lab.routerOf('phone2'), 'router2');
    assert.equal(labA?.routerOf('phone2') ?? 'router', 'router', 'the shared-router lab: every phone behind "router"');

    const server = await agent(lab, 'public', { address: SERVER, port: 5060 });
    const phone1 = await agent(lab, 'phone1', { address: PHONE1, port: 5060 });
    const phone2 = await agent(lab, 'phone2', { address: '10.1.3.3', port: 5060 });
    await phone1.send(SERVER, 5060, 'hello from phone1');
    await phone2.send(SERVER, 5060, 'hello from phone2');
    const d1 = await server.waitFor((d) => d.text === 'hello from phone1', 3000);
    const d2 = await server.waitFor((d) => d.text === 'hello from phone2', 3000);
    assert.equal(d1.from, WAN, 'phone 1 appears as router 1');
    assert.equal(d2.from, '203.0.113.3', 'phone 2 appears as router 2');
    await server.send(d1.from, d1.port, 'reply to phone1');
    await server.send(d2.from, d2.port, 'reply to phone2');
    await phone1.waitFor((d) => d.text === 'reply to phone1', 3000);
    await phone2.waitFor((d) => d.text === 'reply to phone2', 3000);

    const ct1 = await lab.conntrack(false, 'router1');
    const ct2 = await lab.conntrack(false, 'router2');
    const e1 = ct1.find((e) => e.orig.src === PHONE1 && e.orig.dst === SERVER);
    const e2 = ct2.find((e) => e.orig.src === '10.1.3.3' && e.orig.dst === SERVER);
    assert.ok(e1 && e1.reply.dst === WAN && e1.ttl <= 5, `router 1 maps phone 1 (timeout 5 s): ${e1?.raw}\n${await lab.describe()}`);
    assert.ok(e2 && e2.reply.dst === '203.0.113.3' && e2.ttl <= 5, `router 2 maps phone 2 (timeout 5 s): ${e2?.raw}\n${await lab.describe()}`);
    assert.equal(ct1.find((e) => e.orig.src === '10.1.3.3'), undefined, 'router 1 knows nothing of phone 2');
    assert.equal(ct2.find((e) => e.orig.src === PHONE1), undefined, 'router 2 knows nothing of phone 1');
    const ct = await lab.conntrack();
    assert.ok(ct.some((e) => e.orig.src === PHONE1) && !ct.some((e) => e.orig.src === '10.1.3.3'), "conntrack() reads router 1's table");

    // The other phone's private address is not reachable across the internet.
    await phone1.send('10.1.3.3', 5060, 'straight to phone2').catch(() => undefined);
    assert.ok(await staysQuiet(phone2, (x) => x === 'straight to phone2'));
    await Promise.all([server, phone1, phone2].map((a) => a.stop()));
  } finally {
    await lab.destroy();
    const left = await listNetns();
    assert.deepEqual(names.filter((n) => left.includes(n)), [], 'every namespace of lab C is gone');
  }
});

async function listNetns(): Promise<string[]> {
  const { execFileSync } = await import('node:child_process');
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

test('switchboard serve in the public namespace sees a REGISTER from behind the NAT', { skip: unsupported, timeout: 30_000 }, async () => {
  const lab = labA!;
  const dir = mkdtempSync(join(tmpdir(), 'natlab-serve-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, 'registrar:\n  authenticate: false\nproxy:\n  authenticate: false\n');
  const ADMIN = 8080; // inside sb-pub-…: its own port space, no collision with the host
  let serve: Managed | undefined;
  try {
    serve = await lab.exec(
      'public',
      process.execPath,
      [SWITCHBOARD_CLI, 'serve', '--config', config, '--listen', `udp:${SERVER}:5060`, '--domain', SERVER, '--store', 'memory', '--admin', `127.0.0.1:${ADMIN}`, '--trace'],
      {
        readyPattern: /admin: listening on http:\/\//,
        readyCheck: () => lab.isListening('public', 'udp', 5060),
        timeoutMs: 15_000,
        maxLifetimeMs: 60_000,
      },
    );
    const reg = await lab.run(
      'phone1',
      process.execPath,
      [SWITCHBOARD_CLI, 'register', `sip:bob@${SERVER}`, '--registrar', `sip:${SERVER}:5060`, '--contact', `sip:bob@${PHONE1}:5060`, '--expires', '60', '--listen', `udp:${PHONE1}:5060`],
      { timeoutMs: 10_000 },
    );
    assert.equal(reg.code, 0, `register exited ${reg.code}\n${reg.stdout}\n${reg.stderr}\n--- serve ---\n${serve.output().stderr.slice(-4000)}`);

    const res = await lab.http('public', `http://127.0.0.1:${ADMIN}/api/registrations`);
    assert.equal(res.status, 200, res.text);
    const body = JSON.parse(res.text) as unknown;
    const list = (Array.isArray(body) ? body : ((body as { registrations?: unknown[] }).registrations ?? [])) as Array<Record<string, unknown>>;
    const bob = list.find((b) => String(b.contact).includes(`sip:bob@${PHONE1}:5060`));
    assert.ok(bob, `binding of bob in ${res.text}`);
    assert.match(String(bob.aor), /^sip:bob@203\.0\.113\.1$/);
    assert.match(String(bob.received), /^udp:203\.0\.113\.2:\d+;nat$/, `received is the router's public address, marked NATed: ${res.text}`);

    const received = /^udp:203\.0\.113\.2:(\d+);nat$/.exec(String(bob.received))!;
    const mapping = (await lab.conntrack()).find((e) => e.orig.src === PHONE1 && e.orig.sport === 5060 && e.orig.dst === SERVER && e.orig.dport === 5060);
    assert.ok(mapping, `the router's mapping of the REGISTER\n${await lab.describe()}`);
    assert.equal(Number(received[1]), mapping.reply.dport, 'received is the NAT mapping in the router');

    const trace = serve.output().stderr;
    assert.match(trace, /Received: UDP 203\.0\.113\.2:\d+ -> 203\.0\.113\.1:5060[^\n]*\nREGISTER sip:/, 'the trace shows the REGISTER from the router');
    assert.match(trace, /Sent: UDP 203\.0\.113\.1:5060 -> 203\.0\.113\.2:\d+[^\n]*\nSIP\/2\.0 200 OK/, 'the 200 goes back to the router');
  } finally {
    await serve?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

// An INVITE to bob through the flow: test/interop/nat/nat-call.test.ts.
