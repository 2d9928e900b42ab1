/**
 * `options`, `call`, `answer` and `register`: the user-agent commands.
 *
 * @remarks App layer (`app/cli`). Thin wrappers over {@link UserAgent}.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { type Call, UserAgent, type IncomingCall, grantedExpires, redirectTargets } from '../../roles/user-agent/index.js';
import { type SipResponse, parseUri, parseNameAddr } from '../../sip/index.js';
import { syntheticCause } from '../../transaction/index.js';
import { type TransportKind, TRANSPORT_KINDS, parseListenSpec } from '../../transport/index.js';
import { printTrace } from './trace.js';
import { UsageError } from './usage-error.js';
import { type MediaFlags, mediaWanted, playSamples, startMedia, stopMedia } from './media.js';
import { dtmfAnswerHeaders, dtmfDigits, dtmfMaxDuration, dtmfMethods, dtmfOfferHeaders, printDigits, sendDigits } from './dtmf.js';

export interface CommonFlags {
  listen: string[];
  /** Outbound proxy for out-of-dialog requests. */
  proxy?: string;
  transport?: string;
  trace: boolean;
}

function transportFlag(t: string | undefined): TransportKind | undefined {
  if (t === undefined) return undefined;
  const k = t.toLowerCase() as TransportKind;
  if (!TRANSPORT_KINDS.includes(k)) throw new UsageError(`invalid --transport "${t}": expected udp, tcp, tls, ws or wss`);
  return k;
}

function targetUri(text: string | undefined, what: string): string {
  if (!text) throw new UsageError(`missing ${what}`);
  let t = text.trim();
  if (!/^[a-z][a-z0-9+.-]*:/i.test(t)) t = `sip:${t}`;
  try {
    const u = parseUri(t, what);
    if (u.kind !== 'sip') throw new UsageError(`${what} must be a sip: or sips: URI, got "${text}"`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`invalid ${what} "${text}": ${(e as Error).message}`);
  }
  return t;
}

/** The local address the kernel would use to reach `host` (no packet is sent). */
async function localAddressFor(host: string): Promise<string> {
  if (host === 'localhost' || host.startsWith('127.')) return '127.0.0.1';
  if (host === '::1') return '::1';
  if (!net.isIP(host)) return '0.0.0.0';
  return new Promise((resolve) => {
    const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    s.on('error', () => {
      s.close();
      resolve(net.isIPv6(host) ? '::' : '0.0.0.0');
    });
    s.connect(9, host, () => {
      const a = s.address().address;
      s.close();
      resolve(a);
    });
  });
}

/** Most redirections `call --follow-redirects` follows (a loop of 3xx ends there). */
const MAX_REDIRECTS = 5;

/** What `--media` can send and receive: G.711 and RFC 4733 events (no G.729, no comfort noise). */
const MEDIA_CODECS = ['PCMU', 'PCMA', 'telephone-event'];

async function startUa(flags: CommonFlags, target: string | undefined, extra: { from?: string; user?: string; password?: string; sessionTimer?: number; codecs?: string[] } = {}): Promise<{ ua: UserAgent; kind: TransportKind | undefined }> {
  const kind = transportFlag(flags.transport);
  let listen = flags.listen;
  if (listen.length === 0) {
    let host = '127.0.0.1';
    let uriKind: TransportKind | undefined;
    if (target) {
      const u = parseUri(target, 'target');
      if (u.kind === 'sip') {
        host = await localAddressFor(u.hostname);
        uriKind = (u.transport as TransportKind | undefined) ?? (u.scheme === 'sips' ? 'tls' : undefined);
      }
    }
    const k = kind ?? uriKind ?? 'udp';
    const h = host.includes(':') ? `[${host}]` : host;
    listen = [`${k}:${h}:0`];
    if (k === 'udp') listen.push(`tcp:${h}:0`); // for the §18.1.1 switch of large requests
  }
  for (const l of listen) try { parseListenSpec(l); } catch (e) { throw new UsageError((e as Error).message); } // a bad --listen is a usage error (exit 2)
  const credentials = extra.user ? { username: extra.user, password: extra.password ?? '' } : undefined;
  if (extra.from) targetUri(extra.from, '--from');
  const ua = await UserAgent.start({
    listen,
    from: extra.from,
    credentials,
    onTrace: flags.trace ? (ev) => printTrace(ev) : undefined,
    outboundProxy: flags.proxy ? targetUri(flags.proxy, '--proxy') : undefined,
    codecs: extra.codecs,
    sessionTimer: extra.sessionTimer === undefined ? undefined : { expires: extra.sessionTimer, minSE: Math.min(90, extra.sessionTimer) },
  });
  return { ua, kind };
}

