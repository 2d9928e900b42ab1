/**
 * HEP v3 ("EEP", Homer / sipcapture's Extensible Encapsulation Protocol) export of SIP messages:
 * each {@link MessageRecord} becomes one HEP3 packet, sent over UDP to a collector (Homer,
 * heplify-server, sngrep `-L`), so the operator sees our traffic next to what other nodes capture.
 *
 * Wire format (HEP3 Network Protocol Specification, sipcapture/HEP `docs/`): `"HEP3"`, a uint16
 * total length (the whole packet, header included), then chunks, each a uint16 vendor id (0x0000 =
 * generic), a uint16 type id and a uint16 length that counts the chunk's own 6-byte header. All
 * integers big-endian. The generic chunk types used here (the spec itself is a PDF; its table is
 * restated in the `hep` crate's `Chunk` docs, docs.rs/hep), cross-checked against: sipcapture/heplify
 * and heplify-server `decoder/hep.go` (the collector's own parser, which also checks each fixed
 * chunk's size), Kamailio `src/modules/sipcapture/hep.h` + `src/modules/siptrace/siptrace_hep.c`
 * (`trace_send_hep3_duplicate`, a sender), sipcapture/hep-js `index.js` (0x0013 node name), and
 * sngrep 1.6.0 `src/capture_eep.c` (`capture_eep_receive_v3`, a receiver):
 *
 * | type   | size | meaning                                                           |
 * |--------|------|-------------------------------------------------------------------|
 * | 0x0001 | u8   | IP protocol family: 2 = IPv4, 10 = IPv6 (Linux AF_INET/AF_INET6)   |
 * | 0x0002 | u8   | IP protocol id: 17 = UDP, 6 = TCP, 132 = SCTP                     |
 * | 0x0003 | 4    | IPv4 source address                                               |
 * | 0x0004 | 4    | IPv4 destination address                                          |
 * | 0x0005 | 16   | IPv6 source address                                               |
 * | 0x0006 | 16   | IPv6 destination address                                          |
 * | 0x0007 | u16  | source port                                                       |
 * | 0x0008 | u16  | destination port                                                  |
 * | 0x0009 | u32  | timestamp, seconds since the epoch                                |
 * | 0x000a | u32  | timestamp, microseconds offset (added to 0x0009)                  |
 * | 0x000b | u8   | protocol type: 1 = SIP                                            |
 * | 0x000c | u32  | capture agent id                                                  |
 * | 0x000e | str  | authentication key (password), only when configured               |
 * | 0x000f | blob | the captured payload: the SIP message's bytes, unchanged          |
 * | 0x0011 | str  | correlation id: the Call-ID, when the message has one             |
 * | 0x0013 | str  | node name, only when configured                                   |
 *
 * Why not the npm package `hep-js` (1.0.22): it is GPL-2.0 (Switchboard is MIT), its encoder
 * writes IPv4 chunks only (it splits the address on '.'; an IPv6 peer becomes garbage), it takes
 * the payload as a string and sizes the chunk by `string.length` (characters, not bytes: a non-ASCII
 * header would be cut short), always emits a node-name chunk, and pulls in two dependencies for
 * what is some forty lines of `Buffer` writes. A small encoder of our own is byte-exact, covers
 * IPv6, and is checked by an independent decoder (`hep.test.ts`) and by a real collector, sngrep
 * (`test/interop/operations/hep-sngrep.test.ts`).
 *
 * Only UDP export: HEP over TCP would frame the same packets back to back on a stream, but a
 * stream needs connecting, reconnecting after the collector restarts, and a bounded buffer for
 * while it is down — state a fire-and-forget exporter does not otherwise need. UDP loses a packet
 * when the collector is away, which is what a capture side channel should do (it must never slow
 * or block SIP).
 *
 * @remarks Leaf (`observability/`): node builtins, the record type and `util/` only.
 */
import * as dgram from 'node:dgram';
import { isIP } from 'node:net';
import { SipError } from '../util/errors.js';
import { endpoints, splitHostPort, type MessageRecord } from './message-record.js';
import { ipv4Bytes, ipv6Bytes } from '../util/ip.js';

