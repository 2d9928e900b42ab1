import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage } from '../sip/index.js';
import { isPrivateAddress, natReason } from './nat-detect.js';

function register(via: string, contact: string, source: { transport: 'udp' | 'tcp'; address: string; port: number }) {
  const m = parseMessage(Buffer.from(`REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP ${via};branch=z9hG4bK1\r\nFrom: <sip:bob@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\nContact: <${contact}>\r\nContent-Length: 0\r\n\r\n`));
  (m as { source?: unknown }).source = { ...source, connectionId: undefined, info: undefined };
  return m as Parameters<typeof natReason>[0];
}

test('private ranges: RFC 1918, RFC 6598, link-local, unique-local; public and loopback are not', () => {
  for (const a of ['10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.10', '100.64.0.1', '169.254.1.1', 'fd00::1', 'fe80::1']) assert.equal(isPrivateAddress(a), true, a);
  for (const a of ['203.0.113.2', '172.32.0.1', '100.128.0.1', '127.0.0.1', '8.8.8.8', '2001:db8::1', 'example.com']) assert.equal(isPrivateAddress(a), false, a);
});

test('behind NAT: a private Contact, a Via host or port other than the source; not: a client that says where it is', () => {
  assert.match(natReason(register('10.1.2.3:5060', 'sip:bob@10.1.2.3:5060', { transport: 'udp', address: '203.0.113.2', port: 40112 }))!, /Via 10\.1\.2\.3:5060 is not the source/);
  assert.match(natReason(register('203.0.113.2:5060', 'sip:bob@203.0.113.2:5060', { transport: 'udp', address: '203.0.113.2', port: 40112 }))!, /Via port 5060 is not the source port 40112/);
  assert.match(natReason(register('phone.example.com:5060', 'sip:bob@10.1.2.3:5060', { transport: 'tcp', address: '203.0.113.2', port: 40112 }))!, /Contact 10\.1\.2\.3 is a private address/);
  assert.equal(natReason(register('198.51.100.7:5060', 'sip:bob@198.51.100.7:5060', { transport: 'udp', address: '198.51.100.7', port: 5060 })), undefined);
  // A registration on behalf of another device on a public address (the register command's --contact).
  assert.equal(natReason(register('127.0.0.1:49065', 'sip:alice@127.0.0.1:25099', { transport: 'udp', address: '127.0.0.1', port: 49065 })), undefined);
});
