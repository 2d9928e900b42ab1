/**
 * RTP for `switchboard call` and `answer` (`--media`, `--play FILE.wav`, `--record FILE.wav`):
 * once a call is answered, G.711 audio flows between our SDP's address and port and the peer's
 * (the first of PCMU/PCMA in the answer, its ptime or 20 ms) — silence, or the WAV file — and the
 * receiving counts are printed when the call ends. Off unless asked (a test holding a thousand
 * calls does not want 50 packets a second each).
 *
 * @remarks App layer (`app/cli`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { type G711, RtpSession, type RtpStats, WavError, readWav, samples, silence, writeWav } from '../../media/index.js';
import { audioEndpoint, parseSdp } from '../../sdp/index.js';
import type { Call } from '../../roles/user-agent/index.js';
import { UsageError } from './usage-error.js';

export interface MediaFlags {
  media?: boolean;
  play?: string;
  record?: string;
}

export const mediaWanted = (f: MediaFlags): boolean => f.media === true || f.play !== undefined || f.record !== undefined;

/** The WAV file to play, read at start-up so that a bad file is a usage error (exit 2). */
export function playSamples(file: string | undefined): Int16Array | undefined {
  if (file === undefined) return undefined;
  try {
    return readWav(readFileSync(file));
  } catch (e) {
    throw new UsageError(`--play ${file}: ${e instanceof WavError ? e.message : ((e as NodeJS.ErrnoException).code ?? (e as Error).message)}`);
  }
}

/** The G.711 codec of the answer (its first format that is PCMU or PCMA). */
function codecOf(answer: string): G711 | undefined {
  const md = parseSdp(answer).mediaDescriptions.find((m) => m.media === 'audio' && m.port !== 0);
  for (const f of md?.formats ?? []) {
    if (f === '0') return 'PCMU';
    if (f === '8') return 'PCMA';
  }
  return undefined;
}

/** The telephone-event payload type of the answer (RFC 4733: both ends have it), if any. */
function telephoneEventOf(answer: string): number | undefined {
  const md = parseSdp(answer).mediaDescriptions.find((m) => m.media === 'audio' && m.port !== 0);
  const r = md?.rtpmaps.find((x) => x.encodingName.toLowerCase() === 'telephone-event');
  return r?.payloadType;
}

/**
 * Starts RTP for an answered call; undefined (and a line saying why) when it cannot. RFC 4733
 * events received are printed (`DTMF <digit> rtp-nte`) when `printEvents` (rtp-nte is in the
 * `--dtmf-relay` list).
 */
export async function startMedia(call: Call, audio: Int16Array | undefined, keep: boolean, print: (line: string) => void, printEvents = false): Promise<RtpSession | undefined> {
  const local = call.localSdp;
  const remote = call.remoteSdp;
  // The answer is the far end's when we offered in the INVITE, ours when it did (a delayed offer turns it round).
  const inviteOffered = (call.invite?.body.length ?? 0) > 0;
  const answer = (call.direction === 'outgoing') === inviteOffered ? remote : local;
  const l = local ? audioEndpoint(local) : undefined;
  const r = remote ? audioEndpoint(remote) : undefined;
  const codec = answer ? codecOf(answer) : undefined;
  if (!l || !r || !codec) {
    print(`RTP: not started (${!codec ? 'no PCMU or PCMA was agreed' : 'no active audio stream on both sides'})`);
    return undefined;
  }
  try {
    return await RtpSession.start({
      local: { address: l.address, port: l.port }, remote: { address: r.address, port: r.port }, codec, ptimeMs: r.ptime ?? 20, source: audio ? samples(audio) : silence, keep,
      telephoneEvent: telephoneEventOf(answer!), onEvent: printEvents ? (d) => print(`DTMF ${d} rtp-nte`) : undefined,
    });
  } catch (e) {
    print(`RTP: not started: cannot bind ${l.address}:${l.port}: ${(e as Error).message}`);
    return undefined;
  }
}

export function describeRtp(codec: string, s: RtpStats): string {
  return `RTP ${codec}: sent ${s.sent} packets, received ${s.received} (lost ${s.lost}, jitter ${s.jitterMs} ms${s.from ? `, from ${s.from}` : ''})`;
}

/** Stops RTP, prints the counts, writes the received audio to `record`. */
export async function stopMedia(session: RtpSession | undefined, call: Call, record: string | undefined, print: (line: string) => void): Promise<void> {
  if (!session) return;
  const stats = await session.stop();
  const answer = call.direction === 'outgoing' ? call.remoteSdp : call.localSdp;
  print(describeRtp((answer && codecOf(answer)) ?? '?', stats));
  if (record !== undefined) {
    const audio = session.audio;
    writeFileSync(record, writeWav(audio));
    print(`recorded ${audio.length} samples (${(audio.length / 8000).toFixed(2)} s) to ${record}`);
  }
}