/** Generic chunk type ids (vendor 0x0000); see the table in the file header for their sources. */
export const HEP_CHUNK = {
  ipFamily: 0x0001,
  ipProtocol: 0x0002,
  ipv4Src: 0x0003,
  ipv4Dst: 0x0004,
  ipv6Src: 0x0005,
  ipv6Dst: 0x0006,
  srcPort: 0x0007,
  dstPort: 0x0008,
  timeSeconds: 0x0009,
  timeMicros: 0x000a,
  protocolType: 0x000b,
  captureId: 0x000c,
  authKey: 0x000e,
  payload: 0x000f,
  correlationId: 0x0011,
  nodeName: 0x0013,
} as const;

/** 0x0001 values: the Linux AF_INET / AF_INET6 numbers, which every HEP peer uses on the wire. */
const FAMILY_IPV4 = 2;
const FAMILY_IPV6 = 10;
/** 0x000b value for SIP. */
const PROTO_TYPE_SIP = 1;
/** The packet's total length is a uint16 (and so is each chunk's). */
const MAX_PACKET = 0xffff;

export interface HepEncodeOptions {
  /** Capture agent id (0x000c), a uint32. */
  captureId: number;
  /** Authentication key (0x000e), sent in clear; omitted when absent or empty. */
  password?: string;
  /** Node name (0x0013); omitted when absent or empty. */
  nodeName?: string;
}

/**
 * A record that HEP cannot carry: an endpoint that is not an IP literal (HEP has address chunks,
 * not names), a transport with no IP protocol number, or a packet over 65,535 bytes.
 * Codes: `HEP_ERR_ADDRESS`, `HEP_ERR_TRANSPORT`, `HEP_ERR_TOO_LARGE`, `HEP_ERR_OPTION`.
 */
export class HepEncodeError extends SipError {
  override name = 'HepEncodeError';
}

/** One address in both forms it may need: 16 bytes always, 4 bytes when it is IPv4 (or v4-mapped). */
interface Addr {
  v4?: Buffer;
  v6: Buffer;
}

const V4_MAPPED_PREFIX = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

function parseAddr(hostPort: string, which: string): { addr: Addr; port: number } {
  const { host, port } = splitHostPort(hostPort);
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new HepEncodeError('HEP_ERR_ADDRESS', `hep: ${which} "${hostPort}" has no valid port`);
  }
  const kind = isIP(host);
  if (kind === 4) {
    const v4 = ipv4Bytes(host);
    return { addr: { v4, v6: Buffer.concat([V4_MAPPED_PREFIX, v4]) }, port };
  }
  if (kind === 6) {
    const v6 = ipv6Bytes(host);
    const mapped = v6.subarray(0, 12).equals(V4_MAPPED_PREFIX);
    return { addr: mapped ? { v4: Buffer.from(v6.subarray(12)), v6 } : { v6 }, port };
  }
  // HEP's address chunks hold 4 or 16 bytes, not a name; resolving here would put a DNS lookup
  // (and a guess, when the name has several addresses) on every captured message.
  throw new HepEncodeError('HEP_ERR_ADDRESS', `hep: ${which} "${hostPort}" is not an IP address`);
}

/** 0x0002: the IP protocol the SIP transport runs on (TLS and WebSockets ride on TCP). */
function ipProtocolOf(transport: string): number {
  switch (transport.toLowerCase()) {
    case 'udp':
      return 17;
    case 'tcp':
    case 'tls':
    case 'ws':
    case 'wss':
      // Kamailio's siptrace sends a made-up 22 (IPPROTO_IDP) for tls/ws/wss; we send what the IP
      // header says, 6, so collectors that dissect by protocol number see TCP.
      return 6;
    case 'sctp':
    case 'tls-sctp':
      return 132;
    default:
      throw new HepEncodeError('HEP_ERR_TRANSPORT', `hep: transport "${transport}" has no IP protocol number`);
  }
}

function chunk(type: number, body: Buffer): Buffer {
  if (6 + body.length > MAX_PACKET) {
    throw new HepEncodeError('HEP_ERR_TOO_LARGE', `hep: chunk 0x${type.toString(16)} of ${body.length} bytes exceeds the 65535-byte HEP3 length`);
  }
  const h = Buffer.alloc(6);
  h.writeUInt16BE(0x0000, 0); // vendor: generic
  h.writeUInt16BE(type, 2);
  h.writeUInt16BE(6 + body.length, 4); // the length counts the chunk header itself
  return Buffer.concat([h, body]);
}

const u8 = (v: number) => Buffer.from([v]);
function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}

