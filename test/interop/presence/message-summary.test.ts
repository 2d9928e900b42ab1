// The message-summary package (RFC 3842, voicemail lamps) on the presence role's machinery: a
// watcher of Bob's account gets `application/simple-message-summary` (read with
// parseMessageSummary): no messages until the voicemail server (presence.messageSummaryPublishers)
// PUBLISHes some, then yes with the counts, and no again when it removes its publication. Anyone
// else publishing Bob's lamp is refused 403; a body that is no summary 400.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from '../../../src/app/server.js';
import { buildMessageSummary, parseMessageSummary } from '../../../src/content/index.js';
import { UserAgent } from '../../../src/roles/user-agent/index.js';
import type { SubscriptionNotify } from '../../../src/usage/index.js';
import { freePorts } from '../callflows/callflow-harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('message-summary: no messages, then what the voicemail server publishes, then none again; others 403, a bad body 400', { timeout: 30_000 }, async () => {
  const [port] = (await freePorts(1)) as [number];
  const server = await createServer({
    listen: [`udp:127.0.0.1:${port}`], domains: ['example.com'], store: 'memory',
    users: [{ user: 'bob', password: 'b' }, { user: 'vm', password: 'v' }, { user: 'alice', password: 'a' }],
    presence: { messageSummaryPublishers: ['sip:vm@example.com'] },
  });
  const mk = (u: string, p: string) => UserAgent.start({ listen: ['udp:127.0.0.1:0'], from: `sip:${u}@example.com`, credentials: { username: u, password: p }, outboundProxy: `sip:127.0.0.1:${port}` });
  const [bob, vm, alice] = await Promise.all([mk('bob', 'b'), mk('vm', 'v'), mk('alice', 'a')]);
  try {
    const lamps: Array<{ waiting: boolean; voice?: string }> = [];
    const sub = await bob.subscribe('sip:bob@example.com', 'message-summary', { expires: 600 });
    assert.notEqual(sub.state, 'terminated');
    sub.on('notify', (n: SubscriptionNotify) => {
      assert.equal(n.contentType, 'application/simple-message-summary');
      const s = parseMessageSummary(n.body);
      lamps.push({ waiting: s.waiting, voice: s.counts.voice ? `${s.counts.voice.new}/${s.counts.voice.old}` : undefined });
    });
    await sleep(300);
    const body = buildMessageSummary({ waiting: true, account: 'sip:bob@example.com', counts: { voice: { new: 2, old: 1 } } });
    const pub = await vm.publish('sip:bob@example.com', { event: 'message-summary', body, contentType: 'application/simple-message-summary', expires: 600 });
    assert.equal(pub.status, 200);
    await sleep(300);
    const other = await alice.publish('sip:bob@example.com', { event: 'message-summary', body, contentType: 'application/simple-message-summary', expires: 600 });
    assert.equal(other.status, 403, 'only the account and the voicemail servers publish its lamp');
    const bad = await vm.publish('sip:bob@example.com', { event: 'message-summary', body: 'Voice-Message: 1/0\r\n', contentType: 'application/simple-message-summary', expires: 600 });
    assert.equal(bad.status, 400);
    const removed = await vm.publish('sip:bob@example.com', { event: 'message-summary', etag: pub.header('SIP-ETag'), expires: 0 });
    assert.equal(removed.status, 200);
    await sleep(300);
    assert.deepEqual(lamps, [{ waiting: false, voice: undefined }, { waiting: true, voice: '2/1' }, { waiting: false, voice: undefined }]);
  } finally {
    await Promise.all([bob.stop(), vm.stop(), alice.stop()]);
    await server.stop();
  }
});
