#!/usr/bin/env node
// ensure-peers: make sure the external programs the interop tests talk to are installed.
//
// Plain Node ESM, no dependencies. Run before the test suite (`npm test` does).
//   - every peer present          -> prints one line "ensure-peers: sipp 3.6.1 present", exit 0
//   - something missing, as root  -> apt-get update (once) + apt-get install, then re-check
//   - something missing, not root -> prints what to install, exit 1
//
// To add a peer, add an entry to PEERS:
//   bin      executable looked up with `command -v`
//   pkg      Debian package that provides it
//   label    (optional) human name used in messages
//   version  (optional) { args, re } — run `bin ...args`, first capture group of `re`
//            on stdout+stderr is the version. Exit code is ignored (`sipp -v` exits 99).

import fs from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';

const PEERS = [
  { bin: 'sipp', pkg: 'sip-tester', label: 'SIPp', version: { args: ['-v'], re: /SIPp v?(\d+(?:\.\d+)+)/ } },
  { bin: 'redis-server', pkg: 'redis-server', label: 'Redis', version: { args: ['--version'], re: /v=(\d+(?:\.\d+)+)/ } },
  { bin: 'baresip', pkg: 'baresip-core', label: 'baresip', version: { args: ['-h'], re: /baresip v?(\d+(?:\.\d+)+)/i } },
  // Kamailio + its WebSocket modules (shared/interop/kamailio, test/interop/kamailio). The modules
  // package has no executable: it is installed together with kamailio (same `bin`).
  { bin: 'kamailio', pkg: 'kamailio', label: 'Kamailio', version: { args: ['-v'], re: /kamailio (\d+(?:\.\d+)+)/i } },
  { bin: 'kamailio', pkg: 'kamailio-websocket-modules', label: 'Kamailio WebSocket modules' },
  // Kamailio's presence and SQLite modules: the presence benchmark's anchor (bench/kamailio/presence.cfg).
  { bin: 'kamailio', pkg: 'kamailio-presence-modules', label: 'Kamailio presence modules', module: 'presence.so' },
  { bin: 'kamailio', pkg: 'kamailio-sqlite-modules', label: 'Kamailio SQLite modules', module: 'db_sqlite.so' },
  // The rest of the real-client matrix (shared/interop/check-all.sh, test/interop/clients).
  { bin: 'linphone-daemon', pkg: 'linphone-cli', label: 'linphone-daemon' },
  { bin: 'twinkle-console', pkg: 'twinkle-console', label: 'twinkle-console' },
  { bin: 'sipsak', pkg: 'sipsak', label: 'sipsak', version: { args: ['-V'], re: /sipsak (\d+(?:\.\d+)+)/ } },
  // The attacker's tools, for the screening tests (test/interop/security).
  { bin: 'svwar', pkg: 'sipvicious', label: 'SIPVicious' },
  // Operations (test/interop/operations): the web console's browser test drives Debian's Chromium
  // with playwright-core (no browser download), and sngrep listens for the HEP export.
  { bin: 'chromium', pkg: 'chromium', label: 'Chromium', version: { args: ['--version'], re: /Chromium (\d+(?:\.\d+)+)/ } },
  // NATs built from network namespaces (test/harness/netns.ts, test/interop/nat): nft does the
  // masquerading, conntrack lists and flushes the router's mappings.
  { bin: 'nft', pkg: 'nftables', label: 'nftables', version: { args: ['--version'], re: /nftables v(\d+(?:\.\d+)+)/ } },
  { bin: 'conntrack', pkg: 'conntrack', label: 'conntrack' },
  // The media relay's control client (src/media/rtpengine.ts) is tested against a real rtpengine.
  { bin: 'rtpengine', pkg: 'rtpengine-daemon', label: 'rtpengine', version: { args: ['--version'], re: /Version: (\S+)/ } },
  { bin: 'sngrep', pkg: 'sngrep', label: 'sngrep', version: { args: ['-V'], re: /sngrep (\d+(?:\.\d+)+)/ } },
];

const LOCK_WAIT_MS = 5 * 60 * 1000; // how long to wait for a dpkg/apt lock held by another apt
const LOCK_RETRY_MS = 5000;
const APT_STEP_TIMEOUT_MS = 15 * 60 * 1000; // hard bound for one apt-get invocation

function log(msg) {
  process.stdout.write(`ensure-peers: ${msg}\n`);
}

function fail(msg) {
  process.stderr.write(`ensure-peers: ERROR: ${msg}\n`);
  process.exit(1);
}