/**
 * One HEP3 packet for one SIP message. Source and destination follow the direction the message
 * travelled ({@link endpoints}). Throws {@link HepEncodeError} for what HEP cannot carry — the
 * caller ({@link HepExporter}) counts such a record as dropped and goes on.
 *
 * Families: HEP has one family chunk per packet. Two IPv4 ends (or IPv4-mapped IPv6 ones, as a
 * dual-stack socket reports plain IPv4 traffic) are sent as IPv4; otherwise both as IPv6, an
 * IPv4 end as `::ffff:a.b.c.d` (Kamailio refuses such "interworking"; mapping keeps the message).
 */
export function encodeHep3(record: MessageRecord, opts: HepEncodeOptions): Buffer {
  if (!Number.isInteger(opts.captureId) || opts.captureId < 0 || opts.captureId > 0xffffffff) {
    throw new HepEncodeError('HEP_ERR_OPTION', `hep: capture id ${opts.captureId} is not a uint32`);
  }
  const { src, dst } = endpoints(record);
  const s = parseAddr(src, 'source');
  const d = parseAddr(dst, 'destination');
  const v4 = s.addr.v4 !== undefined && d.addr.v4 !== undefined;

  // record.time is milliseconds with the microseconds as a fraction; round once, in microseconds,
  // so that .9999995 carries into the next second instead of giving a 1,000,000 µs offset.
  const micros = Math.round(record.time * 1000);
  const seconds = Math.floor(micros / 1e6);

  const chunks: Buffer[] = [
    chunk(HEP_CHUNK.ipFamily, u8(v4 ? FAMILY_IPV4 : FAMILY_IPV6)),
    chunk(HEP_CHUNK.ipProtocol, u8(ipProtocolOf(record.transport))),
    v4 ? chunk(HEP_CHUNK.ipv4Src, s.addr.v4!) : chunk(HEP_CHUNK.ipv6Src, s.addr.v6),
    v4 ? chunk(HEP_CHUNK.ipv4Dst, d.addr.v4!) : chunk(HEP_CHUNK.ipv6Dst, d.addr.v6),
    chunk(HEP_CHUNK.srcPort, u16(s.port)),
    chunk(HEP_CHUNK.dstPort, u16(d.port)),
    chunk(HEP_CHUNK.timeSeconds, u32(seconds >>> 0)),
    chunk(HEP_CHUNK.timeMicros, u32(micros - seconds * 1e6)),
    chunk(HEP_CHUNK.protocolType, u8(PROTO_TYPE_SIP)),
    chunk(HEP_CHUNK.captureId, u32(opts.captureId)),
  ];
  if (opts.password) chunks.push(chunk(HEP_CHUNK.authKey, Buffer.from(opts.password, 'utf8')));
  // Homer groups a call's messages by this (and by Call-ID in the payload): Kamailio sends the
  // Call-ID here too.
  if (record.callId) chunks.push(chunk(HEP_CHUNK.correlationId, Buffer.from(record.callId, 'utf8')));
  if (opts.nodeName) chunks.push(chunk(HEP_CHUNK.nodeName, Buffer.from(opts.nodeName, 'utf8')));
  chunks.push(chunk(HEP_CHUNK.payload, record.bytes));

  const total = 6 + chunks.reduce((n, c) => n + c.length, 0);
  if (total > MAX_PACKET) {
    throw new HepEncodeError('HEP_ERR_TOO_LARGE', `hep: packet of ${total} bytes exceeds the 65535-byte HEP3 length`);
  }
  const head = Buffer.alloc(6);
  head.write('HEP3', 0, 'latin1');
  head.writeUInt16BE(total, 4); // the whole packet, these 6 bytes included
  return Buffer.concat([head, ...chunks], total);
}

export interface HepTarget {
  transport: 'udp';
  host: string;
  port: number;
  family: 4 | 6;
}

/**
 * `udp:HOST:PORT` → target. HOST is an IPv4 literal or a bracketed IPv6 one (`udp:[::1]:9060`);
 * a name is refused (the exporter binds one socket of the target's family, with no DNS).
 */
