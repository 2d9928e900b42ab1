// The package as a user installs it (issue 13): `npm pack`, installed into a new project, its
// entry points imported by name with their types, and the README's library example run against
// the live server it starts. Nothing from the repository is on the import path but the tarball.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProcess, freePort } from '../harness/processes.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-pack-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const project = path.join(tmp, 'consumer');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };

/** The README's library example: the first ```ts block after "## Library". */
function readmeExample(): string {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const at = readme.indexOf('## Library');
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(at >= 0 && m, 'README.md has a ts block under "## Library"');
  return m[1]!;
}

let tarball = '';

test('npm pack: the tarball holds the built code, its types and the docs — no tests, fixtures or helpers', { timeout: 120_000 }, async () => {
  const r = await runProcess('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: root, timeoutMs: 110_000 });
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout.slice(r.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = path.join(tmp, info[0]!.filename);
  const files = info[0]!.files.map((f) => f.path);
  assert.deepEqual(files.filter((f) => /\.test\.|fixtures|conformance\.|(^|\/)test\//.test(f)), []);
  for (const want of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/user-agent.d.ts', 'dist/src/app/cli/main.js', 'README.md', 'docs/user-agent.md']) {
    assert.ok(files.includes(want), `${want} in the tarball`);
  }
});

test('installed from the tarball: every entry point imports by name, the README example runs against its live server', { timeout: 240_000 }, async () => {
  assert.ok(tarball, 'packed by the previous test');
  fs.mkdirSync(project, { recursive: true });
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // From npm's cache where it can (the registry for what is missing), and no native
  // build — better-sqlite3's compiled addon is copied from the repository's install below.
  const inst = await runProcess('npm', ['install', tarball, '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: project, timeoutMs: 200_000 });
  assert.equal(inst.code, 0, `${inst.stdout}\n${inst.stderr}`);
  const addon = path.join(root, 'node_modules/better-sqlite3/build');
  if (fs.existsSync(addon)) fs.cpSync(addon, path.join(project, 'node_modules/better-sqlite3/build'), { recursive: true });

  // Every subpath of `exports` loads, and the repository's internals are not reachable.
  const subpaths = Object.keys(pkg.exports).filter((k) => k !== './package.json').map((k) => (k === '.' ? 'switchboard' : `switchboard/${k.slice(2)}`));
  const probe = `for (const s of ${JSON.stringify(subpaths)}) { const m = await import(s); if (Object.keys(m).length === 0) throw new Error(s + ' exports nothing'); }
try { await import('switchboard/dist/src/roles/user-agent/index.js'); console.log('internal path importable'); } catch (e) { console.log(e.code); }`;
  fs.writeFileSync(path.join(project, 'probe.mjs'), probe);
  const p = await runProcess(process.execPath, ['probe.mjs'], { cwd: project, timeoutMs: 30_000 });
  assert.equal(p.code, 0, p.stderr);
  assert.equal(p.stdout.trim(), 'ERR_PACKAGE_PATH_NOT_EXPORTED');

  // The README example, as written, on a free port instead of 5060.
  const port = await freePort('udp');
  const example = readmeExample().replaceAll('5060', String(port));
  fs.writeFileSync(path.join(project, 'example.mjs'), example);
  const run = await runProcess(process.execPath, ['example.mjs'], { cwd: project, timeoutMs: 60_000 });
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /bob registered: 200/);
  assert.match(run.stdout, /call: established/);

  // With types: the same example type-checks against the installed declarations; a name the
  // package does not export does not.
  fs.mkdirSync(path.join(project, 'node_modules/@types'), { recursive: true });
  fs.symlinkSync(path.join(root, 'node_modules/@types/node'), path.join(project, 'node_modules/@types/node'));
  fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, include: ['*.ts'] }));
  fs.writeFileSync(path.join(project, 'example.ts'), example);
  const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
  const ok = await runProcess(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, timeoutMs: 90_000 });
  assert.equal(ok.code, 0, `${ok.stdout}\n${ok.stderr}`);
  fs.writeFileSync(path.join(project, 'wrong.ts'), "import { NoSuchThing } from 'switchboard';\nconsole.log(NoSuchThing);\n");
  const bad = await runProcess(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, timeoutMs: 90_000 });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stdout, /has no exported member 'NoSuchThing'/);
});

test('the API report is up to date (scripts/api-report.mjs --check)', { timeout: 60_000 }, async () => {
  const r = await runProcess(process.execPath, ['scripts/api-report.mjs', '--check'], { cwd: root, timeoutMs: 50_000 });
  assert.equal(r.code, 0, r.stderr);
});
