// A browser phone through the B2BUA: SIP.js over WebSocket, with its defaults (its Contact host is
// a random `….invalid`, RFC 7118 §5), calls through `serve` (roles registrar + b2bua) a Switchboard
// user agent that answers and hangs up half a second later. The B2BUA's BYE on leg A must go back
// on the WebSocket the INVITE came on — resolving the Contact's host would find nothing — and
// SIP.js's session ends by that BYE.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Inviter, SessionState, UserAgent as SipJsUserAgent } from 'sip.js';
import { UserAgent } from '../../../src/roles/user-agent/index.js';
import { stopAll } from '../../harness/processes.js';
import { freePorts, startServe, writeConfig } from '../callflows/callflow-harness.js';

(globalThis as unknown as { WebSocket: unknown }).WebSocket = WebSocket;
after(stopAll);

test('SIP.js over WebSocket (defaults) calls through the B2BUA; the callee hangs up; the BYE reaches SIP.js on its WebSocket', { timeout: 40_000 }, async () => {
  const [udpPort, wsPort, calleePort] = (await freePorts(3)) as [number, number, number];
  const cfg = writeConfig([
    `listen: [udp:127.0.0.1:${udpPort}, ws:127.0.0.1:${wsPort}]`,
    'domains: [127.0.0.1]',
    'roles: [registrar, b2bua]',
    'store: memory',
    'registrar: {authenticate: false}',
    `b2bua: {target: 'sip:{user}@127.0.0.1:${calleePort}'}`,
    '',
  ].join('\n'));
  const server = await startServe(cfg.path, { udpPorts: [udpPort], tcpPorts: [wsPort] });
  const callee = await UserAgent.start({ listen: [`udp:127.0.0.1:${calleePort}`] });
  callee.on('invite', (inv) => {
    const call = inv.accept();
    setTimeout(() => void call.bye().catch(() => undefined), 500);
  });
  const phone = new SipJsUserAgent({
    uri: SipJsUserAgent.makeURI('sip:alice@127.0.0.1'),
    transportOptions: { server: `ws://127.0.0.1:${wsPort}` },
    logBuiltinEnabled: false,
    // No media in Node: an SDP offer of our own, the answer taken as it comes.
    sessionDescriptionHandlerFactory: () => ({
      getDescription: async () => ({ body: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n', contentType: 'application/sdp' }),
      setDescription: async () => undefined,
      hasDescription: () => true,
      sendDtmf: () => false,
      close: () => undefined,
      rollbackDescription: async () => undefined,
    }) as never,
  });
  try {
    await phone.start();
    const states: string[] = [];
    const inviter = new Inviter(phone, SipJsUserAgent.makeURI('sip:bob@127.0.0.1')!);
    const ended = new Promise<void>((resolve) => {
      inviter.stateChange.addListener((s) => {
        states.push(s);
        if (s === SessionState.Terminated) resolve();
      });
    });
    await inviter.invite();
    const outcome = await Promise.race([ended.then(() => 'ended'), new Promise<string>((r) => setTimeout(() => r('not ended within 10 s'), 10_000))]);
    const log = server.output().stderr;
    assert.equal(outcome, 'ended', `SIP.js states: ${states.join(' → ')}\n--- serve ---\n${log.slice(-4000)}`);
    assert.ok(states.includes(SessionState.Established), `established first: ${states.join(' → ')}`);
    const trace = server.trace();
    const byeToPhone = trace.find((m) => m.dir === 'Sent' && m.kind === 'request' && m.method === 'BYE' && m.transport === 'WS');
    assert.ok(byeToPhone, 'the B2BUA sent its BYE over the WebSocket');
    assert.match(byeToPhone.requestUri ?? '', /\.invalid/, 'to the phone\'s .invalid Contact, on its connection');
  } finally {
    await phone.stop().catch(() => undefined);
    await callee.stop();
    await server.stop();
    cfg.cleanup();
  }
});
