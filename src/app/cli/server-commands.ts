/**
 * `serve`, `location list|rm` and `user add|rm|list|import`: the operator commands.
 *
 * @remarks App layer (`app/cli`). They take the same `--config` / `--db` / `--store` flags.
 */
import fs from 'node:fs';
import { type Config, ConfigError, checkMedia, checkWorkers, hostAddress, loadConfigFile, validateConfig } from '../config/config-schema.js';
import { openDialPlan, startServer } from '../server.js';
import { joinPrimary, runPrimary, workerIdentity } from '../cluster.js';
import { openStores } from '../../store/index.js';
import { parseListenSpec } from '../../transport/index.js';
import { printTrace, traceFilter } from './trace.js';
import { type Logger, createLogger } from '../../observability/index.js';
import type { TraceEvent } from '../../transport/index.js';
import { UsageError } from './usage-error.js';

export interface ServerFlags {
  config?: string;
  listen: string[];
  domain: string[];
  db?: string;
  store?: string;
  trace: boolean;
  workers?: number;
  /** `--dial-plan FILE` (serve): the dial plan, instead of the config's. */
  dialPlan?: string;
  /** `serve --check`: validate and print what would run, start nothing. */
  check?: boolean;
  /** `--admin HOST:PORT`: the admin listener (API, console, /metrics). */
  admin?: string;
  /** `--hep udp:IP:PORT`: HEP v3 export. */
  hep?: string;
  /** `--rtpengine udp:IP:PORT` (repeatable): the media relay's ng control sockets. */
  rtpengine?: string[];
  logLevel?: string;
  logFormat?: string;
  /** `--trace-filter TEXT` (repeatable). */
  traceFilter?: string[];
}

/** Every server of the config file (or the embedded defaults), with command-line overrides. */
export function resolveConfigs(flags: ServerFlags): Config[] {
  const all = flags.config ? loadConfigFile(flags.config) : [validateConfig({}, 'defaults')];
  if (all.length === 1) return [applyOverrides(all[0]!, flags)];
  if (flags.listen.length > 0 || flags.domain.length > 0) {
    throw new UsageError(`--listen/--domain cannot override ${flags.config}: it defines ${all.length} servers (edit their listen/domains keys)`);
  }
  return all.map((c) => applyOverrides(c, { ...flags, listen: [], domain: [] }));
}

/** The first server's config (operator commands act on its stores). */
export function resolveConfig(flags: ServerFlags): Config {
  return resolveConfigs({ ...flags, listen: [] })[0]!;
}

