// The rtpengine ng client (issue 18, media relay for phones behind NAT) against a real
// rtpengine (Debian's rtpengine-daemon, userspace forwarding, started here on loopback ports
// and stopped by its PID), and against UDP sockets standing in for an instance that is silent,
// slow, or answers late.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { freePort, startProcess, type Managed } from '../../test/harness/processes.js';
import { MediaRelayError, type NgReplyValue, RtpengineClient, isWellFormedBencode, parseRtpengineTarget } from './rtpengine.js';
import { decodeRtp, encodeRtp } from './rtp.js';

const RTPENGINE = '/usr/bin/rtpengine';
const skip = existsSync(RTPENGINE) ? false : `${RTPENGINE} is not installed (Debian: apt-get install rtpengine-daemon)`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function udpSocket(host = '127.0.0.1'): Promise<dgram.Socket> {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  return s;
}

function closeAll(...sockets: dgram.Socket[]): Promise<void> {
  return Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => undefined);
}

/** A plain audio SDP (RFC 4566) as a phone sends it: PCMU, PCMA, telephone-event. */
function phoneSdp(address: string, port: number): string {
  return [
    'v=0', `o=- 1 1 IN IP4 ${address}`, 's=-', `c=IN IP4 ${address}`, 't=0 0',
    `m=audio ${port} RTP/AVP 0 8 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', 'a=sendrecv', '',
  ].join('\r\n');
}

function mediaOf(sdp: string): { address: string; port: number } {
  const c = /^c=IN IP4 (\S+)\r?$/m.exec(sdp);
  const m = /^m=audio (\d+) /m.exec(sdp);
  assert.ok(c && m, `no c=/m=audio in\n${sdp}`);
  return { address: c[1]!, port: Number(m[1]) };
}

function rtp(seq: number): Buffer {
  return encodeRtp({ payloadType: 0, marker: seq === 0, sequence: seq, timestamp: seq * 160, ssrc: 0x5eed, payload: Buffer.alloc(160, seq) });
}

/** Collects the datagrams `s` receives. */
function collect(s: dgram.Socket): { seq: number; from: number }[] {
  const got: { seq: number; from: number }[] = [];
  s.on('message', (b, r) => {
    const p = decodeRtp(b);
    if (p) got.push({ seq: p.sequence, from: r.port });
  });
  return got;
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await sleep(10);
  }
}

let callSeq = 0;
const newCall = () => ({ callId: `rtpe-test-${process.pid}-${Date.now()}-${++callSeq}@switchboard`, fromTag: `ft${callSeq}`, toTag: `tt${callSeq}` });

/**
 * A stand-in instance: `answer(msg)` returns the reply body for a request (or undefined to stay
 * silent); the reply carries the request's cookie.
 */
async function fakeInstance(answer: (body: Buffer, n: number) => string | undefined, host = '127.0.0.1') {
  const s = await udpSocket(host);
  const seen: Buffer[] = [];
  s.on('message', (msg, r) => {
    seen.push(msg);
    const sp = msg.indexOf(0x20);
    const body = answer(msg.subarray(sp + 1), seen.length);
    if (body !== undefined) s.send(Buffer.concat([msg.subarray(0, sp + 1), Buffer.from(body)]), r.port, r.address);
  });
  const port = s.address().port;
  return { socket: s, seen, target: host.includes(':') ? `udp:[${host}]:${port}` : `udp:${host}:${port}` };
}

/** A UDP port nothing listens on (bound, read, closed). */
async function deadTarget(): Promise<string> {
  return `udp:127.0.0.1:${await freePort('udp')}`;
}

// ---------------------------------------------------------------------------------------------

test('targets: udp:IPv4:port and udp:[IPv6]:port; anything else is RTPENGINE_ERR_TARGET', () => {
  assert.deepEqual(parseRtpengineTarget('udp:127.0.0.1:2223'), { text: 'udp:127.0.0.1:2223', address: '127.0.0.1', port: 2223, family: 4 });
  // Normalised the way Node reports a datagram's source, so the reply is recognised.
  assert.deepEqual(parseRtpengineTarget('udp:[0:0::0001]:2223'), { text: 'udp:[0:0::0001]:2223', address: '::1', port: 2223, family: 6 });
  for (const bad of ['127.0.0.1:2223', 'tcp:127.0.0.1:2223', 'udp:::1:2223', 'udp:[127.0.0.1]:2223', 'udp:rtpengine.local:2223', 'udp:127.0.0.1:0', 'udp:127.0.0.1:70000', 'udp:127.0.0.1']) {
    assert.throws(() => parseRtpengineTarget(bad), (e: unknown) => e instanceof MediaRelayError && e.code === 'RTPENGINE_ERR_TARGET', bad);
  }
  assert.throws(() => new RtpengineClient({ targets: [] }), { code: 'RTPENGINE_ERR_TARGET' });
});

test('bencode replies are checked before decoding: a negative length (which loops `bencode.decode` forever) is refused', () => {
  for (const ok of ['d6:result4:ponge', 'd3:sdp0:1:ali-3ei0ed1:xleeee', 'de', 'i42e']) assert.equal(isWellFormedBencode(Buffer.from(ok)), true, ok);
  for (const bad of ['d1:a-6:', 'd1:ae', 'di1ei2ee', 'd3:abe', '5:abc', 'i-e', 'ie', 'd6:result4:ponge ', 'l'.repeat(65) + 'e'.repeat(65), '']) {
    assert.equal(isWellFormedBencode(Buffer.from(bad)), false, JSON.stringify(bad));
  }
});

test('a request before start() or after close() is RTPENGINE_ERR_CLOSED', async () => {
  const c = new RtpengineClient({ targets: ['udp:127.0.0.1:9'], healthCheckIntervalMs: 0 });
  await assert.rejects(c.request('ping'), { code: 'RTPENGINE_ERR_CLOSED' });
  await c.start();
  const pending = c.request('ping');
  await c.close();
  await assert.rejects(pending, { code: 'RTPENGINE_ERR_CLOSED' });
});

test('retransmission: the first datagram is lost, the second (same bytes, same cookie) is answered; a reply with an unknown cookie is ignored', async () => {
  const fake = await fakeInstance((_body, n) => (n === 1 ? undefined : 'd6:result4:ponge'));
  // Before the real answer, a reply to nobody: ignored, counted as a stray.
  fake.socket.once('message', (_m, r) => fake.socket.send(Buffer.from('0123456789abcdef d6:result4:ponge'), r.port, r.address));
  const c = new RtpengineClient({ targets: [fake.target], timeoutMs: 100, retries: 2, healthCheckIntervalMs: 0 });
  await c.start();
  try {
    const t0 = Date.now();
    assert.deepEqual(await c.request('ping'), { result: 'pong' });
    assert.ok(Date.now() - t0 >= 90, 'answered after one timeout');
    assert.equal(fake.seen.length, 2);
    assert.deepEqual(fake.seen[1], fake.seen[0], 'the retransmission is the same datagram, cookie included');
    assert.match(fake.seen[0]!.toString(), /^[0-9a-f]{16} d7:command4:pinge$/);
    assert.equal(c.stats.retransmissions, 1);
    assert.equal(c.stats.failovers, 0);
    assert.equal(c.stats.strays, 1);
  } finally {
    await c.close();
    await closeAll(fake.socket);
  }
});

test('IPv6 target: replies from [::1] match a target written in another form', async () => {
  const fake = await fakeInstance(() => 'd6:result4:ponge', '::1');
  const target = fake.target.replace('[::1]', '[0:0:0::1]');
  const c = new RtpengineClient({ targets: [target], timeoutMs: 100, retries: 0, healthCheckIntervalMs: 0 });
  await c.start();
  try {
    const [r] = await c.ping();
    assert.equal(r!.up, true, r!.error?.message);
    assert.equal(r!.target, target);
  } finally {
    await c.close();
    await closeAll(fake.socket);
  }
});

test('timeout: every instance silent → RTPENGINE_ERR_TIMEOUT after (retries+1)·timeoutMs per instance', async () => {
  const targets = [await deadTarget(), await deadTarget()];
  const timeoutMs = 100;
  const retries = 1;
  const c = new RtpengineClient({ targets, timeoutMs, retries, healthCheckIntervalMs: 0 });
  await c.start();
  try {
    const t0 = Date.now();
    const err = await c.offer({ ...newCall(), sdp: phoneSdp('10.1.2.3', 4000) }).catch((e: unknown) => e);
    const elapsed = Date.now() - t0;
    assert.ok(err instanceof MediaRelayError && err.code === 'RTPENGINE_ERR_TIMEOUT', String(err));
    assert.match(err.message, /no reply from/);
    const bound = (retries + 1) * timeoutMs * targets.length;
    assert.ok(elapsed >= bound - 20 && elapsed <= bound + 300, `gave up after ${elapsed} ms (bound ${bound} ms)`);
    assert.deepEqual(c.stats, { requests: 1, retransmissions: 2, failovers: 1, errors: 0, timeouts: 1, strays: 0 });
    assert.deepEqual(c.instances().map((i) => i.up), [false, false]);
  } finally {
    await c.close();
  }
});

describe('against a real rtpengine', { skip }, () => {
  let proc: Managed | undefined;
  let target = '';
  const portMin = 20000 + 200 * (process.pid % 100); // a range of our own; rtpengine skips ports in use
  const portMax = portMin + 99;

  before(async () => {
    const ngPort = await freePort('udp');
    target = `udp:127.0.0.1:${ngPort}`;
    proc = await startProcess(
      RTPENGINE,
      [
        '--config-file=none', // not Debian's /etc/rtpengine/rtpengine.conf (kernel table 0, fixed HTTP/CLI ports)
        '--foreground', '--log-stderr', '--log-level=6', '--table=-1', // userspace forwarding, no kernel module
        '--interface=127.0.0.1', `--listen-ng=127.0.0.1:${ngPort}`, `--port-min=${portMin}`, `--port-max=${portMax}`,
      ],
      { readyPattern: /Startup complete/, timeoutMs: 10_000, maxLifetimeMs: 60_000 },
    );
  });

  after(async () => {
    await proc?.stop(2000); // SIGTERM by PID, SIGKILL after 2 s
  });

  test('ping → pong; the instance is up', async () => {
    const c = new RtpengineClient({ targets: [target], healthCheckIntervalMs: 0 });
    await c.start();
    try {
      assert.deepEqual(await c.request('ping'), { result: 'pong' });
      const [r] = await c.ping();
      assert.equal(r!.up, true, r!.error?.message);
      assert.ok(r!.rttMs! >= 0 && r!.rttMs! < 500);
    } finally {
      await c.close();
    }
  });

  test('offer, answer, query, list, delete: SDP rewritten to rtpengine ports; a second fatal delete is its error', async () => {
    const c = new RtpengineClient({ targets: [target], healthCheckIntervalMs: 0 });
    await c.start();
    const call = newCall();
    try {
      const offer = await c.offer({ ...call, sdp: phoneSdp('10.1.2.3', 4000), replace: ['origin', 'session-connection'] });
      assert.equal(offer.result, 'ok');
      const toCallee = mediaOf(offer.sdp);
      assert.equal(toCallee.address, '127.0.0.1');
      assert.ok(toCallee.port >= portMin && toCallee.port <= portMax, `offer port ${toCallee.port} in ${portMin}-${portMax}`);
      assert.match(offer.sdp, /^o=- 1 1 IN IP4 127\.0\.0\.1\r$/m, 'replace origin');
      assert.match(offer.sdp, /^a=rtpmap:101 telephone-event\/8000\r$/m, 'codecs passed on');
      assert.doesNotMatch(offer.sdp, /10\.1\.2\.3/);
      assert.equal(c.instanceOf(call.callId), target);

      const answer = await c.answer({ ...call, sdp: phoneSdp('10.4.5.6', 5000), replace: ['origin', 'session-connection'] });
      const toCaller = mediaOf(answer.sdp);
      assert.equal(toCaller.address, '127.0.0.1');
      assert.ok(toCaller.port >= portMin && toCaller.port <= portMax && toCaller.port !== toCallee.port, `answer port ${toCaller.port}`);
      assert.doesNotMatch(answer.sdp, /10\.4\.5\.6/);

      const q = await c.query({ callId: call.callId });
      const tags = q['tags'] as Record<string, NgReplyValue>;
      assert.ok(tags[call.fromTag] && tags[call.toTag], `tags ${Object.keys(tags).join(', ')}`);
      const advertised = JSON.stringify(q).match(/"advertised endpoint":\{[^}]*\}/g) ?? [];
      assert.ok(advertised.some((e) => e.includes('"10.1.2.3"') && e.includes('"port":4000')), `caller's endpoint known: ${advertised.join(' ')}`);
      assert.ok(advertised.some((e) => e.includes('"10.4.5.6"') && e.includes('"port":5000')), "callee's endpoint known");

      assert.ok((await c.list({ limit: 1000 })).calls.includes(call.callId));

      const del = await c.delete({ callId: call.callId, fromTag: call.fromTag, deleteDelay: 0 });
      assert.equal(del.result, 'ok');
      assert.equal(c.instanceOf(call.callId), undefined, 'stickiness forgotten');
      assert.ok(!(await c.list({ limit: 1000 })).calls.includes(call.callId), 'gone from list');

      // Without `fatal`, rtpengine only warns about an unknown call; with it, an error.
      assert.match((await c.delete({ callId: call.callId, fromTag: call.fromTag })).warning ?? '', /not found/i);
      const err = await c.delete({ callId: call.callId, fromTag: call.fromTag, fatal: true }).catch((e: unknown) => e);
      assert.ok(err instanceof MediaRelayError && err.code === 'RTPENGINE_ERR_ERROR', String(err));
      assert.match(err.reason ?? '', /Call-ID not found/);
      assert.ok(err.message.includes(err.reason!));
      await assert.rejects(c.query({ callId: call.callId }), { code: 'RTPENGINE_ERR_ERROR' });
      assert.equal(c.stats.errors, 2);
    } finally {
      await c.delete({ callId: call.callId, deleteDelay: 0 }).catch(() => undefined);
      await c.close();
    }
  });

  test('RTP is relayed both ways between the addresses of the two SDPs, through the ports rtpengine gave', async () => {
    const c = new RtpengineClient({ targets: [target], healthCheckIntervalMs: 0 });
    await c.start();
    const caller = await udpSocket();
    const callee = await udpSocket();
    const call = newCall();
    try {
      const atCaller = collect(caller);
      const atCallee = collect(callee);
      // No flags: rtpengine trusts the SDP addresses (trust-address is its default) and sends
      // each side's media to the c=/m= of that side's SDP.
      const offer = await c.offer({ ...call, sdp: phoneSdp('127.0.0.1', caller.address().port) });
      const answer = await c.answer({ ...call, sdp: phoneSdp('127.0.0.1', callee.address().port) });
      const callerSends = mediaOf(answer.sdp); // the answer as rewritten goes to the caller
      const calleeSends = mediaOf(offer.sdp); // the offer as rewritten goes to the callee
      for (let seq = 0; seq < 5; seq++) {
        callee.send(rtp(seq), calleeSends.port, calleeSends.address);
        caller.send(rtp(100 + seq), callerSends.port, callerSends.address);
        await sleep(20);
      }
      await until(() => atCaller.length === 5 && atCallee.length === 5, 2000, `5 packets each way (caller got ${atCaller.length}, callee ${atCallee.length})`);
      assert.deepEqual(atCaller.map((p) => p.seq), [0, 1, 2, 3, 4]);
      assert.deepEqual(atCallee.map((p) => p.seq), [100, 101, 102, 103, 104]);
      // Symmetric RTP: each side hears from the port it sends to.
      assert.ok(atCaller.every((p) => p.from === callerSends.port));
      assert.ok(atCallee.every((p) => p.from === calleeSends.port));
    } finally {
      await c.delete({ callId: call.callId, deleteDelay: 0 }).catch(() => undefined);
      await c.close();
      await closeAll(caller, callee);
    }
  });

  test('behind NAT: the SDP names a port nobody listens on; rtpengine sends to where the phone speaks from (not with asymmetric)', async () => {
    const c = new RtpengineClient({ targets: [target], healthCheckIntervalMs: 0 });
    await c.start();
    /** Packets the caller gets back after speaking first, with these options in offer and answer. */
    const run = async (opts: { flags?: string[] }) => {
      const caller = await udpSocket();
      const callee = await udpSocket();
      const call = newCall();
      try {
        const atCaller = collect(caller);
        const atCallee = collect(callee);
        // The caller's SDP advertises its private port; the NAT maps it to caller's real port.
        const offer = await c.offer({ ...call, sdp: phoneSdp('127.0.0.1', await freePort('udp')), ...opts });
        const answer = await c.answer({ ...call, sdp: phoneSdp('127.0.0.1', callee.address().port), ...opts });
        caller.send(rtp(100), mediaOf(answer.sdp).port, '127.0.0.1'); // the phone speaks first
        await until(() => atCallee.length === 1, 2000, 'caller → callee');
        for (let seq = 0; seq < 3; seq++) callee.send(rtp(seq), mediaOf(offer.sdp).port, '127.0.0.1');
        await sleep(300);
        return atCaller.length;
      } finally {
        await c.delete({ callId: call.callId, deleteDelay: 0 }).catch(() => undefined);
        await closeAll(caller, callee);
      }
    };
    try {
      // rtpengine's default (symmetric RTP, --endpoint-learning=delayed): during the 3 s after
      // signalling it sends to the latest source seen, then commits to it (media_socket.c).
      assert.equal(await run({}), 3, 'learned: the caller hears the callee through its NAT');
      assert.equal(await run({ flags: ['asymmetric'] }), 0, 'asymmetric: no learning, sent to the SDP port');
    } finally {
      await c.close();
    }
  });

  test('failover: a silent first instance → the second serves the call, which then stays there; the silent one is skipped until a ping succeeds', async () => {
    let alive = false;
    // The first instance: silent until `alive`, then answers pings, and any other command with an SDP.
    const first = await fakeInstance((body) => (!alive ? undefined : body.includes('4:ping') ? 'd6:result4:ponge' : 'd3:sdp4:v=0\n6:result2:oke'));
    const states: string[] = [];
    const c = new RtpengineClient({ targets: [first.target, target], timeoutMs: 100, retries: 1, healthCheckIntervalMs: 200, onInstanceState: (t, up) => states.push(`${t === target ? 'real' : 'first'} ${up ? 'up' : 'down'}`) });
    await c.start();
    const call = newCall();
    const call2 = newCall();
    try {
      const offer = await c.offer({ ...call, sdp: phoneSdp('10.1.2.3', 4000) });
      assert.equal(mediaOf(offer.sdp).address, '127.0.0.1');
      assert.ok(c.stats.failovers >= 1);
      assert.equal(c.stats.retransmissions, 1);
      assert.equal(c.instanceOf(call.callId), target, 'the call sticks to the instance that served it');
      assert.deepEqual(c.instances(), [{ target: first.target, up: false }, { target, up: true }]);
      const sent = first.seen.length;

      // The call's answer, and a new call, go straight to the real instance.
      const before = { ...c.stats };
      await c.answer({ ...call, sdp: phoneSdp('10.4.5.6', 5000) });
      await c.offer({ ...call2, sdp: phoneSdp('10.1.2.7', 4002) });
      assert.equal(c.instanceOf(call2.callId), target);
      assert.equal(c.stats.failovers, before.failovers);
      assert.equal(c.stats.retransmissions, before.retransmissions);
      assert.ok(first.seen.slice(sent).every((m) => m.includes('ping')), 'only pings went to the silent one');

      // Once it answers the health check's ping it is taken for new calls again.
      alive = true;
      await until(() => c.instances()[0]!.up, 2000, 'first instance up again');
      const call3 = newCall();
      await c.offer({ ...call3, sdp: phoneSdp('10.1.2.8', 4004) });
      assert.equal(c.instanceOf(call3.callId), first.target);
      assert.equal(c.instanceOf(call.callId), target, 'existing calls stay');
      assert.deepEqual(states, ['first down', 'first up']);
    } finally {
      for (const k of [call, call2]) await c.delete({ callId: k.callId, deleteDelay: 0 }).catch(() => undefined);
      await c.close();
      await closeAll(first.socket);
    }
  });
});
