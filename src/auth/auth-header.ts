/**
 * Parsing and formatting of the values of the SIP authentication header fields.
 *
 * `WWW-Authenticate` / `Proxy-Authenticate` carry a *challenge*; `Authorization` /
 * `Proxy-Authorization` carry *credentials* (RFC 3261 §20.7, §20.27, §20.28, §20.44,
 * grammar in §25). The functions here take the header VALUE (the text after the colon),
 * never a whole SIP message.
 *
 * @remarks Leaf module. Grammar (RFC 3261 §25, same shape as RFC 7235 §2.1):
 * ```
 * challenge   = auth-scheme LWS auth-param *(COMMA auth-param)
 * auth-param  = token LWS? "=" LWS? ( token / quoted-string )
 * ```
 */

import { AuthError, MAX_AUTH_VALUE_LENGTH } from './auth-error.js';

/**
 * Digest algorithms this module computes (RFC 7616 §3.3 and RFC 8760 §2.1; the
 * RFC 8760 SHA-512-256 is not offered). A `-sess` variant hashes the nonce and cnonce
 * into HA1 (RFC 7616 §3.4.2).
 */
export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';

/** Every {@link DigestAlgorithm}, in RFC 8760 §2.4 preference order (strongest first). */
export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ['SHA-256', 'SHA-256-sess', 'MD5', 'MD5-sess'];

/**
 * A parsed `WWW-Authenticate` / `Proxy-Authenticate` value.
 *
 * For a scheme other than Digest only {@link DigestChallenge.scheme},
 * {@link DigestChallenge.params} and {@link DigestChallenge.token68} are meaningful;
 * `realm` and `nonce` are then `params.get('realm') ?? ''` and `''`, so the caller can
 * skip the challenge (RFC 3261 §22.1: a UA ignores schemes it does not understand).
 */
export interface DigestChallenge {
  /** Auth scheme; `'Digest'` (normalised spelling) for a Digest challenge. */
  scheme: string;
  /** Protection space shown to the user (RFC 3261 §22.1: usually the host or domain). */
  realm: string;
  /** Server-chosen value the client hashes into its response (RFC 7616 §3.3). */
  nonce: string;
  /** Space-separated URIs of the protection space (RFC 7616 §3.3), kept verbatim. */
  domain?: string;
  /** Server data the client echoes untouched. */
  opaque?: string;
  /** True when the previous request was refused only because its nonce was stale. */
  stale?: boolean;
  /** Hash algorithm; absent means MD5 (RFC 7616 §3.3). */
  algorithm?: DigestAlgorithm;
  /** Offered qop values, e.g. `['auth', 'auth-int']`; absent means RFC 2069 mode. */
  qop?: string[];
  /** Every parameter as received: lower-case name → unquoted value (unknown ones kept). */
  params: Map<string, string>;
  /** For a non-Digest scheme written in the token68 form (`Basic QWxh...`). */
  token68?: string;
}

/** A parsed `Authorization` / `Proxy-Authorization` value (RFC 7616 §3.4). */
export interface DigestCredentials {
  /** Auth scheme; `'Digest'` (normalised spelling) for Digest credentials. */
  scheme: string;
  username: string;
  realm: string;
  nonce: string;
  /** The digest-uri: a copy of the Request-URI (RFC 3261 §22.4). */
  uri: string;
  /** Hex request-digest (32 hex digits for MD5, 64 for SHA-256). */
  response: string;
  /** Absent means MD5. */
  algorithm?: DigestAlgorithm;
  /** Client nonce; required when `qop` is present. */
  cnonce?: string;
  opaque?: string;
  /** Chosen qop (a single token), absent in RFC 2069 mode. */
  qop?: string;
  /** Nonce count: exactly 8 hex digits, required when `qop` is present. */
  nc?: string;
  /** Every parameter as received: lower-case name → unquoted value (unknown ones kept). */
  params: Map<string, string>;
  /** For a non-Digest scheme written in the token68 form. */
  token68?: string;
}

/** What the formatters accept: `scheme` defaults to `'Digest'`, `params` is optional. */
export type FormatInput<T> = Omit<T, 'scheme' | 'params'> & {
  scheme?: string;
  params?: ReadonlyMap<string, string>;
};

