// Phones behind real NATs talk through rtpengine (issue 18, "Media"): real baresip phones, each in
// a private namespace behind a NAT of its own (test/harness/netns.ts, routerPerPhone: alice =
// 10.1.2.3 behind 203.0.113.2, bob = 10.1.3.3 behind 203.0.113.3), `switchboard serve --config
// examples/nat.yaml` and rtpengine (Debian rtpengine-daemon, userspace forwarding, ng on
// 127.0.0.1:2223) in the public namespace on 203.0.113.1. Nothing leaves the machine.
//
//  1. UDP: alice and bob register with digest auth; alice calls bob, bob answers by himself; both
//     phones count RTP packets received (baresip's own counters, printed when the call's stream
//     is freed: `rtp_stats yes`, see baresip-netns.ts) — dozens each way — and the first RTP each
//     phone received came from rtpengine's address; rtpengine holds the call while it lasts and
//     none once alice has hung up (ng `list`: no leak).
//  2. The same with both phones registered over TCP.
//  3. Keep-alives: the routers forget an idle UDP mapping after 20 s, the server pings every 5 s
//     (nat.keepalive.interval); after 60 s of silence bob's mapping is still there and alice's call
//     still reaches bob (with audio).
//  4. A NATed phone and a public one (bob on 203.0.113.11): alice calls bob, then bob calls alice.
//  5. The B2BUA role (roles [registrar, b2bua], b2bua.target location): the call of 1, audio both ways.
//  6. The negative check: with media.relay off the same call is set up but at least one phone
//     receives no audio (each sends to the other's private address) — the test can fail.
// Every process is started with a bounded lifetime and stopped by its PID; each test builds its
// own lab and destroys it. Skipped (with the reason) where namespaces cannot be made, or rtpengine
// or baresip is missing.

import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { createNatLab, natLabSupported, type LabPlace, type NatLab } from '../../harness/netns.js';
import { stopAll, type Managed } from '../../harness/processes.js';
import { NetnsBaresip, type Mark, type NetnsBaresipOptions, type RtpStats } from './baresip-netns.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const CLI = join(ROOT, 'dist/src/app/cli/main.js');
const MEDIA_MODULE = join(ROOT, 'dist/src/media/index.js');
const EXAMPLE = join(ROOT, 'examples/nat.yaml');
const RTPENGINE = '/usr/bin/rtpengine';
const SERVER = '203.0.113.1';
const NG = '127.0.0.1:2223'; // examples/nat.yaml's media.rtpengine, inside the public namespace
const ADMIN = '127.0.0.1:8080';
const TALK_MS = 3000; // ausine sends 50 packets/s each way
const MIN_PACKETS = 50;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function hasBinary(bin: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', bin], { timeout: 5000 }).status === 0;
}

const skip: string | false =
  (await natLabSupported()) ??
  (!existsSync(RTPENGINE) ? `${RTPENGINE} is not installed (Debian: apt-get install rtpengine-daemon)` : undefined) ??
  (!hasBinary('baresip') ? 'baresip is not installed (Debian: apt-get install baresip-core)' : undefined) ??
  (!existsSync(EXAMPLE) ? `${EXAMPLE} is missing` : undefined) ??
  false;

const worlds = new Set<World>();
after(async () => {
  for (const w of [...worlds]) await w.close();
  await stopAll();
});

// ---------------------------------------------------------------------------------------------
// A world: a lab, rtpengine and serve in its public namespace, baresip phones.

interface WorldOptions {
  name: string;
  /** Changes to a parsed copy of examples/nat.yaml (written to the world's temp dir). */
  config?: (doc: Record<string, unknown>) => void;
  publicHosts?: number;
  udpTimeoutS?: number;
  /** The longest this world lives (every process's hard bound). */
  lifetimeS?: number;
}

class World {
  readonly uas: NetnsBaresip[] = [];
  rtpengine: Managed | undefined;
  serve: Managed | undefined;
  private closed = false;

  private constructor(
    readonly lab: NatLab,
    readonly dir: string,
    readonly lifetimeS: number,
  ) {}

