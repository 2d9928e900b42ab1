/**
 * UDP listener (RFC 3261 §18). One socket per listen address; every datagram is one message.
 *
 * @remarks Layer 2 (`transport/`).
 */
import dgram from 'node:dgram';
import type { ListenSpec } from './transport.js';

export class UdpTransport {
  private socket: dgram.Socket | undefined;
  localAddress = '';
  localPort = 0;

  constructor(
    readonly spec: ListenSpec,
    private readonly onDatagram: (bytes: Buffer, address: string, port: number, listener: UdpTransport) => void,
    private readonly onError: (err: Error) => void,
  ) {}

  async start(): Promise<void> {
    const type = this.spec.host.includes(':') ? 'udp6' : 'udp4';
    const socket = dgram.createSocket({ type, reuseAddr: false, ipv6Only: type === 'udp6' });
    this.socket = socket;
    socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.address, rinfo.port, this));
    socket.on('error', (err) => this.onError(err));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.spec.port, this.spec.host, () => {
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
    s.send(bytes, port, address, (err) => {
      if (err) onError?.(err);
    });
  }

  async stop(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
