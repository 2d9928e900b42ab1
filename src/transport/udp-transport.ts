/**
 * UDP listener (RFC 3261 §18). One socket per listen address; every datagram is one message.
 *
 * @remarks Layer 2 (`transport/`).
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';

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
import type { ListenSpec } from './transport.js';

export class UdpTransport {
  private socket: dgram.Socket | undefined;
  localAddress = '';
  localPort = 0;

  constructor(
    readonly spec: ListenSpec,
    private readonly onDatagram: (bytes: Buffer, address: string, port: number, listener: UdpTransport) => void,
    private readonly onError: (err: Error) => void,
    /** Bind a port of this process's own even in a cluster worker (where listeners are shared). */
    private readonly exclusive = false,
  ) {}

  async start(): Promise<void> {
    const type = this.spec.host.includes(':') ? 'udp6' : 'udp4';
    const socket = dgram.createSocket({ type, reuseAddr: false, ipv6Only: type === 'udp6', lookup: literalFirstLookup as never });
    this.socket = socket;
    socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.address, rinfo.port, this));
    socket.on('error', (err) => this.onError(err));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: this.spec.port, address: this.spec.host, exclusive: this.exclusive }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const a = socket.address();
    this.localAddress = a.address;
    this.localPort = a.port;
    try {
      socket.setRecvBufferSize(4 * 1024 * 1024);
      socket.setSendBufferSize(4 * 1024 * 1024);
    } catch {
      // Buffer sizes are a tuning hint; the kernel may cap them.
    }
  }

  send(bytes: Buffer, address: string, port: number, onError?: (err: Error) => void): void {
    const s = this.socket;
    if (!s) {
      onError?.(new Error('UDP socket closed'));
      return;
    }
    // Without a callback Node tries a synchronous send first and queues no completion; only a
    // sender that can act on a failure (a client transaction, RFC 3261 §8.1.3.1) pays for one.
    if (onError === undefined) s.send(bytes, port, address);
    else
      s.send(bytes, port, address, (err) => {
        if (err) onError(err);
      });
  }

  async stop(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
