/**
 * Cisco IOS number patterns (`destination-pattern`, `incoming called-number`, `answer-address`)
 * matched against a complete dialled number — a SIP Request-URI user or a `tel:` number, never
 * digit by digit. The rules, with their sources, are in docs/dialplan.md:
 *
 * - digits, `A`–`D`, `*`, `#` are literal; `.` is any one character; `[1-4]`, `[135]`, `[2,5-8]`
 *   one of a set, `[^5]` one not in it; `(…)` a group;
 * - `+` first is the E.164 plus; elsewhere it repeats the element before it (once or more), `%`
 *   zero or more times, `?` zero or once;
 * - `T` (last) is any further digits, none included (`.T`: at least one);
 * - `^` first is allowed (every pattern is anchored at the start anyway), `$` ends the number: a
 *   pattern without `$` or `T` also matches longer numbers (`555` matches 5551212);
 * - `,` (a dialling pause) is ignored; `\x` is a literal `x`.
 *
 * A match reports how explicit it is, for the longest-match rule of dial-peer selection: the
 * literal characters it fixed, then the set positions, then the `.` positions (so `1234` > `123.` >
 * `12..` > `1T`, and `568....` > `568T`).
 *
 * @remarks Leaf (`dialplan/`).
 */
import { SipError } from '../util/errors.js';

/** A pattern, a translation rule or a dial plan that cannot be read. */
export class DialPlanError extends SipError {
  override name = 'DialPlanError';
}

/** How explicit a pattern is: compared in this order, more is a longer match. */
export interface Explicitness {
  literals: number;
  sets: number;
  wildcards: number;
}

/** A compiled pattern. */
export interface NumberPattern {
  readonly source: string;
  /** The literal characters every match starts with (the dial plan's index key). */
  readonly prefix: string;
  readonly explicitness: Explicitness;
  /** Does the complete number `n` match? */
  test(n: string): boolean;
}

/** What `.`, `T` and a negated set stand for: one character of a dialled number (Cisco doc 211306). */
const ANY = '[0-9A-F*#+]';

type Atom =
  | { kind: 'literal'; ch: string }
  | { kind: 'any' }
  | { kind: 'set'; re: string; chars: string }
  | { kind: 'group'; atoms: Element[] };

/** The characters `.` stands for. */
const ANY_CHARS = '0123456789ABCDEF*#+';
interface Element { atom: Atom; quantifier?: '+' | '*' | '?' }

/** Characters a number may carry, upper-cased, visual separators (RFC 3966 §5.1.1) removed. */
export function normalizeNumber(n: string): string {
  return n.replace(/[-.()\s]/g, '').toUpperCase();
}

function escapeRe(ch: string): string {
  return /[\\^$.*+?()[\]{}|]/.test(ch) ? `\\${ch}` : ch;
}

