// A HEP v3 decoder for tests, written from the HEP3 specification's generic chunk table (the
// table src/observability/hep.ts restates; the sources are listed there), NOT from our encoder:
// it is the collector's side of the wire, as strict as a collector that checks every chunk.
//
// Wire format: "HEP3", a uint16 total length (the whole packet, these 6 bytes included), then
// chunks of uint16 vendor id, uint16 type id, uint16 length (counting the chunk's own 6-byte
// header) and the body; all integers big-endian. Generic chunks (vendor 0x0000):
//   0x0001 u8 IP family (2 = IPv4, 10 = IPv6)      0x0002 u8 IP protocol (17 UDP, 6 TCP, 132 SCTP)
//   0x0003/0x0004 IPv4 src/dst (4 bytes)            0x0005/0x0006 IPv6 src/dst (16 bytes)
//   0x0007/0x0008 u16 src/dst port                  0x0009 u32 seconds, 0x000a u32 microseconds
//   0x000b u8 protocol type (1 = SIP)               0x000c u32 capture agent id
//   0x000e auth key (string)                        0x000f payload (the captured bytes)
//   0x0011 correlation id (string)                  0x0013 node name (string)
// decodeHep3 throws HepDecodeError for anything a strict collector would refuse: a wrong magic,
// a total length that is not the packet's, a chunk running past the end, a fixed-size chunk of
// the wrong size, a chunk that appears twice, a vendor chunk, an unknown generic type, a missing
// mandatory chunk, an address chunk that does not fit the family.

export class HepDecodeError extends Error {
  override name = 'HepDecodeError';
}

export interface HepPacket {
  /** 0x0001: 2 (IPv4) or 10 (IPv6). */
  family: number;
  /** 0x0002: the IP protocol number. */
  protocol: number;
  /** Source and destination addresses as text: dotted quad, or RFC 5952 IPv6 (`::1`). */
  src: string;
  dst: string;
  /** The address chunks' bytes as they were (4 or 16). */
  srcBytes: Buffer;
  dstBytes: Buffer;
  srcPort: number;
  dstPort: number;
  seconds: number;
  micros: number;
  /** 0x000b: 1 = SIP. */
  protoType: number;
  captureId: number;
  password?: string;
  correlationId?: string;
  nodeName?: string;
  payload: Buffer;
  /** Chunk type ids in order of appearance. */
  types: number[];
}

/** Body sizes of the fixed-size generic chunks (type → bytes after the 6-byte chunk header). */
const FIXED: Record<number, number> = { 1: 1, 2: 1, 3: 4, 4: 4, 5: 16, 6: 16, 7: 2, 8: 2, 9: 4, 10: 4, 11: 1, 12: 4 };
const KNOWN = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 17, 19]);
const MANDATORY = [1, 2, 7, 8, 9, 10, 11, 12, 15];

/** RFC 5952 text of 16 bytes: lower case, leading zeros dropped, the longest run (≥ 2) of zero groups as `::`. */
export function ipv6Text(b: Buffer): string {
  if (b.length !== 16) throw new HepDecodeError(`IPv6 address of ${b.length} bytes`);
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(i));
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

export function decodeHep3(pkt: Buffer): HepPacket {
  const fail = (why: string): never => {
    throw new HepDecodeError(`HEP3 packet of ${pkt.length} bytes: ${why}`);
  };
  if (pkt.length < 6) fail('shorter than the 6-byte header');
  if (pkt.subarray(0, 4).toString('latin1') !== 'HEP3') fail(`magic ${JSON.stringify(pkt.subarray(0, 4).toString('latin1'))}, not "HEP3"`);
  if (pkt.readUInt16BE(4) !== pkt.length) fail(`total length field ${pkt.readUInt16BE(4)} is not the packet's length`);
  const bodies = new Map<number, Buffer>();
  const types: number[] = [];
  let pos = 6;
  while (pos < pkt.length) {
    if (pos + 6 > pkt.length) fail(`chunk header at ${pos} runs past the end`);
    const vendor = pkt.readUInt16BE(pos);
    const type = pkt.readUInt16BE(pos + 2);
    const len = pkt.readUInt16BE(pos + 4);
    if (vendor !== 0) fail(`chunk at ${pos}: vendor 0x${vendor.toString(16)}, only generic (0x0000) chunks are expected`);
    if (len < 6) fail(`chunk 0x${type.toString(16)}: length ${len} does not count its 6-byte header`);
    if (pos + len > pkt.length) fail(`chunk 0x${type.toString(16)}: length ${len} runs past the end`);
    if (!KNOWN.has(type)) fail(`unknown generic chunk type 0x${type.toString(16)}`);
    const body = pkt.subarray(pos + 6, pos + len);
    if (FIXED[type] !== undefined && body.length !== FIXED[type]) fail(`chunk 0x${type.toString(16)}: body of ${body.length} bytes, the spec says ${FIXED[type]}`);
    if (bodies.has(type)) fail(`chunk 0x${type.toString(16)} appears twice`);
    bodies.set(type, Buffer.from(body));
    types.push(type);
    pos += len;
  }
  for (const t of MANDATORY) if (!bodies.has(t)) fail(`no chunk 0x${t.toString(16).padStart(4, '0')}`);
  const family = bodies.get(1)![0]!;
  let srcBytes: Buffer;
  let dstBytes: Buffer;
  let src: string;
  let dst: string;
  if (family === 2) {
    if (!bodies.has(3) || !bodies.has(4)) fail('IPv4 family without both IPv4 address chunks (0x0003, 0x0004)');
    if (bodies.has(5) || bodies.has(6)) fail('IPv4 family with an IPv6 address chunk');
    srcBytes = bodies.get(3)!;
    dstBytes = bodies.get(4)!;
    src = [...srcBytes].join('.');
    dst = [...dstBytes].join('.');
  } else if (family === 10) {
    if (!bodies.has(5) || !bodies.has(6)) fail('IPv6 family without both IPv6 address chunks (0x0005, 0x0006)');
    if (bodies.has(3) || bodies.has(4)) fail('IPv6 family with an IPv4 address chunk');
    srcBytes = bodies.get(5)!;
    dstBytes = bodies.get(6)!;
    src = ipv6Text(srcBytes);
    dst = ipv6Text(dstBytes);
  } else {
    return fail(`IP family ${family} (expected 2 or 10)`);
  }
  const micros = bodies.get(10)!.readUInt32BE(0);
  if (micros >= 1_000_000) fail(`microseconds offset ${micros} is not below one second`);
  const text = (t: number) => bodies.get(t)?.toString('utf8');
  return {
    family,
    protocol: bodies.get(2)![0]!,
    src,
    dst,
    srcBytes,
    dstBytes,
    srcPort: bodies.get(7)!.readUInt16BE(0),
    dstPort: bodies.get(8)!.readUInt16BE(0),
    seconds: bodies.get(9)!.readUInt32BE(0),
    micros,
    protoType: bodies.get(11)![0]!,
    captureId: bodies.get(12)!.readUInt32BE(0),
    password: text(14),
    correlationId: text(17),
    nodeName: text(19),
    payload: bodies.get(15)!,
    types,
  };
}
