// `maxServerTransactions` against a running `switchboard serve`: beyond the limit a new request
// gets a stateless 503 with Retry-After (RFC 3261 §21.5.4), while the live transactions still
// answer their retransmissions; once they end (Timer J, 64·T1 with T1 = 50 ms here) new requests
// are served again. Raw UDP datagrams built by the test, and SIPp as the refused client.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { freePortBoth, stopAll, type Managed } from '../../harness/processes.js';
import { header, runSwitchboard, startServe, tempDir, UdpSipClient, writeConfig, type SipResponse } from './registrar-helpers.js';
import { SCENARIO_DIR, describeSipp, runSipp } from '../sipp/sipp.js';

const dir = tempDir('overload');

after(async () => {
  await stopAll();
  if (process.env.KEEP_TMP !== '1') rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function options(port: number, client: UdpSipClient, branch: string, callId: string): string {
  return [
    `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${client.port};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:tester@127.0.0.1>;tag=f-${callId}`,
    `To: <sip:127.0.0.1:${port}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

const toTag = (r: SipResponse) => /;\s*tag=([^;\s]+)/.exec(header(r, 'to') ?? '')?.[1];

describe('maxServerTransactions: 2 (serve, registrar role, T1 50 ms)', () => {
  let server: Managed;
  let port: number;
  let client: UdpSipClient;

  before(async () => {
    port = await freePortBoth();
    const config = writeConfig(dir, 'overload.yaml', 'roles: [registrar]\nstore: memory\nmaxServerTransactions: 2\ntimers:\n  T1: 50\n');
    server = await startServe({ port, config });
    client = await UdpSipClient.open();
  });

  after(() => client?.close());

  test('the third new request gets 503 + Retry-After statelessly; live transactions still answer; after Timer J new ones are served', async () => {
    const b1 = UdpSipClient.branch();
    const b2 = UdpSipClient.branch();
    const b3 = UdpSipClient.branch();
    assert.equal((await client.send(port, options(port, client, b1, 'ol-1'), b1)).status, 200);
    assert.equal((await client.send(port, options(port, client, b2, 'ol-2'), b2)).status, 200);

    const refused = await client.send(port, options(port, client, b3, 'ol-3'), b3);
    assert.equal(refused.status, 503, refused.raw);
    assert.equal(refused.reason, 'Service Unavailable');
    assert.equal(header(refused, 'retry-after'), '5');
    assert.ok(toTag(refused), 'the 503 carries a To tag');
    // A retransmission is answered the same way, under the same To tag (no state was kept).
    const again = await client.send(port, options(port, client, b3, 'ol-3'), b3);
    assert.equal(again.status, 503);
    assert.equal(toTag(again), toTag(refused));

    // The live (Completed) transaction answers its retransmission with its own 200.
    assert.equal((await client.send(port, options(port, client, b1, 'ol-1'), b1)).status, 200);

    // Timer J = 64·T1 = 3.2 s: both transactions end, new requests are served again.
    await sleep(3600);
    const b4 = UdpSipClient.branch();
    assert.equal((await client.send(port, options(port, client, b4, 'ol-4'), b4)).status, 200);
    assert.equal(server.exitStatus(), null, 'the server is still running');
  });

  test('maxServerTransactions: 0 in the config → one readable line naming the key, exit code 2', async () => {
    const bad = writeConfig(dir, 'bad.yaml', 'roles: [registrar]\nstore: memory\nmaxServerTransactions: 0\n');
    const r = await runSwitchboard(['serve', '--config', bad, '--listen', `udp:127.0.0.1:${port + 1}`], 15_000);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /maxServerTransactions/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});

describe('maxServerTransactions: 1, SIPp as the client', () => {
  test('with the one transaction live, every SIPp OPTIONS gets 503 with a numeric Retry-After', async () => {
    const port = await freePortBoth();
    const config = writeConfig(dir, 'overload-sipp.yaml', 'roles: [registrar]\nstore: memory\nmaxServerTransactions: 1\ntimers:\n  T1: 500\n');
    await startServe({ port, config });
    const client = await UdpSipClient.open();
    try {
      // One OPTIONS answered 200: its transaction stays Completed for Timer J (32 s here).
      const b = UdpSipClient.branch();
      assert.equal((await client.send(port, options(port, client, b, 'ol-sipp'), b)).status, 200);
    } finally {
      client.close();
    }
    const sippPort = await freePortBoth();
    const r = await runSipp({ scenario: `${SCENARIO_DIR}uac-options-503.xml`, target: `127.0.0.1:${port}`, localPort: sippPort, calls: 5, rate: 10, timeoutS: 20 });
    assert.equal(r.code, 0, describeSipp(r));
    assert.equal(r.successful, 5, describeSipp(r));
    assert.equal(r.failed, 0, describeSipp(r));
  });
});
