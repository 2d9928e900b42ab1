/**
 * Reads Cisco IOS configuration text — `dial-peer voice … voip` blocks, `voice translation-rule`,
 * `voice translation-profile`, `dial-peer hunt`, `sip-ua` / `sip-server` — into a dial plan, as
 * an operator pastes it: from `show running-config`, from a terminal session (prompts such as
 * `SIP-GW(config-dial-peer)#`, `?` help listings), or from the handbook (`//` comments). Every
 * line that is not used is reported with its number and why; nothing is silently dropped.
 *
 * @remarks Leaf (`dialplan/`).
 */
import type { DialPeer, DialPlanData, SessionTransport } from './dial-plan.js';
import { compilePattern } from './pattern.js';
import { type TranslationRule, parseRuleLine } from './translation.js';

export interface ImportDiagnostic {
  line: number;
  text: string;
  why: string;
}

/** `SIP-GW(config-dial-peer)#`, `Router#`, `R1>`: a router prompt in front of a command. */
const PROMPT = /^[A-Za-z0-9_.-]+(?:\([A-Za-z0-9-]+\))?[#>]\s*/;

/** IOS codec names → the SDP encoding names Switchboard uses. */
const CODECS: Record<string, string> = {
  g711ulaw: 'PCMU', g711alaw: 'PCMA', g729r8: 'G729', g729br8: 'G729', g722: 'G722', 'g722-64': 'G722', ilbc: 'iLBC', g726r32: 'G726-32',
};

/** Does this text look like IOS configuration rather than YAML? */
export function looksLikeIos(text: string): boolean {
  return /^\s*(?:[A-Za-z0-9_.-]+(?:\([A-Za-z0-9-]+\))?[#>]\s*)?(?:dial-peer\s+voice\s+\d+|voice\s+translation-(?:rule|profile)\b|sip-ua\b)/im.test(text);
}

type Mode =
  | { kind: 'global' }
  | { kind: 'peer'; peer: DialPeer }
  | { kind: 'pots'; tag: string }
  | { kind: 'rule'; name: string }
  | { kind: 'profile'; name: string }
  | { kind: 'sip-ua' }
  | { kind: 'voice-service' };

export function importIos(text: string): { data: DialPlanData; diagnostics: ImportDiagnostic[] } {
  const diagnostics: ImportDiagnostic[] = [];
  const peers: DialPeer[] = [];
  const rules: Record<string, TranslationRule[]> = {};
  const profiles: NonNullable<DialPlanData['translationProfiles']> = {};
  const data: DialPlanData = { dialPeers: peers };
  let mode: Mode = { kind: 'global' };
  let help = false;
  const shut = new Set<number>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const n = i + 1;
    const report = (why: string) => diagnostics.push({ line: n, text: raw.trim(), why });
    let line = raw.replace(/\t/g, ' ');
    const prompted = PROMPT.test(line.trimStart()) && /[#>]/.test(line);
    if (prompted) {
      line = line.trimStart().replace(PROMPT, '');
      help = false;
    }
    const comment = line.indexOf('//');
    if (comment >= 0) line = line.slice(0, comment);
    line = line.trim();
    if (line.length === 0 || line.startsWith('!') || /^(```|~~~)/.test(line)) return;
    if (line.endsWith('?')) {
      help = true;
      return report('a "?" help request: its listing is not configuration');
    }
    const global = globalCommand(line);
    if (help && !global) return report('part of a "?" help listing');
    help = false;
    if (global) {
      const next = global(line, report);
      if (next) mode = next;
      return;
    }
    if (/^exit$/i.test(line) || /^end$/i.test(line)) {
      mode = { kind: 'global' };
      return;
    }
    switch (mode.kind) {
      case 'peer':
        if (/^shutdown$/i.test(line)) {
          shut.add(mode.peer.tag);
          return report(`dial-peer ${mode.peer.tag} is shut down: not imported`);
        }
        return peerCommand(mode.peer, line, report);
      case 'pots':
        return report(`inside POTS dial-peer ${mode.tag}: telephony ports are not part of a SIP dial plan`);
      case 'rule':
        try {
          (rules[mode.name] ??= []).push(parseRuleLine(line));
        } catch (e) {
          report((e as Error).message);
        }
        return;
      case 'profile': {
        const m = /^translate\s+(called|calling|redirect-called)\s+(\S+)$/i.exec(line);
        if (!m) return report('expected "translate called|calling|redirect-called RULE"');
        const key = m[1]!.toLowerCase() === 'redirect-called' ? 'redirectCalled' : (m[1]!.toLowerCase() as 'called' | 'calling');
        (profiles[mode.name] ??= {})[key] = m[2]!;
        return;
      }
      case 'sip-ua': {
        const m = /^sip-server\s+(?:(dns|ipv4|ipv6):)(\S+)$/i.exec(line);
        if (m) {
          data.sipServer = `${m[1]!.toLowerCase()}:${m[2]}`;
          return;
        }
        return report('a sip-ua setting the dial plan does not use (docs/dialplan.md lists the sip-ua commands)');
      }
      case 'voice-service':
        return report('a voice service voip setting the dial plan does not use');
      case 'global':
        return report('not an IOS command the dial plan reads');
    }
  });
  if (shut.size > 0) data.dialPeers = peers.filter((p) => !shut.has(p.tag));
  if (Object.keys(rules).length > 0) data.translationRules = rules;
  if (Object.keys(profiles).length > 0) data.translationProfiles = profiles;
  return { data, diagnostics };

  /** A command that opens a configuration mode (or sets a global value); undefined when `line` is none. */
  function globalCommand(line: string): ((l: string, report: (why: string) => void) => Mode | undefined) | undefined {
    if (/^dial-peer\s+voice\s+\S+\s+\S+/i.test(line)) {
      return (l, report) => {
        const m = /^dial-peer\s+voice\s+(\d+)\s+(voip|pots)$/i.exec(l);
        if (!m) {
          report('expected "dial-peer voice TAG voip"');
          return { kind: 'pots', tag: '?' };
        }
        if (m[2]!.toLowerCase() === 'pots') {
          report('a POTS dial-peer (telephony ports) is not part of a SIP dial plan');
          return { kind: 'pots', tag: m[1]! };
        }
        const tag = Number(m[1]);
        let peer = peers.find((p) => p.tag === tag);
        if (!peer) peers.push((peer = { tag }));
        return { kind: 'peer', peer };
      };
    }
    if (/^dial-peer\s+hunt\b/i.test(line)) {
      return (l, report) => {
        const m = /^dial-peer\s+hunt\s+([0-7])$/i.exec(l);
        if (m) data.hunt = Number(m[1]);
        else report('expected "dial-peer hunt 0" to "dial-peer hunt 7"');
        return { kind: 'global' };
      };
    }
    if (/^voice\s+translation-rule\b/i.test(line)) {
      return (l, report) => {
        const m = /^voice\s+translation-rule\s+(\d+)$/i.exec(l);
        if (!m) report('expected "voice translation-rule NUMBER"');
        return { kind: 'rule', name: m ? m[1]! : '?' };
      };
    }
    if (/^voice\s+translation-profile\b/i.test(line)) {
      return (l, report) => {
        const m = /^voice\s+translation-profile\s+(\S+)$/i.exec(l);
        if (!m) report('expected "voice translation-profile NAME"');
        return { kind: 'profile', name: m ? m[1]! : '?' };
      };
    }
    if (/^sip-ua$/i.test(line)) return () => ({ kind: 'sip-ua' });
    if (/^voice\s+service\s+voip$/i.test(line)) return () => ({ kind: 'voice-service' });
    return undefined;
  }
}

function peerCommand(peer: DialPeer, line: string, report: (why: string) => void): void {
  const pattern = (p: string, set: (v: string) => void) => {
    try {
      compilePattern(p);
      set(p);
    } catch (e) {
      report((e as Error).message);
    }
  };
  let m: RegExpExecArray | null;
  if ((m = /^destination-pattern\s+(\S+)$/i.exec(line))) return pattern(m[1]!, (v) => (peer.destinationPattern = v));
  if ((m = /^incoming\s+called-number\s+(\S+)$/i.exec(line))) return pattern(m[1]!, (v) => (peer.incomingCalledNumber = v));
  if ((m = /^answer-address\s+(\S+)$/i.exec(line))) return pattern(m[1]!, (v) => (peer.answerAddress = v));
  if ((m = /^preference\s+(\d+)$/i.exec(line))) {
    const v = Number(m[1]);
    if (v > 10) return report('preference is 0 to 10');
    peer.preference = v;
    return;
  }
  if (/^huntstop$/i.test(line)) {
    peer.huntstop = true;
    return;
  }
  if ((m = /^session\s+target\s+(\S+)$/i.exec(line))) {
    const t = m[1]!;
    if (!/^(ipv4:|ipv6:|dns:|sip-server$|registrar$)/i.test(t)) return report(`session target ${t}: expected ipv4:, ipv6:, dns:, sip-server or registrar`);
    peer.sessionTarget = /^(ipv4|ipv6|dns):/i.test(t) ? t.replace(/^[a-z0-9]+:/i, (s) => s.toLowerCase()) : t.toLowerCase();
    return;
  }
  if ((m = /^session\s+transport\s+(udp|tcp|tls)(?:\s+.*)?$/i.exec(line))) {
    peer.sessionTransport = m[1]!.toLowerCase() as SessionTransport;
    return;
  }
  if ((m = /^session\s+protocol\s+(\S+)$/i.exec(line))) {
    if (m[1]!.toLowerCase() !== 'sipv2') report(`session protocol ${m[1]}: only sipv2 (SIP) is spoken here`);
    return;
  }
  if (/^voice-class\s+sip\s+transport\s+switch\s+udp\s+tcp$/i.test(line)) {
    peer.transportSwitch = true;
    return;
  }
  if ((m = /^voice-class\s+sip\s+options-keepalive((?:\s+(?:up-interval|down-interval|retry)\s+\d+)*)$/i.exec(line))) {
    const k: NonNullable<DialPeer['optionsKeepalive']> = {};
    for (const [, name, v] of m[1]!.matchAll(/(up-interval|down-interval|retry)\s+(\d+)/gi)) {
      const n = Number(v);
      const key = name!.toLowerCase() === 'up-interval' ? 'upInterval' : name!.toLowerCase() === 'down-interval' ? 'downInterval' : 'retry';
      if (key === 'retry' ? n < 1 || n > 10 : n < 5 || n > 1200) return report(`options-keepalive ${name} ${v}: out of range (${key === 'retry' ? '1-10' : '5-1200 s'})`);
      k[key] = n;
    }
    peer.optionsKeepalive = k;
    return;
  }
  if ((m = /^codec\s+(\S+)(?:\s+.*)?$/i.exec(line))) {
    const c = CODECS[m[1]!.toLowerCase()];
    if (!c) return report(`codec ${m[1]}: not one Switchboard knows (g711ulaw, g711alaw, g729r8, g722-64 …)`);
    peer.codecs = [c];
    return;
  }
  if ((m = /^dtmf-relay\s+(.+)$/i.exec(line))) {
    const methods = m[1]!.trim().split(/\s+/).map((s) => s.toLowerCase()).filter((s) => s !== 'digit-drop');
    const known = ['sip-notify', 'rtp-nte', 'sip-info', 'sip-kpml', 'cisco-rtp', 'h245-alphanumeric', 'h245-signal'];
    const bad = methods.find((x) => !known.includes(x));
    if (bad) return report(`dtmf-relay ${bad}: unknown method`);
    peer.dtmfRelay = methods;
    return;
  }
  if ((m = /^translation-profile\s+(incoming|outgoing)\s+(\S+)$/i.exec(line))) {
    (peer.translationProfile ??= {})[m[1]!.toLowerCase() as 'incoming' | 'outgoing'] = m[2]!;
    return;
  }
  if (/^description\b/i.test(line)) return;
  if (/^redirect\s+ip2ip$/i.test(line)) return report('redirect ip2ip: a proxy relays IP-to-IP calls anyway; nothing to configure');
  report(`not a dial-peer command the dial plan reads (dial-peer ${peer.tag})`);
}
