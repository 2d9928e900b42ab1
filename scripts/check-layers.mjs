#!/usr/bin/env node
// check-layers: enforces the RFC 3261 §5 layering of src/ — imports point downward only.
//   sip ← transport ← transaction ← dialog + tu ← roles ← app; sdp, auth, store, util are leaves.
// Exit 1 with one line per violation.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, dirname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

// Optional argument: another tree to check (the test checks that a planted upward import fails).
const root = process.argv[2] ? resolve(process.argv[2]) : resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');

/** layer → layers it may import (besides itself). */
const LEAVES = ['sdp', 'auth', 'store', 'content', 'dialplan', 'media', 'observability'];
const ALLOWED = {
  util: [],
  // Leaves (RFC 3261 §5's side modules): they import nothing of the stack.
  sip: ['util'],
  sdp: ['util'],
  auth: ['util'],
  store: ['util'],
  content: ['util'],
  dialplan: ['util'],
  media: ['util'],
  observability: ['util'],
  transport: ['sip', 'util'],
  transaction: ['transport', 'sip', 'util'],
  dialog: ['transaction', 'transport', 'sip', 'util'],
  tu: ['dialog', 'transaction', 'transport', 'sip', 'util', 'sdp', 'auth', 'content'],
  // Dialog usages (RFC 5057): invite sessions, subscriptions, publications.
  usage: ['tu', 'dialog', 'transaction', 'transport', 'sip', 'util', 'sdp', 'auth', 'content'],
  roles: ['usage', 'tu', 'dialog', 'transaction', 'transport', 'sip', 'util', ...LEAVES],
  app: ['roles', 'usage', 'tu', 'dialog', 'transaction', 'transport', 'sip', 'util', ...LEAVES],
  index: ['app', 'roles', 'usage', 'tu', 'dialog', 'transaction', 'transport', 'sip', 'util', ...LEAVES],
};

function layerOf(file) {
  const rel = relative(src, file).split(sep);
  if (rel.length === 1) return 'index';
  return rel[0];
}

function walk(dir, out) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith('.ts')) out.push(p);
  }
}

const files = [];
walk(src, files);
const bad = [];
const re = /(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;
for (const f of files) {
  const from = layerOf(f);
  const allowed = ALLOWED[from];
  if (!allowed) {
    bad.push(`${relative(root, f)}: folder "${from}" is not a known layer (add it to scripts/check-layers.mjs)`);
    continue;
  }
  const text = readFileSync(f, 'utf8');
  for (const m of text.matchAll(re)) {
    const spec = m[1] ?? m[2];
    const target = resolve(dirname(f), spec);
    if (!target.startsWith(src)) continue;
    const to = layerOf(target);
    if (to === from || allowed.includes(to)) continue;
    bad.push(`${relative(root, f)}: imports ${spec} — layer "${from}" may not import "${to}" (imports point down only)`);
  }
}
if (bad.length > 0) {
  for (const b of bad) process.stderr.write(`check-layers: ${b}\n`);
  process.exit(1);
}
process.stdout.write(`check-layers: ${files.length} files, imports point down only\n`);
