// Phones behind a real NAT (network namespaces, test/harness/netns.ts): bob registers from
// behind a port-restricted NAT with his LAN address in Contact (sip:bob@10.1.2.3:5060); the
// server marks the binding NATed (received …;nat), and a call to bob goes to the router's
// public mapping with the Request-URI still bob's Contact, so it rings; the caller's ACK and BYE
// (and bob's answers) follow the dialog through the Record-Route's flow token — for a caller on
// the public side and for one behind the same NAT. Then the keep-alive OPTIONS reach bob through
// the mapping, a STUN Binding request on the SIP port is answered with the public address, and
// when bob's phone is gone its pings fail and the binding is removed; a target with no route
// is answered 480 (never 500) and logged.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type NatLab, createNatLab, natLabSupported } from '../../harness/netns.js';
import { stopAll } from '../../harness/processes.js';
import { until } from '../../harness/until.js';
import { spawnSync } from 'node:child_process';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const CLI = path.join(ROOT, 'dist/src/app/cli/main.js');
const UA_MODULE = path.join(ROOT, 'dist/src/user-agent.js');
const skip = await natLabSupported();
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-nat-call-'));

after(async () => {
  await stopAll();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});



/** A phone: registers bob (Contact on its LAN address) from the socket it answers calls on. */
function phoneScript(lab: NatLab, user: string, lanAddress: string): string {
  const file = path.join(tmpDir, `phone-${user}.mjs`);
  fs.writeFileSync(file, `
import { UserAgent } from ${JSON.stringify(UA_MODULE)};
const ua = await UserAgent.start({ listen: ['udp:${lanAddress}:5060'], from: 'sip:${user}@${lab.addr.server}', timers: { T1: 100, T2: 4000, T4: 5000 },
  // The UAS core answers OPTIONS itself: the trace shows the keep-alives arriving.
  onTrace: (ev) => { if (ev.direction === 'Received' && ev.bytes.toString('latin1', 0, 8) === 'OPTIONS ') console.log('REQUEST OPTIONS'); } });
ua.on('invite', (inv) => {
  console.log('INVITE ' + inv.request.uriText);
  inv.progress(180);
  const call = inv.accept();
  call.on('ended', (why) => console.log('ENDED ' + why));
});
ua.on('request', (r) => { console.log('REQUEST ' + r.request.method); r.respond(200); });
const res = await ua.register('sip:${lab.addr.server}:5060', { aor: 'sip:${user}@${lab.addr.server}', contact: 'sip:${user}@${lanAddress}:5060', expires: 120 });
console.log('REGISTERED ' + res.status);
`);
  return file;
}

