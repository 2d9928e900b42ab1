// The proxy's media relay through a real rtpengine (Debian's rtpengine-daemon, userspace
// forwarding, on loopback ports of its own, stopped by PID), `media.relay: always` so that it
// applies on loopback: every SDP of the dialog is rewritten to rtpengine's address and ports —
// the offer in the INVITE, the answer in the 200, a re-INVITE's offer and answer, a delayed
// offer in the 200 and its answer in the ACK — RTP flows both ways through it (the CLI's
// `call --media` and `answer --media` count packets and say where they came from), and each way
// a call ends (BYE, 486, CANCEL) releases it: rtpengine's `list` is empty afterwards. An
// rtpengine that does not answer makes the INVITE 503 with a log line saying why; with two, a
// silent first one fails over to the second.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from '../../../src/app/server.js';
import { RtpengineClient } from '../../../src/media/index.js';
import { UserAgent } from '../../../src/roles/user-agent/index.js';
import type { SipRequest } from '../../../src/sip/index.js';
import { type Managed, freePort, runProcess, startProcess, stopAll } from '../../harness/processes.js';
import { until } from '../../harness/until.js';

const RTPENGINE = '/usr/bin/rtpengine';
const skip = existsSync(RTPENGINE) ? false : `${RTPENGINE} is not installed (Debian: apt-get install rtpengine-daemon)`;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const CLI = path.join(ROOT, 'dist/src/app/cli/main.js');

/** m=audio port and c= address of an SDP. */
function media(sdp: string): { address: string; port: number } {
  const c = /^c=IN IP4 (\S+)/m.exec(sdp);
  const m = /^m=audio (\d+)/m.exec(sdp);
  assert.ok(c && m, `no c=/m=audio in:\n${sdp}`);
  return { address: c[1]!, port: Number(m[1]) };
}