// RFC 3261 §25: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
const TOKEN_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const TOKEN_CHAR_RE = /[A-Za-z0-9\-.!%*_+`'~]/;
// RFC 7235 §2.1: token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const TOKEN68_RE = /^[A-Za-z0-9\-._~+/]+=*$/;
// RFC 7616 §3.4: nc-value = 8LHEX (upper case accepted, the value is still a hex number).
const NC_RE = /^[0-9a-fA-F]{8}$/;

const CHALLENGE_KNOWN = new Set(['realm', 'domain', 'nonce', 'opaque', 'stale', 'algorithm', 'qop']);
const CREDENTIALS_KNOWN = new Set([
  'username',
  'realm',
  'nonce',
  'uri',
  'response',
  'algorithm',
  'cnonce',
  'opaque',
  'qop',
  'nc',
]);

/** Raw shape shared by challenges and credentials before Digest-specific checks. */
interface RawAuthValue {
  scheme: string;
  isDigest: boolean;
  params: Map<string, string>;
  token68?: string;
}

/** Character cursor over one header value. */
class Cursor {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  /** Skips LWS = [*WSP CRLF] 1*WSP (RFC 3261 §25); returns whether anything was skipped. */
  skipLws(): boolean {
    const start = this.pos;
    for (;;) {
      const ch = this.text[this.pos];
      if (ch === ' ' || ch === '\t') {
        this.pos++;
      } else if (ch === '\r' && this.text[this.pos + 1] === '\n' && isWsp(this.text[this.pos + 2])) {
        // Line folding: CRLF is only whitespace when the next line starts with WSP.
        this.pos += 3;
      } else {
        return this.pos > start;
      }
    }
  }

  readToken(): string {
    const start = this.pos;
    while (!this.done && TOKEN_CHAR_RE.test(this.text[this.pos]!)) this.pos++;
    return this.text.slice(start, this.pos);
  }

  /** Reads a quoted-string starting at the opening DQUOTE and returns it unescaped. */
  readQuoted(paramName: string): string {
    const open = this.pos;
    this.pos++; // opening DQUOTE
    let out = '';
    for (;;) {
      if (this.done) {
        throw syntax(`unterminated quoted string in "${paramName}" (opened at offset ${open})`);
      }
      const ch = this.text[this.pos]!;
      if (ch === '"') {
        this.pos++;
        return out;
      }
      if (ch === '\\') {
        // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F): anything but CR and LF.
        const next = this.text[this.pos + 1];
        if (next === undefined || next === '\r' || next === '\n') {
          throw syntax(`bad backslash escape in "${paramName}" at offset ${this.pos}`);
        }
        out += next;
        this.pos += 2;
        continue;
      }
      if (ch === '\r' && this.text[this.pos + 1] === '\n' && isWsp(this.text[this.pos + 2])) {
        // qdtext includes LWS; a fold is replaced by its whitespace.
        this.pos += 2;
        continue;
      }
      const code = ch.charCodeAt(0);
      if ((code < 0x20 && ch !== '\t') || code === 0x7f) {
        throw syntax(`control character 0x${code.toString(16)} in "${paramName}" at offset ${this.pos}`);
      }
      out += ch;
      this.pos++;
    }
  }
}

function isWsp(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t';
}

function syntax(message: string): AuthError {
  return new AuthError('AUTH_ERR_SYNTAX', message);
}

/** Parses `auth-param *(COMMA auth-param)` up to the end of the value. */
function parseParamList(c: Cursor): Map<string, string> {
  const params = new Map<string, string>();
  for (;;) {
    c.skipLws();
    const name = c.readToken();
    if (name === '') throw syntax(`expected a parameter name at offset ${c.pos}`);
    c.skipLws();
    if (c.text[c.pos] !== '=') throw syntax(`expected "=" after parameter "${name}" at offset ${c.pos}`);
    c.pos++;
    c.skipLws();
    let value: string;
    if (c.text[c.pos] === '"') {
      value = c.readQuoted(name);
    } else {
      value = c.readToken();
      if (value === '') throw syntax(`expected a token or quoted string for "${name}" at offset ${c.pos}`);
    }
    // Parameter names are case-insensitive (RFC 7235 §2.1) and unique (RFC 7235 §2.2).
    const key = name.toLowerCase();
    if (params.has(key)) throw new AuthError('AUTH_ERR_DUPLICATE_PARAM', `parameter "${key}" appears twice`);
    params.set(key, value);
    c.skipLws();
    if (c.done) return params;
    if (c.text[c.pos] !== ',') throw syntax(`expected "," or end of value at offset ${c.pos}`);
    c.pos++;
  }
}

/** Splits a value into scheme and parameters; strict for Digest, lenient otherwise. */
function parseAuthValue(value: string, what: string): RawAuthValue {
  if (typeof value !== 'string') throw syntax(`${what} value is not a string`);
  if (value.length > MAX_AUTH_VALUE_LENGTH) {
    throw new AuthError(
      'AUTH_ERR_TOO_LARGE',
      `${what} value is ${value.length} characters, over the ${MAX_AUTH_VALUE_LENGTH} limit`,
    );
  }
  const c = new Cursor(value);
  c.skipLws();
  const scheme = c.readToken();
  if (scheme === '') throw syntax(`${what} value does not start with an auth scheme`);
  const isDigest = scheme.toLowerCase() === 'digest';
  const hadLws = c.skipLws();
  if (c.done) {
    if (isDigest) throw syntax(`${what} has the Digest scheme but no parameters`);
    return { scheme, isDigest, params: new Map() };
  }
  if (!hadLws) throw syntax(`expected whitespace after auth scheme "${scheme}" at offset ${c.pos}`);
  if (isDigest) return { scheme: 'Digest', isDigest, params: parseParamList(c) };

  // Other schemes: keep what we can so the caller can see and ignore it (RFC 4475
  // regaut01 sends `NoOneKnowsThisScheme opaque-data=here`).
  const rest = value.slice(c.pos).trimEnd();
  try {
    return { scheme, isDigest, params: parseParamList(c) };
  } catch (err) {
    if (TOKEN68_RE.test(rest)) return { scheme, isDigest, params: new Map(), token68: rest };
    throw err;
  }
}

/** Maps an algorithm value case-insensitively to its canonical spelling. */
function parseAlgorithm(raw: string): DigestAlgorithm {
  const lower = raw.toLowerCase();
  const found = DIGEST_ALGORITHMS.find((a) => a.toLowerCase() === lower);
  if (!found) throw new AuthError('AUTH_ERR_UNSUPPORTED_ALGORITHM', `unsupported digest algorithm "${raw}"`);
  return found;
}

function required(params: Map<string, string>, name: string, what: string): string {
  const v = params.get(name);
  if (v === undefined) throw new AuthError('AUTH_ERR_MISSING_PARAM', `${what} lacks the "${name}" parameter`);
  return v;
}

/**
 * Parses a `WWW-Authenticate` or `Proxy-Authenticate` header value.
 *
 * @throws {@link AuthError} `AUTH_ERR_SYNTAX`, `AUTH_ERR_TOO_LARGE`,
 * `AUTH_ERR_DUPLICATE_PARAM`, `AUTH_ERR_MISSING_PARAM` (realm or nonce),
 * `AUTH_ERR_PARAM_VALUE` (bad qop list) or `AUTH_ERR_UNSUPPORTED_ALGORITHM` (a caller
 * holding several challenges skips that one, RFC 8760 §2.4).
 */
export function parseChallenge(value: string): DigestChallenge {
  const raw = parseAuthValue(value, 'challenge');
  const { params } = raw;
  if (!raw.isDigest) {
    const out: DigestChallenge = { scheme: raw.scheme, realm: params.get('realm') ?? '', nonce: '', params };
    if (raw.token68 !== undefined) out.token68 = raw.token68;
    return out;
  }
  // RFC 7616 §3.3: realm and nonce are mandatory in a Digest challenge.
  const out: DigestChallenge = {
    scheme: 'Digest',
    realm: required(params, 'realm', 'Digest challenge'),
    nonce: required(params, 'nonce', 'Digest challenge'),
    params,
  };
  const domain = params.get('domain');
  if (domain !== undefined) out.domain = domain;
  const opaque = params.get('opaque');
  if (opaque !== undefined) out.opaque = opaque;
  const stale = params.get('stale');
  // RFC 7616 §3.3: stale is TRUE case-insensitively; any other value means false.
  if (stale !== undefined) out.stale = stale.toLowerCase() === 'true';
  const algorithm = params.get('algorithm');
  if (algorithm !== undefined) out.algorithm = parseAlgorithm(algorithm);
  const qop = params.get('qop');
  if (qop !== undefined) {
    // RFC 3261 §25: qop-options = "qop" EQUAL LDQUOT qop-value *("," qop-value) RDQUOT
    const values = qop.split(',').map((v) => v.trim());
    if (values.some((v) => !TOKEN_RE.test(v))) {
      throw new AuthError('AUTH_ERR_PARAM_VALUE', `qop "${qop}" is not a comma-separated list of tokens`);
    }
    out.qop = values;
  }
  return out;
}

/**
 * Parses an `Authorization` or `Proxy-Authorization` header value.
 *
 * A Digest value must carry username, realm, nonce, uri and response (RFC 7616 §3.4),
 * and cnonce and nc whenever qop is present (RFC 2617 §3.2.2). A non-Digest value is
 * returned with its scheme and raw params and empty Digest fields.
 *
 * @throws {@link AuthError} as {@link parseChallenge}; `AUTH_ERR_PARAM_VALUE` when nc
 * is not 8 hex digits or qop is not a single token.
 */
export function parseCredentials(value: string): DigestCredentials {
  const raw = parseAuthValue(value, 'credentials');
  const { params } = raw;
  if (!raw.isDigest) {
    const out: DigestCredentials = {
      scheme: raw.scheme,
      username: params.get('username') ?? '',
      realm: params.get('realm') ?? '',
      nonce: '',
      uri: '',
      response: '',
      params,
    };
    if (raw.token68 !== undefined) out.token68 = raw.token68;
    return out;
  }
  const what = 'Digest credentials';
  const out: DigestCredentials = {
    scheme: 'Digest',
    username: required(params, 'username', what),
    realm: required(params, 'realm', what),
    nonce: required(params, 'nonce', what),
    uri: required(params, 'uri', what),
    response: required(params, 'response', what),
    params,
  };
  const algorithm = params.get('algorithm');
  if (algorithm !== undefined) out.algorithm = parseAlgorithm(algorithm);
  const cnonce = params.get('cnonce');
  if (cnonce !== undefined) out.cnonce = cnonce;
  const opaque = params.get('opaque');
  if (opaque !== undefined) out.opaque = opaque;
  const qop = params.get('qop');
  if (qop !== undefined) {
    if (!TOKEN_RE.test(qop)) throw new AuthError('AUTH_ERR_PARAM_VALUE', `qop "${qop}" is not a single token`);
    out.qop = qop;
  }
  const nc = params.get('nc');
  if (nc !== undefined) {
    if (!NC_RE.test(nc)) throw new AuthError('AUTH_ERR_PARAM_VALUE', `nc "${nc}" is not 8 hex digits`);
    out.nc = nc;
  }
  if (out.qop !== undefined) {
    // RFC 2617 §3.2.2: cnonce and nc MUST be sent when qop is.
    if (out.cnonce === undefined) throw new AuthError('AUTH_ERR_MISSING_PARAM', `${what} have qop but no cnonce`);
    if (out.nc === undefined) throw new AuthError('AUTH_ERR_MISSING_PARAM', `${what} have qop but no nc`);
  }
  return out;
}

/** Renders a quoted-string, escaping `"` and `\` (RFC 3261 §25 quoted-pair). */
function quote(name: string, value: string): string {
  // CR, LF and other controls cannot be carried in a quoted-string; refusing them
  // also prevents header injection through user-supplied values.
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) {
    throw new AuthError('AUTH_ERR_PARAM_VALUE', `parameter "${name}" contains a control character`);
  }
  return `${name}="${value.replace(/[\\"]/g, '\\$&')}"`;
}