test('a phone behind NAT: registered with its private Contact, it receives calls through the NAT mapping; ACK and BYE follow the flow', { skip, timeout: 90_000 }, async () => {
  const lab = await createNatLab({ name: 'natcall', phones: 2, publicHosts: 1 });
  try {
    const cfg = path.join(tmpDir, 'serve.yaml');
    fs.writeFileSync(cfg, [
      `listen: [udp:${lab.addr.server}:5060]`, `domains: [${lab.addr.server}]`, 'store: memory', 'roles: [registrar, proxy]',
      'registrar: {authenticate: false}', 'proxy: {authenticate: false}', 'timers: {T1: 100, T2: 4000, T4: 5000}',
      'nat: {keepalive: {interval: 2, maxFailures: 2}}', 'admin: {listen: 127.0.0.1:8080}', `proxy: {authenticate: false, defaultRoute: 'sip:10.9.9.9:5060'}`,
    ].filter((l, i, all) => !(l.startsWith('proxy: {authenticate: false}') && all.some((x) => x.includes('defaultRoute')))).join('\n') + '\n');
    const serve = await lab.exec('public', process.execPath, [CLI, 'serve', '--config', cfg], { readyPattern: /listening on udp:/, timeoutMs: 15_000, maxLifetimeMs: 80_000 });
    const bob = await lab.exec('phone1', process.execPath, [phoneScript(lab, 'bob', lab.addr.phones[0]!)], { readyPattern: /REGISTERED 200/, timeoutMs: 15_000, maxLifetimeMs: 80_000 });

    // The binding: the private Contact, and the router's public address it came from, marked NATed.
    const regs = JSON.parse((await lab.http('public', 'http://127.0.0.1:8080/api/registrations')).text) as { registrations: Array<{ aor: string; contact: string; received?: string }> };
    const b = regs.registrations.find((r) => r.aor === `sip:bob@${lab.addr.server}`);
    assert.equal(b?.contact, `sip:bob@${lab.addr.phones[0]}:5060`);
    assert.match(b?.received ?? '', new RegExp(`^udp:${lab.addr.routerWan.replace(/\./g, '\\.')}:\\d+;nat$`), JSON.stringify(regs));

    // A caller on the public side, then one behind the same NAT.
    for (const where of ['host1', 'phone2'] as const) {
      const before = bob.output().stdout.split('\n').filter((l) => l.startsWith('ENDED')).length;
      const call = await lab.run(where, process.execPath, [CLI, 'call', `sip:bob@${lab.addr.server}`, '--proxy', `sip:${lab.addr.server}:5060`, '--duration', '1', '--listen', `udp:${lab.addrOf(where)}:5070`], { timeoutMs: 30_000 });
      assert.equal(call.code, 0, `call from ${where}\n${call.stdout}\n${call.stderr}\n--- serve ---\n${serve.output().stderr.slice(-3000)}\n${await lab.describe()}`);
      await until(`bob's call from ${where} to end by the caller's BYE`, () => (bob.output().stdout.split('\n').filter((l) => l === 'ENDED remote-bye').length > before ? true : undefined), 10_000);
      assert.match(bob.output().stdout, new RegExp(`INVITE sip:bob@${lab.addr.phones[0]!.replace(/\./g, '\\.')}:5060`), 'the Request-URI is still the registered Contact');
    }

    // Keep-alives: OPTIONS from the server reach bob through the mapping (interval 2 s here).
    await until('a keep-alive OPTIONS at bob', () => (bob.output().stdout.includes('REQUEST OPTIONS') ? true : undefined), 8000);

    // STUN on the SIP port (RFC 5626 §4.4.1): the answer names the router's public mapping.
    const agent = await lab.udpAgent('phone2', { port: 5080 });
    const stun = Buffer.alloc(20);
    stun.writeUInt16BE(0x0001, 0);
    stun.writeUInt32BE(0x2112a442, 4);
    stun.fill(7, 8, 20);
    await agent.send(lab.addr.server, 5060, stun);
    const answer = (await agent.waitFor((d) => d.data.length >= 32 && d.data.readUInt16BE(0) === 0x0101, 5000)).data;
    assert.equal(answer.readUInt16BE(20), 0x0020, 'XOR-MAPPED-ADDRESS');
    const mappedIp = [...answer.subarray(28, 32)].map((x, i) => x ^ [0x21, 0x12, 0xa4, 0x42][i]!).join('.');
    assert.equal(mappedIp, lab.addr.routerWan, 'the public address the server saw');
    await agent.stop();

    // A target with no route (proxy.defaultRoute to 10.9.9.9): 480, and the log says why.
    const unreachable = await lab.run('host1', process.execPath, [CLI, 'call', `sip:999@${lab.addr.server}`, '--proxy', `sip:${lab.addr.server}:5060`, '--duration', '0', '--listen', `udp:${lab.addr.hosts[0]}:5072`], { timeoutMs: 30_000 });
    assert.match(unreachable.stdout + unreachable.stderr, /480/, unreachable.stdout + unreachable.stderr);
    await until('the undeliverable line', () => (/could not be delivered/.test(serve.output().stderr) ? true : undefined), 3000);
    assert.match(serve.output().stderr, /INVITE to sip:999@203\.0\.113\.1 could not be delivered \(sip:999@10\.9\.9\.9:5060 at udp:10\.9\.9\.9:5060: no route or refused\): answered 480/);

    // bob's phone goes away: its keep-alives fail twice (Timer F, T1 = 100 ms), the binding is removed.
    await bob.stop();
    await until('the binding to be removed', async () => {
      const r = JSON.parse((await lab.http('public', 'http://127.0.0.1:8080/api/registrations')).text) as { registrations: unknown[] };
      return r.registrations.length === 0 ? true : undefined;
    }, 30_000);
    await until('the keep-alive removal line', () => (/NAT keep-alive: /.test(serve.output().stderr) ? true : undefined), 3000);
    assert.match(serve.output().stderr, /NAT keep-alive: sip:bob@203\.0\.113\.1 at sip:bob@10\.1\.2\.3:5060 .* did not answer 2 OPTIONS in a row .*binding removed/);
    await serve.stop();
  } finally {
    await lab.destroy();
  }
});

