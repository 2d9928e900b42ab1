#!/usr/bin/env node
/**
 * The `switchboard` command line.
 *
 * @remarks App layer (`app/cli`). Usage errors print one line and exit with 2.
 */
import { parseArgs } from 'node:util';
import { VERSION } from '../version.js';
import { adminCommand } from './admin-commands.js';
import { answerCommand, callCommand, optionsCommand, registerCommand } from './client-commands.js';
import { dialplanCommand } from './dialplan-commands.js';
import { gatewayCommand } from './gateway-commands.js';
import { presenceCommand, subscriptionsCommand } from './presence-commands.js';
import { UsageError } from './usage-error.js';
import { StoreError } from '../../util/errors.js';
import { ConfigError, cdrCommand, locationCommand, serveCommand, userCommand } from './server-commands.js';

const USAGE = `usage: switchboard <command> [options]

commands:
  options <uri>                       send OPTIONS and print the response
  call <uri> [--duration S]           place a call, wait S seconds (default 5), hang up
       [--from URI] [--user U --password P] [--proxy URI]
       [--100rel]                     require reliable provisionals (RFC 3262)
       [--session-timer S]            ask for a session interval of S seconds (RFC 4028; default 1800)
       [--follow-redirects]           on a 3xx, call its Contacts in q order (they are printed either way)
       [--transfer-to URI]            once answered, transfer the callee there (REFER, RFC 3515)
       [--hold-after S]               put the call on hold S seconds after it is answered
       [--dtmf DIGITS]                send DIGITS after the answer (DTMF relay, docs/gateway.md)
       [--dtmf-relay LIST]            methods in order of preference: sip-notify,sip-info (default)
       [--dtmf-max-duration MS]       the Duration offered for NOTIFY relay, 500-3000 (default 2000)
       [--media] [--play FILE.wav] [--record FILE.wav]   RTP (G.711): silence or the file; counts printed at the end
  answer --listen udp:HOST:PORT       answer every INVITE (180, 200 + SDP) and OPTIONS
       [--listen tcp:...] [--max-calls N]
       [--100rel]                     send the 180 reliably when the caller supports it
       [--session-timer S]            the session interval offered at most (RFC 4028; default 1800)
       [--dtmf-relay LIST]            offer sip-notify; print each digit received: DTMF <digit> <method>
       [--dtmf DIGITS]                send DIGITS once the caller's ACK has come
       [--dtmf-max-duration MS]       the Duration offered for NOTIFY relay, 500-3000 (default 2000)
       [--media] [--play FILE.wav] [--record FILE.wav]   RTP per call, counts printed when it ends
  register <aor> --registrar <uri>    register; stays running and refreshes, or with
       --user U --password P          --contact registers that contact once and exits
       [--expires N] [--contact URI]
  serve [--config FILE] [--listen …]  run the server roles of the config (registrar, proxy, b2bua …)
       [--check]                      validate the config (and dial plan), print what would run, exit 0 (2 on a mistake)
       [--dial-plan FILE]             route telephone numbers by this dial plan (YAML or IOS; SIGHUP reloads)
       [--domain D] [--db PATH] [--store memory|sqlite|REDIS-URL] [--workers N]
       [--admin HOST:PORT]            admin API, web console and /metrics (docs/operations.md)
       [--hep udp:IP:PORT]            copy every message to a HEP v3 collector (Homer, sngrep -L)
       [--rtpengine udp:IP:PORT]      relay the media of calls with a party behind NAT through rtpengine (docs/nat.md); repeatable
       [--log-level L] [--log-format text|json]   the log (default info, text); SIGHUP reloads the config
       [--trace-filter TEXT]          --trace only the messages whose Call-ID, method, user or address contains TEXT
       REDIS-URL: redis://H:P[/db], redis-sentinel://H:P[,H:P…]/MASTER, redis-cluster://H:P[,H:P…]
  gateway call NUMBER --config FILE   a call from the gateway's telephone side: out by its outbound dial-peers
       [--calling N] [--duration S]   (hunting, translation, sip-ua settings), held S s, then BYE with Reason
       [--dtmf DIGITS] [--media]      digits by the dial-peer's dtmf-relay; RTP as for call
  status --admin URL [--json]         a running server's version, roles, listeners, counts (its admin API)
  calls --admin URL [--json] [--q TEXT]   its current and recent calls
  registrations --admin URL [--json]  its registrations (also: location list --admin URL)
  location list [AOR] [--json]        show bindings of the location service
  location rm AOR [CONTACT]           remove bindings
  presence list [AOR] [--json]        presentities: composed state (open/closed, activities, notes) and watchers
  presence allow|block|polite-block PRESENTITY WATCHER   a watcher rule, kept in the store (SIGHUP applies it)
  presence forget PRESENTITY WATCHER | presence rules [PRESENTITY] [--json]
  subscriptions list [--json]         event subscriptions the server holds (event, resource, watcher, state)
  cdr list [--json] [--limit N]       the B2BUA's call detail records, newest first (default 100)
  dialplan import FILE                IOS dial-peer text → the dial plan's YAML (unused lines on stderr)
  dialplan match NUMBER --dial-plan FILE [--json]   the dial-peers a call to NUMBER hunts through
  user add USER --password P [--domain D]   add a user (HA1 stored, never the password)
  user rm USER | user list | user import FILE.csv   (lines user,password[,domain])

common options:
  --listen KIND:HOST:PORT   local listener (udp, tcp, tls, ws, wss); repeatable
  --transport KIND          transport to reach the target (udp, tcp, tls, ws, wss)
  --trace                   print every message sent and received
  --help                    this text (switchboard COMMAND --help: that command's part)
  --version                 the version
`;

