// The dialog event package (RFC 4235) and `on-the-phone`, fed by the calls the server carries:
// through the proxy (its replies) and through the B2BUA (its leg A). Carol watches Bob's dialogs
// and presence while Alice calls him; the NOTIFY bodies are read as XML (parseDialogInfo,
// parsePidf): early → confirmed → terminated, Bob as recipient, versions 0, 1, 2 … per
// subscription, and on-the-phone only while the call is up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from '../../../src/app/server.js';
import { parseDialogInfo, parsePidf } from '../../../src/content/index.js';
import { UserAgent } from '../../../src/roles/user-agent/index.js';
import type { SubscriptionNotify } from '../../../src/usage/index.js';
import { freePorts } from '../callflows/callflow-harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const via of ['proxy', 'b2bua'] as const) {
  test(`a call through the ${via}: the callee's watcher sees early, confirmed, terminated, and on-the-phone while it is up`, { timeout: 30_000 }, async () => {
    const [port] = (await freePorts(1)) as [number];
    const server = await createServer({
      listen: [`udp:127.0.0.1:${port}`], domains: ['example.com'], store: 'memory',
      roles: via === 'proxy' ? ['registrar', 'proxy', 'presence'] : ['registrar', 'b2bua', 'presence'],
      b2bua: { target: 'location' },
      users: [{ user: 'alice', password: 'a' }, { user: 'bob', password: 'b' }, { user: 'carol', password: 'c' }],
    });
    const mk = (u: string, p: string) => UserAgent.start({ listen: ['udp:127.0.0.1:0'], from: `sip:${u}@example.com`, credentials: { username: u, password: p }, outboundProxy: `sip:127.0.0.1:${port}` });
    const [alice, bob, carol] = await Promise.all([mk('alice', 'a'), mk('bob', 'b'), mk('carol', 'c')]);
    try {
      assert.equal((await bob.register('sip:example.com', { aor: 'sip:bob@example.com', expires: 300 })).status, 200);
      bob.on('invite', (inv) => {
        inv.progress(180);
        setTimeout(() => inv.accept(), 300);
      });
      const dialogs: Array<{ version: number; states: string[] }> = [];
      const activities: string[][] = [];
      const d = await carol.subscribe('sip:bob@example.com', 'dialog', { expires: 600 });
      d.on('notify', (n: SubscriptionNotify) => {
        const x = parseDialogInfo(n.body);
        assert.equal(x.entity, 'sip:bob@example.com');
        dialogs.push({ version: x.version, states: x.dialogs.map((y) => `${y.direction}:${y.state}`) });
      });
      const p = await carol.subscribe('sip:bob@example.com', 'presence', { expires: 600 });
      p.on('notify', (n: SubscriptionNotify) => activities.push(parsePidf(n.body).activities));
      await sleep(300);
      const call = await alice.invite('sip:bob@example.com');
      assert.ok(call.established, 'the call was answered');
      await sleep(300);
      assert.ok(activities.at(-1)!.includes('on-the-phone'), `on-the-phone while up: ${JSON.stringify(activities)}`);
      await call.bye();
      await sleep(500);
      assert.deepEqual(dialogs.map((x) => x.states.join(',')), ['', 'recipient:early', 'recipient:confirmed', 'recipient:terminated'], JSON.stringify(dialogs));
      assert.deepEqual(dialogs.map((x) => x.version), [0, 1, 2, 3]);
      assert.ok(!activities.at(-1)!.includes('on-the-phone'), `not on the phone after the BYE: ${JSON.stringify(activities)}`);
    } finally {
      await Promise.all([alice.stop(), bob.stop(), carol.stop()]);
      await server.stop();
    }
  });
}
