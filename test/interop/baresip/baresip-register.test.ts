// A real baresip (Debian package baresip-core, 1.0.0) registers with a password to
// `switchboard serve` over UDP on loopback, shows up in `location list`, and un-REGISTERs when
// it is stopped (SIGTERM by PID). Also: a wrong password is refused and leaves no binding.
//
// The server runs on the DEFAULT configuration (no config file), whose challenge offers MD5 only.
// That is what baresip 1.0.0 (libre) needs: it gives up on the first WWW-Authenticate whose
// algorithm is not MD5 instead of trying the next one (its log says "reg: sip:alice@127.0.0.1:
// Register: Function not implemented", i.e. ENOSYS), although RFC 8760 §2.4 has the UAC pick the
// topmost challenge it supports; SIPp 3.6.1 needs the same. SHA-256 stays available by
// configuration (`auth: {algorithms: [SHA-256, MD5]}`), but such a server shuts baresip out.
//
// baresip is installed by `node scripts/ensure-peers.mjs` (package baresip-core). The test fails
// (never skips) when it is missing.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { rmSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { freePortBoth, runProcess, stopAll, type Managed } from '../../harness/processes.js';
import { cli, locationList, startServe, tempDir, type ListedBinding } from '../registrar/registrar-helpers.js';
import { BaresipUA } from './baresip-ua.js';

const DOMAIN = '127.0.0.1';
const dir = tempDir('baresip-register');
const db = join(dir, 'switchboard.db');
const store = ['--db', db];
const uas = new Set<BaresipUA>();
let server: Managed | undefined;

after(async () => {
  for (const ua of uas) await ua.stop(500).catch(() => undefined);
  await server?.stop();
  await stopAll();
  if (process.env.KEEP_TMP !== '1') rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function assertBaresipInstalled(): Promise<void> {
  const r = await runProcess('baresip', ['-h'], { timeoutMs: 5000 }).catch((err: Error) => {
    throw new Error(`baresip not runnable (${err.message}); run: node scripts/ensure-peers.mjs (package baresip-core)`);
  });
  assert.match(r.stdout + r.stderr, /baresip v\d+\.\d+/, `unexpected baresip -h output:\n${r.stdout}${r.stderr}`);
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      srv.close(() => {
        const s = dgram.createSocket('udp4');
        s.once('error', () => {
          s.close();
          resolve(false);
        });
        s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
      });
    });
  });
}

/** A SIP port p for baresip with p+1 free as well (baresip binds TLS on p+1). */
async function uaSipPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await freePortBoth();
    if (p < 65535 && (await canBind(p + 1))) return p;
  }
  throw new Error('no port pair p, p+1 free on 127.0.0.1');
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`);
    await sleep(100);
  }
}

test('baresip registers with digest to switchboard serve and un-registers on stop', { timeout: 90_000 }, async (t) => {
  await assertBaresipInstalled();
  await cli(['user', 'add', 'alice', '--password', 'alice-s3cret', '--domain', DOMAIN, ...store]);
  await cli(['user', 'add', 'bob', '--password', 'bob-s3cret', '--domain', DOMAIN, ...store]);
  const port = await freePortBoth();
  server = await startServe({ port, db, domain: DOMAIN });

  // --- alice, right password: registered, listed -------------------------------------------------
  const sipPort = await uaSipPort();
  const ctrlPort = await freePortBoth();
  const t0 = Date.now();
  const alice = await BaresipUA.start({
    user: 'alice',
    password: 'alice-s3cret',
    registrar: `127.0.0.1:${port}`,
    sipPort,
    ctrlPort,
    lifetimeS: 80,
    startTimeoutMs: 15_000,
  });
  uas.add(alice);
  const registeredMs = Date.now() - t0;
  const aor = `sip:alice@${DOMAIN}`;
  let listed: ListedBinding[];
  try {
    listed = await waitFor('alice in location list', async () => {
      const l = await locationList(store, aor);
      return l.length > 0 ? l : undefined;
    }, 5000);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- baresip log ---\n${alice.log()}\n--- server ---\n${server.output().stderr}`);
  }
  assert.equal(listed.length, 1, JSON.stringify(listed));
  const b = listed[0]!;
  assert.equal(b.aor, aor);
  // baresip makes its contact user unique: sip:alice-0x55…@127.0.0.1:PORT
  assert.match(b.contact, new RegExp(`^sip:alice[^@]*@127\\.0\\.0\\.1:${sipPort}\\b`), b.contact);
  assert.equal(b.received, `udp:127.0.0.1:${sipPort}`);
  assert.ok(b.expires > 500 && b.expires <= 600, `regint=600 → expires ${b.expires}`);
  // baresip's own view: reginfo says OK, and its log shows the 200.
  const info = ((await alice.command('reginfo')).data ?? '').replace(/\x1b\[[0-9;]*m/g, '');
  assert.match(info, /\bOK\b/, info);
  assert.match(alice.log(), /alice@127\.0\.0\.1: \{\d+\/UDP\/v4\} 200 OK/, alice.log());

  // --- bob, wrong password: refused, nothing stored ----------------------------------------------
  const bobPort = await uaSipPort();
  const bobCtrl = await freePortBoth();
  await assert.rejects(
    BaresipUA.start({ user: 'bob', password: 'wrong', registrar: `127.0.0.1:${port}`, sipPort: bobPort, ctrlPort: bobCtrl, lifetimeS: 30, startTimeoutMs: 10_000 }),
    /registration failed|registration timeout/,
  );
  assert.deepEqual(await locationList(store, `sip:bob@${DOMAIN}`), []);

  // --- stop alice by PID: SIGTERM → REGISTER Expires 0 → binding gone ----------------------------
  const pid = alice.pid;
  assert.ok(pid !== undefined);
  const stopStart = Date.now();
  await alice.stop(5000);
  uas.delete(alice);
  const stopMs = Date.now() - stopStart;
  assert.ok(stopMs < 5000, `baresip exited within its grace period (${stopMs} ms): it got its un-REGISTER answered`);
  await waitFor('alice un-registered', async () => ((await locationList(store, aor)).length === 0 ? true : undefined), 5000);
  assert.deepEqual(await locationList(store), []);

  // The server is still healthy and stops cleanly.
  const st = await server.stop(10_000);
  assert.deepEqual(st, { code: 0, signal: null }, server.output().stderr);
  server = undefined;
  t.diagnostic(`baresip registered in ${registeredMs} ms, stopped (un-REGISTER) in ${stopMs} ms`);
});