function printResponse(res: SipResponse): void {
  const cause = syntheticCause(res);
  const note = cause === 'timeout' ? ' (no response: timed out)' : cause === 'transport-error' ? ' (transport error)' : '';
  process.stdout.write(`SIP/2.0 ${res.status} ${res.reason}${note}\n`);
  if (!cause) for (const [n, v] of res.headerLines()) process.stdout.write(`${n}: ${v}\n`);
}

/** `switchboard options <uri>`: exit 0 on 2xx, 1 on another final response, 3 on timeout. */
export async function optionsCommand(args: string[], flags: CommonFlags): Promise<number> {
  const target = targetUri(args[0], 'target URI (switchboard options <uri>)');
  const { ua, kind } = await startUa(flags, flags.proxy ? targetUri(flags.proxy, '--proxy') : target);
  try {
    const res = await ua.options(target, { transport: kind });
    printResponse(res);
    if (res.status >= 200 && res.status < 300) return 0;
    return res.status === 408 ? 3 : 1;
  } finally {
    await ua.stop();
  }
}

/** `switchboard call <uri> [--duration S]`: exit 0 when answered and ended cleanly. */
export async function callCommand(args: string[], flags: CommonFlags & { duration: number; from?: string; user?: string; password?: string; rel100?: boolean; sessionTimer?: number; transferTo?: string; holdAfter?: number; dtmf?: string; dtmfRelay?: string; dtmfMaxDuration?: string; followRedirects?: boolean } & MediaFlags): Promise<number> {
  const target = targetUri(args[0], 'target URI (switchboard call <uri>)');
  const transferTo = flags.transferTo === undefined ? undefined : targetUri(flags.transferTo, '--transfer-to');
  const digits = dtmfDigits(flags.dtmf);
  const audio = playSamples(flags.play);
  const methods = dtmfMethods(flags.dtmfRelay ?? (digits !== undefined ? 'sip-notify,sip-info' : undefined));
  const maxDuration = dtmfMaxDuration(flags.dtmfMaxDuration);
  const { ua, kind } = await startUa(flags, flags.proxy ? targetUri(flags.proxy, '--proxy') : target, { ...flags, codecs: mediaWanted(flags) ? MEDIA_CODECS : undefined });
  if (flags.dtmfRelay !== undefined) printDigits(ua);
  let finishMedia: () => Promise<void> = async () => {};
  try {
    const place = (uri: string) => ua.invite(uri, { transport: kind, require100rel: flags.rel100, headers: dtmfOfferHeaders(ua, methods, maxDuration), onProvisional: (r) => process.stdout.write(`progress: ${r.status} ${r.reason}\n`) });
    let call: Call = await place(target);
    // A 3xx (RFC 3261 §8.1.3.4): its Contacts are printed; --follow-redirects tries them in q order.
    const tried = new Set([target]);
    for (let hops = 0; !call.established && hops < MAX_REDIRECTS; hops++) {
      const r = call.finalResponse!;
      if (r.status < 300 || r.status >= 400) break;
      const contacts = redirectTargets(r);
      process.stdout.write(`${r.status} ${r.reason}: ${contacts.length > 0 ? `redirected to ${contacts.join(', ')}` : 'no Contact to follow'}\n`);
      const next = flags.followRedirects ? contacts.find((c) => !tried.has(c)) : undefined;
      if (next === undefined) break;
      tried.add(next);
      process.stdout.write(`following the redirection to ${next}\n`);
      call = await place(next);
    }
    if (!call.established) {
      const r = call.finalResponse!;
      process.stdout.write(`call failed: ${r.status} ${r.reason}\n`);
      return r.status === 408 ? 3 : 1;
    }
    process.stdout.write(`call established: ${call.dialog!.callId}\n`);
    const print = (l: string) => process.stdout.write(`${l}\n`);
    const rtp = mediaWanted(flags) ? await startMedia(call, audio, flags.record !== undefined, print, methods.includes('rtp-nte')) : undefined;
    let mediaStopped: Promise<void> | undefined;
    finishMedia = () => (mediaStopped ??= stopMedia(rtp, call, flags.record, print));
    void call.ended.then(finishMedia);
    if (digits !== undefined) {
      const method = await sendDigits(call, methods, digits, rtp, maxDuration);
      if (method === undefined) process.stdout.write(`DTMF: no method in common (ours: ${methods.join(', ')}; rtp-nte needs --media and telephone-event in both SDPs)\n`);
    }
    if (transferTo !== undefined) {
      // Blind transfer (RFC 3515): REFER the callee to the target, report the NOTIFYs' outcome.
      const t = await call.transfer(transferTo);
      process.stdout.write(`transfer: REFER ${t.response.status} ${t.response.reason}; ${t.final === undefined ? 'no final NOTIFY' : `the transferee's call to ${transferTo} ended ${t.final}`}\n`);
      return t.final !== undefined && t.final >= 200 && t.final < 300 ? 0 : 1;
    }
    if (flags.holdAfter !== undefined) {
      // Hold (RFC 3264 §8.4: a sendonly re-offer) S seconds into the call, then the rest of it on hold.
      const early = await Promise.race([new Promise<'hold'>((r) => setTimeout(() => r('hold'), flags.holdAfter! * 1000)), call.ended]);
      if (early === 'hold') {
        const h = await call.hold();
        process.stdout.write(`hold: re-INVITE ${h.status} ${h.reason}${h.status >= 200 && h.status < 300 ? ` (the other side answers ${/a=(recvonly|inactive)/.exec(call.remoteSdp ?? '')?.[1] ?? 'without a direction'})` : ''}\n`);
      }
    }
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), flags.duration * 1000));
    const outcome = await Promise.race([timer, call.ended]);
    if (outcome !== 'timeout') {
      process.stdout.write(`call ended by the other side (${outcome})\n`);
      return outcome === 'remote-bye' ? 0 : 1;
    }
    const bye = await call.bye();
    process.stdout.write(`call ended: BYE ${bye ? `${bye.status} ${bye.reason}` : 'not sent'}\n`);
    return bye && bye.status >= 200 && bye.status < 300 ? 0 : 1;
  } finally {
    await finishMedia();
    await ua.stop();
  }
}

