// Screening before any transaction: scanners, floods (pike-like) and password guessing, on an
// injected clock.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type SipRequest, parseMessage } from '../../sip/index.js';
import { DEFAULT_SCANNER_AGENTS, Screen, type ScreenConfig } from './screen.js';

function cfg(over: Partial<ScreenConfig> = {}): ScreenConfig {
  return {
    allow: ['127.0.0.0/8', '::1'],
    scanners: { enabled: true, userAgents: [...DEFAULT_SCANNER_AGENTS] },
    rateLimit: { enabled: true, requests: 300, window: 2, banTime: 60 },
    authBan: { enabled: true, sourceFailures: 10, userFailures: 30, decay: 300, banTime: 600 },
    action: 'drop',
    ...over,
  };
}

function req(address: string, userAgent?: string): SipRequest {
  const m = parseMessage(Buffer.from([
    'REGISTER sip:example.com SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx',
    'From: <sip:100@example.com>;tag=1',
    'To: <sip:100@example.com>',
    'Call-ID: c1',
    'CSeq: 1 REGISTER',
    ...(userAgent ? [`User-Agent: ${userAgent}`] : []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n'))) as SipRequest;
  m.source = { transport: 'udp', address, port: 5060 };
  return m;
}

test('scanners: SIPVicious User-Agents are dropped; off by configuration; the host itself is never screened', () => {
  const lines: string[] = [];
  const s = new Screen(cfg(), (l) => lines.push(l));
  assert.equal(s.check(req('203.0.113.5', 'friendly-scanner')).kind, 'drop');
  assert.equal(s.check(req('203.0.113.5', 'sipvicious 0.3.3')).kind, 'drop');
  assert.equal(s.check(req('203.0.113.5', 'Linphone/5.1 (belle-sip/5.1)')).kind, 'pass');
  assert.equal(s.check(req('127.0.0.1', 'friendly-scanner')).kind, 'pass');
  assert.equal(s.stats.scanners, 2);
  assert.deepEqual(lines, ['security: dropping requests from 203.0.113.5: scanner User-Agent "friendly-scanner"'], 'one line per source');
  const off = new Screen(cfg({ scanners: { enabled: false, userAgents: [...DEFAULT_SCANNER_AGENTS] } }));
  assert.equal(off.check(req('203.0.113.5', 'friendly-scanner')).kind, 'pass');
});

test('rate limit: beyond N requests in the window the source is ignored for banTime, others are not', () => {
  let now = 0;
  const s = new Screen(cfg({ rateLimit: { enabled: true, requests: 20, window: 2, banTime: 60 } }), () => {}, () => now);
  for (let i = 0; i < 20; i++) {
    now += 10;
    assert.equal(s.check(req('198.51.100.7')).kind, 'pass', `request ${i}`);
  }
  assert.equal(s.check(req('198.51.100.7')).kind, 'drop');
  assert.equal(s.check(req('198.51.100.8')).kind, 'pass');
  now += 59_000;
  assert.equal(s.check(req('198.51.100.7')).kind, 'drop', 'still banned');
  now += 2_000;
  assert.equal(s.check(req('198.51.100.7')).kind, 'pass', 'ban over');
  // A phone re-registering every few seconds is nowhere near it.
  for (let i = 0; i < 200; i++) {
    now += 2_000;
    assert.equal(s.check(req('198.51.100.9')).kind, 'pass');
  }
});

test('rate limit with action reject: a stateless 503', () => {
  const s = new Screen(cfg({ rateLimit: { enabled: true, requests: 2, window: 2, banTime: 60 }, action: 'reject' }), () => {}, () => 0);
  s.check(req('198.51.100.7'));
  s.check(req('198.51.100.7'));
  assert.deepEqual(s.check(req('198.51.100.7')), { kind: 'reject', status: 503, reason: 'Service Unavailable', why: 'rate limit' });
});

test('auth ban: the source is banned after N failures, expires, is forgiven by a success; another address is never locked out', () => {
  let now = 0;
  const lines: string[] = [];
  const s = new Screen(cfg(), (l) => lines.push(l), () => now);
  for (let i = 0; i < 9; i++) s.authFailed('203.0.113.9', '100', 'example.com');
  assert.equal(s.check(req('203.0.113.9')).kind, 'pass');
  s.authFailed('203.0.113.9', '100', 'example.com');
  assert.equal(s.check(req('203.0.113.9')).kind, 'drop');
  assert.match(lines.join('\n'), /ignoring 203\.0\.113\.9 for 600 s: 10 failed authentications/);
  assert.equal(s.check(req('203.0.113.10')).kind, 'pass', 'the same user from elsewhere');
  now += 600_001;
  assert.equal(s.check(req('203.0.113.9')).kind, 'pass', 'bans expire');
  assert.match(lines.join('\n'), /ban of 203\.0\.113\.9 ended/);
  // Failures decay (half every 300 s) and a success forgives them.
  for (let i = 0; i < 9; i++) s.authFailed('203.0.113.20', '200', 'example.com');
  s.authSucceeded('203.0.113.20');
  s.authFailed('203.0.113.20', '200', 'example.com');
  assert.equal(s.check(req('203.0.113.20')).kind, 'pass');
  for (let i = 0; i < 9; i++) s.authFailed('203.0.113.21', '201', 'example.com');
  now += 300_000;
  s.authFailed('203.0.113.21', '201', 'example.com');
  assert.equal(s.check(req('203.0.113.21')).kind, 'pass', '9 failures half-decayed + 1 < 10');
});

test('auth ban: a guess spread over many addresses bans each further failing source, not the user', () => {
  const s = new Screen(cfg(), () => {}, () => 0);
  for (let i = 1; i <= 30; i++) s.authFailed(`198.51.100.${i}`, 'victim', 'example.com');
  for (let i = 1; i <= 29; i++) assert.equal(s.check(req(`198.51.100.${i}`)).kind, 'pass', `source ${i}: one failure each`);
  assert.equal(s.check(req('198.51.100.30')).kind, 'drop', 'the failure that took the user over the threshold');
  s.authFailed('198.51.100.31', 'victim', 'example.com');
  assert.equal(s.check(req('198.51.100.31')).kind, 'drop');
  assert.equal(s.check(req('198.51.100.77')).kind, 'pass', 'an address that did not fail');
});

test('bounded: tracking a flood of distinct sources keeps at most 100,000 of each', () => {
  const s = new Screen(cfg({ rateLimit: { enabled: true, requests: 1000, window: 2, banTime: 60 } }), () => {}, () => 0);
  for (let i = 0; i < 100_100; i++) {
    const a = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    s.check(req(a));
    s.authFailed(a, `u${i}`, 'example.com');
  }
  const inner = s as unknown as { windows: Map<string, unknown>; sourceScores: Map<string, unknown>; userScores: Map<string, unknown> };
  assert.ok(inner.windows.size <= 100_000 && inner.sourceScores.size <= 100_000 && inner.userScores.size <= 100_000);
});