  static async create(o: WorldOptions): Promise<World> {
    const lifetimeS = o.lifetimeS ?? 60;
    const lab = await createNatLab({ name: o.name, phones: 2, routerPerPhone: true, publicHosts: o.publicHosts ?? 0, udpTimeoutS: o.udpTimeoutS });
    const w = new World(lab, mkdtempSync(join(tmpdir(), 'sb-nat-media-')), lifetimeS);
    worlds.add(w);
    try {
      const doc = parseYaml(readFileSync(EXAMPLE, 'utf8')) as Record<string, unknown>;
      o.config?.(doc);
      const config = join(w.dir, 'switchboard.yaml');
      writeFileSync(config, stringifyYaml(doc));
      w.rtpengine = await lab.exec(
        'public',
        RTPENGINE,
        [
          '--config-file=none', // not Debian's /etc/rtpengine/rtpengine.conf
          '--foreground', '--log-stderr', '--log-level=6', '--table=-1', // userspace forwarding, no kernel module
          `--interface=${SERVER}`, `--listen-ng=${NG}`, '--port-min=40000', '--port-max=40999',
        ],
        { readyPattern: /Startup complete/, timeoutMs: 10_000, maxLifetimeMs: lifetimeS * 1000 },
      );
      w.serve = await lab.exec(
        'public',
        process.execPath,
        [CLI, 'serve', '--config', config, '--listen', `udp:${SERVER}:5060`, '--listen', `tcp:${SERVER}:5060`, '--domain', SERVER, '--db', join(w.dir, 'sb.db'), '--admin', ADMIN, '--trace'],
        {
          readyPattern: /admin: listening on http:\/\//,
          readyCheck: async () => (await lab.isListening('public', 'udp', 5060)) && (await lab.isListening('public', 'tcp', 5060)),
          timeoutMs: 15_000,
          maxLifetimeMs: lifetimeS * 1000,
        },
      );
    } catch (e) {
      await w.close();
      throw e;
    }
    return w;
  }

  /** A baresip in `where` registered as `user` (password USERpw) with the server. */
  async phone(where: LabPlace, user: string, o: Partial<NetnsBaresipOptions> = {}): Promise<NetnsBaresip> {
    const ua = await NetnsBaresip.start({ lab: this.lab, where, user, domain: SERVER, registrar: `${SERVER}:5060`, lifetimeS: this.lifetimeS, ...o });
    this.uas.push(ua);
    return ua;
  }

