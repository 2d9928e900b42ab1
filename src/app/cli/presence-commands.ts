/**
 * `switchboard presence list [AOR] [--json]` and `switchboard subscriptions list [--json]`: what
 * the presence role keeps, read from the store the server uses (`--config`, `--db`, `--store`),
 * as `location list` does — the presentities with their composed state (published tuples and
 * activities, else the registration) and their watchers; the subscriptions with their dialog,
 * watcher, resource, state and time left.
 *
 * @remarks App layer (`app/cli`).
 */
import { type Publication, composePresence } from '../../roles/presence/index.js';
import { openStores } from '../../store/index.js';
import type { SubscriptionRecord } from '../../usage/index.js';
import { type ServerFlags, resolveConfig } from './server-commands.js';
import { UsageError } from './usage-error.js';

type StoredSubscription = SubscriptionRecord & { decision: string };

export async function presenceCommand(args: string[], flags: ServerFlags & { json: boolean }): Promise<number> {
  const [sub, only] = args;
  if (sub !== 'list') throw new UsageError(`unknown presence subcommand "${sub ?? ''}" (expected list)`);
  const config = resolveConfig(flags);
  const stores = await openStores({ store: config.store, dbPath: config.db, redisPrefix: config.redisPrefix });
  try {
    const now = Date.now();
    const pubs = (await stores.events.all('pub')).map((r) => JSON.parse(r.data) as Publication).filter((p) => (p.event ?? 'presence') === 'presence');
    const subs = (await stores.events.all('sub')).map((r) => JSON.parse(r.data) as StoredSubscription);
    const bindings = (await stores.location.all()).filter((b) => b.expires > now);
    const resources = new Set<string>([...pubs.map((p) => p.resource), ...bindings.map((b) => b.aor), ...subs.filter((s) => s.event === 'presence').map((s) => s.resource)]);
    const list = [...resources].filter((r) => only === undefined || r === only).sort().map((r) => {
      const doc = composePresence(r, pubs.filter((p) => p.resource === r).sort((a, b) => a.since - b.since), bindings.filter((b) => b.aor === r), false);
      const watchers = subs.filter((s) => s.resource === r && s.event === 'presence').map((s) => ({ watcher: s.watcher, state: s.state, decision: s.decision, expires: Math.max(0, Math.round((s.expiresAt - now) / 1000)) }));
      return { presentity: r, basic: doc.tuples.some((t) => t.basic === 'open') ? 'open' : 'closed', activities: doc.activities, notes: doc.notes, tuples: doc.tuples, publications: pubs.filter((p) => p.resource === r).length, watchers };
    });
    if (flags.json) process.stdout.write(JSON.stringify(list) + '\n');
    else if (list.length === 0) process.stdout.write(only ? `no presence state for ${only}\n` : 'no presentities\n');
    else {
      for (const p of list) {
        process.stdout.write(`${p.presentity}\t${p.basic}${p.activities.length ? `\t${p.activities.join(',')}` : ''}${p.notes.length ? `\t"${p.notes.join('; ')}"` : ''}\tpublications=${p.publications}\twatchers=${p.watchers.length}\n`);
        for (const w of p.watchers) process.stdout.write(`  watched by ${w.watcher}\t${w.state}${w.decision === 'polite-block' ? ' (polite-block)' : ''}\texpires=${w.expires}\n`);
      }
    }
    return only !== undefined && list.length === 0 ? 1 : 0;
  } finally {
    await stores.close();
  }
}

export async function subscriptionsCommand(args: string[], flags: ServerFlags & { json: boolean }): Promise<number> {
  const [sub] = args;
  if (sub !== 'list') throw new UsageError(`unknown subscriptions subcommand "${sub ?? ''}" (expected list)`);
  const config = resolveConfig(flags);
  const stores = await openStores({ store: config.store, dbPath: config.db, redisPrefix: config.redisPrefix });
  try {
    const now = Date.now();
    const subs = (await stores.events.all('sub')).map((r) => JSON.parse(r.data) as StoredSubscription).sort((a, b) => a.resource.localeCompare(b.resource));
    const rows = subs.map((s) => ({ event: s.event, resource: s.resource, watcher: s.watcher, state: s.state, decision: s.decision, expires: Math.max(0, Math.round((s.expiresAt - now) / 1000)), callId: s.dialog.callId, contact: s.dialog.remoteTarget }));
    if (flags.json) process.stdout.write(JSON.stringify(rows) + '\n');
    else if (rows.length === 0) process.stdout.write('no subscriptions\n');
    else for (const r of rows) process.stdout.write(`${r.event}\t${r.resource}\t${r.watcher}\t${r.state}\texpires=${r.expires}\t${r.contact}\tcall-id=${r.callId}\n`);
    return 0;
  } finally {
    await stores.close();
  }
}
