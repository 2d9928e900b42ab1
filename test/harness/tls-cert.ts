// A throw-away self-signed certificate for 127.0.0.1 / localhost, made at test time with the
// `openssl` CLI (part of the Debian base image). Tests that need TLS/WSS call makeTestCert();
// without openssl it throws an error that says so, instead of a confusing TLS failure later.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCert {
  key: Buffer;
  cert: Buffer;
}

let cached: TestCert | undefined;

/** Returns a PEM key and self-signed certificate (CN=localhost, SAN IP:127.0.0.1, IP:::1, DNS:localhost). */
export function makeTestCert(): TestCert {
  if (cached) return cached;
  const probe = spawnSync('openssl', ['version'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      'tls-cert: the `openssl` command is needed to make a test certificate but could not be run ' +
        `(${probe.error ? probe.error.message : `exit ${probe.status}: ${probe.stderr}`}); install it (apt-get install openssl)`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-tls-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const r = spawnSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost',
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (r.error || r.status !== 0) {
      throw new Error(`tls-cert: openssl req failed (${r.error ? r.error.message : `exit ${r.status}`}): ${r.stderr}`);
    }
    cached = { key: readFileSync(key), cert: readFileSync(cert) };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
