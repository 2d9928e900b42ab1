/**
 * STUN on the SIP port (RFC 5626 §4.4.1, §8.4): an outbound client checks that its NAT mapping
 * is alive with STUN Binding requests sent to the same UDP port as its SIP traffic; the server
 * answers each with a Binding success response carrying the address it saw
 * (XOR-MAPPED-ADDRESS, RFC 5389 §15.2). A datagram is STUN when its first two bits are zero and
 * it carries the magic cookie (RFC 5389 §6) — a SIP message starts with a letter, so the two
 * never mix up.
 *
 * @remarks Transport layer (`transport/`).
 */
import net from 'node:net';
import { ipv4Bytes, ipv6Bytes } from '../util/ip.js';

const MAGIC_COOKIE = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const XOR_MAPPED_ADDRESS = 0x0020;
const HEADER = 20;

/** Is `bytes` a STUN message (RFC 5389 §6: 0b00 first bits, a multiple-of-4 length, the cookie)? */
export function isStun(bytes: Buffer): boolean {
  return bytes.length >= HEADER && (bytes[0]! & 0xc0) === 0 && bytes.readUInt32BE(4) === MAGIC_COOKIE && bytes.readUInt16BE(2) === bytes.length - HEADER && (bytes.length & 3) === 0;
}

/**
 * The Binding success response to a Binding request from `address`:`port`, or undefined for any
 * other STUN message (an indication, a response: nothing to answer, RFC 5389 §7.3).
 */
export function stunBindingResponse(request: Buffer, address: string, port: number): Buffer | undefined {
  if (!isStun(request) || request.readUInt16BE(0) !== BINDING_REQUEST) return undefined;
  const v4 = net.isIPv4(address);
  if (!v4 && !net.isIPv6(address)) return undefined;
  const txId = request.subarray(8, 20);
  const addrLen = v4 ? 4 : 16;
  const out = Buffer.alloc(HEADER + 4 + 4 + addrLen);
  out.writeUInt16BE(BINDING_SUCCESS, 0);
  out.writeUInt16BE(4 + 4 + addrLen, 2);
  out.writeUInt32BE(MAGIC_COOKIE, 4);
  txId.copy(out, 8);
  // XOR-MAPPED-ADDRESS (RFC 5389 §15.2): port XOR the cookie's high half, address XOR the
  // cookie (IPv4) or the cookie followed by the transaction id (IPv6).
  out.writeUInt16BE(XOR_MAPPED_ADDRESS, HEADER);
  out.writeUInt16BE(4 + addrLen, HEADER + 2);
  out.writeUInt8(0, HEADER + 4);
  out.writeUInt8(v4 ? 0x01 : 0x02, HEADER + 5);
  out.writeUInt16BE(port ^ (MAGIC_COOKIE >>> 16), HEADER + 6);
  const raw = v4 ? ipv4Bytes(address) : ipv6Bytes(address);
  const key = Buffer.concat([out.subarray(4, 8), txId]);
  for (let i = 0; i < addrLen; i++) out[HEADER + 8 + i] = raw[i]! ^ key[i]!;
  return out;
}
