#!/usr/bin/env node
// build-console: the operator's web console (web/console/) → dist/console/{index.html,app.js,app.css}.
//
// Plain Node ESM, esbuild's JS API: web/console/src/main.tsx bundled with Preact (JSX automatic
// runtime), minified, ES2020 modules; index.html and app.css copied as they are. The admin server
// serves index.html at / and /calls/<Call-ID>, and these files at /assets/<file>.
// Exit code 1 on any error (esbuild's messages are printed).

import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'web', 'console');
const out = join(root, 'dist', 'console');

try {
  const started = Date.now();
  await mkdir(out, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: [join(src, 'src', 'main.tsx')],
    outfile: join(out, 'app.js'),
    bundle: true,
    format: 'esm',
    target: 'es2020',
    platform: 'browser',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
  });
  await Promise.all(['index.html', 'app.css'].map((f) => copyFile(join(src, f), join(out, f))));
  const size = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  process.stdout.write(`build-console: dist/console/ (app.js ${(size / 1024).toFixed(1)} KiB) in ${Date.now() - started} ms\n`);
} catch (err) {
  // esbuild has printed its messages already (logLevel warning); anything else is shown here.
  if (!(err && Array.isArray(err.errors))) process.stderr.write(`build-console: ${err?.stack ?? err}\n`);
  else process.stderr.write(`build-console: failed with ${err.errors.length} error(s)\n`);
  process.exit(1);
}