export function parseHepTarget(text: string): HepTarget {
  const bad = (why: string): never => {
    throw new SipError('HEP_ERR_TARGET', `hep target "${text}": ${why}`);
  };
  const m = /^([a-z]+):(.*):(\d+)$/i.exec(text.trim());
  if (!m) return bad('expected udp:HOST:PORT');
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'udp') return bad(`transport "${m[1]}" is not supported (only udp)`);
  let host = m[2]!;
  const bracketed = host.startsWith('[') && host.endsWith(']');
  if (bracketed) host = host.slice(1, -1);
  const family = isIP(host);
  if (family === 0) return bad(`host "${m[2]}" is not an IPv4 address or a bracketed IPv6 address`);
  if (family === 6 && !bracketed) return bad(`IPv6 host "${m[2]}" must be in brackets, e.g. udp:[${host}]:9060`);
  if (family === 4 && bracketed) return bad(`IPv4 host "${m[2]}" must not be in brackets`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return bad(`port ${m[3]} is out of range 1-65535`);
  return { transport: 'udp', host, port, family: family as 4 | 6 };
}

export interface HepExporterOptions {
  /** `udp:HOST:PORT`, HOST an IPv4 or a bracketed IPv6 literal. */
  target: string;
  /** Capture agent id (0x000c); default 2001. */
  captureId?: number;
  /** Authentication key (0x000e). */
  password?: string;
  /** Node name (0x0013). */
  nodeName?: string;
}

/**
 * Sends each exported record as one HEP3 datagram. Fire and forget: {@link export} never throws
 * and never waits; what it could not encode or send is counted in {@link dropped}. At most
 * {@link HepExporter.MAX_IN_FLIGHT} datagrams wait for the kernel at once (beyond that a record
 * is dropped), so a stalled socket cannot grow memory without bound.
 */
export class HepExporter {
  /** Datagrams handed to the socket and not yet confirmed: the only queue, and it is bounded. */
  static readonly MAX_IN_FLIGHT = 1024;

  readonly target: HepTarget;
  private readonly encodeOpts: HepEncodeOptions;
  private socket: dgram.Socket | undefined;
  private inFlight = 0;
  /** Datagrams the kernel accepted. */
  sent = 0;
  /** Records not delivered to the socket: unencodable (see {@link HepEncodeError}), a send error, not started/closed, or over the in-flight bound. */
  dropped = 0;
  /** The last reason something was dropped, for diagnostics. */
  lastError: Error | undefined;

  constructor(opts: HepExporterOptions) {
    this.target = parseHepTarget(opts.target);
    const captureId = opts.captureId ?? 2001;
    if (!Number.isInteger(captureId) || captureId < 0 || captureId > 0xffffffff) {
      throw new SipError('HEP_ERR_OPTION', `hep: capture id ${captureId} is not a uint32`);
    }
    this.encodeOpts = { captureId, password: opts.password, nodeName: opts.nodeName };
  }

  /** Binds an ephemeral UDP port of the target's family (on the wildcard address). */
  async start(): Promise<void> {
    if (this.socket) return;
    const socket = dgram.createSocket(this.target.family === 6 ? 'udp6' : 'udp4');
    // An 'error' event with no listener would crash the process; a capture side channel must not.
    socket.on('error', (err) => {
      this.lastError = err;
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      socket.once('error', onError);
      socket.bind(0, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    // Telemetry must not keep the process alive on its own.
    socket.unref();
    this.socket = socket;
  }

  /** Encodes and sends one record; never throws. */
  export(record: MessageRecord): void {
    const socket = this.socket;
    if (!socket) return this.drop(new SipError('HEP_ERR_CLOSED', 'hep exporter not started or closed'));
    if (this.inFlight >= HepExporter.MAX_IN_FLIGHT) {
      return this.drop(new SipError('HEP_ERR_BACKLOG', `hep: ${this.inFlight} datagrams already waiting`));
    }
    let packet: Buffer;
    try {
      packet = encodeHep3(record, this.encodeOpts);
    } catch (err) {
      return this.drop(err as Error);
    }
    this.inFlight++;
    try {
      socket.send(packet, this.target.port, this.target.host, (err) => {
        this.inFlight--;
        if (err) this.drop(err);
        else this.sent++;
      });
    } catch (err) {
      // A socket closed under us (ERR_SOCKET_DGRAM_NOT_RUNNING) throws synchronously.
      this.inFlight--;
      this.drop(err as Error);
    }
  }

  private drop(err: Error): void {
    this.dropped++;
    this.lastError = err;
  }

  async close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (!s) return;
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
