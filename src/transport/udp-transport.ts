/**
 * UDP listener (RFC 3261 §18). One socket per listen address; every datagram is one message.
 *
 * @remarks Layer 2 (`transport/`). The socket comes from a {@link Network}: Node's, or a virtual one.
 */
import { type DatagramSocket, type Network, realNetwork } from './network.js';
import type { ListenSpec } from './transport.js';

export class UdpTransport {
  private socket: DatagramSocket | undefined;
  localAddress = '';
  localPort = 0;

  constructor(
    readonly spec: ListenSpec,
    private readonly onDatagram: (bytes: Buffer, address: string, port: number, listener: UdpTransport) => void,
    private readonly onError: (err: Error) => void,
    /** Bind a port of this process's own even in a cluster worker (where listeners are shared). */
    private readonly exclusive = false,
    private readonly network: Network = realNetwork,
  ) {}

  async start(): Promise<void> {
    const socket = this.network.createDatagramSocket(this.spec.host.includes(':') ? 'udp6' : 'udp4');
    this.socket = socket;
    socket.onMessage((msg, address, port) => this.onDatagram(msg, address, port, this));
    socket.onError((err) => this.onError(err));
    const a = await socket.bind(this.spec.host, this.spec.port, { exclusive: this.exclusive });
    this.localAddress = a.address;
    this.localPort = a.port;
  }

  send(bytes: Buffer, address: string, port: number, onError?: (err: Error) => void): void {
    const s = this.socket;
    if (!s) {
      onError?.(new Error('UDP socket closed'));
      return;
    }
    try {
      s.send(bytes, port, address, onError);
    } catch (err) {
      // A destination the socket refuses outright (port 0, a malformed address): a transport
      // error like any other (RFC 3261 §8.1.3.1), told after this call returns, never a throw
      // into a sender that may be a stateless ACK.
      if (onError) queueMicrotask(() => onError(err as Error));
    }
  }

  async stop(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (s) await s.close();
  }
}
