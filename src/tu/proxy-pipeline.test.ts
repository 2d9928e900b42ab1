import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type SipRequest, parseMessage } from '../sip/index.js';
import { REQUEST_VALIDATION, type RequestProcessor, runChain } from './proxy-pipeline.js';
import { loopHash } from './proxy-forwarding.js';

const req = (extra: string[] = [], uri = 'sip:bob@example.com') =>
  parseMessage(Buffer.from([`INVITE ${uri} SIP/2.0`, 'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa', ...extra, 'From: <sip:a@x>;tag=1', 'To: <sip:b@y>', 'Call-ID: chain', 'CSeq: 1 INVITE', 'Content-Length: 0', '', ''].join('\r\n'))) as SipRequest;

test('runChain: the first processor that decides wins; a synchronous chain stays synchronous; an async step is awaited in order', async () => {
  const seen: string[] = [];
  const pass = (name: string): RequestProcessor => ({ name, process: () => void seen.push(name) });
  const decide = (name: string, status: number): RequestProcessor => ({ name, process: () => (seen.push(name), { kind: 'respond', status }) });
  const later = (name: string): RequestProcessor => ({ name, process: async () => void seen.push(name) });
  const sync = runChain([pass('a'), decide('b', 403), decide('c', 404)], req(), undefined);
  assert.ok(!(sync instanceof Promise));
  assert.equal(sync?.kind === 'respond' && sync.status, 403);
  assert.deepEqual(seen, ['a', 'b']);
  seen.length = 0;
  const r = await runChain([later('x'), pass('y'), decide('z', 480)], req(), undefined);
  assert.equal(r?.kind === 'respond' && r.status, 480);
  assert.deepEqual(seen, ['x', 'y', 'z']);
  assert.equal(runChain([pass('only')], req(), undefined), undefined);
});

test('§16.3 chain: 416, 483, 482 (our Via with this request\'s loop hash), 420 — and a clean request passes', () => {
  const isLocal = (u: { hostname: string; port?: number }) => u.hostname === '127.0.0.1' && u.port === 5070;
  const ctx = (r: SipRequest) => ({ supported: [], isLocal: isLocal as never, hash: loopHash(r) });
  const status = (r: SipRequest) => {
    const d = runChain(REQUEST_VALIDATION, r, ctx(r));
    return d && !(d instanceof Promise) && d.kind === 'respond' ? d.status : undefined;
  };
  assert.equal(status(req([], 'urn:service:sos')), 416);
  assert.equal(status(req(['Max-Forwards: 0'])), 483);
  assert.equal(status(req(['Proxy-Require: foo'])), 420);
  const clean = req();
  assert.equal(status(clean), undefined);
  const looped = req([`Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKsb${loopHash(clean)}.1`]);
  assert.equal(status(looped), 482);
  const spiral = req([`Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKsb0000000000000000.1`]);
  assert.equal(status(spiral), undefined, 'another hash: a spiral, not a loop');
  const elsewhere = req([`Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKsb${loopHash(clean)}.1`]);
  assert.equal(status(elsewhere), undefined, 'not our Via');
});