/** The part of the usage text about one command: its lines and their continuation lines. */
function commandHelp(command: string): string | undefined {
  const lines = USAGE.split('\n');
  const out: string[] = [];
  let inside = false;
  for (const l of lines) {
    if (/^ {2}\S/.test(l)) inside = l.slice(2).split(/\s/)[0] === command;
    else if (!/^ {7}/.test(l)) inside = false;
    if (inside) out.push(l);
  }
  if (out.length === 0) return undefined;
  const common = USAGE.slice(USAGE.indexOf('common options:'));
  return `usage: switchboard ${command} [options]\n\n${out.join('\n')}\n\n${common}`;
}


const OPTIONS = {
  listen: { type: 'string', multiple: true },
  transport: { type: 'string' },
  trace: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  check: { type: 'boolean' },
  duration: { type: 'string' },
  from: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  'max-calls': { type: 'string' },
  registrar: { type: 'string' },
  proxy: { type: 'string' },
  expires: { type: 'string' },
  contact: { type: 'string' },
  config: { type: 'string', short: 'c' },
  domain: { type: 'string', multiple: true },
  db: { type: 'string' },
  store: { type: 'string' },
  json: { type: 'boolean' },
  workers: { type: 'string' },
  limit: { type: 'string' },
  '100rel': { type: 'boolean' },
  'session-timer': { type: 'string' },
  'transfer-to': { type: 'string' },
  'hold-after': { type: 'string' },
  'dial-plan': { type: 'string' },
  dtmf: { type: 'string' },
  'dtmf-relay': { type: 'string' },
  'dtmf-max-duration': { type: 'string' },
  calling: { type: 'string' },
  'follow-redirects': { type: 'boolean' },
  media: { type: 'boolean' },
  play: { type: 'string' },
  record: { type: 'string' },
  admin: { type: 'string' },
  token: { type: 'string' },
  hep: { type: 'string' },
  rtpengine: { type: 'string', multiple: true },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  'trace-filter': { type: 'string', multiple: true },
  q: { type: 'string' },
} as const;

function intFlag(v: string | undefined, name: string, def: number | undefined, min = 0): number | undefined {
  if (v === undefined) return def;
  if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`invalid ${name} "${v}": expected a whole number >= ${min}`);
  return Number(v);
}

function serverFlags(v: { config?: string; domain?: string[]; db?: string; store?: string; workers?: string }, common: { listen: string[]; trace: boolean }) {
  return { config: v.config, listen: common.listen, domain: v.domain ?? [], db: v.db, store: v.store, trace: common.trace, workers: intFlag(v.workers, '--workers', undefined, 1) };
}

