// The layer rule (RFC 3261 §5 folders, imports pointing down only) is part of the test suite, so
// CI enforces it: scripts/check-layers.mjs passes on the tree and fails on a planted upward import.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProcess } from '../harness/processes.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const script = path.join(root, 'scripts/check-layers.mjs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-layers-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('src/ imports point down only', async () => {
  const r = await runProcess(process.execPath, [script], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /imports point down only/);
});

test('an upward import (sip → roles), a leaf importing the stack (sdp → sip) and an unknown folder fail', async () => {
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(tmp, rel)), { recursive: true });
    fs.writeFileSync(path.join(tmp, rel), text);
  };
  write('src/roles/x.ts', 'export const x = 1;\n');
  write('src/sip/a.ts', "import { x } from '../roles/x.js';\nexport const a = x;\n");
  write('src/sdp/b.ts', "import { a } from '../sip/a.js';\nexport const b = a;\n");
  write('src/usage/c.ts', "import { a } from '../sip/a.js';\nexport const c = a;\n");
  write('src/nowhere/d.ts', 'export const d = 1;\n');
  const r = await runProcess(process.execPath, [script, tmp], { timeoutMs: 30_000 });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /src\/sip\/a\.ts: imports \.\.\/roles\/x\.js — layer "sip" may not import "roles"/);
  assert.match(r.stderr, /src\/sdp\/b\.ts: imports \.\.\/sip\/a\.js — layer "sdp" may not import "sip"/);
  assert.match(r.stderr, /folder "nowhere" is not a known layer/);
  assert.doesNotMatch(r.stderr, /usage\/c\.ts/, 'usage/ may import sip/');
});