test('over TLS behind a NAT: the binding keeps its connection; a call from the public side reaches the phone over it, ACK and BYE too', { skip, timeout: 90_000 }, async () => {
  const lab = await createNatLab({ name: 'nattls', phones: 1, publicHosts: 1 });
  try {
    // A certificate for the server's public address, trusted by the phone.
    const key = path.join(tmpDir, 'tls-key.pem');
    const cert = path.join(tmpDir, 'tls-cert.pem');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=switchboard', '-addext', `subjectAltName=IP:${lab.addr.server},IP:${lab.addr.phones[0]}`], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(made.status, 0, made.stderr);
    const cfg = path.join(tmpDir, 'serve-tls.yaml');
    fs.writeFileSync(cfg, [
      `listen: [udp:${lab.addr.server}:5060, tls:${lab.addr.server}:5061]`, `domains: [${lab.addr.server}]`, 'store: memory', 'roles: [registrar, proxy]',
      'registrar: {authenticate: false}', 'proxy: {authenticate: false}', 'timers: {T1: 100, T2: 4000, T4: 5000}', `transport: {tls: {cert: ${cert}, key: ${key}}}`,
      'admin: {listen: 127.0.0.1:8080}',
    ].join('\n') + '\n');
    const serve = await lab.exec('public', process.execPath, [CLI, 'serve', '--config', cfg], { readyPattern: /listening on tls:/, timeoutMs: 15_000, maxLifetimeMs: 80_000 });
    const phone = lab.addr.phones[0]!;
    const script = path.join(tmpDir, 'phone-tls.mjs');
    fs.writeFileSync(script, `
import fs from 'node:fs';
import { UserAgent } from ${JSON.stringify(UA_MODULE)};
const tls = { key: fs.readFileSync(${JSON.stringify(key)}), cert: fs.readFileSync(${JSON.stringify(cert)}), ca: fs.readFileSync(${JSON.stringify(cert)}), rejectUnauthorized: true };
const ua = await UserAgent.start({ listen: ['tls:${phone}:5061'], from: 'sip:bob@${lab.addr.server}', transport: { tls }, timers: { T1: 100, T2: 4000, T4: 5000 } });
ua.on('invite', (inv) => {
  console.log('INVITE ' + inv.request.uriText + ' via ' + inv.request.source?.transport);
  const call = inv.accept();
  call.on('ended', (why) => console.log('ENDED ' + why));
});
const res = await ua.register('sip:${lab.addr.server}:5061;transport=tls', { aor: 'sip:bob@${lab.addr.server}', contact: 'sip:bob@${phone}:5061;transport=tls', expires: 120, transport: 'tls' });
console.log('REGISTERED ' + res.status);
`);
    const bob = await lab.exec('phone1', process.execPath, [script], { readyPattern: /REGISTERED 200/, timeoutMs: 15_000, maxLifetimeMs: 80_000 });
    const regs = JSON.parse((await lab.http('public', 'http://127.0.0.1:8080/api/registrations')).text) as { registrations: Array<{ contact: string; received?: string }> };
    assert.match(regs.registrations[0]?.received ?? '', new RegExp(`^tls:${lab.addr.routerWan.replace(/\./g, '\\.')}:\\d+;nat$`), JSON.stringify(regs));

    const call = await lab.run('host1', process.execPath, [CLI, 'call', `sip:bob@${lab.addr.server}`, '--proxy', `sip:${lab.addr.server}:5060`, '--duration', '1', '--listen', `udp:${lab.addr.hosts[0]}:5070`], { timeoutMs: 30_000 });
    assert.equal(call.code, 0, `${call.stdout}\n${call.stderr}\n--- serve ---\n${serve.output().stderr.slice(-3000)}`);
    await until("bob's call to end by the caller's BYE", () => (bob.output().stdout.includes('ENDED remote-bye') ? true : undefined), 10_000);
    assert.match(bob.output().stdout, new RegExp(`INVITE sip:bob@${phone.replace(/\./g, '\\.')}:5061;transport=tls via tls`), bob.output().stdout);
    await bob.stop();
    await serve.stop();
  } finally {
    await lab.destroy();
  }
});