/** `switchboard answer --listen …`: answers every INVITE with 180 + 200 and an SDP answer. */
export async function answerCommand(flags: CommonFlags & { maxCalls?: number; rel100?: boolean; sessionTimer?: number; dtmfRelay?: string; dtmf?: string; dtmfMaxDuration?: string } & MediaFlags): Promise<number> {
  if (flags.listen.length === 0) throw new UsageError('answer needs at least one --listen, e.g. --listen udp:127.0.0.1:5060');
  const methods = dtmfMethods(flags.dtmfRelay);
  const maxDuration = dtmfMaxDuration(flags.dtmfMaxDuration);
  const audio = playSamples(flags.play);
  const { ua } = await startUa(flags, undefined, { sessionTimer: flags.sessionTimer, codecs: mediaWanted(flags) ? MEDIA_CODECS : undefined });
  // Each digit received (NOTIFY telephone-event or INFO dtmf-relay) is printed and answered 200.
  if (flags.dtmfRelay !== undefined) printDigits(ua);
  const digits = dtmfDigits(flags.dtmf);
  for (const l of ua.transport.boundListeners) process.stdout.write(`listening on ${l.kind}:${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}\n`);
  let ended = 0;
  let answered = 0;
  return new Promise<number>((resolve) => {
    const finish = async (code: number) => {
      await ua.stop();
      resolve(code);
    };
    ua.on('invite', (inv: IncomingCall) => {
      if (flags.maxCalls !== undefined && answered >= flags.maxCalls) {
        inv.reject(486);
        return;
      }
      answered++;
      inv.progress(180, undefined, { reliable: flags.rel100 });
      const call = inv.accept(undefined, { headers: dtmfAnswerHeaders(ua, inv, methods, maxDuration) });
      const print = (l: string) => process.stdout.write(`${l}\n`);
      const start = () => startMedia(call, audio, flags.record !== undefined, print, methods.includes('rtp-nte'));
      // An INVITE without an offer (RFC 3261 §13.2.1): the answer comes in the ACK, media after it.
      const offerless = inv.request.body.length === 0;
      const rtp = !call.established || !mediaWanted(flags)
        ? Promise.resolve(undefined)
        : !offerless
          ? start()
          : new Promise<Awaited<ReturnType<typeof start>>>((resolve) => {
              call.session.once('confirmed', () => resolve(start()));
              call.session.once('ended', () => resolve(undefined));
            });
      // `--dtmf`: the digits go once the caller's ACK confirmed the call (RFC 3261 §13.3.1.4).
      if (digits !== undefined) call.session.once('confirmed', () => void rtp.then((r) => sendDigits(call, methods.length > 0 ? methods : ['sip-notify', 'sip-info'], digits, r, maxDuration)).catch(() => {}));
      call.ended.then(async (reason) => {
        await stopMedia(await rtp, call, flags.record, print);
        ended++;
        process.stdout.write(`call ${ended} ended: ${reason}\n`);
        // A 200 to one of the last BYEs may have been lost: keep answering retransmissions until
        // every transaction has ended (Timer J for a BYE, Timer L for the last INVITE), then leave.
        if (flags.maxCalls !== undefined && ended === flags.maxCalls) void ua.settled().then(() => finish(0));
      });
    });
    const stop = () => void finish(0);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** `switchboard register <aor> --registrar <uri> …`. */
export async function registerCommand(args: string[], flags: CommonFlags & { registrar?: string; user?: string; password?: string; expires: number; contact?: string }): Promise<number> {
  const aor = targetUri(args[0], 'address-of-record (switchboard register <aor> --registrar <uri>)');
  const registrar = targetUri(flags.registrar, '--registrar <uri>');
  if (flags.contact !== undefined && flags.contact !== '*') {
    try {
      parseNameAddr(flags.contact, '--contact').uri;
    } catch (e) {
      throw new UsageError(`invalid --contact "${flags.contact}": ${(e as Error).message}`);
    }
  }
  const { ua, kind } = await startUa(flags, registrar, { user: flags.user ?? parseUri(aor).toString().replace(/^sips?:([^@]*)@.*$/, '$1'), password: flags.password });
  const once = async (expires: number) => {
    const res = await ua.register(registrar, { aor, contact: flags.contact, expires, transport: kind });
    printResponse(res);
    return res;
  };
  try {
    const res = await once(flags.expires);
    if (res.status < 200 || res.status >= 300) return res.status === 408 ? 3 : 1;
    if (flags.contact !== undefined) return 0;
    // Stay registered: refresh before the granted expiry (RFC 3261 §10.2.4), unregister on exit.
    const granted = grantedExpires(res, flags.expires);
    process.stdout.write(`registered for ${granted} s; refreshing until interrupted\n`);
    return await new Promise<number>((resolve) => {
      let timer: NodeJS.Timeout;
      const schedule = (secs: number) => {
        timer = setTimeout(async () => {
          const r = await once(flags.expires);
          schedule(grantedExpires(r, flags.expires));
        }, Math.max(1, secs * 0.8) * 1000);
      };
      schedule(granted);
      const stop = async () => {
        clearTimeout(timer);
        await once(0).catch(() => undefined);
        resolve(0);
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
    });
  } finally {
    await ua.stop();
  }
}
