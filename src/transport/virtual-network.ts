/**
 * A network in memory, for scenario tests on virtual time: datagram sockets bound to made-up
 * addresses, each datagram delivered through the {@link Clock} after a delay, and on the way
 * lost, duplicated or overtaken by a later one as the link conditions say. Seeded: the same
 * seed gives the same losses, copies and order, so a scenario runs the same every time — in
 * milliseconds, whatever 64·T1 it spans.
 *
 * @remarks Layer 2 (`transport/`). Datagrams only (UDP); a TCP, TLS or WS listener on it is
 * refused by the transport layer.
 */
import type { Clock } from '../util/clock.js';
import { prng } from '../util/prng.js';
import type { DatagramSocket, Network } from './network.js';

/** What happens to datagrams on their way. Probabilities are 0–1, per datagram. */
export interface LinkConditions {
  /** Dropped. */
  loss?: number;
  /** Delivered twice (the copy with its own delay). */
  duplicate?: number;
  /** Base one-way delay, ms (default 1). */
  delayMs?: number;
  /** Up to this many ms more, drawn per datagram: datagrams overtake each other (reordering). */
  jitterMs?: number;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  lost: number;
  duplicated: number;
  /** Sent to an address and port nobody has bound (dropped, as UDP does without ICMP). */
  unreachable: number;
}

export class VirtualNetwork implements Network {
  readonly datagramsOnly = true;
  readonly stats: NetworkStats = { sent: 0, delivered: 0, lost: 0, duplicated: 0, unreachable: 0 };
  private readonly sockets = new Map<string, VirtualDatagramSocket>();
  private readonly perDestination = new Map<string, LinkConditions>();
  private readonly random: () => number;
  private nextPort = 40000;

  constructor(
    readonly clock: Clock,
    /** Conditions of every link, unless {@link setConditions} says otherwise for a destination. */
    public conditions: LinkConditions = {},
    seed = 1,
  ) {
    this.random = prng(seed);
  }

  /** Conditions for datagrams sent to `address:port` (e.g. a lossy path to one phone). */
  setConditions(address: string, port: number, c: LinkConditions): void {
    this.perDestination.set(`${address}:${port}`, c);
  }

  createDatagramSocket(): DatagramSocket {
    return new VirtualDatagramSocket(this);
  }

  /** @internal */
  bindSocket(s: VirtualDatagramSocket, host: string, port: number): { address: string; port: number } {
    const address = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    let p = port;
    if (p === 0) while (this.sockets.has(`${address}:${(p = this.nextPort++)}`));
    const key = `${address}:${p}`;
    if (this.sockets.has(key)) {
      throw Object.assign(new Error(`bind EADDRINUSE ${key}`), { code: 'EADDRINUSE' });
    }
    this.sockets.set(key, s);
    return { address, port: p };
  }

  /** @internal */
  unbind(address: string, port: number): void {
    this.sockets.delete(`${address}:${port}`);
  }

  /** @internal */
  transmit(from: { address: string; port: number }, bytes: Buffer, address: string, port: number): void {
    this.stats.sent++;
    const c = this.perDestination.get(`${address}:${port}`) ?? this.conditions;
    if (this.random() < (c.loss ?? 0)) {
      this.stats.lost++;
      return;
    }
    const copies = this.random() < (c.duplicate ?? 0) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      const data = Buffer.from(bytes); // the sender may reuse its buffer
      const delay = (c.delayMs ?? 1) + this.random() * (c.jitterMs ?? 0);
      this.clock.setTimer(delay, () => {
        const to = this.sockets.get(`${address}:${port}`);
        if (to === undefined) {
          this.stats.unreachable++;
          return;
        }
        this.stats.delivered++;
        to.deliver(data, from.address, from.port);
      });
    }
  }
}

class VirtualDatagramSocket implements DatagramSocket {
  private local: { address: string; port: number } | undefined;
  private handler: ((bytes: Buffer, address: string, port: number) => void) | undefined;

  constructor(private readonly net: VirtualNetwork) {}

  async bind(host: string, port: number): Promise<{ address: string; port: number }> {
    this.local = this.net.bindSocket(this, host, port);
    return this.local;
  }

  send(bytes: Buffer, port: number, address: string, onError?: (err: Error) => void): void {
    if (this.local === undefined) {
      onError?.(new Error('socket not bound'));
      return;
    }
    this.net.transmit(this.local, bytes, address, port);
  }

  onMessage(handler: (bytes: Buffer, address: string, port: number) => void): void {
    this.handler = handler;
  }

  onError(): void {
    // A virtual socket has no errors of its own.
  }

  deliver(bytes: Buffer, address: string, port: number): void {
    this.handler?.(bytes, address, port);
  }

  async close(): Promise<void> {
    if (this.local) this.net.unbind(this.local.address, this.local.port);
    this.local = undefined;
    this.handler = undefined;
  }
}
