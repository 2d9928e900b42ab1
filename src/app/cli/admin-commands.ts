/**
 * `switchboard status|calls|registrations --admin URL` (and `location list --admin URL`): what a
 * running server says through its admin API — the same answers the web console shows, so with
 * `store: memory` the registrations are the server's, not an empty database's.
 *
 * @remarks App layer (`app/cli`).
 */
import { SipError } from '../../util/errors.js';
import { UsageError } from './usage-error.js';

export interface AdminFlags {
  admin?: string;
  token?: string;
  json: boolean;
  q?: string;
}

/** `127.0.0.1:8080`, `http://host:8080/` → the API's base URL. */
export function adminBase(text: string): URL {
  const withScheme = /^https?:\/\//.test(text) ? text : `http://${text}`;
  try {
    return new URL(withScheme.endsWith('/') ? withScheme : `${withScheme}/`);
  } catch {
    throw new UsageError(`--admin "${text}": expected the admin listener's URL, e.g. http://127.0.0.1:8080`);
  }
}

async function getJson(base: URL, path: string, token: string | undefined): Promise<unknown> {
  const url = new URL(path, base);
  let res: Response;
  try {
    res = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(5000) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
    throw new SipError('ADMIN_ERR_UNREACHABLE', `cannot reach the admin API at ${base.origin}: ${cause}`);
  }
  if (res.status === 401) throw new UsageError(`the admin API at ${base.origin} wants its token: --token T or SWITCHBOARD_ADMIN_TOKEN`);
  if (!res.ok) throw new SipError('ADMIN_ERR_RESPONSE', `${url.pathname}: ${res.status} ${(await res.text()).slice(0, 200)}`);
  return res.json();
}

interface Registration { aor: string; contact: string; expires: number; q: number; received?: string }
interface Call { callId: string; from: string; to: string; state: string; role: string; start: string; answer?: string; end?: string; status?: number; reason?: string; legs: string[] }

export async function adminCommand(command: 'status' | 'calls' | 'registrations', args: string[], flags: AdminFlags): Promise<number> {
  if (!flags.admin) throw new UsageError(`${command} needs --admin URL (the admin listener of a running serve, e.g. --admin 127.0.0.1:8080)`);
  const base = adminBase(flags.admin);
  const token = flags.token ?? process.env.SWITCHBOARD_ADMIN_TOKEN;
  const out = (s: string) => process.stdout.write(s);
  if (command === 'status') {
    const s = (await getJson(base, 'api/stats', token)) as { version: string; uptime: number; roles: string[]; listeners: string[]; registrations: number; calls: { active: number; total: number }; messages: { buffered: number; bytes: number }; transactions: { clients: number; servers: number } };
    if (flags.json) out(JSON.stringify(s) + '\n');
    else {
      out(`switchboard ${s.version}, up ${s.uptime} s; roles ${s.roles.join(', ')}\n`);
      out(`listening on ${s.listeners.join(', ')}\n`);
      out(`registrations ${s.registrations}; calls ${s.calls.active} under way, ${s.calls.total} since start; transactions ${s.transactions.clients} client, ${s.transactions.servers} server; messages buffered ${s.messages.buffered} (${s.messages.bytes} bytes)\n`);
    }
    return 0;
  }
  if (command === 'registrations') {
    const aor = args[0];
    const list = ((await getJson(base, 'api/registrations', token)) as { registrations: Registration[] }).registrations.filter((r) => !aor || r.aor === aor);
    if (flags.json) out(JSON.stringify(list) + '\n');
    else if (list.length === 0) out('no bindings\n');
    else for (const b of list) out(`${b.aor}\t${b.contact}\texpires=${b.expires}\tq=${b.q}${b.received ? `\treceived=${b.received}` : ''}\n`);
    return 0;
  }
  const q = flags.q ? `?q=${encodeURIComponent(flags.q)}` : '';
  const calls = ((await getJson(base, `api/calls${q}`, token)) as { calls: Call[] }).calls;
  if (flags.json) out(JSON.stringify(calls) + '\n');
  else if (calls.length === 0) out('no calls\n');
  else {
    for (const c of calls) {
      out(`${c.start}\t${c.from} -> ${c.to}\t${c.state}${c.status ? ` ${c.status}` : ''}${c.reason ? ` (${c.reason})` : ''}\t${c.role}\tcall-id=${c.callId}${c.legs.length > 1 ? `\tlegs=${c.legs.join(',')}` : ''}\n`);
    }
  }
  return 0;
}
