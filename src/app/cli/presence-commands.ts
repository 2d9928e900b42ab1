/**
 * `switchboard presence list [AOR] [--json]` and `switchboard subscriptions list [--json]`: what
 * the presence role keeps, read from the store the server uses (`--config`, `--db`, `--store`),
 * as `location list` does — the presentities with their composed state (published tuples and
 * activities, else the registration) and their watchers; the subscriptions with their dialog,
 * watcher, resource, state and time left.
 *
 * @remarks App layer (`app/cli`).
 */
import { type Publication, type StoredRule, composePresence, ruleId } from '../../roles/presence/index.js';
import { openStores } from '../../store/index.js';
import type { SubscriptionRecord } from '../../usage/index.js';
import { type ServerFlags, resolveConfig } from './server-commands.js';
import { UsageError } from './usage-error.js';

type StoredSubscription = SubscriptionRecord & { decision: string };

const ACTIONS = ['allow', 'block', 'polite-block'] as const;

/** `presence allow|block|polite-block PRESENTITY WATCHER`, `presence forget …`, `presence rules [PRESENTITY]`. */
async function ruleCommand(args: string[], flags: ServerFlags & { json: boolean }): Promise<number> {
  const [sub, presentity, watcher] = args;
  const aor = /^sips?:[^@\s]+@[^\s]+$/;
  const config = resolveConfig(flags);
  const stores = await openStores({ store: config.store, dbPath: config.db, redisPrefix: config.redisPrefix });
  try {
    if (sub === 'rules') {
      const rules = (await stores.events.all('rule')).map((r) => JSON.parse(r.data) as StoredRule).filter((r) => presentity === undefined || r.presentity === presentity).sort((a, b) => a.presentity.localeCompare(b.presentity) || a.watcher.localeCompare(b.watcher));
      if (flags.json) process.stdout.write(JSON.stringify(rules) + '\n');
      else if (rules.length === 0) process.stdout.write('no stored rules\n');
      else for (const r of rules) process.stdout.write(`${r.presentity}\t${r.action}\t${r.watcher}\n`);
      return 0;
    }
    if (presentity === undefined || watcher === undefined || args.length !== 3) throw new UsageError(`usage: switchboard presence ${sub} PRESENTITY WATCHER (e.g. sip:alice@example.com sip:bob@example.com, or a domain as WATCHER)`);
    if (!aor.test(presentity)) throw new UsageError(`invalid presentity "${presentity}": expected an AOR such as sip:alice@example.com`);
    if (!aor.test(watcher) && !/^[A-Za-z0-9.-]+$/.test(watcher)) throw new UsageError(`invalid watcher "${watcher}": expected an AOR such as sip:bob@example.com or a domain`);
    const id = ruleId(presentity, watcher);
    if (sub === 'forget') {
      await stores.events.remove('rule', id);
      process.stdout.write(`forgot the rule for ${watcher} on ${presentity}; SIGHUP the server (or restart it) to apply\n`);
      return 0;
    }
    const rule: StoredRule = { presentity, watcher, action: sub as StoredRule['action'] };
    await stores.events.put({ kind: 'rule', id, resource: presentity, expiresAt: Number.MAX_SAFE_INTEGER, data: JSON.stringify(rule) });
    process.stdout.write(`${presentity}: ${sub} ${watcher}; SIGHUP the server (or restart it) to apply\n`);
    return 0;
  } finally {
    await stores.close();
  }
}

export async function presenceCommand(args: string[], flags: ServerFlags & { json: boolean }): Promise<number> {
  const [sub, only] = args;
  if ((ACTIONS as readonly string[]).includes(sub ?? '') || sub === 'forget' || sub === 'rules') return ruleCommand(args, flags);
  if (sub !== 'list') throw new UsageError(`unknown presence subcommand "${sub ?? ''}" (expected list, rules, allow, block, polite-block or forget)`);
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
