/**
 * Number translation with IOS `voice translation-rule` semantics (Cisco docs 64020, 61083,
 * 211306; docs/dialplan.md): rules are tried in precedence order, the first whose expression
 * matches rewrites the number and ends the search; no match leaves the number as it is; a
 * `reject` rule that matches blocks the call.
 *
 * Expressions are sed-like, as IOS writes them: groups are `\(` `\)` (a bare parenthesis is a
 * literal), `.` `*` `+` `?` `[…]` `[^…]` `^` `$` as in regular expressions, `\x` a literal `x`.
 * The replacement puts `\1`…`\9` (a group), `&` or `\0` (the whole match); only the leftmost
 * match is replaced, greedily.
 *
 * @remarks Leaf (`dialplan/`).
 */
import { DialPlanError } from './pattern.js';

export interface TranslationRule {
  /** `rule N`: rules are tried by this number, lowest first, whatever the order they were written in. */
  precedence: number;
  /** `/expression/` as in IOS. */
  match: string;
  /** `/replacement/`; absent for a reject rule. */
  replace?: string;
  /** `rule N reject /…/`: a match blocks the call. */
  reject?: boolean;
  /**
   * `type MATCH …`: the number type the rule applies to. A SIP number has none (IOS: unknown),
   * so a rule for `national`, `international` … never applies; `any` and `unknown` do.
   */
  type?: string;
}

export type TranslationResult =
  | { kind: 'translated'; number: string; rule: number | undefined }
  | { kind: 'rejected'; rule: number };

interface CompiledRule {
  precedence: number;
  type: string | undefined;
  re: RegExp;
  replace: string | undefined;
  reject: boolean;
}

/** `/…/` → its inside; IOS requires the slashes. */
function slashed(text: string, what: string): string {
  const t = text.trim();
  if (t.length < 2 || !t.startsWith('/') || !t.endsWith('/')) throw new DialPlanError('DIALPLAN_ERR_RULE', `${what} must be written between slashes, e.g. /^9\\(.*\\)/ (got '${text}')`);
  return t.slice(1, -1);
}

/** An IOS (sed) expression → a JavaScript one. */
function expression(src: string): RegExp {
  let out = '';
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === '\\') {
      const n = src[++i];
      if (n === undefined) throw new DialPlanError('DIALPLAN_ERR_RULE', `expression /${src}/ ends with \\`);
      out += n === '(' || n === ')' ? n : /[0-9A-Za-z]/.test(n) ? n : `\\${n}`;
    } else if (c === '(' || c === ')' || c === '{' || c === '}' || c === '|') out += `\\${c}`;
    else out += c;
  }
  try {
    return new RegExp(out);
  } catch (e) {
    throw new DialPlanError('DIALPLAN_ERR_RULE', `expression /${src}/ is not valid: ${(e as Error).message}`);
  }
}

/** The replacement text for one match. */
function substitute(template: string, m: RegExpExecArray): string {
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c === '&') out += m[0];
    else if (c === '\\') {
      const n = template[++i];
      if (n === undefined) break;
      out += /[0-9]/.test(n) ? (m[Number(n)] ?? '') : n;
    } else out += c;
  }
  return out;
}

function compileRule(r: TranslationRule): CompiledRule {
  const re = expression(slashed(r.match, `rule ${r.precedence}'s match`));
  const type = r.type?.toLowerCase();
  if (r.reject) return { precedence: r.precedence, type, re, replace: undefined, reject: true };
  if (r.replace === undefined) throw new DialPlanError('DIALPLAN_ERR_RULE', `rule ${r.precedence} has no replacement (or say reject)`);
  return { precedence: r.precedence, type, re, replace: slashed(r.replace, `rule ${r.precedence}'s replacement`), reject: false };
}

/** A `voice translation-rule` table, compiled once. */
export class TranslationRuleSet {
  private readonly rules: CompiledRule[];

  constructor(rules: readonly TranslationRule[]) {
    this.rules = rules.map(compileRule).sort((a, b) => a.precedence - b.precedence);
  }

  /** Translates `number`, of type `numberType` (a SIP number's is `unknown`: rules for another type do not apply). */
  apply(number: string, numberType = 'unknown'): TranslationResult {
    for (const r of this.rules) {
      if (r.type !== undefined && r.type !== 'any' && r.type !== numberType) continue;
      const m = r.re.exec(number);
      if (m === null) continue;
      if (r.reject) return { kind: 'rejected', rule: r.precedence };
      return { kind: 'translated', number: number.slice(0, m.index) + substitute(r.replace!, m) + number.slice(m.index + m[0].length), rule: r.precedence };
    }
    return { kind: 'translated', number, rule: undefined };
  }
}

/** `rule 1 /^9\(.*\)/ /\1/` or `rule 2 reject /^900/` → the rule (the IOS line, as typed). */
export function parseRuleLine(line: string): TranslationRule {
  const m = /^\s*rule\s+(\d+)\s+(reject\s+)?(\/(?:\\.|[^/])*\/)(?:\s+(\/(?:\\.|[^/])*\/))?(?:\s+type\s+(\S+)(?:\s+\S+)?)?(?:\s+plan\b.*)?\s*$/i.exec(line);
  if (!m) throw new DialPlanError('DIALPLAN_ERR_RULE', `expected "rule N /match/ /replace/" or "rule N reject /match/" (got '${line.trim()}')`);
  const precedence = Number(m[1]);
  const type = m[5] !== undefined ? { type: m[5] } : {};
  if (m[2]) return { precedence, match: m[3]!, reject: true, ...type };
  if (m[4] === undefined) throw new DialPlanError('DIALPLAN_ERR_RULE', `rule ${precedence} has no replacement (or say reject)`);
  return { precedence, match: m[3]!, replace: m[4], ...type };
}
