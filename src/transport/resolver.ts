/**
 * RFC 3263 server location: NAPTR → SRV (priority, weight) → A/AAAA, with a static host map
 * for tests and closed networks. Returns an ordered list of targets; the caller fails over to
 * the next one on a transport error or a 503 (RFC 3263 §4.3).
 *
 * @remarks Layer 2 (`transport/`). DNS is injectable.
 */
import dns from 'node:dns/promises';
import net from 'node:net';
import type { SipUri } from '../sip/index.js';
import { type Destination, type TransportKind, kindFromToken } from './transport.js';

export interface DnsLike {
  resolveNaptr(name: string): Promise<Array<{ flags: string; service: string; regexp: string; replacement: string; order: number; preference: number }>>;
  resolveSrv(name: string): Promise<Array<{ name: string; port: number; priority: number; weight: number }>>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
}

export interface ResolverOptions {
  /** host → address list (and optional port/transport), consulted before DNS. */
  hosts?: Record<string, string | Array<string | { address: string; port?: number; transport?: TransportKind }>>;
  dns?: DnsLike;
  /** Transports we can send on, in preference order. */
  transports?: TransportKind[];
}

export type ResolvedTarget = Destination;

const NAPTR_SERVICES: Record<string, TransportKind> = {
  'SIP+D2U': 'udp', 'SIP+D2T': 'tcp', 'SIPS+D2T': 'tls', 'SIP+D2W': 'ws', 'SIPS+D2W': 'wss',
};
const SRV_PREFIX: Record<TransportKind, string> = {
  udp: '_sip._udp.', tcp: '_sip._tcp.', tls: '_sips._tcp.', ws: '_sip._ws.', wss: '_sips._ws.',
};

export class Resolver {
  private readonly dns: DnsLike;
  constructor(private readonly options: ResolverOptions = {}) {
    this.dns = options.dns ?? dns;
  }

  /**
   * The answer without DNS, when there is one: a host in the static map, or a numeric IP
   * (RFC 3263 §4.1/§4.2). Lets the proxy forward without an extra event-loop turn, which
   * also keeps requests of one dialog (ACK, then BYE) in arrival order.
   */
  resolveLocal(uri: SipUri): ResolvedTarget[] | undefined {
    const host = uri.hostname;
    if (this.options.hosts?.[host.toLowerCase()] === undefined && !net.isIP(host)) return undefined;
    return this.resolveKnown(uri);
  }

  private resolveKnown(uri: SipUri): ResolvedTarget[] {
    const host = uri.hostname;
    const explicit = kindFromToken(uri.transport);
    const defaultKind: TransportKind = explicit ?? (uri.scheme === 'sips' ? 'tls' : 'udp');
    const defPort = (k: TransportKind) => (k === 'tls' ? 5061 : k === 'wss' ? 443 : k === 'ws' ? 80 : 5060);
    const mapped = this.options.hosts?.[host.toLowerCase()];
    if (mapped !== undefined) {
      const list = Array.isArray(mapped) ? mapped : [mapped];
      return list.map((m) => {
        const e = typeof m === 'string' ? { address: m } : m;
        const kind = explicit ?? e.transport ?? defaultKind;
        return { kind, address: e.address, port: uri.port ?? e.port ?? defPort(kind), hostname: host };
      });
    }
    return [{ kind: defaultKind, address: host, port: uri.port ?? defPort(defaultKind), hostname: host }];
  }

  /** Resolves a SIP URI to an ordered list of destinations (RFC 3263 §4). */
  async resolve(uri: SipUri): Promise<ResolvedTarget[]> {
    const local = this.resolveLocal(uri);
    if (local) return local;
    const host = uri.hostname;
    const explicit = kindFromToken(uri.transport);
    const allowed = this.options.transports ?? ['udp', 'tcp', 'tls', 'ws', 'wss'];
    const secure = uri.scheme === 'sips';
    const defaultKind: TransportKind = explicit ?? (secure ? 'tls' : 'udp');
    const defPort = (k: TransportKind) => (k === 'tls' ? 5061 : k === 'wss' ? 443 : k === 'ws' ? 80 : 5060);
    // (The static map and numeric IPs were answered by resolveLocal.) An explicit port skips NAPTR/SRV.
    if (uri.port !== undefined) return this.addresses(host, defaultKind, uri.port);

    let kinds: TransportKind[] = explicit ? [explicit] : [];
    if (!explicit) {
      try {
        const naptr = (await this.dns.resolveNaptr(host)).filter((r) => r.flags.toLowerCase() === 's');
        naptr.sort((a, b) => a.order - b.order || a.preference - b.preference);
        const targets: ResolvedTarget[] = [];
        for (const r of naptr) {
          const kind = NAPTR_SERVICES[r.service.toUpperCase()];
          if (!kind || !allowed.includes(kind) || (secure && kind !== 'tls' && kind !== 'wss')) continue;
          targets.push(...(await this.srv(r.replacement, kind)));
        }
        if (targets.length > 0) return targets;
      } catch {
        // No NAPTR: fall through to SRV queries (§4.1).
      }
      kinds = secure ? ['tls'] : (['udp', 'tcp', 'tls'] as TransportKind[]).filter((k) => allowed.includes(k));
    }
    for (const k of kinds) {
      const t = await this.srv(SRV_PREFIX[k] + host, k).catch(() => []);
      if (t.length > 0) return t;
    }
    return this.addresses(host, defaultKind, defPort(defaultKind));
  }

  private async srv(name: string, kind: TransportKind): Promise<ResolvedTarget[]> {
    const records = await this.dns.resolveSrv(name);
    const out: ResolvedTarget[] = [];
    for (const r of orderSrv(records)) out.push(...(await this.addresses(r.name, kind, r.port).catch(() => [])));
    return out;
  }

  private async addresses(host: string, kind: TransportKind, port: number): Promise<ResolvedTarget[]> {
    if (net.isIP(host)) return [{ kind, address: host, port, hostname: host }];
    if (host === 'localhost') return [{ kind, address: '127.0.0.1', port, hostname: host }];
    const v4 = await this.dns.resolve4(host).catch(() => [] as string[]);
    const v6 = await this.dns.resolve6(host).catch(() => [] as string[]);
    return [...v4, ...v6].map((address) => ({ kind, address, port, hostname: host }));
  }
}

/** RFC 2782: lowest priority first; within a priority, weighted random order. */
export function orderSrv<T extends { priority: number; weight: number }>(records: T[], random = Math.random): T[] {
  const byPrio = new Map<number, T[]>();
  for (const r of records) byPrio.set(r.priority, [...(byPrio.get(r.priority) ?? []), r]);
  const out: T[] = [];
  for (const prio of [...byPrio.keys()].sort((a, b) => a - b)) {
    const pool = [...byPrio.get(prio)!];
    while (pool.length > 0) {
      const total = pool.reduce((s, r) => s + r.weight, 0);
      let pick = 0;
      if (total > 0) {
        let x = random() * total;
        pick = pool.findIndex((r) => (x -= r.weight) < 0);
        if (pick < 0) pick = pool.length - 1;
      }
      out.push(pool.splice(pick, 1)[0]!);
    }
  }
  return out;
}
