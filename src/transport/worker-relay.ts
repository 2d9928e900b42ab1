/**
 * Call-ID affinity between the worker processes of one server (`workers: N`).
 *
 * The workers share each UDP listener's socket, and the kernel hands a datagram to whichever
 * worker reads first. A transaction (RFC 3261 §17) lives in one process, though: an INVITE's
 * retransmission, its CANCEL (§9.2, matched to the INVITE server transaction) and the responses
 * to a forwarded request must reach the process that holds that transaction. So every datagram
 * has an owner, chosen by a hash of its Call-ID (the same for a request, its retransmissions, its
 * CANCEL, its ACK and every response, §8.1.1.4); a worker that reads a datagram it does not own
 * passes it, unchanged and with the address it came from, to the owner over a private loopback
 * socket. Stream listeners are not offered with several workers: a connection could only be
 * used by the worker that holds it.
 *
 * Relay datagram: `00 'S' 'B' 01 | listener index (1) | source port (2, BE) | address length (1) |
 * address (ASCII) | the datagram as received`. A SIP message never starts with a NUL byte, and
 * only the sibling workers' relay ports are believed.
 *
 * @remarks Layer 2 (`transport/`). Node's `cluster` shares the listener sockets; this file only
 * needs `dgram`.
 */
import dgram from 'node:dgram';

const MAGIC = [0x00, 0x53, 0x42, 0x01] as const;
const RELAY_HOST = '127.0.0.1';

/** FNV-1a over the Call-ID's UTF-16 code units: cheap, stable across processes. */
export function callIdOwner(callId: string, workers: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < callId.length; i++) {
    h ^= callId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % workers;
}

export interface RelayedDatagram {
  listenerIndex: number;
  address: string;
  port: number;
  bytes: Buffer;
}

/** Decodes a relay datagram; undefined when `buf` is not one. */
export function decodeRelayed(buf: Buffer): RelayedDatagram | undefined {
  if (buf.length < 8 || buf[0] !== MAGIC[0] || buf[1] !== MAGIC[1] || buf[2] !== MAGIC[2] || buf[3] !== MAGIC[3]) return undefined;
  const listenerIndex = buf[4]!;
  const port = buf.readUInt16BE(5);
  const alen = buf[7]!;
  if (alen === 0 || buf.length < 8 + alen) return undefined;
  return { listenerIndex, port, address: buf.toString('latin1', 8, 8 + alen), bytes: buf.subarray(8 + alen) };
}

/** The relay header for a datagram that came from `address`:`port` on listener `listenerIndex`. */
export function relayHeader(listenerIndex: number, address: string, port: number): Buffer {
  const h = Buffer.allocUnsafe(8 + address.length);
  h[0] = MAGIC[0];
  h[1] = MAGIC[1];
  h[2] = MAGIC[2];
  h[3] = MAGIC[3];
  h[4] = listenerIndex;
  h.writeUInt16BE(port, 5);
  h[7] = address.length;
  h.write(address, 8, 'latin1');
  return h;
}

export class WorkerRelay {
  private socket: dgram.Socket | undefined;
  /** The relay port of each worker, by index; 0 while that worker is (re)starting. */
  private peers: number[] = [];
  private readonly peerPorts = new Set<number>();

  constructor(
    readonly index: number,
    readonly count: number,
    private readonly deliver: (d: RelayedDatagram) => void,
  ) {}

  get port(): number {
    return this.socket?.address().port ?? 0;
  }

  async start(): Promise<void> {
    // `exclusive`: a port of its own, not a handle shared through the cluster primary.
    const socket = dgram.createSocket({ type: 'udp4' });
    this.socket = socket;
    socket.on('message', (buf, rinfo) => {
      // Only a sibling's relay port is believed; anything else is dropped.
      if (rinfo.address !== RELAY_HOST || !this.peerPorts.has(rinfo.port)) return;
      const d = decodeRelayed(buf);
      if (d) this.deliver(d);
    });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: 0, address: RELAY_HOST, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    try {
      socket.setRecvBufferSize(4 * 1024 * 1024);
      socket.setSendBufferSize(4 * 1024 * 1024);
    } catch {
      // A tuning hint; the kernel may cap it.
    }
  }

  /** Every worker's relay port by index (0: that worker is not running now). */
  setPeers(ports: number[]): void {
    this.peers = ports.slice(0, this.count);
    this.peerPorts.clear();
    for (const p of this.peers) if (p !== 0) this.peerPorts.add(p);
  }

  /**
   * The worker that owns `callId`, or this one when the owner is not reachable (peers not known
   * yet, or the owner restarting): the datagram is then handled here rather than lost.
   */
  ownerOf(callId: string): number {
    const o = callIdOwner(callId, this.count);
    return o === this.index || !this.peers[o] ? this.index : o;
  }

  /** Hands a datagram to worker `owner`, with where it came from. */
  forward(owner: number, listenerIndex: number, address: string, port: number, bytes: Buffer): void {
    const s = this.socket;
    const to = this.peers[owner];
    if (!s || !to) return;
    s.send([relayHeader(listenerIndex, address, port), bytes], to, RELAY_HOST);
  }

  async stop(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