test('presence and instant messages to phones behind a NAT: NOTIFYs reach a NATed watcher, a stored MESSAGE reaches a NATed phone when it registers', { skip, timeout: 90_000 }, async () => {
  const lab = await createNatLab({ name: 'natpres', phones: 2, publicHosts: 1 });
  try {
    const cfg = path.join(tmpDir, 'serve-presence.yaml');
    fs.writeFileSync(cfg, [
      `listen: [udp:${lab.addr.server}:5060]`, `domains: [${lab.addr.server}]`, 'store: memory', 'roles: [registrar, proxy, presence]',
      'registrar: {authenticate: false}', 'proxy: {authenticate: false}', 'presence: {authenticate: false, policy: open}', 'timers: {T1: 100, T2: 4000, T4: 5000}',
      'users: [{user: carol, password: carolpw}, {user: dave, password: davepw}]',
    ].join('\n') + '\n');
    const serve = await lab.exec('public', process.execPath, [CLI, 'serve', '--config', cfg], { readyPattern: /listening on udp:/, timeoutMs: 15_000, maxLifetimeMs: 80_000 });
    const server = lab.addr.server;
    // The watcher behind the NAT: subscribes to carol's presence from its LAN address (Contact 10.1.2.3).
    const watcher = path.join(tmpDir, 'watcher.mjs');
    fs.writeFileSync(watcher, `
import { UserAgent } from ${JSON.stringify(UA_MODULE)};
const ua = await UserAgent.start({ listen: ['udp:${lab.addr.phones[0]}:5060'], from: 'sip:bob@${server}', outboundProxy: 'sip:${server}:5060', timers: { T1: 100, T2: 4000, T4: 5000 } });
const sub = await ua.subscribe('sip:carol@${server}', 'presence', { expires: 300 });
sub.on('notify', () => console.log('NOTIFY'));
console.log('SUBSCRIBED');
`);
    const bob = await lab.exec('phone1', process.execPath, [watcher], { readyPattern: /SUBSCRIBED/, timeoutMs: 15_000, maxLifetimeMs: 80_000 });
    await until('a NOTIFY at the NATed watcher', () => (bob.output().stdout.includes('NOTIFY') ? true : undefined), 8000);

    // A MESSAGE to dave, who is not registered: stored (202); dave registers from behind the NAT and gets it.
    const sender = path.join(tmpDir, 'sender.mjs');
    fs.writeFileSync(sender, `
import { UserAgent } from ${JSON.stringify(UA_MODULE)};
const ua = await UserAgent.start({ listen: ['udp:${lab.addr.hosts[0]}:5080'], from: 'sip:erin@${server}', outboundProxy: 'sip:${server}:5060', timers: { T1: 100, T2: 4000, T4: 5000 } });
const r = await ua.message('sip:dave@${server}', 'hello through the NAT');
console.log('MESSAGE ' + r.status);
await ua.stop();
`);
    const m = await lab.run('host1', process.execPath, [sender], { timeoutMs: 15_000 });
    assert.match(m.stdout, /MESSAGE 202/, m.stdout + m.stderr);
    const phone = path.join(tmpDir, 'dave.mjs');
    fs.writeFileSync(phone, `
import { UserAgent } from ${JSON.stringify(UA_MODULE)};
const ua = await UserAgent.start({ listen: ['udp:${lab.addr.phones[1]}:5060'], from: 'sip:dave@${server}', timers: { T1: 100, T2: 4000, T4: 5000 } });
ua.on('request', (r) => { console.log('REQUEST ' + r.request.method + ' ' + r.request.body.toString()); r.respond(200); });
const res = await ua.register('sip:${server}:5060', { aor: 'sip:dave@${server}', contact: 'sip:dave@${lab.addr.phones[1]}:5060', expires: 120 });
console.log('REGISTERED ' + res.status);
`);
    const dave = await lab.exec('phone2', process.execPath, [phone], { readyPattern: /REGISTERED 200/, timeoutMs: 15_000, maxLifetimeMs: 80_000 });
    await until('the stored MESSAGE at dave', () => (dave.output().stdout.includes('REQUEST MESSAGE hello through the NAT') ? true : undefined), 8000);
    await Promise.all([bob.stop(), dave.stop()]);
    await serve.stop();
  } finally {
    await lab.destroy();
  }
});