// A closed pipe (e.g. `| head`) must not crash the command.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
});

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  if (command === '--version' || command === '-V' || command === 'version') {
    process.stdout.write(`switchboard ${VERSION}\n`);
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!.replace(/\. To specify.*$/, ''));
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(commandHelp(command) ?? USAGE);
    return 0;
  }
  const common = { listen: v.listen ?? [], transport: v.transport, trace: v.trace ?? false };
  switch (command) {
    case 'options':
      return optionsCommand(parsed.positionals, { ...common, proxy: v.proxy });
    case 'call':
      return callCommand(parsed.positionals, { ...common, duration: intFlag(v.duration, '--duration', 5)!, from: v.from, user: v.user, password: v.password, proxy: v.proxy, rel100: v['100rel'], sessionTimer: intFlag(v['session-timer'], '--session-timer', undefined, 90), transferTo: v['transfer-to'], holdAfter: intFlag(v['hold-after'], '--hold-after', undefined, 0), dtmf: v.dtmf, dtmfRelay: v['dtmf-relay'], dtmfMaxDuration: v['dtmf-max-duration'], media: v.media, play: v.play, record: v.record, followRedirects: v['follow-redirects'] });
    case 'answer':
      if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument "${parsed.positionals[0]}"`);
      return answerCommand({ ...common, maxCalls: intFlag(v['max-calls'], '--max-calls', undefined, 1), rel100: v['100rel'], sessionTimer: intFlag(v['session-timer'], '--session-timer', undefined, 90), dtmfRelay: v['dtmf-relay'], dtmfMaxDuration: v['dtmf-max-duration'], dtmf: v.dtmf, media: v.media, play: v.play, record: v.record });
    case 'register':
      return registerCommand(parsed.positionals, { ...common, registrar: v.registrar, user: v.user, password: v.password, expires: intFlag(v.expires, '--expires', 3600)!, contact: v.contact });
    case 'serve':
      if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument "${parsed.positionals[0]}"`);
      return serveCommand({ ...serverFlags(v, common), dialPlan: v['dial-plan'], check: v.check ?? false, admin: v.admin, hep: v.hep, rtpengine: v.rtpengine, logLevel: v['log-level'], logFormat: v['log-format'], traceFilter: v['trace-filter'] ?? [] });
    case 'status':
    case 'calls':
    case 'registrations':
      return adminCommand(command, parsed.positionals, { admin: v.admin, token: v.token, json: v.json ?? false, q: v.q });
    case 'location':
      if (v.admin && parsed.positionals[0] === 'list') return adminCommand('registrations', parsed.positionals.slice(1), { admin: v.admin, token: v.token, json: v.json ?? false });
      return locationCommand(parsed.positionals, { ...serverFlags(v, common), json: v.json ?? false });
    case 'presence':
      return presenceCommand(parsed.positionals, { ...serverFlags(v, common), json: v.json ?? false });
    case 'subscriptions':
      return subscriptionsCommand(parsed.positionals, { ...serverFlags(v, common), json: v.json ?? false });
    case 'cdr':
      return cdrCommand(parsed.positionals, { ...serverFlags(v, common), json: v.json ?? false, limit: intFlag(v.limit, '--limit', 100, 1)! });
    case 'dialplan':
      return dialplanCommand(parsed.positionals, { dialPlan: v['dial-plan'], json: v.json ?? false });
    case 'gateway':
      return gatewayCommand(parsed.positionals, { ...serverFlags(v, common), dialPlan: v['dial-plan'], calling: v.calling, duration: intFlag(v.duration, '--duration', 5)!, dtmf: v.dtmf, media: v.media, play: v.play, record: v.record });
    case 'user':
      return userCommand(parsed.positionals, { ...serverFlags(v, common), password: v.password, json: v.json ?? false });
    default:
      throw new UsageError(`unknown command "${command}" (try: options, call, answer, register, serve, status, calls, registrations, gateway, location, presence, subscriptions, cdr, dialplan, user)`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Let sockets close, then leave even if a timer is still pending.
    setTimeout(() => process.exit(code), 50).unref();
  },
  (err: unknown) => {
    const e = err as Error;
    if (e instanceof UsageError || e instanceof ConfigError) {
      process.stderr.write(`switchboard: ${e.message}\n`);
      process.exit(2);
    }
    // The configured store cannot be used (a bad URL, Redis unreachable): the `store` key's fault.
    if (e instanceof StoreError && (e.code === 'STORE_ERR_URL' || e.code === 'STORE_ERR_CONNECT')) {
      process.stderr.write(`switchboard: store: ${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`switchboard: ${e.message}\n`);
    process.exit(1);
  },
);
