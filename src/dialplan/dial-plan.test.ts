// The dial plan against the IOS case table (test/fixtures/dialplan/ios-cases.json: each case
// with its source, in Cisco's documents or reasoned from them), plus the import of the
// handbook's §10 configuration text and the rules the table does not cover.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DialPlan, DialPlanError, TranslationRuleSet, compilePattern, importIos, loadDialPlan, peerTarget } from './index.js';

interface Cases {
  patterns: Array<{ pattern: string; number: string; matches: boolean; uncertain?: boolean }>;
  selection: Array<{ peers: Array<{ tag: number; pattern: string; preference: number }>; number: string; order: number[]; hunt?: number; tie?: number[][] }>;
  translation: Array<{ rules: Array<{ n: number; match: string; replace?: string; reject?: boolean; type?: string | string[] }>; input: string; input_type?: string; output: string | null; rejected?: boolean; matched?: number | null }>;
}
const cases = JSON.parse(readFileSync(new URL('../../../test/fixtures/dialplan/ios-cases.json', import.meta.url), 'utf8')) as Cases;

test(`destination-pattern: ${cases.patterns.length} cases of the IOS table`, () => {
  for (const c of cases.patterns) {
    assert.equal(compilePattern(c.pattern).test(c.number), c.matches, `${c.pattern} vs ${c.number}${c.uncertain ? ' (uncertain case)' : ''}`);
  }
});

test(`dial-peer selection: ${cases.selection.length} cases (longest match, preference, ties in plan order, hunt schemes)`, () => {
  for (const c of cases.selection) {
    const plan = new DialPlan({ hunt: c.hunt ?? 0, dialPeers: c.peers.map((p) => ({ tag: p.tag, destinationPattern: p.pattern, preference: p.preference, sessionTarget: 'ipv4:192.0.2.1' })) });
    const got = plan.outbound(c.number).map((m) => m.peer.tag);
    // Our tie-break is the plan's order: the table's order for a tie group must be that order.
    assert.deepEqual(got, c.order, `${c.number} over ${c.peers.map((p) => `${p.tag}:${p.pattern}/${p.preference}`).join(' ')}`);
  }
});

test(`voice translation-rule: ${cases.translation.length} cases (groups, &, first match wins, reject)`, () => {
  for (const c of cases.translation) {
    // The table writes `type MATCH REPLACE` as a pair; the rule applies by its MATCH.
    const set = new TranslationRuleSet(c.rules.map((r) => ({ precedence: r.n, match: r.match, replace: r.replace, reject: r.reject, type: Array.isArray(r.type) ? r.type[0] : r.type })));
    const r = set.apply(c.input, c.input_type);
    const label = `${c.rules.map((x) => `rule ${x.n} ${x.reject ? 'reject ' : ''}${x.match} ${x.replace ?? ''}`).join('; ')} on ${c.input}`;
    if (c.rejected) assert.equal(r.kind, 'rejected', label);
    else {
      assert.equal(r.kind, 'translated', label);
      assert.equal(r.kind === 'translated' ? r.number : undefined, c.output, label);
    }
    if (c.matched !== undefined) assert.equal(r.rule ?? null, c.matched, label);
  }
});

test('bad patterns and rules are refused with a reason naming them', () => {
  for (const [p, why] of [['1[2', /unclosed \[/], ['12)', /unbalanced \)/], ['1T2', /nothing may follow T/], ['%12', /nothing to repeat/], ['12x', /'x' is not a pattern character/], ['[9-1]', /bad range/]] as const) {
    assert.throws(() => compilePattern(p), (e: unknown) => e instanceof DialPlanError && why.test((e as Error).message), p);
  }
  assert.throws(() => new TranslationRuleSet([{ precedence: 1, match: '^9', replace: '/x/' }]), /between slashes/);
  assert.throws(() => new DialPlan({ dialPeers: [{ tag: 1 }, { tag: 1 }] }), /defined twice/);
  assert.throws(() => new DialPlan({ dialPeers: [{ tag: 1, translationProfile: { outgoing: 'nope' } }] }), /no such profile/);
});

