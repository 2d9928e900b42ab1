/**
 * The network port of the transport layer: where datagram sockets come from. The real one is
 * Node's `dgram`; a virtual one (`virtual-network.ts`) carries datagrams in memory on a
 * {@link Clock}, with loss, duplication, delay and reordering, so that scenario tests run on
 * virtual time, fast and the same every run.
 *
 * @remarks Layer 2 (`transport/`). Streams (TCP, TLS, WebSocket) are real sockets only for now.
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';

/** One datagram socket, bound to an address. */
export interface DatagramSocket {
  /** Binds; resolves with the address and port actually bound (port 0: one is chosen). */
  bind(host: string, port: number, opts?: { exclusive?: boolean }): Promise<{ address: string; port: number }>;
  /** Sends one datagram; `onError` (when given) hears of a failure. */
  send(bytes: Buffer, port: number, address: string, onError?: (err: Error) => void): void;
  onMessage(handler: (bytes: Buffer, address: string, port: number) => void): void;
  onError(handler: (err: Error) => void): void;
  close(): Promise<void>;
  /** Lets the process exit with the socket open (real sockets only). */
  unref?(): void;
}

/** Where the transport layer gets its datagram sockets. */
export interface Network {
  createDatagramSocket(family: 'udp4' | 'udp6'): DatagramSocket;
  /** True for a network that carries datagrams only (stream listeners are then refused). */
  readonly datagramsOnly?: boolean;
}

/**
 * The address lookup for `socket.send`: transport targets are already resolved (RFC 3263 runs in
 * the resolver above), so an IP literal is handed back synchronously instead of taking Node's
 * default `dns.lookup` detour through `process.nextTick` on every datagram.
 */
function literalFirstLookup(address: string, family: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  const v = net.isIP(address);
  if (v !== 0) callback(null, address, v);
  else dns.lookup(address, family as dns.LookupOneOptions, callback as never);
}

class RealDatagramSocket implements DatagramSocket {
  private readonly socket: dgram.Socket;

  constructor(type: 'udp4' | 'udp6') {
    this.socket = dgram.createSocket({ type, reuseAddr: false, ipv6Only: type === 'udp6', lookup: literalFirstLookup as never });
  }

  async bind(host: string, port: number, opts: { exclusive?: boolean } = {}): Promise<{ address: string; port: number }> {
    const socket = this.socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port, address: host, exclusive: opts.exclusive ?? false }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    try {
      socket.setRecvBufferSize(4 * 1024 * 1024);
      socket.setSendBufferSize(4 * 1024 * 1024);
    } catch {
      // Buffer sizes are a tuning hint; the kernel may cap them.
    }
    const a = socket.address();
    return { address: a.address, port: a.port };
  }

  send(bytes: Buffer, port: number, address: string, onError?: (err: Error) => void): void {
    // Without a callback Node tries a synchronous send first and queues no completion; only a
    // sender that can act on a failure (a client transaction, RFC 3261 §8.1.3.1) pays for one.
    if (onError === undefined) this.socket.send(bytes, port, address);
    else
      this.socket.send(bytes, port, address, (err) => {
        if (err) onError(err);
      });
  }

  onMessage(handler: (bytes: Buffer, address: string, port: number) => void): void {
    this.socket.on('message', (msg, rinfo) => handler(msg, rinfo.address, rinfo.port));
  }

  onError(handler: (err: Error) => void): void {
    this.socket.on('error', handler);
  }

  close(): Promise<void> {
    return new Promise<void>((r) => this.socket.close(() => r()));
  }

  unref(): void {
    this.socket.unref();
  }
}

/** Node's own sockets. */
export const realNetwork: Network = {
  createDatagramSocket: (family) => new RealDatagramSocket(family),
};