describe('the proxy relays media through rtpengine', { skip }, () => {
  let rtpengine: Managed | undefined;
  let ng = '';
  let ngClient: RtpengineClient;
  const portMin = 30000 + 200 * (process.pid % 100);
  const portMax = portMin + 99;
  const inRange = (port: number) => port >= portMin && port <= portMax;

  before(async () => {
    const ngPort = await freePort('udp');
    ng = `udp:127.0.0.1:${ngPort}`;
    rtpengine = await startProcess(
      RTPENGINE,
      ['--config-file=none', '--foreground', '--log-stderr', '--log-level=6', '--table=-1', '--interface=127.0.0.1', `--listen-ng=127.0.0.1:${ngPort}`, `--port-min=${portMin}`, `--port-max=${portMax}`],
      { readyPattern: /Startup complete/, timeoutMs: 10_000, maxLifetimeMs: 170_000 },
    );
    ngClient = new RtpengineClient({ targets: [ng], healthCheckIntervalMs: 0 });
    await ngClient.start();
  });

  after(async () => {
    await ngClient?.close();
    await rtpengine?.stop(2000);
    await stopAll();
  });

  /** rtpengine's calls now (none once every call has been released). */
  const calls = async () => (await ngClient.list({ limit: 100 })).calls;

  async function proxy(extra: Record<string, unknown> = {}) {
    const port = await freePort('udp');
    const lines: string[] = [];
    const server = await createServer(
      {
        listen: [`udp:127.0.0.1:${port}`], domains: ['127.0.0.1'], store: 'memory', roles: ['registrar', 'proxy'],
        registrar: { authenticate: false }, proxy: { authenticate: false },
        timers: { T1: 100, T2: 4000, T4: 5000 },
        media: { rtpengine: [ng], relay: 'always' },
        ...extra,
      },
      { log: (l) => lines.push(l) },
    );
    return { server, port, lines };
  }

  async function phones(port: number) {
    // Bob's trace: every request that reaches him, as bytes (the re-INVITE's and the ACK's SDP).
    const atBob: string[] = [];
    const mk = (u: string) =>
      UserAgent.start({
        listen: ['udp:127.0.0.1:0'], from: `sip:${u}@127.0.0.1`, outboundProxy: `sip:127.0.0.1:${port}`, timers: { T1: 100, T2: 4000, T4: 5000 },
        onTrace: u === 'bob' ? (ev) => void (ev.direction === 'Received' && atBob.push(ev.bytes.toString('utf8'))) : undefined,
      });
    const [alice, bob] = await Promise.all([mk('alice'), mk('bob')]);
    const bobSees: SipRequest[] = [];
    bob.on('invite', (inv) => bobSees.push(inv.request));
    assert.equal((await bob.register(`sip:127.0.0.1:${port}`, { aor: 'sip:bob@127.0.0.1', expires: 300 })).status, 200);
    /** The bodies of the requests of `method` bob received, in order. */
    const bodies = (method: string) => atBob.filter((t) => t.startsWith(`${method} `)).map((t) => t.slice(t.indexOf('\r\n\r\n') + 4));
    return { alice, bob, bobSees, bodies };
  }

  test('offer, answer, re-INVITE: each SDP names rtpengine; BYE releases the call', { timeout: 30_000 }, async () => {
    const { server, port, lines } = await proxy();
    const { alice, bob, bobSees, bodies } = await phones(port);
    try {
      bob.on('invite', (inv) => void inv.accept());
      const call = await alice.invite('sip:bob@127.0.0.1');
      assert.ok(call.established, `answered: ${call.finalResponse?.status}`);
      const offerAtBob = media(bobSees[0]!.body.toString());
      assert.equal(offerAtBob.address, '127.0.0.1');
      assert.ok(inRange(offerAtBob.port), `bob's offer names an rtpengine port (${offerAtBob.port} in ${portMin}–${portMax})`);
      const answerAtAlice = media(call.remoteSdp!);
      assert.ok(inRange(answerAtAlice.port), `alice's answer names an rtpengine port (${answerAtAlice.port})`);
      assert.notEqual(answerAtAlice.port, offerAtBob.port, 'one port per side');
      assert.deepEqual(await calls(), [call.invite!.callId], 'rtpengine has the call');
      assert.ok(lines.some((l) => l.includes(`media relay: ${call.invite!.callId}: through rtpengine ${ng} (relay: always)`)), lines.join('\n'));

      // Hold (a re-INVITE with a new offer): bob gets rtpengine's address, sendonly kept; alice's answer too.
      const res = await call.hold();
      assert.equal(res.status, 200);
      const held = bodies('INVITE')[1];
      assert.ok(held !== undefined, 'the re-INVITE reached bob');
      assert.ok(inRange(media(held).port), `the re-INVITE's offer names rtpengine (${media(held).port})`);
      assert.match(held, /a=sendonly/);
      assert.ok(inRange(media(call.remoteSdp!).port), `the re-INVITE's answer names rtpengine (${media(call.remoteSdp!).port})`);

      await call.bye();
      await until('rtpengine to release the call', async () => ((await calls()).length === 0 ? true : undefined), 3000);
    } finally {
      await Promise.all([alice.stop(), bob.stop()]);
      await server.stop();
    }
  });

  test('early media and UPDATE: the answer in the 183, the offer and answer of an UPDATE name rtpengine', { timeout: 30_000 }, async () => {
    const adminPort = await freePort('tcp');
    const { server, port } = await proxy({ admin: { listen: `127.0.0.1:${adminPort}` } });
    const { alice, bob, bodies } = await phones(port);
    try {
      bob.on('invite', (inv) => {
        inv.progress(183, bob.answerFor(inv.request.body.toString()));
        setTimeout(() => void inv.accept(), 200);
      });
      const early: string[] = [];
      const call = await alice.invite('sip:bob@127.0.0.1', { onCall: (c) => c.on('progress', (r) => void (r.status === 183 && early.push(r.body.toString()))) });
      assert.ok(call.established, `answered: ${call.finalResponse?.status}`);
      assert.equal(early.length, 1, 'the 183 came');
      assert.ok(inRange(media(early[0]!).port), `the 183's answer names rtpengine (${media(early[0]!).port})`);
      const update = await call.request('UPDATE', { body: alice.offer(), contentType: 'application/sdp' });
      assert.equal(update.status, 200);
      const atBob = bodies('UPDATE')[0];
      assert.ok(atBob !== undefined && inRange(media(atBob).port), `the UPDATE's offer names rtpengine (${atBob && media(atBob).port})`);
      assert.ok(inRange(media(update.body.toString()).port), `the UPDATE's answer names rtpengine (${media(update.body.toString()).port})`);
      await call.bye();
      await until('rtpengine to release the call', async () => ((await calls()).length === 0 ? true : undefined), 3000);
      // The operator's view: /metrics counts the ng commands, and the instance is up.
      const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
      const count = (cmd: string) => Number(new RegExp(`^media_relay_commands_total\\{command="${cmd}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
      // Offers: the INVITE's and the UPDATE's; answers: the 183's, the 200's, the UPDATE's 200's.
      assert.equal(count('offer'), 2, text);
      assert.equal(count('answer'), 3);
      assert.equal(count('delete'), 1);
      assert.match(text, new RegExp(`^media_relay_instance_up\\{target="${ng}"\\} 1$`, 'm'));
    } finally {
      await Promise.all([alice.stop(), bob.stop()]);
      await server.stop();
    }
  });

  test('delayed offer: the 200 carries the offer and the ACK the answer, both rewritten', { timeout: 30_000 }, async () => {
    const { server, port } = await proxy();
    const { alice, bob, bodies } = await phones(port);
    try {
      bob.on('invite', (inv) => void inv.accept());
      const call = await alice.invite('sip:bob@127.0.0.1', { sdp: null });
      assert.ok(call.established, `answered: ${call.finalResponse?.status}`);
      const offerAtAlice = media(call.remoteSdp!);
      assert.ok(inRange(offerAtAlice.port), `the offer in the 200 names rtpengine (${offerAtAlice.port})`);
      const answerAtBob = await until("alice's answer at bob (in the ACK)", () => bodies('ACK').find((b) => b.length > 0), 3000);
      assert.ok(inRange(media(answerAtBob).port), `the answer in the ACK names rtpengine (${media(answerAtBob).port})`);
      await call.bye();
      await until('rtpengine to release the call', async () => ((await calls()).length === 0 ? true : undefined), 3000);
    } finally {
      await Promise.all([alice.stop(), bob.stop()]);
      await server.stop();
    }
  });

  test('a call that fails (486) or is cancelled releases its relay', { timeout: 30_000 }, async () => {
    const { server, port, lines } = await proxy();
    const { alice, bob } = await phones(port);
    try {
      let mode: 'busy' | 'ring' = 'busy';
      bob.on('invite', (inv) => (mode === 'busy' ? inv.reject(486) : inv.progress(180)));
      const busy = await alice.invite('sip:bob@127.0.0.1');
      assert.equal(busy.finalResponse?.status, 486);
      await until('the relay of the busy call released', async () => ((await calls()).length === 0 ? true : undefined), 3000);
      assert.ok(lines.some((l) => l.includes(`media relay: ${busy.invite!.callId}: through rtpengine`)));

      mode = 'ring';
      const ringing = alice.invite('sip:bob@127.0.0.1', {
        onCall: (c) => c.once('progress', () => void c.cancel()),
      });
      const cancelled = await ringing;
      assert.equal(cancelled.finalResponse?.status, 487);
      await until('the relay of the cancelled call released', async () => ((await calls()).length === 0 ? true : undefined), 3000);
    } finally {
      await Promise.all([alice.stop(), bob.stop()]);
      await server.stop();
    }
  });

  test('RTP flows both ways through rtpengine (switchboard call/answer --media)', { timeout: 40_000 }, async () => {
    const uasPort = await freePort('udp');
    const { server: s2, port: p2 } = await proxy({ proxy: { authenticate: false, defaultRoute: `sip:127.0.0.1:${uasPort}` } });
    const uas = await startProcess(process.execPath, [CLI, 'answer', '--listen', `udp:127.0.0.1:${uasPort}`, '--media'], { readyPattern: /listening on/, timeoutMs: 10_000, maxLifetimeMs: 35_000 });
    try {
      const uac = await runProcess(process.execPath, [CLI, 'call', 'sip:bob@127.0.0.1', '--proxy', `sip:127.0.0.1:${p2}`, '--duration', '2', '--media'], { timeoutMs: 25_000 });
      assert.equal(uac.code, 0, uac.stdout + uac.stderr);
      const mine = /RTP PCMU: sent (\d+) packets, received (\d+) .* from 127\.0\.0\.1:(\d+)\)/.exec(uac.stdout);
      assert.ok(mine, uac.stdout);
      assert.ok(Number(mine[2]) > 50, `the caller received the callee's RTP (${mine[2]} packets)`);
      assert.ok(inRange(Number(mine[3])), `…from rtpengine (${mine[3]})`);
      const theirs = await until("the callee's RTP counts", () => /RTP PCMU: sent (\d+) packets, received (\d+) .* from 127\.0\.0\.1:(\d+)\)/.exec(uas.output().stdout) ?? undefined, 5000);
      assert.ok(Number(theirs[2]) > 50, `the callee received the caller's RTP (${theirs[2]} packets)`);
      assert.ok(inRange(Number(theirs[3])), `…from rtpengine (${theirs[3]})`);
      await until('rtpengine to release the call', async () => ((await calls()).length === 0 ? true : undefined), 3000);
    } finally {
      await uas.stop();
      await s2.stop();
    }
  });

  for (const offer of ['delayed', 'forward'] as const) {
    test(`the B2BUA (${offer} offer): each leg gets rtpengine's address, RTP flows both ways through it, the end releases it`, { timeout: 40_000 }, async () => {
      const uasPort = await freePort('udp');
      const { server, port, lines } = await proxy({ roles: ['b2bua'], b2bua: { target: `sip:{user}@127.0.0.1:${uasPort}`, offer } });
      const uas = await startProcess(process.execPath, [CLI, 'answer', '--listen', `udp:127.0.0.1:${uasPort}`, '--media', '--trace'], { readyPattern: /listening on/, timeoutMs: 10_000, maxLifetimeMs: 35_000 });
      try {
        const uac = await runProcess(process.execPath, [CLI, 'call', 'sip:bob@127.0.0.1', '--proxy', `sip:127.0.0.1:${port}`, '--duration', '2', '--media'], { timeoutMs: 25_000 });
        assert.equal(uac.code, 0, uac.stdout + uac.stderr + lines.join('\n'));
        const mine = /RTP PCMU: sent (\d+) packets, received (\d+) .* from 127\.0\.0\.1:(\d+)\)/.exec(uac.stdout);
        assert.ok(mine, uac.stdout);
        assert.ok(Number(mine[2]) > 50 && inRange(Number(mine[3])), `the caller received ${mine[2]} packets from ${mine[3]} (rtpengine: ${portMin}–${portMax})`);
        const theirs = await until("the callee's RTP counts", () => /RTP PCMU: sent (\d+) packets, received (\d+) .* from 127\.0\.0\.1:(\d+)\)/.exec(uas.output().stdout) ?? undefined, 5000);
        assert.ok(Number(theirs[2]) > 50 && inRange(Number(theirs[3])), `the callee received ${theirs[2]} packets from ${theirs[3]}`);
        assert.ok(lines.some((l) => /b2bua: .*: media relay: through rtpengine .* \(relay: always\)/.test(l)), lines.join('\n'));
        await until('rtpengine to release the call', async () => ((await calls()).length === 0 ? true : undefined), 3000);
      } finally {
        await uas.stop();
        await server.stop();
      }
    });
  }

  test('no rtpengine answers: 503 with a log line; a silent first rtpengine fails over to the second', { timeout: 30_000 }, async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    const dead = `udp:127.0.0.1:${silent.address().port}`;
    try {
      const { server, port, lines } = await proxy({ media: { rtpengine: [dead], relay: 'always', timeout: 100, retries: 1 } });
      const { alice, bob } = await phones(port);
      try {
        bob.on('invite', (inv) => void inv.accept());
        const call = await alice.invite('sip:bob@127.0.0.1');
        assert.equal(call.finalResponse?.status, 503);
        assert.equal(call.finalResponse?.reason, 'Media Relay Unavailable');
        await until('the log line', () => lines.find((l) => l.includes(`media relay: ${call.invite!.callId}: rtpengine offer failed`)), 2000);
      } finally {
        await Promise.all([alice.stop(), bob.stop()]);
        await server.stop();
      }

      // The B2BUA too: 503 to leg A, and leg B is never sent.
      const b2b = await proxy({ roles: ['registrar', 'b2bua'], b2bua: { target: 'location' }, media: { rtpengine: [dead], relay: 'always', timeout: 100, retries: 1 } });
      const q = await phones(b2b.port);
      try {
        q.bob.on('invite', (inv) => void inv.accept());
        const call = await q.alice.invite('sip:bob@127.0.0.1');
        assert.equal(call.finalResponse?.status, 503);
        assert.equal(call.finalResponse?.reason, 'Media Relay Unavailable');
        assert.equal(q.bobSees.length, 0, 'leg B was not sent');
        await until('the B2BUA log line', () => b2b.lines.find((l) => /b2bua: .*: media relay: rtpengine offer failed .*: 503 to leg A/.test(l)), 2000);
      } finally {
        await Promise.all([q.alice.stop(), q.bob.stop()]);
        await b2b.server.stop();
      }

      const two = await proxy({ media: { rtpengine: [dead, ng], relay: 'always', timeout: 100, retries: 1 } });
      const p = await phones(two.port);
      try {
        p.bob.on('invite', (inv) => void inv.accept());
        const call = await p.alice.invite('sip:bob@127.0.0.1');
        assert.ok(call.established, `answered through the second rtpengine: ${call.finalResponse?.status}`);
        assert.ok(inRange(media(p.bobSees[0]!.body.toString()).port));
        assert.ok(two.lines.some((l) => l.includes(`through rtpengine ${ng}`)), two.lines.join('\n'));
        await call.bye();
        await until('rtpengine to release the call', async () => ((await calls()).length === 0 ? true : undefined), 3000);
      } finally {
        await Promise.all([p.alice.stop(), p.bob.stop()]);
        await two.server.stop();
      }
    } finally {
      silent.close();
    }
  });
});
