/**
 * `switchboard gateway call NUMBER --config FILE`: a call from the telephone network behind the
 * gateway, as when a PSTN phone dials NUMBER into a Cisco gateway — the gateway of the config
 * (its `gateway:` settings and dial plan, without registering its numbers) places it by its
 * outbound dial-peers in hunt order, prints each attempt, and once answered keeps the call
 * `--duration` seconds (DTMF and RTP as `switchboard call` does them), then hangs up with
 * `Reason: Q.850;cause=16`. Exit 0 when answered and ended cleanly, 1 when the call failed.
 *
 * @remarks App layer (`app/cli`).
 */
import { type DtmfMethod, DTMF_METHODS } from '../../media/index.js';
import { startServer } from '../server.js';
import { dtmfDigits, sendDigits } from './dtmf.js';
import { type MediaFlags, mediaWanted, playSamples, startMedia, stopMedia } from './media.js';
import { type ServerFlags, resolveConfigs } from './server-commands.js';
import { printTrace } from './trace.js';
import { UsageError } from './usage-error.js';

export interface GatewayCallFlags extends ServerFlags, MediaFlags {
  calling?: string;
  duration: number;
  dtmf?: string;
}

export async function gatewayCommand(args: string[], flags: GatewayCallFlags): Promise<number> {
  const [sub, number, ...rest] = args;
  if (sub !== 'call') throw new UsageError(`unknown gateway command "${sub ?? ''}" (try: gateway call NUMBER --config FILE)`);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  if (number === undefined || !/^\+?[0-9*#]+$/.test(number)) throw new UsageError(`gateway call needs the called number, e.g. gateway call 14085550100 (got "${number ?? ''}")`);
  if (flags.calling !== undefined && !/^\+?[0-9*#]+$/.test(flags.calling)) throw new UsageError(`invalid --calling "${flags.calling}": expected a number`);
  const digits = dtmfDigits(flags.dtmf);
  const audio = playSamples(flags.play);
  const [config] = resolveConfigs(flags);
  if (!config!.roles.includes('gateway')) throw new UsageError(`gateway call needs a config with roles: [gateway] (${flags.config ?? 'the defaults'} has ${config!.roles.join(', ')})`);
  const log = (line: string) => process.stderr.write(`switchboard: ${line}\n`);
  const server = await startServer(config!, { onTrace: flags.trace ? (ev) => printTrace(ev) : undefined, log, register: false });
  const gateway = server.gateway!;
  const print = (l: string) => process.stdout.write(`${l}\n`);
  try {
    const out = await gateway.call(number, flags.calling);
    for (const a of out.attempts) print(`dial-peer ${a.peer}: INVITE ${a.uri}: ${a.status} ${a.reason}`);
    const call = out.call;
    if (!call) {
      print(`call failed: ${out.status} ${out.reason} (Q.850 cause ${out.cause})`);
      return 1;
    }
    print(`call answered on dial-peer ${out.peer!.tag}: ${call.dialog!.callId}`);
    const rtp = mediaWanted(flags) ? await startMedia(call, audio, flags.record !== undefined, print, out.peer!.dtmfRelay?.includes('rtp-nte')) : undefined;
    if (digits !== undefined) {
      // The dial-peer's `dtmf-relay` list, in its order, limited to the methods we implement.
      const methods = (out.peer!.dtmfRelay ?? ['sip-notify', 'sip-info']).filter((m): m is DtmfMethod => DTMF_METHODS.includes(m as DtmfMethod));
      const used = await sendDigits(call, methods, digits, rtp, config!.gateway.notifyMaxDuration);
      if (used === undefined) print(`DTMF: no method in common with the far end (dial-peer ${out.peer!.tag}: ${methods.join(', ') || 'none'})`);
    }
    const outcome = await Promise.race([new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), flags.duration * 1000)), call.ended]);
    if (outcome !== 'timeout') {
      await stopMedia(rtp, call, flags.record, print);
      print(`call ended by the other side (${outcome})`);
      return outcome === 'remote-bye' ? 0 : 1;
    }
    const bye = await gateway.hangUp(call);
    await stopMedia(rtp, call, flags.record, print);
    print(`call ended: BYE ${bye ? `${bye.status} ${bye.reason}` : 'not sent'} (Reason: Q.850;cause=16)`);
    return bye && bye.status >= 200 && bye.status < 300 ? 0 : 1;
  } finally {
    await server.stop();
  }
}