  /** Call-ids rtpengine holds (ng `list`, asked from inside the public namespace). */
  async rtpengineCalls(): Promise<string[]> {
    const script = `
      const { RtpengineClient } = await import(${JSON.stringify(MEDIA_MODULE)});
      const c = new RtpengineClient({ targets: ['udp:${NG}'], healthCheckIntervalMs: 0 });
      await c.start();
      try { const r = await c.list({ limit: 100 }); process.stdout.write(JSON.stringify(r.calls)); } finally { await c.close(); }`;
    const r = await this.lab.run('public', process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`ng list failed (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as string[];
  }

  /** rtpengine's calls once they have gone (bounded poll); the list still there after timeoutMs otherwise. */
  async rtpengineCallsGone(timeoutMs = 3000): Promise<string[]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const calls = await this.rtpengineCalls();
      if (calls.length === 0 || Date.now() >= end) return calls;
      await sleep(200);
    }
  }

  /** Everything useful when an assertion fails. */
  async diag(): Promise<string> {
    const tail = (s: string, n = 6000): string => (s.length > n ? `[…]${s.slice(-n)}` : s);
    const parts: string[] = [];
    if (this.serve) {
      // The server's own log lines (not the --trace of every message), e.g. why a request was not delivered.
      const lines = this.serve.output().stderr.split('\n').filter((l) => l.startsWith('switchboard:'));
      parts.push(`--- serve log (without the trace) ---\n${lines.slice(-40).join('\n')}`);
    }
    for (const ua of this.uas) parts.push(`--- baresip ${ua.user} (${ua.opts.where}, ${ua.address}) ---\n${tail(ua.log(), 3000)}\nevents: ${ua.events.map((e) => e.type).join(', ')}`);
    if (this.serve) parts.push(`--- serve ---\n${tail(this.serve.output().stderr + this.serve.output().stdout, 8000)}`);
    if (this.rtpengine) parts.push(`--- rtpengine ---\n${tail(this.rtpengine.output().stderr, 3000)}`);
    try {
      parts.push(`--- registrations ---\n${(await this.lab.http('public', `http://${ADMIN}/api/registrations`)).text}`);
    } catch (e) {
      parts.push(`--- registrations: ${(e as Error).message}`);
    }
    try {
      parts.push(await this.lab.describe());
    } catch {
      /* destroyed */
    }
    return parts.join('\n');
  }

  /** Phones first (they un-REGISTER), then serve, rtpengine, the lab. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    worlds.delete(this);
    await Promise.all(this.uas.map((u) => u.stop().catch(() => undefined)));
    await this.serve?.stop();
    await this.rtpengine?.stop(2000);
    await this.lab.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// A call between two phones

interface CallResult {
  caller: RtpStats;
  callee: RtpStats;
  /** Where each phone's first RTP came from (IP:PORT). */
  callerSources: string[];
  calleeSources: string[];
  /** rtpengine's calls while the call was up. */
  relayed: string[];
}

/** caller dials callee (auto-answer), both talk for talkMs, caller hangs up; the phones' own RTP counts. */
async function talk(w: World, caller: NetnsBaresip, callee: NetnsBaresip, talkMs = TALK_MS): Promise<CallResult> {
  const mc: Mark = caller.mark();
  const me: Mark = callee.mark();
  const fail = async (e: unknown): Promise<never> => {
    throw new Error(`${(e as Error).message}\n${await w.diag()}`);
  };
  try {
    await caller.command('dial', callee.aor);
    await callee.waitEvent('CALL_ESTABLISHED', { since: me.events, timeoutMs: 10_000 });
    await caller.waitEvent('CALL_ESTABLISHED', { since: mc.events, timeoutMs: 10_000 });
  } catch (e) {
    return fail(e);
  }
  await sleep(talkMs);
  const relayed = await w.rtpengineCalls();
  try {
    await caller.command('hangup');
    await caller.waitEvent('CALL_CLOSED', { since: mc.events, timeoutMs: 10_000 });
    await callee.waitEvent('CALL_CLOSED', { since: me.events, timeoutMs: 10_000 });
  } catch (e) {
    return fail(e);
  }
  return {
    caller: await caller.waitRtpStats(mc),
    callee: await callee.waitRtpStats(me),
    callerSources: caller.rtpSources(mc),
    calleeSources: callee.rtpSources(me),
    relayed,
  };
}

/** Audio both ways, through rtpengine (its address is where RTP came from), and no call left in it afterwards. */
async function assertRelayed(t: TestContext, w: World, r: CallResult, what: string): Promise<void> {
  const summary = `${what}: caller ${JSON.stringify(r.caller)} from ${r.callerSources.join(',') || '-'}, callee ${JSON.stringify(r.callee)} from ${r.calleeSources.join(',') || '-'}, rtpengine calls during the call ${JSON.stringify(r.relayed)}`;
  const ok =
    r.caller.rx >= MIN_PACKETS &&
    r.callee.rx >= MIN_PACKETS &&
    r.relayed.length > 0 &&
    r.callerSources.length > 0 &&
    r.calleeSources.length > 0 &&
    [...r.callerSources, ...r.calleeSources].every((s) => s.startsWith(`${SERVER}:`));
  t.diagnostic(summary);
  if (!ok) assert.fail(`${summary}\n${await w.diag()}`);
  const left = await w.rtpengineCallsGone();
  if (left.length > 0) assert.fail(`${what}: calls left in rtpengine after the hang-up (a leak): ${JSON.stringify(left)}\n${summary}\n${await w.diag()}`);
}

async function inWorld(o: WorldOptions, body: (w: World) => Promise<void>): Promise<void> {
  const w = await World.create(o);
  try {
    await body(w);
  } finally {
    await w.close();
  }
}

// ---------------------------------------------------------------------------------------------

test('UDP: alice and bob, each behind a NAT of their own, talk through rtpengine; nothing left in it afterwards', { skip, timeout: 60_000 }, async (t) => {
  await inWorld({ name: 'nat-media udp' }, async (w) => {
    const bob = await w.phone('phone2', 'bob');
    const alice = await w.phone('phone1', 'alice');
    const regs = (await w.lab.http('public', `http://${ADMIN}/api/registrations`)).text;
    assert.match(regs, /udp:203\.0\.113\.2:\d+;nat/, `alice registered from behind router 1: ${regs}`);
    assert.match(regs, /udp:203\.0\.113\.3:\d+;nat/, `bob registered from behind router 2: ${regs}`);
    await assertRelayed(t, w, await talk(w, alice, bob), 'alice → bob over UDP');
  });
});