/** A Kamailio module file in the Debian module directory (/usr/lib/<triplet>/kamailio/modules). */
function hasKamailioModule(file) {
  let dirs = [];
  try {
    dirs = fs.readdirSync('/usr/lib');
  } catch {
    return false;
  }
  return dirs.some((d) => fs.existsSync(`/usr/lib/${d}/kamailio/modules/${file}`));
}

function which(bin) {
  const r = spawnSync('sh', ['-c', `command -v "$1"`, 'sh', bin], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? r.stdout.trim() : null;
}

function versionOf(peer) {
  if (!peer.version) return null;
  const r = spawnSync(peer.bin, peer.version.args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  const m = peer.version.re.exec(`${r.stdout ?? ''}\n${r.stderr ?? ''}`);
  return m ? m[1] : null;
}

function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Run a command, streaming its output to ours; resolves {code, output}. Bounded in time. */
function run(cmd, args, env) {
  return new Promise((resolve) => {
    let output = '';
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    const keep = (chunk) => {
      output += chunk.toString('utf8');
      if (output.length > 200_000) output = output.slice(-100_000);
    };
    child.stdout.on('data', (c) => { process.stdout.write(c); keep(c); });
    child.stderr.on('data', (c) => { process.stderr.write(c); keep(c); });
    const timer = setTimeout(() => {
      process.stderr.write(`ensure-peers: ${cmd} ${args.join(' ')} took longer than ${APT_STEP_TIMEOUT_MS / 1000}s, killing pid ${child.pid}\n`);
      try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }, APT_STEP_TIMEOUT_MS);
    child.on('error', (err) => { clearTimeout(timer); resolve({ code: 127, output: String(err) }); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code: code ?? 128, signal, output }); });
  });
}

const LOCK_RE = /Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock directory|is another process using it|dpkg was interrupted|held by process/i;

/** apt-get with retries while another apt/dpkg holds the lock (up to LOCK_WAIT_MS). */
async function aptGet(args) {
  const deadline = Date.now() + LOCK_WAIT_MS;
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  // DPkg::Lock::Timeout makes apt itself wait for the dpkg frontend lock; the loop covers the rest
  // (e.g. the lists lock during `apt-get update`).
  const full = ['-o', 'DPkg::Lock::Timeout=60', ...args];
  for (;;) {
    const r = await run('apt-get', full, env);
    if (r.code === 0) return;
    if (LOCK_RE.test(r.output) && Date.now() < deadline) {
      log(`apt/dpkg lock is held by another process, retrying in ${LOCK_RETRY_MS / 1000}s …`);
      await sleep(LOCK_RETRY_MS);
      continue;
    }
    if (/dpkg was interrupted/i.test(r.output)) {
      fail(`apt-get ${args.join(' ')} failed: dpkg was interrupted; run 'dpkg --configure -a' and retry`);
    }
    fail(`apt-get ${args.join(' ')} failed with exit code ${r.code}`);
  }
}

function describe(peers) {
  return peers.map((p) => `${p.pkg}${p.label ? ` (${p.label})` : ''}`).join(', ');
}

function presentLine() {
  return PEERS.map((p) => {
    const v = versionOf(p);
    return v ? `${p.bin} ${v}` : p.bin;
  }).join(', ');
}

async function main() {
  if (PEERS.length === 0) {
    log('no peers configured');
    return;
  }
  const missing = PEERS.filter((p) => !which(p.bin) || (p.module && !hasKamailioModule(p.module)));
  if (missing.length === 0) {
    log(`${presentLine()} present`);
    return;
  }

  const pkgs = [...new Set(missing.map((p) => p.pkg))];
  if (!isRoot()) {
    process.stderr.write(
      `ensure-peers: missing: ${missing.map((p) => p.bin).join(', ')}\n` +
        `ensure-peers: install them with:\n` +
        `  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${pkgs.join(' ')}\n`,
    );
    process.exit(1);
  }
  if (!which('apt-get')) {
    fail(`missing ${missing.map((p) => p.bin).join(', ')} and apt-get is not available; install ${pkgs.join(' ')} by hand`);
  }

  log(`installing ${describe(missing)} with apt-get …`);
  await aptGet(['update']);
  await aptGet(['install', '-y', '--no-install-recommends', ...pkgs]);

  const still = PEERS.filter((p) => !which(p.bin) || (p.module && !hasKamailioModule(p.module)));
  if (still.length > 0) {
    fail(`after apt-get install, still missing: ${still.map((p) => `${p.bin} (package ${p.pkg})`).join(', ')}`);
  }
  log(`${presentLine()} present`);
}

main().catch((err) => fail(err && err.stack ? err.stack : String(err)));
