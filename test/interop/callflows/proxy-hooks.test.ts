// The proxy's routing blocks for an embedding program (issue 13): createServer(config,
// { proxyHooks }) with request, branch, reply and failure hooks, driven by real user agents over
// loopback UDP: a number blocked by the request hook, a header added by the branch hook, the
// replies seen by the reply hook, and a busy callee sent to voicemail by the failure hook.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ProxyHooks, type RunningServer } from '../../../src/index.js';
import { UserAgent } from '../../../src/roles/user-agent/index.js';
import { freePorts } from './callflow-harness.js';

const stops: Array<() => Promise<void>> = [];
after(async () => {
  for (const s of stops.reverse()) await s();
});

async function ua(port: number, user: string): Promise<UserAgent> {
  const u = await UserAgent.start({ listen: [`udp:127.0.0.1:${port}`], from: `sip:${user}@127.0.0.1`, timers: { T1: 100 } });
  stops.push(() => u.stop());
  return u;
}

test('request, branch, reply and failure hooks around the §16 proxy', { timeout: 60_000 }, async () => {
  const [proxyPort, bobPort, vmPort, alicePort] = (await freePorts(4)) as [number, number, number, number];
  const replies: number[] = [];
  const faults: string[] = [];
  const hooks: ProxyHooks = {
    request: (req) => (req.uri.kind === 'sip' && req.uri.user === '999' ? { kind: 'respond', status: 403, reason: 'Blocked By Hook' } : undefined),
    branch: ({ index }) => [['X-Branch-Hook', `branch-${index}`]],
    reply: (res) => void replies.push(res.status),
    failure: (_req, best) => (best.status === 486 ? { kind: 'forward', targets: [{ uri: `sip:voicemail@127.0.0.1:${vmPort}` }] } : undefined),
  };
  const server: RunningServer = await createServer(
    { listen: [`udp:127.0.0.1:${proxyPort}`], domains: ['127.0.0.1'], store: 'memory', registrar: { authenticate: false }, proxy: { authenticate: false } },
    { proxyHooks: hooks, log: (l) => faults.push(l) },
  );
  stops.push(() => server.stop());

  const bob = await ua(bobPort, 'bob');
  bob.on('invite', (inv) => inv.reject(486));
  assert.equal((await bob.register(`sip:127.0.0.1:${proxyPort}`, { aor: 'sip:bob@127.0.0.1' })).status, 200);
  const voicemail = await ua(vmPort, 'voicemail');
  let seenHeader: string | undefined;
  voicemail.on('invite', (inv) => {
    seenHeader = inv.request.header('X-Branch-Hook');
    inv.accept();
  });
  const alice = await UserAgent.start({ listen: [`udp:127.0.0.1:${alicePort}`], from: 'sip:alice@127.0.0.1', outboundProxy: `sip:127.0.0.1:${proxyPort}`, timers: { T1: 100 } });
  stops.push(() => alice.stop());

  // request hook: answered without target determination.
  const blocked = await alice.invite('sip:999@127.0.0.1');
  assert.equal(blocked.finalResponse?.status, 403);
  assert.equal(blocked.finalResponse?.reason, 'Blocked By Hook');

  // Bob is busy; the failure hook starts a second round to voicemail, which answers.
  const call = await alice.invite('sip:bob@127.0.0.1');
  assert.equal(call.established, true, `final ${call.finalResponse?.status}`);
  assert.ok(replies.includes(486), `replies seen: ${replies.join(' ')}`);
  assert.ok(replies.includes(200), `replies seen: ${replies.join(' ')}`);
  assert.match(seenHeader ?? '', /^branch-\d+$/, 'the branch hook added its header to the copy voicemail got');
  await call.bye();
  assert.deepEqual(faults.filter((l) => /fault/.test(l)), []);
});

test('a hook that throws is a fault: logged and counted, and the proxy goes on as without it', { timeout: 30_000 }, async () => {
  const [proxyPort, alicePort] = (await freePorts(2)) as [number, number];
  const lines: string[] = [];
  const server = await createServer(
    { listen: [`udp:127.0.0.1:${proxyPort}`], domains: ['127.0.0.1'], store: 'memory', registrar: { authenticate: false }, proxy: { authenticate: false } },
    { proxyHooks: { request: () => { throw new TypeError('hook bug'); } }, log: (l) => lines.push(l) },
  );
  stops.push(() => server.stop());
  const alice = await UserAgent.start({ listen: [`udp:127.0.0.1:${alicePort}`], from: 'sip:alice@127.0.0.1', outboundProxy: `sip:127.0.0.1:${proxyPort}`, timers: { T1: 100 } });
  stops.push(() => alice.stop());
  const r = await alice.invite('sip:nobody@127.0.0.1');
  assert.equal(r.finalResponse?.status, 404, 'the policy decided: nobody is registered');
  assert.equal(server.transport.stats.faults, 1);
  assert.match(lines.join('\n'), /fault in proxy request hook from udp:127\.0\.0\.1:\d+ Call-ID "[^"]+" \(INVITE\): TypeError: hook bug/);
});