function bare(name: string, value: string): string {
  if (!TOKEN_RE.test(value)) throw new AuthError('AUTH_ERR_PARAM_VALUE', `parameter "${name}" must be a token`);
  return `${name}=${value}`;
}

/** Extension params: a token stays bare, anything else is quoted (RFC 7235 §2.1: equivalent). */
function extensions(params: ReadonlyMap<string, string> | undefined, known: Set<string>): string[] {
  const out: string[] = [];
  for (const [name, value] of params ?? []) {
    if (known.has(name.toLowerCase())) continue;
    if (!TOKEN_RE.test(name)) throw new AuthError('AUTH_ERR_PARAM_VALUE', `parameter name "${name}" is not a token`);
    out.push(TOKEN_RE.test(value) ? `${name}=${value}` : quote(name, value));
  }
  return out;
}

function formatOther(scheme: string, token68: string | undefined, params: ReadonlyMap<string, string> | undefined): string {
  if (!TOKEN_RE.test(scheme)) throw new AuthError('AUTH_ERR_PARAM_VALUE', `scheme "${scheme}" is not a token`);
  if (token68 !== undefined) {
    if (!TOKEN68_RE.test(token68)) throw new AuthError('AUTH_ERR_PARAM_VALUE', 'token68 value is malformed');
    return `${scheme} ${token68}`;
  }
  const list = extensions(params, new Set());
  return list.length === 0 ? scheme : `${scheme} ${list.join(', ')}`;
}

