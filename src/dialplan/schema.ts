/**
 * The dial plan file: YAML (or JSON) in the shape below, or IOS configuration text (read by
 * {@link importIos}); {@link loadDialPlan} tells them apart. Every error names the key.
 *
 * ```yaml
 * hunt: 0                      # dial-peer hunt 0–7
 * huntOn: [408, 480, 500, 502, 503, 504, timeout, transport]
 * noAnswerTimeout: 0           # s a peer may ring before the next is tried (0: no limit)
 * sipServer: dns:proxy.example.com
 * translationRules:
 *   '1': ['rule 1 /^9\(.*\)/ /\1/']
 * translationProfiles:
 *   strip9: { called: '1' }
 * dialPeers:
 *   - tag: 1000
 *     destinationPattern: 1111....
 *     sessionTarget: ipv4:192.0.2.1:5060
 *     sessionTransport: tcp
 *     transportSwitch: true
 *     preference: 0
 *     huntstop: false
 *     dtmfRelay: [sip-notify, rtp-nte]
 *     translationProfile: { outgoing: strip9 }
 * ```
 *
 * @remarks Leaf (`dialplan/`).
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DialPlan, type DialPlanData } from './dial-plan.js';
import { type ImportDiagnostic, importIos, looksLikeIos } from './ios-import.js';
import { DialPlanError } from './pattern.js';
import { type TranslationRule, parseRuleLine } from './translation.js';

const rule = z.union([
  z.string().transform((s, ctx) => {
    try {
      return parseRuleLine(s);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  }),
  z.strictObject({ precedence: z.number().int().min(1), match: z.string(), replace: z.string().optional(), reject: z.boolean().optional(), type: z.string().optional() }),
]);

const dialPeer = z.strictObject({
  tag: z.number().int().min(1),
  destinationPattern: z.string().optional(),
  preference: z.number().int().min(0).max(10).optional(),
  huntstop: z.boolean().optional(),
  sessionTarget: z.string().optional(),
  sessionTransport: z.enum(['udp', 'tcp', 'tls']).optional(),
  transportSwitch: z.boolean().optional(),
  codecs: z.array(z.string()).optional(),
  dtmfRelay: z.array(z.enum(['sip-notify', 'rtp-nte', 'sip-info', 'sip-kpml', 'cisco-rtp', 'h245-alphanumeric', 'h245-signal'])).optional(),
  translationProfile: z.strictObject({ incoming: z.string().optional(), outgoing: z.string().optional() }).optional(),
  incomingCalledNumber: z.string().optional(),
  answerAddress: z.string().optional(),
  optionsKeepalive: z.strictObject({
    upInterval: z.number().int().min(5).max(1200).optional(),
    downInterval: z.number().int().min(5).max(1200).optional(),
    retry: z.number().int().min(1).max(10).optional(),
  }).optional(),
});

export const DialPlanSchema = z.strictObject({
  hunt: z.number().int().min(0).max(7).optional(),
  huntOn: z.array(z.union([z.number().int().min(300).max(699), z.enum(['timeout', 'transport'])])).optional(),
  noAnswerTimeout: z.number().min(0).optional(),
  sipServer: z.string().optional(),
  translationRules: z.record(z.string(), z.array(rule)).optional(),
  translationProfiles: z.record(z.string(), z.strictObject({ called: z.string().optional(), calling: z.string().optional(), redirectCalled: z.string().optional() })).optional(),
  dialPeers: z.array(dialPeer),
});

/** Checks plain data (parsed YAML/JSON) as a dial plan; throws naming the first bad key. */
export function dialPlanData(raw: unknown): DialPlanData {
  const r = DialPlanSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new DialPlanError('DIALPLAN_ERR_PLAN', `${issue.path.length > 0 ? issue.path.join('.') : 'dial plan'}: ${issue.message}`);
  }
  const d = r.data;
  const translationRules: Record<string, TranslationRule[]> = {};
  for (const [name, rules] of Object.entries(d.translationRules ?? {})) translationRules[name] = rules as TranslationRule[];
  return { ...d, translationRules };
}

export interface LoadedDialPlan {
  plan: DialPlan;
  data: DialPlanData;
  /** `ios` when the text was IOS configuration. */
  format: 'yaml' | 'ios';
  /** IOS lines that were not used, with why. */
  diagnostics: ImportDiagnostic[];
}

/** A dial plan from file text: IOS configuration or YAML/JSON. */
export function loadDialPlan(text: string, random?: () => number): LoadedDialPlan {
  if (looksLikeIos(text)) {
    const { data, diagnostics } = importIos(text);
    if (data.dialPeers.length === 0) throw new DialPlanError('DIALPLAN_ERR_PLAN', 'no dial-peer voice … voip in the IOS text');
    return { plan: new DialPlan(data, random), data, format: 'ios', diagnostics };
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new DialPlanError('DIALPLAN_ERR_PLAN', `not YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  const data = dialPlanData(raw);
  return { plan: new DialPlan(data, random), data, format: 'yaml', diagnostics: [] };
}
