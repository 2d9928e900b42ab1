/**
 * How the B2BUA tells each side the other's media (the handbook's call flow 4, RFC 3264): media
 * passthrough — RTP flows directly between the endpoints, so each leg's description carries the
 * other endpoint's address and port — with the codecs both endpoints have, in the caller's
 * preference order (telephone-event kept when both have it).
 *
 * @remarks Role (`roles/b2bua`). Pure functions over `sdp/`.
 */
import { SdpError, type SessionDescription, audioEndpoint, codecByName, createAnswer, parseSdp, resolveCodec } from '../../sdp/index.js';

type Sdp = string | SessionDescription;
const parsed = (sdp: Sdp): SessionDescription => (typeof sdp === 'string' ? parseSdp(sdp) : sdp);

/** The codec names of the first audio stream of `sdp`, in its order (those the codec table knows). */
export function codecNames(sdp: Sdp): string[] {
  const md = parsed(sdp).mediaDescriptions.find((m) => m.media === 'audio' && m.port !== 0);
  if (!md) return [];
  const names: string[] = [];
  for (const f of md.formats) {
    const pt = Number(f);
    const codec = resolveCodec(pt, md.rtpmaps.find((r) => r.payloadType === pt));
    if (codec && !names.includes(codec.name)) names.push(codec.name);
  }
  return names;
}

/** Where `sdp` wants its RTP: the address and port of its first active audio stream. */
export function mediaOf(sdp: Sdp): { address: string; port: number } {
  const ep = audioEndpoint(parsed(sdp));
  if (!ep) throw new TypeError('no active audio stream');
  return { address: ep.address, port: ep.port };
}

/** What one side of a call said, for {@link bridgedAnswer}: its codecs and its media address. */
export interface Side {
  codecs: string[];
  media: { address: string; port: number };
}

/**
 * The answer one side gets to its offer, made from what the other side said: the offer's codecs
 * that `other.codecs` also lists (in the offer's order, with the offer's payload types, RFC 3264
 * §6.1), at the other endpoint's media address; and the codecs it kept. Throws
 * (SDP_ERR_NO_COMMON_CODEC) when they share no voice codec: the caller then gets 488 (RFC 3261
 * §13.3.1.1). A description parsed once can be passed as it is (a call parses each SDP once).
 */
export function bridged(offer: Sdp, other: Side): { sdp: string; codecs: string[] } {
  if (!other.codecs.some((c) => !codecByName(c)?.auxiliary)) throw new SdpError('SDP_ERR_NO_COMMON_CODEC', 'the other side lists no voice codec we know');
  const r = createAnswer(offer, { ...other.media, codecs: other.codecs });
  return { sdp: r.sdp, codecs: r.codecs.map((c) => c.name) };
}

/** {@link bridged}, the SDP only. */
export function bridgedAnswer(offer: Sdp, other: Side): string {
  return bridged(offer, other).sdp;
}

/** What `sdp` says, for {@link bridgedAnswer}: its codecs and its media address (one parse). */
export function sideOf(sdp: Sdp): Side {
  const sd = parsed(sdp);
  return { codecs: codecNames(sd), media: mediaOf(sd) };
}
