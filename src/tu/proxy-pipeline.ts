/**
 * The proxy's request processing as a chain of small processors, as repro's processor chains
 * and Kamailio's route blocks: each looks at the request and either decides — an answer, or
 * targets to forward to — or passes it on. The first decision wins; a chain that ends without
 * one has none. A processor may wait (a store lookup, a digest check); the chain stays
 * synchronous while they do not, so the §16.3 checks cost no promise per request.
 *
 * @remarks Layer 4 (`tu/`). The §16.3 validation chain is here; the proxy role builds its
 * routing chain (authenticate, relay check, location, routes …) from the same parts.
 */
import { type SipRequest, type SipUri, parseUri } from '../sip/index.js';
import type { TargetDecision } from './proxy-core.js';

export type ProcessorResult = TargetDecision | undefined;

/** One step of a chain: a decision, or undefined to let the next processor see the request. */
export interface RequestProcessor<C = void> {
  /** What the step is, for logs and docs (`max-forwards`, `authenticate`, `location` …). */
  readonly name: string;
  process(req: SipRequest, ctx: C): ProcessorResult | Promise<ProcessorResult>;
}

/** Runs `chain` until a processor decides. */
export function runChain<C>(chain: readonly RequestProcessor<C>[], req: SipRequest, ctx: C): ProcessorResult | Promise<ProcessorResult> {
  for (let i = 0; i < chain.length; i++) {
    const r = chain[i]!.process(req, ctx);
    if (r instanceof Promise) return r.then((d) => (d !== undefined ? d : runChain(chain.slice(i + 1), req, ctx)));
    if (r !== undefined) return r;
  }
  return undefined;
}

const respond = (status: number, reason?: string, headers?: Array<[string, string]>): TargetDecision => ({ kind: 'respond', status, reason, headers });

/** What the §16.3 checks need to know about this proxy. */
export interface ValidationContext {
  /** Option tags the proxy understands in Proxy-Require (§16.3 step 5). */
  supported: readonly string[];
  isLocal(uri: SipUri): boolean;
  /** The loop-detection hash of the request (§16.6 step 8), computed once. */
  hash: string;
}

/** §16.3 step 2: a Request-URI scheme the proxy does not understand → 416. */
export const uriScheme: RequestProcessor<ValidationContext> = {
  name: 'uri-scheme',
  process: (req) => (req.uri.kind === 'absolute' ? respond(416) : undefined),
};

/** §16.3 step 3: Max-Forwards 0 → 483 (OPTIONS to us would be answered, but this proxy forwards it). */
export const maxForwards: RequestProcessor<ValidationContext> = {
  name: 'max-forwards',
  process: (req) => (req.maxForwards === 0 ? respond(483) : undefined),
};

/** §16.3 step 5: Proxy-Require of an extension we do not support → 420 with Unsupported. */
export const proxyRequire: RequestProcessor<ValidationContext> = {
  name: 'proxy-require',
  process: (req, ctx) => {
    const unsupported = req.optionTags('Proxy-Require').filter((t) => !ctx.supported.includes(t));
    return unsupported.length > 0 ? respond(420, undefined, [['Unsupported', unsupported.join(', ')]]) : undefined;
  },
};

/**
 * §16.3 step 4: a Via of ours whose branch carries the same loop-detection hash means the
 * request came back unchanged (a loop, 482); a spiral changes the Request-URI or route, hence
 * the hash, and goes on.
 */
export const loopDetect: RequestProcessor<ValidationContext> = {
  name: 'loop-detect',
  process: (req, ctx) => {
    for (const v of req.via) {
      const b = v.branch;
      if (!b || !b.startsWith('z9hG4bKsb') || b.slice(9, 9 + ctx.hash.length) !== ctx.hash) continue;
      const host = v.hostname;
      let uri;
      try {
        uri = parseUri(`sip:${host.includes(':') ? `[${host}]` : host}${v.port ? `:${v.port}` : ''}`);
      } catch {
        continue;
      }
      if (uri.kind === 'sip' && ctx.isLocal(uri)) return respond(482);
    }
    return undefined;
  },
};

/** RFC 3261 §16.3, in the RFC's order after the syntax check the transport made (step 1). */
export const REQUEST_VALIDATION: readonly RequestProcessor<ValidationContext>[] = [uriScheme, maxForwards, loopDetect, proxyRequire];

/**
 * §16.11: a stateless proxy keeps no branch it could recognise a loop by (its branch is a hash
 * of the incoming one); Max-Forwards ends a loop through it.
 */
export const STATELESS_VALIDATION: readonly RequestProcessor<ValidationContext>[] = [uriScheme, maxForwards, proxyRequire];