function applyOverrides(base: Config, flags: ServerFlags): Config {
  const overrides: Record<string, unknown> = { ...base };
  if (flags.listen.length > 0) {
    for (const l of flags.listen) {
      try {
        parseListenSpec(l);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    overrides.listen = flags.listen;
  }
  if (flags.domain.length > 0) overrides.domains = flags.domain;
  if (flags.db) overrides.db = flags.db;
  if (flags.store) overrides.store = flags.store;
  if (flags.workers !== undefined) overrides.workers = flags.workers;
  if (flags.admin !== undefined) overrides.admin = { ...(overrides.admin as object), listen: flags.admin };
  if (flags.hep !== undefined) overrides.hep = { ...((overrides.hep as object | undefined) ?? {}), target: flags.hep };
  if (flags.rtpengine !== undefined && flags.rtpengine.length > 0) overrides.media = { ...((overrides.media as object | undefined) ?? {}), rtpengine: flags.rtpengine };
  if (flags.logLevel !== undefined || flags.logFormat !== undefined) {
    overrides.log = { ...(overrides.log as object), ...(flags.logLevel !== undefined ? { level: flags.logLevel } : {}), ...(flags.logFormat !== undefined ? { format: flags.logFormat } : {}) };
  }
  if (flags.dialPlan !== undefined) {
    overrides.dialPlan = flags.dialPlan;
    overrides.proxy = { ...(overrides.proxy as object), routes: [] };
  }
  const { name, ...rest } = overrides;
  const cfg = validateConfig(rest, flags.config ?? 'command line');
  if (name !== undefined) cfg.name = name as string;
  if (cfg.domains.length === 0) cfg.domains = [hostAddress()];
  // After the flags: `--listen udp:…` may be what makes `workers: 2` in a file possible.
  checkWorkers(cfg, flags.config ?? 'command line');
  checkMedia(cfg, flags.config ?? 'command line');
  return cfg;
}

/** `switchboard serve`: runs until SIGTERM/SIGINT, then shuts down cleanly and exits 0. */
export async function serveCommand(flags: ServerFlags): Promise<number> {
  const configs = resolveConfigs(flags);
  const log = (line: string) => process.stderr.write(`switchboard: ${line}\n`);
  if (flags.check) {
    // Like `kamailio -c`: every key, cross-field rule, file and dial plan checked; nothing started.
    for (const c of configs) {
      const plan = openDialPlan(c, log);
      process.stdout.write(`${c.name ? `${c.name}: ` : ''}listen ${c.listen.join(', ')}; domains ${c.domains.join(', ') || '(none)'}; roles ${c.roles.join(', ')}; store ${c.store}${c.store === 'sqlite' ? ` (${c.db})` : ''}; workers ${c.workers}${plan ? `; dial plan ${plan.peers.length} dial-peers` : ''}${c.media.relay !== 'off' && c.media.rtpengine.length > 0 ? `; media relay (${c.media.relay}) through rtpengine ${c.media.rtpengine.join(', ')}` : ''}\n`);
    }
    process.stdout.write(`config OK (${flags.config ?? 'embedded defaults'})\n`);
    return 0;
  }
  const workers = configs[0]!.workers;
  const me = workerIdentity();
  if (workers > 1 && me === undefined) {
    return runPrimary({
      workers,
      log,
      onReady: (listeners) => {
        printListening(configs[0]!, listeners);
        process.stdout.write(`running ${workers} workers (pid ${process.pid} and its children)\n`);
      },
    });
  }
  return me ? serveAsWorker(configs[0]!, me, flags, log) : serveInProcess(configs, flags, log);
}

function printListening(config: Config, listeners: Array<{ kind: string; address: string; port: number }>): void {
  const tag = config.name ? `${config.name}: ` : '';
  for (const l of listeners) process.stdout.write(`${tag}listening on ${l.kind}:${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}\n`);
  process.stdout.write(`${tag}serving domains ${config.domains.join(', ')} with roles ${config.roles.join(', ')}; store ${config.store}${config.store === 'sqlite' ? ` (${config.db})` : ''}\n`);
}

/** Stops `servers` on the first SIGTERM/SIGINT (or `trigger`); resolves with the exit code. */
function untilStopped(servers: Array<{ stop(): Promise<void> }>, log: (l: string) => void, quiet = false): { done: Promise<number>; trigger: (why: string) => void } {
  let trigger: (why: string) => void = () => {};
  const done = new Promise<number>((resolve) => {
    let stopping = false;
    trigger = (sig: string) => {
      if (stopping) return;
      stopping = true;
      if (!quiet) process.stdout.write(`${sig}: stopping\n`);
      Promise.all(servers.map((s) => s.stop())).then(
        () => resolve(0),
        (e: unknown) => {
          log(`shutdown error: ${(e as Error).message}`);
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => trigger('SIGTERM'));
    process.once('SIGINT', () => trigger('SIGINT'));
  });
  // The executor ran synchronously: `trigger` is the real one by now.
  return { done, trigger };
}

/** The log of one server of the command (its config's `log:`, its name on every line). */
function serverLogger(config: Config, extra: Record<string, unknown> = {}, tag = config.name ? `${config.name}: ` : ''): Logger {
  return createLogger({ level: config.log.level, format: config.log.format, prefix: `switchboard: ${tag}`, base: { ...(config.name ? { server: config.name } : {}), ...extra } });
}

/** `--trace` (with `--trace-filter`) for one server. */
function tracer(flags: ServerFlags, tag: string): ((ev: TraceEvent) => void) | undefined {
  if (!flags.trace) return undefined;
  const keep = traceFilter(flags.traceFilter ?? []);
  return (ev) => {
    if (!keep || keep(ev)) printTrace(ev, process.stderr, tag);
  };
}

/** The config file read again for a reload (SIGHUP, POST /api/reload), with the same flags. */
function rereader(flags: ServerFlags, index: number): () => Config {
  return () => resolveConfigs(flags)[index]!;
}

async function serveInProcess(configs: Config[], flags: ServerFlags, log: (l: string) => void): Promise<number> {
  const servers: Array<Awaited<ReturnType<typeof startServer>>> = [];
  try {
    for (const [i, config] of configs.entries()) {
      const tag = config.name ? `${config.name}: ` : '';
      servers.push(await startServer(config, { onTrace: tracer(flags, tag), logger: serverLogger(config), rereadConfig: rereader(flags, i) }));
    }
  } catch (e) {
    for (const s of servers) await s.stop();
    throw e;
  }
  for (const server of servers) printListening(server.config, server.transport.boundListeners);
  onReload(servers, flags, log);
  return untilStopped(servers, log).done;
}

/** One worker of `workers: N`: starts the server, reports to the primary, stops when told. */
async function serveAsWorker(config: Config, me: { index: number; count: number; nonceSecret?: string }, flags: ServerFlags, log: (l: string) => void): Promise<number> {
  const wlog = (l: string) => log(`worker-${me.index}: ${l}`);
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let stopRequested = false;
  let stopper: ((why: string) => void) | undefined;
  const primary = joinPrimary(me.index, {
    peers: (ports) => server?.transport.setWorkerPeers(ports),
    stop: () => {
      stopRequested = true;
      stopper?.('stop');
    },
  });
  try {
    server = await startServer(config, {
      onTrace: tracer(flags, `worker-${me.index}: `),
      logger: serverLogger(config, { worker: me.index }, `worker-${me.index}: `),
      rereadConfig: rereader(flags, 0),
      worker: { index: me.index, count: me.count },
      nonceSecret: me.nonceSecret,
    });
  } catch (e) {
    // The primary prints the failure (once for all workers) and exits with this code.
    const usage = e instanceof ConfigError || e instanceof UsageError;
    await primary.failed((e as Error).message, usage);
    return usage ? 2 : 1;
  }
  onReload([server], flags, wlog);
  const { done, trigger } = untilStopped([server], wlog, true);
  stopper = trigger;
  if (stopRequested) trigger('stop');
  else primary.ready(server.transport.workerRelayPort, server.transport.boundListeners);
  return done;
}

/** `switchboard location list [AOR] [--json]` / `location rm AOR [CONTACT]`. */
export async function locationCommand(args: string[], flags: ServerFlags & { json: boolean }): Promise<number> {
  const [sub, aor, contact] = args;
  const config = resolveConfig(flags);
  const stores = await openStores({ store: config.store, dbPath: config.db, redisPrefix: config.redisPrefix });
  try {
    if (sub === 'list') {
      const now = Date.now();
      const bindings = aor ? await stores.location.lookup(aor) : (await stores.location.all()).filter((b) => b.expires > now);
      if (flags.json) {
        process.stdout.write(JSON.stringify(bindings.map((b) => ({ ...b, expires: Math.max(0, Math.round((b.expires - now) / 1000)), expiresAt: new Date(b.expires).toISOString() }))) + '\n');
      } else if (bindings.length === 0) {
        process.stdout.write('no bindings\n');
      } else {
        for (const b of bindings) {
          process.stdout.write(`${b.aor}\t${b.contact}\texpires=${Math.max(0, Math.round((b.expires - now) / 1000))}\tq=${b.q}${b.received ? `\treceived=${b.received}` : ''}\n`);
        }
      }
      return 0;
    }
    if (sub === 'rm') {
      if (!aor) throw new UsageError('usage: switchboard location rm AOR [CONTACT]');
      const n = await stores.location.remove(aor, contact);
      process.stdout.write(`removed ${n} binding${n === 1 ? '' : 's'}\n`);
      return n > 0 ? 0 : 1;
    }
    throw new UsageError(`unknown location subcommand "${sub ?? ''}" (expected list or rm)`);
  } finally {
    await stores.close();
  }
}

/** `switchboard cdr list [--json] [--limit N]`: the B2BUA's call detail records, newest first. */
export async function cdrCommand(args: string[], flags: ServerFlags & { json: boolean; limit: number }): Promise<number> {
  const [sub] = args;
  if (sub !== 'list') throw new UsageError(`unknown cdr subcommand "${sub ?? ''}" (expected list)`);
  const config = resolveConfig(flags);
  const stores = await openStores({ store: config.store, dbPath: config.db, redisPrefix: config.redisPrefix });
  try {
    const records = await stores.cdrs.list(flags.limit);
    if (flags.json) process.stdout.write(JSON.stringify(records) + '\n');
    else if (records.length === 0) process.stdout.write('no call detail records\n');
    else {
      const iso = (ms: number | undefined) => (ms === undefined ? '-' : new Date(ms).toISOString());
      for (const r of records) {
        process.stdout.write(`${iso(r.start)}\t${r.from} -> ${r.to}\t${r.status}\tanswer=${iso(r.answer)}\tend=${iso(r.end)}\tby=${r.endedBy}\t${r.reason}\tcall-id=${r.callId}${r.callIdB ? `\tleg-b=${r.callIdB}` : ''}\n`);
      }
    }
    return 0;
  } finally {
    await stores.close();
  }
}

/** `switchboard user add|rm|list|import`. */
export async function userCommand(args: string[], flags: ServerFlags & { password?: string; json: boolean }): Promise<number> {
  const [sub, name] = args;
  const config = resolveConfig(flags);
  const realm = flags.domain[0] ?? config.auth.realm ?? config.domains[0]!;
  const stores = await openStores({ store: config.store, dbPath: config.db, redisPrefix: config.redisPrefix });
  try {
    switch (sub) {
      case 'add':
        if (!name) throw new UsageError('usage: switchboard user add USER --password P [--domain D]');
        if (!flags.password) throw new UsageError('user add needs --password');
        await stores.users.add(name, realm, flags.password);
        process.stdout.write(`added ${name}@${realm}\n`);
        return 0;
      case 'rm': {
        if (!name) throw new UsageError('usage: switchboard user rm USER [--domain D]');
        const n = await stores.users.remove(name, flags.domain[0]);
        process.stdout.write(`removed ${n} user${n === 1 ? '' : 's'}\n`);
        return n > 0 ? 0 : 1;
      }
      case 'list': {
        const users = await stores.users.list(flags.domain[0]);
        if (flags.json) process.stdout.write(JSON.stringify(users) + '\n');
        else for (const u of users) process.stdout.write(`${u.user}@${u.realm}\n`);
        return 0;
      }
      case 'import': {
        if (!name) throw new UsageError('usage: switchboard user import FILE.csv [--domain D]');
        let text: string;
        try {
          text = fs.readFileSync(name, 'utf8');
        } catch (e) {
          throw new UsageError(`cannot read ${name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        const r = await stores.users.importCsv(text, realm);
        process.stdout.write(`imported ${r.added} user${r.added === 1 ? '' : 's'}\n`);
        for (const err of r.errors) process.stderr.write(`switchboard: ${name}: ${err}\n`);
        return r.errors.length > 0 ? 1 : 0;
      }
      default:
        throw new UsageError(`unknown user subcommand "${sub ?? ''}" (expected add, rm, list or import)`);
    }
  } finally {
    await stores.close();
  }
}

export { ConfigError };

/**
 * SIGHUP: every server reads its configuration file again and applies what can change while
 * calls go on (docs/operations.md: the dial plan or routes, users, the TLS certificate, the log
 * level, presence rules — those `presence allow|block|polite-block` stored too). A file that does
 * not load, or a dial plan that fails, leaves everything as it was and says why.
 */
function onReload(servers: Array<{ config: Config; reload(next?: Config): Promise<string[]> }>, flags: ServerFlags, log: (l: string) => void): void {
  process.on('SIGHUP', () => {
    for (const [i, s] of servers.entries()) {
      const tag = s.config.name ? `${s.config.name}: ` : '';
      let next: Config;
      try {
        next = flags.config ? rereader(flags, i)() : s.config;
      } catch (e) {
        log(`${tag}SIGHUP: configuration not reloaded, the running one stays in force: ${(e as Error).message}`);
        continue;
      }
      s.reload(next).then(
        (lines) => {
          for (const l of lines) log(`${tag}SIGHUP: ${l}`);
        },
        (e: unknown) => log(`${tag}SIGHUP: ${(e as Error).message}`),
      );
    }
  });
}