test('the lookup index gives the same answer as testing every peer, on a carrier-sized plan', () => {
  const peers: Array<{ tag: number; destinationPattern: string; preference?: number; sessionTarget: string }> = [];
  for (let i = 0; i < 3000; i++) peers.push({ tag: i + 1, destinationPattern: `${1000 + (i % 900)}${'.'.repeat(i % 5)}${i % 7 === 0 ? 'T' : ''}`, preference: i % 3, sessionTarget: 'ipv4:192.0.2.1' });
  peers.push({ tag: 9001, destinationPattern: '.T', sessionTarget: 'ipv4:192.0.2.9' });
  const plan = new DialPlan({ dialPeers: peers });
  for (const n of ['1000', '10001', '1899123', '189', '5', '1234567']) {
    const expected = peers.filter((p) => compilePattern(p.destinationPattern).test(n)).length;
    assert.equal(plan.outbound(n).length, expected, n);
  }
  assert.equal(plan.outbound('1234567').at(-1)?.peer.tag, 9001, 'the catch-all comes last');
});

test('session target: ipv4/dns/sip-server/registrar/SIP URI with the transport of the peer', () => {
  const plan = new DialPlan({ sipServer: 'dns:proxy.example.com', dialPeers: [{ tag: 1 }] });
  const t = (sessionTarget: string, sessionTransport?: 'udp' | 'tcp' | 'tls') => peerTarget(plan, { tag: 1, sessionTarget, sessionTransport }, '5551234');
  assert.deepEqual(t('ipv4:1.1.1.1', 'tcp'), { kind: 'uri', uri: 'sip:5551234@1.1.1.1;transport=tcp' });
  assert.deepEqual(t('ipv4:1.1.1.1:5062'), { kind: 'uri', uri: 'sip:5551234@1.1.1.1:5062' });
  assert.deepEqual(t('dns:gw.example.com', 'tls'), { kind: 'uri', uri: 'sip:5551234@gw.example.com;transport=tls' });
  assert.deepEqual(t('sip-server'), { kind: 'uri', uri: 'sip:5551234@proxy.example.com' });
  assert.deepEqual(t('registrar'), { kind: 'registrar' });
  assert.deepEqual(t('sip:{number}@gw.example.com;user=phone'), { kind: 'uri', uri: 'sip:5551234@gw.example.com;user=phone' });
});

test('inbound: incoming called-number, then answer-address, then destination-pattern on the calling number', () => {
  const plan = new DialPlan({ dialPeers: [
    { tag: 1, destinationPattern: '408.......' },
    { tag: 2, answerAddress: '408555....' },
    { tag: 3, incomingCalledNumber: '2...' },
    { tag: 4, incomingCalledNumber: '20..' },
  ] });
  assert.equal(plan.inbound('2001', '4085551234')?.tag, 4, 'called number first, longest match');
  assert.equal(plan.inbound('3001', '4085551234')?.tag, 2, 'then answer-address');
  assert.equal(plan.inbound('3001', '4087771234')?.tag, 1, 'then destination-pattern on the calling number');
  assert.equal(plan.inbound('3001', '5551234'), undefined, 'none (IOS dial-peer 0)');
});

