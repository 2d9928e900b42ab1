// The operators' view of the presence role (docs/presence.md): `switchboard presence list` and
// `switchboard subscriptions list` read the store of a running `serve` (SQLite) — the
// presentity's composed state (published busy + note), its watcher, and the subscription with
// its dialog — as text and as JSON; a watcher rule kept in the store by `presence block`, applied
// by SIGHUP to the live subscription; an unknown subcommand is a usage error (exit 2).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { buildPidf } from '../../../src/content/index.js';
import { UserAgent } from '../../../src/roles/user-agent/index.js';
import { stopAll } from '../../harness/processes.js';
import { runSwitchboard } from '../sipp/sipp.js';
import { describeRun, freePorts, startServe, writeConfig } from '../callflows/callflow-harness.js';

after(stopAll);

test('presence list and subscriptions list show what the running server keeps', { timeout: 45_000 }, async () => {
  const [port] = (await freePorts(1)) as [number];
  const cfg = writeConfig('');
  const db = join(dirname(cfg.path), 'switchboard.db');
  const text = [`listen: [udp:127.0.0.1:${port}]`, 'domains: [example.com]', 'store: sqlite', `db: ${db}`, 'users: [{user: alice, password: a}, {user: bob, password: b}]', ''].join('\n');
  const config = writeConfig(text);
  const server = await startServe(config.path, { udpPorts: [port] });
  const mk = (u: string, p: string) => UserAgent.start({ listen: ['udp:127.0.0.1:0'], from: `sip:${u}@example.com`, credentials: { username: u, password: p }, outboundProxy: `sip:127.0.0.1:${port}` });
  const [alice, bob] = await Promise.all([mk('alice', 'a'), mk('bob', 'b')]);
  try {
    const sub = await bob.subscribe('sip:alice@example.com', 'presence', { expires: 600 });
    assert.notEqual(sub.state, 'terminated');
    const pub = await alice.publish('sip:alice@example.com', { body: buildPidf({ entity: 'sip:alice@example.com', tuples: [{ id: 'desk', basic: 'open' }], activities: ['busy'], notes: ['in a meeting'] }), expires: 600 });
    assert.equal(pub.status, 200);

    const list = await runSwitchboard(['presence', 'list', '--config', config.path], 15_000);
    assert.equal(list.code, 0, describeRun(list));
    assert.match(list.stdout, /^sip:alice@example\.com\topen\tbusy\t"in a meeting"\tpublications=1\twatchers=1$/m, list.stdout);
    assert.match(list.stdout, /^ {2}watched by sip:bob@example\.com\tactive\texpires=\d+$/m, list.stdout);

    const json = await runSwitchboard(['presence', 'list', 'sip:alice@example.com', '--json', '--config', config.path], 15_000);
    assert.equal(json.code, 0, describeRun(json));
    const [alicePresence] = JSON.parse(json.stdout) as Array<{ presentity: string; basic: string; activities: string[]; watchers: Array<{ watcher: string }> }>;
    assert.equal(alicePresence?.presentity, 'sip:alice@example.com');
    assert.equal(alicePresence.basic, 'open');
    assert.deepEqual(alicePresence.activities, ['busy']);
    assert.deepEqual(alicePresence.watchers.map((w) => w.watcher), ['sip:bob@example.com']);

    const none = await runSwitchboard(['presence', 'list', 'sip:nobody@example.com', '--config', config.path], 15_000);
    assert.equal(none.code, 1);
    assert.match(none.stdout, /no presence state for sip:nobody@example\.com/);

    const subs = await runSwitchboard(['subscriptions', 'list', '--json', '--config', config.path], 15_000);
    assert.equal(subs.code, 0, describeRun(subs));
    const rows = JSON.parse(subs.stdout) as Array<{ event: string; resource: string; watcher: string; state: string; callId: string }>;
    assert.deepEqual(rows.map((r) => [r.event, r.resource, r.watcher, r.state]), [['presence', 'sip:alice@example.com', 'sip:bob@example.com', 'active']]);
    assert.equal(rows[0]!.callId, sub.callId);

    // A rule kept in the store, applied by SIGHUP: bob is now blocked, his subscription ends
    // with the final NOTIFY `terminated;reason=rejected`.
    const ended = new Promise<string>((r) => sub.once('terminated', r));
    const block = await runSwitchboard(['presence', 'block', 'sip:alice@example.com', 'sip:bob@example.com', '--config', config.path], 15_000);
    assert.equal(block.code, 0, describeRun(block));
    const rules = await runSwitchboard(['presence', 'rules', '--config', config.path], 15_000);
    assert.equal(rules.stdout, 'sip:alice@example.com\tblock\tsip:bob@example.com\n');
    server.signal('SIGHUP');
    assert.equal(await Promise.race([ended, new Promise<string>((r) => setTimeout(() => r('still up after 5 s'), 5000))]), 'rejected');
    const again = await bob.subscribe('sip:alice@example.com', 'presence', { expires: 600 });
    assert.equal(again.state, 'terminated', 'a new SUBSCRIBE from bob is refused (403)');
    assert.match(server.output().stderr, /SIGHUP: presence rules: 0 presentities in the config, 1 stored rules; 1 subscriptions decided again/);
    const forget = await runSwitchboard(['presence', 'forget', 'sip:alice@example.com', 'sip:bob@example.com', '--config', config.path], 15_000);
    assert.equal(forget.code, 0, describeRun(forget));
    const usage = await runSwitchboard(['presence', 'block', 'alice', '--config', config.path], 15_000);
    assert.equal(usage.code, 2);

    const bad = await runSwitchboard(['subscriptions', 'show', '--config', config.path], 15_000);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown subscriptions subcommand "show"/);
  } finally {
    await Promise.all([alice.stop(), bob.stop()]);
    await server.stop();
    config.cleanup();
    cfg.cleanup();
  }
});
