// One error family (issue 13): every error Switchboard throws is a SipError with a stable code,
// and the source holds no bare `throw new Error(` and no other error base.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RequestError, SipError, SipParseError, StateError, StoreError, parseMessage } from '../../src/sip/index.js';
import { AuthError, parseCredentials } from '../../src/auth/index.js';
import { SdpError, parseSdp } from '../../src/sdp/index.js';
import { MemoryLocationStore, StoreFullError } from '../../src/store/index.js';
import { ConfigError, validateConfig } from '../../src/app/config/config-schema.js';
import { UsageError } from '../../src/app/cli/usage-error.js';
import { TransportError } from '../../src/transport/transport.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  assert.fail('expected a throw');
}

test('errors thrown by each layer are SipErrors with a stable code', async () => {
  const errors: unknown[] = [
    caught(() => parseMessage(Buffer.from('garbage'))),
    caught(() => parseCredentials('Digest realm=')),
    caught(() => parseSdp('v=9\r\n')),
    caught(() => validateConfig({ listen: 'nope' })),
    new UsageError('x'),
    new TransportError('TRANSPORT_ERR_CLOSED', 'x'),
    new StoreFullError(1),
  ];
  const store = new MemoryLocationStore();
  await store.close();
  errors.push(await store.lookup('sip:a@b').catch((e: unknown) => e));
  const classes = [SipParseError, AuthError, SdpError, ConfigError, UsageError, TransportError, StoreFullError, StoreError];
  errors.forEach((e, i) => {
    assert.ok(e instanceof SipError, `${String(e)} is a SipError`);
    assert.ok(e instanceof classes[i]!, `${String(e)} is a ${classes[i]!.name}`);
    assert.match((e as SipError).code, /^[A-Z][A-Z0-9_]+$/, `${String(e)} has a code`);
  });
  for (const C of [RequestError, StateError, StoreError]) assert.ok(new C('X_ERR', 'm') instanceof SipError);
});

test('src/ throws no bare Error and defines no error base but SipError', () => {
  const offenders: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !/fixtures|conformance\.ts$/.test(e.name)) {
        const text = fs.readFileSync(p, 'utf8');
        if (/throw new Error\(/.test(text)) offenders.push(`${path.relative(root, p)}: throw new Error(`);
        for (const m of text.matchAll(/class (\w+) extends Error\b/g)) if (m[1] !== 'SipError') offenders.push(`${path.relative(root, p)}: ${m[1]} extends Error`);
      }
    }
  };
  walk(path.join(root, 'src'));
  assert.deepEqual(offenders, []);
});
