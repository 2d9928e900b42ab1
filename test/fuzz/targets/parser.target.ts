/**
 * Fuzz target: the syntax layer (src/sip). In Jazzer.js's format — a module exporting
 * `fuzz(data: Buffer)` — so the same compiled file runs under `jazzer` (npm run fuzz:jazzer)
 * and under our own coverage-guided driver (scripts/fuzz/coverage-fuzz.mjs).
 *
 * The rule: `parseMessage(data)` (datagram and stream framing) and then every lazy accessor a
 * layer above may read — routing headers, the values inside them (URIs, parameters), the
 * header lines, the body, `validate()`, and for a request `createResponse(req, 400)` and an
 * edit-list rewrite — may throw {@link SipParseError} and nothing else. Any other exception
 * (TypeError, RangeError, an assertion …) escapes `fuzz` and is a crash.
 */
import { SipParseError } from '../../../src/sip/errors.js';
import { parseMessage, type ParseOptions } from '../../../src/sip/parse/parse-message.js';
import { createResponse } from '../../../src/sip/message/build.js';
import { EditList } from '../../../src/sip/edit/edit-list.js';
import type { SipRequest } from '../../../src/sip/message/sip-request.js';
import type { SipResponse } from '../../../src/sip/message/sip-response.js';
import type { NameAddr } from '../../../src/sip/headers/name-addr.js';
import type { Via } from '../../../src/sip/headers/via.js';
import type { Uri } from '../../../src/sip/uri/sip-uri.js';

/** Runs `fn`; a SipParseError is the one allowed outcome besides a value. */
function read(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SipParseError) return undefined;
    throw e;
  }
}

function touchUri(u: Uri): void {
  u.toString();
  if (u.kind === 'sip') {
    read(() => u.decodedUser);
    read(() => u.hostname);
    read(() => u.transport);
    read(() => u.param('lr'));
    read(() => u.clone().toString());
  }
}

function touchNameAddr(a: NameAddr): void {
  read(() => a.star);
  read(() => a.displayName);
  read(() => a.uriText);
  read(() => a.tag);
  read(() => [...a.params]);
  read(() => a.param('expires'));
  read(() => touchUri(a.uri));
  read(() => a.toString());
  read(() => a.clone().toString());
}

function touchVia(v: Via): void {
  read(() => [v.protocol, v.transport, v.port]);
  read(() => v.host);
  read(() => v.hostname);
  read(() => v.branch);
  read(() => v.isRfc3261Branch);
  read(() => v.received);
  read(() => v.rport);
  read(() => v.maddr);
  read(() => v.sentBy);
  read(() => [...v.params]);
  read(() => v.toString());
  read(() => v.clone().toString());
}

/** Reads everything a layer above might read, in the order the transport layer does. */
export function exercise(m: SipRequest | SipResponse): void {
  read(() => m.validate());
  read(() => touchVia(m.topVia));
  read(() => m.via.forEach(touchVia));
  read(() => m.viaValues());
  read(() => touchNameAddr(m.from));
  read(() => touchNameAddr(m.to));
  read(() => m.callId);
  read(() => m.cseq);
  read(() => m.maxForwards);
  read(() => m.contact.forEach(touchNameAddr));
  read(() => m.route.forEach(touchNameAddr));
  read(() => m.recordRoute.forEach(touchNameAddr));
  read(() => m.headerLines());
  read(() => m.body.length + m.contentLength);
  read(() => m.contentType);
  read(() => m.headerValues('Supported'));
  read(() => m.optionTags('Require'));
  read(() => m.header('Authorization'));
  read(() => m.headerCount);
  read(() => m.toString());
  if (m.kind === 'request') {
    read(() => m.uriText);
    read(() => touchUri(m.uri));
    const res = read(() => createResponse(m, 400, { toTag: 'fz1' })) as SipResponse | undefined;
    if (res !== undefined) read(() => res.validate());
    // What a proxy does to a request it forwards (RFC 3261 §16.6): the top lines change, the
    // rest is copied; the result is parsed again as the next hop would.
    const edited = read(() => {
      const e = new EditList(m).prependHeader('Via', 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKfz');
      if (m.headerCount > 0) e.deleteLine(m.headerCount - 1);
      if (m.headerCount > 1) e.replaceLine(0, 'Max-Forwards', '69');
      return e.toBuffer();
    }) as Buffer | undefined;
    if (edited !== undefined) read(() => parseMessage(edited).headerLines());
  } else {
    read(() => m.reason);
    read(() => m.isProvisional);
    read(() => new EditList(m).deleteLine(0).toBuffer());
  }
  // compact() drops every decoded value; reading again must behave the same.
  m.compact();
  read(() => m.validate());
  read(() => m.via.length);
}

const STREAM: ParseOptions = { framing: 'stream' };

export function fuzz(data: Buffer): void {
  for (const options of [undefined, STREAM]) {
    let m: SipRequest | SipResponse;
    try {
      m = parseMessage(data, options);
    } catch (e) {
      if (e instanceof SipParseError) continue;
      throw e;
    }
    exercise(m);
  }
}
