import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type SipRequest, type SipUri, parseMessage } from '../../sip/index.js';
import { DialPlan } from '../../dialplan/index.js';
import { dialPlanFromPrefixRoutes } from './dial-plan-routing.js';
import { ProxyRoutingPolicy, type ProxyPolicyConfig } from './proxy-policy.js';

function req(uri: string, from: string): SipRequest {
  return parseMessage(Buffer.from(
    `INVITE ${uri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKpolicy\r\nMax-Forwards: 70\r\n` +
    `From: <${from}>;tag=a\r\nTo: <${uri}>\r\nCall-ID: policy-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n`,
  )) as SipRequest;
}

const base: ProxyPolicyConfig = {
  domains: ['a.example'], recordRoute: true, authenticate: false, trustedPeers: [],
  forking: 'parallel', sequentialTimeoutMs: 15_000, recurseOn3xx: false,
};
const notOurs = (_u: SipUri) => false;

test('Record-Route for every request unless recordRouteDomains restricts it (RFC 3261 §16.6 step 4)', () => {
  assert.equal(new ProxyRoutingPolicy(base, { isOwnAddress: notOurs }).recordRoute(req('sip:bob@b.example', 'sip:x@c.example')), true);
  const only = new ProxyRoutingPolicy({ ...base, recordRouteDomains: ['b.example'] }, { isOwnAddress: notOurs });
  assert.equal(only.recordRoute(req('sip:bob@b.example', 'sip:x@c.example')), true, 'Request-URI domain listed');
  assert.equal(only.recordRoute(req('sip:bob@c.example', 'sip:x@B.EXAMPLE')), true, 'From domain listed, any case');
  assert.equal(only.recordRoute(req('sip:bob@c.example', 'sip:x@d.example')), false, 'neither listed');
  assert.equal(new ProxyRoutingPolicy({ ...base, recordRoute: false, recordRouteDomains: ['b.example'] }, { isOwnAddress: notOurs }).recordRoute(req('sip:bob@b.example', 'sip:x@b.example')), false);
});

test('foreign to foreign is refused (never an open relay); our users may call out; tel: via the dial plan (round-1 prefix routes read as one)', async () => {
  const p = new ProxyRoutingPolicy({ ...base, dialPlan: new DialPlan(dialPlanFromPrefixRoutes([{ prefix: '1111', target: 'sip:{number}@gw.example', strip: 0 }])) }, { isOwnAddress: notOurs });
  assert.deepEqual(await p.decide(req('sip:bob@b.example', 'sip:x@c.example')), { kind: 'respond', status: 403, reason: 'Relaying Denied' });
  assert.deepEqual(await p.decide(req('sip:bob@b.example', 'sip:alice@a.example')), { kind: 'forward', targets: [{ uri: 'sip:bob@b.example' }] });
  const tel = await p.decide(req('tel:11112222', 'sip:alice@a.example'));
  assert.equal(tel.kind, 'forward');
  assert.deepEqual(tel.kind === 'forward' ? tel.targets : undefined, [{ uri: 'sip:11112222@gw.example' }]);
  assert.equal((await p.decide(req('tel:9999', 'sip:alice@a.example'))).kind, 'respond');
});
