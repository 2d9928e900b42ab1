// `switchboard --version`, `switchboard COMMAND --help` (that command's part of the usage), and
// `switchboard serve --check` (validate and say what would run, like `kamailio -c`): exit 0 for a
// good config, 2 with one line naming the key for a bad one — an expiry range the wrong way
// round, a TLS file that cannot be read, a dial plan that is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSwitchboard } from '../interop/sipp/sipp.js';

test('--version prints the package version; COMMAND --help prints that command and the common options', { timeout: 20_000 }, async () => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const v = await runSwitchboard(['--version'], 10_000);
  assert.equal(v.code, 0);
  assert.equal(v.stdout, `switchboard ${pkg.version}\n`);
  const h = await runSwitchboard(['presence', '--help'], 10_000);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /^usage: switchboard presence \[options\]/);
  assert.match(h.stdout, /presence list \[AOR\] \[--json\]/);
  assert.doesNotMatch(h.stdout, /dialplan import/, 'only the command asked about');
  assert.match(h.stdout, /common options:/);
});

test('serve --check: exit 0 with what would run; exit 2 naming the key of a mistake', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'check-'));
  try {
    const write = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const plan = write('plan.yaml', "dialPeers:\n  - {tag: 1, destinationPattern: '9T', sessionTarget: 'ipv4:192.0.2.1'}\n");
    const good = await runSwitchboard(['serve', '--check', '--config', write('good.yaml', `listen: [udp:127.0.0.1:5999]\ndomains: [example.com]\nstore: memory\ndialPlan: ${plan}\n`)], 10_000);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /^listen udp:127\.0\.0\.1:5999; domains example\.com; roles registrar, proxy, presence; store memory; workers 1; dial plan 1 dial-peers$/m);
    assert.match(good.stdout, /^config OK /m);
    const cases: Array<[string, RegExp]> = [
      ['registrar: {minExpires: 900, maxExpires: 600}\n', /registrar\.minExpires = 900 is above registrar\.maxExpires = 600/],
      ['presence: {subscriptions: {defaultExpires: 30}}\n', /presence\.subscriptions\.defaultExpires = 30 is outside/],
      [`transport: {tls: {cert: ${join(dir, 'no-cert.pem')}, key: ${join(dir, 'no-key.pem')}}}\n`, /transport\.tls\.cert = ".*no-cert\.pem": cannot read it \(ENOENT\)/],
      [`dialPlan: ${join(dir, 'no-plan.yaml')}\n`, /dialPlan: cannot read .*no-plan\.yaml: ENOENT/],
    ];
    for (const [i, [text, re]] of cases.entries()) {
      const r = await runSwitchboard(['serve', '--check', '--config', write(`bad${i}.yaml`, text)], 10_000);
      assert.equal(r.code, 2, `${text}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unreachable Redis or a bad Redis URL at start: one line naming the store, the URL and the cause, exit 2', { timeout: 30_000 }, async () => {
  const { freePortBoth } = await import('../harness/processes.js');
  const dead = await freePortBoth();
  const down = await runSwitchboard(['serve', '--store', `redis://127.0.0.1:${dead}`, '--listen', 'udp:127.0.0.1:0'], 20_000);
  assert.equal(down.code, 2, down.stderr);
  assert.equal(down.stderr, `switchboard: store: cannot connect to redis://127.0.0.1:${dead}: ECONNREFUSED 127.0.0.1:${dead}\n`);
  const bad = await runSwitchboard(['serve', '--store', 'redis://127.0.0.1:99999', '--listen', 'udp:127.0.0.1:0'], 20_000);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /^switchboard: command line: store = "redis:\/\/127\.0\.0\.1:99999": not a Redis URL: .*the port 1-65535\)\n$/);
});