function isDigestScheme(scheme: string | undefined): boolean {
  return scheme === undefined || scheme.toLowerCase() === 'digest';
}

/**
 * Renders a challenge as a `WWW-Authenticate` / `Proxy-Authenticate` value.
 *
 * Quoting follows RFC 3261 §25 / RFC 7616 §3.3: realm, domain, nonce, opaque and the
 * qop list are quoted; stale and algorithm are tokens. Unknown `params` are appended.
 *
 * @throws {@link AuthError} `AUTH_ERR_PARAM_VALUE` for values that cannot be encoded.
 */
export function formatChallenge(c: FormatInput<DigestChallenge>): string {
  if (!isDigestScheme(c.scheme)) return formatOther(c.scheme!, c.token68, c.params);
  const parts = [quote('realm', c.realm)];
  if (c.domain !== undefined) parts.push(quote('domain', c.domain));
  parts.push(quote('nonce', c.nonce));
  if (c.opaque !== undefined) parts.push(quote('opaque', c.opaque));
  if (c.stale !== undefined) parts.push(`stale=${c.stale ? 'TRUE' : 'FALSE'}`);
  if (c.algorithm !== undefined) parts.push(bare('algorithm', c.algorithm));
  if (c.qop !== undefined) {
    for (const q of c.qop) if (!TOKEN_RE.test(q)) throw new AuthError('AUTH_ERR_PARAM_VALUE', `qop "${q}" is not a token`);
    parts.push(`qop="${c.qop.join(',')}"`);
  }
  parts.push(...extensions(c.params, CHALLENGE_KNOWN));
  return `Digest ${parts.join(', ')}`;
}