test('TCP: the same call with both phones registered over TCP', { skip, timeout: 60_000 }, async (t) => {
  await inWorld({ name: 'nat-media tcp' }, async (w) => {
    const bob = await w.phone('phone2', 'bob', { transport: 'tcp' });
    const alice = await w.phone('phone1', 'alice', { transport: 'tcp' });
    const regs = (await w.lab.http('public', `http://${ADMIN}/api/registrations`)).text;
    assert.match(regs, /tcp:203\.0\.113\.3:\d+/, `bob registered over TCP from behind router 2: ${regs}`);
    await assertRelayed(t, w, await talk(w, alice, bob), 'alice → bob over TCP');
  });
});

test('keep-alives: with a 20 s UDP mapping timeout and 60 s of silence, a call still reaches bob', { skip, timeout: 110_000 }, async (t) => {
  await inWorld(
    {
      name: 'nat-media keepalive',
      udpTimeoutS: 20,
      lifetimeS: 105,
      config: (doc) => {
        const nat = (doc.nat ??= {}) as Record<string, unknown>;
        nat.keepalive = { ...(nat.keepalive as object | undefined), interval: 5 };
      },
    },
    async (w) => {
      if (w.lab.udpTimeoutS !== 20) {
        t.skip(w.lab.udpTimeoutUnsupported ?? 'the routers UDP timeout could not be set');
        return;
      }
      const bob = await w.phone('phone2', 'bob');
      const alice = await w.phone('phone1', 'alice');
      const mapping = async () =>
        (await w.lab.conntrack(false, w.lab.routerOf('phone2'))).find((e) => e.orig.src === bob.address && e.orig.sport === 5060 && e.orig.dst === SERVER && e.orig.dport === 5060);
      const first = await mapping();
      assert.ok(first && first.ttl <= 20, `bob's mapping with the 20 s timeout: ${first?.raw}\n${await w.lab.describe()}`);
      await sleep(60_000);
      const kept = await mapping();
      assert.ok(kept && kept.reply.dport === first.reply.dport, `bob's mapping is still there after 60 s (kept by the keep-alives): ${kept?.raw}\n${await w.diag()}`);
      await assertRelayed(t, w, await talk(w, alice, bob, 2000), 'alice → bob after 60 s idle');
    },
  );
});

test('a NATed phone and a public one: alice (behind a NAT) calls bob (203.0.113.11), then bob calls alice', { skip, timeout: 75_000 }, async (t) => {
  await inWorld({ name: 'nat-media public', publicHosts: 1 }, async (w) => {
    const bob = await w.phone('host1', 'bob');
    const alice = await w.phone('phone1', 'alice');
    await t.test('NATed → public', async (st) => {
      await assertRelayed(st, w, await talk(w, alice, bob), 'alice (NAT) → bob (public)');
    });
    await t.test('public → NATed', async (st) => {
      await assertRelayed(st, w, await talk(w, bob, alice), 'bob (public) → alice (NAT)');
    });
  });
});

test('the B2BUA role: alice calls bob through roles [registrar, b2bua], audio both ways through rtpengine', { skip, timeout: 60_000 }, async (t) => {
  await inWorld(
    {
      name: 'nat-media b2bua',
      config: (doc) => {
        doc.roles = ['registrar', 'b2bua'];
        doc.b2bua = { ...(doc.b2bua as object | undefined), target: 'location' };
      },
    },
    async (w) => {
      const bob = await w.phone('phone2', 'bob');
      const alice = await w.phone('phone1', 'alice');
      await assertRelayed(t, w, await talk(w, alice, bob), 'alice → bob through the B2BUA');
    },
  );
});

test('without the relay (media.relay: off) the same call has no audio on at least one side', { skip, timeout: 60_000 }, async (t) => {
  await inWorld(
    {
      name: 'nat-media off',
      config: (doc) => {
        doc.media = { ...(doc.media as object | undefined), relay: 'off' };
      },
    },
    async (w) => {
      const bob = await w.phone('phone2', 'bob');
      const alice = await w.phone('phone1', 'alice');
      const r = await talk(w, alice, bob);
      const summary = `caller ${JSON.stringify(r.caller)}, callee ${JSON.stringify(r.callee)}, rtpengine calls ${JSON.stringify(r.relayed)}`;
      t.diagnostic(summary);
      assert.ok(r.caller.tx >= MIN_PACKETS && r.callee.tx >= MIN_PACKETS, `both phones sent audio: ${summary}\n${await w.diag()}`);
      assert.deepEqual(r.relayed, [], `rtpengine was not asked: ${summary}`);
      assert.ok(Math.min(r.caller.rx, r.callee.rx) === 0, `a phone behind a NAT gets no audio without the relay: ${summary}\n${await w.diag()}`);
    },
  );
});