test('the handbook\'s §10 text, pasted as it is, imports to the dial-peers it configures; each unused line is reported', () => {
  const text = [
    'dial-peer voice 1000 voip',
    'destination-pattern 1111....',
    'redirect ip2ip //允许语音从一个 dial-peer 重定向到另一个 dial-peer。',
    'voice-class sip transport switch udp tcp //如果 voice packet 超过 MTU，SIP 默认又是使用 UDP，',
    '                                           那么就会产生 UDP 碎片',
    'session protocol sipv2 //配置实用 sip 协议。',
    'session target ipv4:1.1.1.1',
    'session transport tcp //SIP 默认使用 UDP 协议',
    '',
    'D-HPM-2611XM-1(config)#sip-ua',
    'D-HPM-2611XM-1(config-sip-ua)#?',
    'SIP UA configuration commands:',
    'registrar         Configure SIP registrar VoIP Interface',
    'SIP-GW(config)#sip-ua',
    'SIP-GW(config-sip-ua)#notify telephone-event max-duration 1000',
    'SIP-GW(config-sip-ua)#exit',
    '!',
    'SIP-GW(config)#dial-peer voice 3400 voip',
    'SIP-GW(config-dial-peer)#dtmf-relay ?',
    'cisco-rtp\tCisco Proprietary RTP',
    'rtp-nte\tRTP Named Telephone Event RFC 2833',
    'SIP-GW(config-dial-peer)#dtmf-relay sip-notify rtp-nte',
  ].join('\n');
  const { data, diagnostics } = importIos(text);
  assert.deepEqual(data.dialPeers, [
    { tag: 1000, destinationPattern: '1111....', transportSwitch: true, sessionTarget: 'ipv4:1.1.1.1', sessionTransport: 'tcp' },
    { tag: 3400, dtmfRelay: ['sip-notify', 'rtp-nte'] },
  ]);
  const lines = diagnostics.map((d) => d.line);
  assert.deepEqual(lines, [3, 5, 11, 12, 13, 15, 19, 20, 21], diagnostics.map((d) => `${d.line}: ${d.why}`).join('\n'));
  assert.match(diagnostics.find((d) => d.line === 19)!.why, /help request/);
  assert.match(diagnostics.find((d) => d.line === 20)!.why, /help listing/);
  const loaded = loadDialPlan(text);
  assert.equal(loaded.format, 'ios');
  assert.deepEqual(loaded.plan.outbound('11112222').map((m) => m.peer.tag), [1000]);
});

test('YAML dial plans are checked key by key', () => {
  const ok = loadDialPlan('dialPeers:\n  - tag: 1\n    destinationPattern: "9T"\n    sessionTarget: ipv4:192.0.2.1\n    translationProfile: { outgoing: strip9 }\ntranslationRules:\n  "1": ["rule 1 /^9\\\\(.*\\\\)/ /\\\\1/"]\ntranslationProfiles:\n  strip9: { called: "1" }\n');
  const [m] = ok.plan.outbound('95551234');
  assert.equal(m?.peer.tag, 1);
  const r = ok.plan.translate(m!.peer, 'outgoing', 'called', '95551234');
  assert.deepEqual(r, { kind: 'translated', number: '5551234', rule: 1 });
  assert.throws(() => loadDialPlan('dialPeers:\n  - tag: 1\n    preference: 11\n'), /dialPeers\.0\.preference/);
  assert.throws(() => loadDialPlan('dialPeers:\n  - tag: 1\n    destinationPattern: "1[2"\n'), /dial-peer 1 destination-pattern: unclosed \[/);
  assert.throws(() => loadDialPlan('dialPeers: [\n'), /not YAML/);
});

test('voice-class sip options-keepalive imports with its intervals (IOS defaults where left out); out of range is reported', () => {
  const { data, diagnostics } = importIos([
    'dial-peer voice 10 voip',
    'voice-class sip options-keepalive up-interval 30 retry 3',
    'dial-peer voice 20 voip',
    'voice-class sip options-keepalive',
    'dial-peer voice 30 voip',
    'voice-class sip options-keepalive down-interval 2',
  ].join('\n'));
  assert.deepEqual(data.dialPeers, [
    { tag: 10, optionsKeepalive: { upInterval: 30, retry: 3 } },
    { tag: 20, optionsKeepalive: {} },
    { tag: 30 },
  ]);
  assert.deepEqual(diagnostics.map((d) => d.line), [6]);
  assert.match(diagnostics[0]!.why, /down-interval 2: out of range/);
  assert.equal(loadDialPlan('dialPeers:\n  - tag: 1\n    optionsKeepalive: { upInterval: 60, retry: 5 }\n').plan.peers[0]!.optionsKeepalive?.retry, 5);
  assert.throws(() => loadDialPlan('dialPeers:\n  - tag: 1\n    optionsKeepalive: { retry: 0 }\n'), /optionsKeepalive\.retry/);
});