/** `[…]` from position `i` (after `[`): the regular expression class and where it ends. */
function parseSet(p: string, i: number): { re: string; chars: string; end: number } {
  const close = p.indexOf(']', i);
  if (close < 0) throw new DialPlanError('DIALPLAN_ERR_PATTERN', `unclosed [ in pattern '${p}'`);
  let body = p.slice(i, close);
  const negate = body.startsWith('^');
  if (negate) body = body.slice(1);
  if (body.length === 0) throw new DialPlanError('DIALPLAN_ERR_PATTERN', `empty [] in pattern '${p}'`);
  const parts: string[] = [];
  let members = '';
  for (const piece of body.split(',')) {
    if (piece.length === 0) continue;
    for (let k = 0; k < piece.length; k++) {
      const c = piece[k]!;
      if (piece[k + 1] === '-' && k + 2 < piece.length) {
        const to = piece[k + 2]!;
        if (!/[0-9]/.test(c) || !/[0-9]/.test(to) || to < c) throw new DialPlanError('DIALPLAN_ERR_PATTERN', `bad range ${c}-${to} in pattern '${p}'`);
        parts.push(`${c}-${to}`);
        for (let d = c.charCodeAt(0); d <= to.charCodeAt(0); d++) members += String.fromCharCode(d);
        k += 2;
      } else if (/[0-9A-Da-d*#]/.test(c)) {
        parts.push(escapeRe(c.toUpperCase()));
        members += c.toUpperCase();
      } else throw new DialPlanError('DIALPLAN_ERR_PATTERN', `'${c}' cannot be in a [] set (pattern '${p}')`);
    }
  }
  // A negated set is one dialled character that is none of these (Cisco doc 211306: "[^1-3]22" matches "*22").
  const chars = negate ? [...ANY_CHARS].filter((c) => !members.includes(c)).join('') : members;
  return { re: negate ? `(?![${parts.join('')}])${ANY}` : `[${parts.join('')}]`, chars, end: close + 1 };
}

/** Parses elements up to the end or a closing `)`; returns them and the index after. */
function parseElements(p: string, start: number, depth: number): { elements: Element[]; end: number; variable: boolean; dollar: boolean } {
  const elements: Element[] = [];
  let variable = false;
  let dollar = false;
  let i = start;
  while (i < p.length) {
    const c = p[i]!;
    if (c === ')') {
      if (depth === 0) throw new DialPlanError('DIALPLAN_ERR_PATTERN', `unbalanced ) in pattern '${p}'`);
      return { elements, end: i + 1, variable, dollar };
    }
    if (variable || dollar) throw new DialPlanError('DIALPLAN_ERR_PATTERN', `nothing may follow ${dollar ? '$' : 'T'} except $ (pattern '${p}')`);
    i++;
    if (c === '^' && i === 1 && depth === 0) continue;
    if (c === ',') continue;
    if (c === '$') {
      if (depth > 0) throw new DialPlanError('DIALPLAN_ERR_PATTERN', `$ inside a group (pattern '${p}')`);
      dollar = true;
      continue;
    }
    if (c === 'T' || c === 't') {
      if (depth > 0) throw new DialPlanError('DIALPLAN_ERR_PATTERN', `T inside a group (pattern '${p}')`);
      variable = true;
      // `T$` is allowed (the router's own syntax check, Cisco doc 211306).
      if (p[i] === '$') {
        dollar = true;
        i++;
      }
      continue;
    }
    const quantifier = c === '+' ? '+' : c === '%' ? '*' : c === '?' ? '?' : undefined;
    if (quantifier !== undefined) {
      // A leading + is the E.164 plus (CR-D "destination-pattern"); elsewhere it repeats.
      if (c === '+' && elements.length === 0) {
        elements.push({ atom: { kind: 'literal', ch: '+' } });
        continue;
      }
      const last = elements[elements.length - 1];
      if (last === undefined || last.quantifier !== undefined) throw new DialPlanError('DIALPLAN_ERR_PATTERN', `'${c}' has nothing to repeat in pattern '${p}'`);
      last.quantifier = quantifier;
      continue;
    }
    if (c === '.') elements.push({ atom: { kind: 'any' } });
    else if (c === '[') {
      const set = parseSet(p, i);
      elements.push({ atom: { kind: 'set', re: set.re, chars: set.chars } });
      i = set.end;
    } else if (c === '(') {
      const inner = parseElements(p, i, depth + 1);
      if (inner.end > p.length || p[inner.end - 1] !== ')') throw new DialPlanError('DIALPLAN_ERR_PATTERN', `unclosed ( in pattern '${p}'`);
      elements.push({ atom: { kind: 'group', atoms: inner.elements } });
      i = inner.end;
    } else if (c === '\\') {
      const next = p[i];
      if (next === undefined) throw new DialPlanError('DIALPLAN_ERR_PATTERN', `pattern '${p}' ends with \\`);
      elements.push({ atom: { kind: 'literal', ch: next.toUpperCase() } });
      i++;
    } else if (/[0-9A-Da-d*#]/.test(c)) elements.push({ atom: { kind: 'literal', ch: c.toUpperCase() } });
    else throw new DialPlanError('DIALPLAN_ERR_PATTERN', `'${c}' is not a pattern character (pattern '${p}')`);
  }
  if (depth > 0) throw new DialPlanError('DIALPLAN_ERR_PATTERN', `unclosed ( in pattern '${p}'`);
  return { elements, end: i, variable, dollar };
}

function toRe(elements: Element[]): string {
  let out = '';
  for (const e of elements) {
    const a = e.atom;
    const re = a.kind === 'literal' ? escapeRe(a.ch) : a.kind === 'any' ? ANY : a.kind === 'set' ? a.re : `(?:${toRe(a.atoms)})`;
    out += e.quantifier ? (a.kind === 'literal' || a.kind === 'any' ? re : a.kind === 'set' ? `(?:${re})` : re) + e.quantifier : re;
  }
  return out;
}

function count(elements: Element[], into: Explicitness): void {
  for (const e of elements) {
    if (e.quantifier !== undefined) continue; // a repeated element fixes nothing
    const a = e.atom;
    if (a.kind === 'literal') into.literals++;
    else if (a.kind === 'set') into.sets++;
    else if (a.kind === 'any') into.wildcards++;
    else count(a.atoms, into);
  }
}

/** Compiles an IOS number pattern; throws {@link DialPlanError} naming what is wrong. */
export function compilePattern(source: string): NumberPattern {
  const p = source.trim();
  if (p.length === 0) throw new DialPlanError('DIALPLAN_ERR_PATTERN', 'empty pattern');
  const { elements, variable, dollar } = parseElements(p, 0, 0);
  let prefix = '';
  for (const e of elements) {
    if (e.atom.kind !== 'literal' || e.quantifier !== undefined) break;
    prefix += e.atom.ch;
  }
  // The literals of the index key must not be the start of a repeated element ("55%" keys on "5").
  const explicitness: Explicitness = { literals: 0, sets: 0, wildcards: 0 };
  count(elements, explicitness);
  return { source: p, prefix, explicitness, test: simpleMatcher(elements, variable, dollar) ?? regexMatcher(elements, variable, dollar) };
}

function regexMatcher(elements: Element[], variable: boolean, dollar: boolean): (n: string) => boolean {
  const re = new RegExp(`^${toRe(elements)}${variable ? `${ANY}*` : ''}${dollar ? '$' : ''}`);
  return (n) => re.test(n);
}

/**
 * A pattern of single characters only (no group, no repeat mark) — nearly every dial-peer's — is
 * matched position by position: a plan of 100,000 of them would otherwise be 100,000 regular
 * expressions, each too rarely run to be compiled to machine code.
 */
function simpleMatcher(elements: Element[], variable: boolean, dollar: boolean): ((n: string) => boolean) | undefined {
  const sets: string[] = [];
  for (const e of elements) {
    if (e.quantifier !== undefined || e.atom.kind === 'group') return undefined;
    sets.push(e.atom.kind === 'literal' ? e.atom.ch : e.atom.kind === 'any' ? ANY_CHARS : e.atom.chars);
  }
  const len = sets.length;
  const exact = dollar && !variable;
  return (n) => {
    if (n.length < len || (exact && n.length !== len)) return false;
    for (let i = 0; i < len; i++) {
      const set = sets[i]!;
      const c = n[i]!;
      if (set.length === 1 ? set !== c : !set.includes(c)) return false;
    }
    if (variable) for (let i = len; i < n.length; i++) if (!ANY_CHARS.includes(n[i]!)) return false;
    return true;
  };
}

/** Orders two matches: negative when `a` is the longer (more explicit) one. */
export function compareExplicitness(a: Explicitness, b: Explicitness): number {
  return b.literals - a.literals || b.sets - a.sets || b.wildcards - a.wildcards;
}
