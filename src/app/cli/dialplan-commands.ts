/**
 * `switchboard dialplan import FILE` (IOS text → the dial plan's YAML, each unused line on
 * stderr with its number and why; exit 0 when a dial-peer was read, 2 otherwise) and
 * `switchboard dialplan match NUMBER --dial-plan FILE [--json]` (the dial-peers a call to NUMBER
 * would hunt through, in order; exit 1 when none matches).
 *
 * @remarks App layer (`app/cli`).
 */
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { DialPlanError, type DialPlanData, importIos, loadDialPlan, peerTarget } from '../../dialplan/index.js';
import { UsageError } from './usage-error.js';

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The YAML a user would write: keys of the plan that are set, peers first-level. */
function toYaml(data: DialPlanData): string {
  const out: Record<string, unknown> = {};
  for (const k of ['hunt', 'huntOn', 'noAnswerTimeout', 'sipServer', 'translationRules', 'translationProfiles'] as const) if (data[k] !== undefined) out[k] = data[k];
  if (data.translationRules) {
    out.translationRules = Object.fromEntries(Object.entries(data.translationRules).map(([n, rules]) => [n, rules.map((r) => `rule ${r.precedence} ${r.reject ? 'reject ' : ''}${r.match}${r.replace !== undefined ? ` ${r.replace}` : ''}${r.type ? ` type ${r.type}` : ''}`)]));
  }
  out.dialPeers = data.dialPeers;
  return stringify(out, { lineWidth: 0 });
}

export function dialplanCommand(args: string[], flags: { dialPlan?: string; json: boolean }): number {
  const [sub, arg, ...extra] = args;
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (sub === 'import') {
    if (!arg) throw new UsageError('dialplan import needs a FILE with IOS configuration');
    const { data, diagnostics } = importIos(readText(arg));
    for (const d of diagnostics) process.stderr.write(`${arg}:${d.line}: ${d.why}: ${d.text}\n`);
    if (data.dialPeers.length === 0) {
      process.stderr.write(`switchboard: no "dial-peer voice TAG voip" in ${arg}\n`);
      return 2;
    }
    process.stdout.write(toYaml(data));
    return 0;
  }
  if (sub === 'match') {
    if (!arg) throw new UsageError('dialplan match needs a NUMBER');
    if (!flags.dialPlan) throw new UsageError('dialplan match needs --dial-plan FILE (YAML or IOS text)');
    let loaded;
    try {
      loaded = loadDialPlan(readText(flags.dialPlan));
    } catch (e) {
      if (e instanceof DialPlanError) throw new UsageError(`${flags.dialPlan}: ${e.message}`);
      throw e;
    }
    const matches = loaded.plan.outbound(arg);
    if (flags.json) {
      const rows = matches.map(({ peer, pattern }) => {
        let target: string | undefined;
        try {
          const t = peerTarget(loaded.plan, peer, arg);
          target = t.kind === 'uri' ? t.uri : 'registrar';
        } catch {
          target = peer.sessionTarget;
        }
        return { tag: peer.tag, pattern, preference: peer.preference ?? 0, target: target ?? null, transport: peer.sessionTransport ?? 'udp' };
      });
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    } else for (const m of matches) process.stdout.write(`${m.peer.tag}\n`);
    return matches.length > 0 ? 0 : 1;
  }
  throw new UsageError(`unknown dialplan command "${sub ?? ''}" (try: dialplan import FILE, dialplan match NUMBER --dial-plan FILE)`);
}