/**
 * Renders credentials as an `Authorization` / `Proxy-Authorization` value.
 *
 * Quoting follows RFC 3261 §25 / RFC 7616 §3.4: username, realm, nonce, uri, response,
 * cnonce and opaque are quoted; algorithm, qop and nc are tokens (quoting qop or nc
 * breaks strict servers).
 *
 * @throws {@link AuthError} `AUTH_ERR_PARAM_VALUE` for values that cannot be encoded.
 */
export function formatCredentials(c: FormatInput<DigestCredentials>): string {
  if (!isDigestScheme(c.scheme)) return formatOther(c.scheme!, c.token68, c.params);
  const parts = [
    quote('username', c.username),
    quote('realm', c.realm),
    quote('nonce', c.nonce),
    quote('uri', c.uri),
    quote('response', c.response),
  ];
  if (c.algorithm !== undefined) parts.push(bare('algorithm', c.algorithm));
  if (c.cnonce !== undefined) parts.push(quote('cnonce', c.cnonce));
  if (c.opaque !== undefined) parts.push(quote('opaque', c.opaque));
  if (c.qop !== undefined) parts.push(bare('qop', c.qop));
  if (c.nc !== undefined) {
    if (!NC_RE.test(c.nc)) throw new AuthError('AUTH_ERR_PARAM_VALUE', `nc "${c.nc}" is not 8 hex digits`);
    parts.push(`nc=${c.nc}`);
  }
  parts.push(...extensions(c.params, CREDENTIALS_KNOWN));
  return `Digest ${parts.join(', ')}`;
}
