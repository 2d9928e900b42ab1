import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryCdrStore, SqliteCdrStore } from './cdr-store.js';
import { cdrConformance as conformance, cdrRecord as record } from './conformance.js';
import { openStores } from './open-store.js';
import { openSqlite } from './sqlite-db.js';

test('MemoryCdrStore: newest first, limit, and the oldest dropped past the bound', async () => {
  await conformance(new MemoryCdrStore());
  const small = new MemoryCdrStore(2);
  for (let i = 1; i <= 5; i++) await small.add(record(i));
  assert.deepEqual((await small.list()).map((r) => r.callId), ['a-5', 'a-4']);
});

test('SqliteCdrStore: the cdr table in the server\'s database file, kept across a reopen', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-cdr-'));
  try {
    const file = path.join(dir, 'sb.db');
    const db = openSqlite(file);
    await conformance(new SqliteCdrStore(db));
    db.close();
    const stores = await openStores({ store: 'sqlite', dbPath: file });
    assert.deepEqual((await stores.cdrs.list()).map((r) => r.callId), ['a-3', 'a-2', 'a-1']);
    await stores.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

