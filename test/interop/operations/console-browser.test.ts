// The operator's web console in a real browser against a real server: `switchboard serve` with
// `--admin`, a SIPp user agent registered as bob (digest, register-digest-md5.xml) that then
// answers as SIPp's built-in uas on the same port, and a SIPp uac calling bob through the
// proxy. Debian's Chromium, driven by playwright-core (no browser download), then checks:
//  - home (`/`): bob's registration row appears live (the `registrations` event, no reload),
//    and so does the call's row once SIPp has placed it (the `call` events);
//  - the call's page (`/calls/<Call-ID>`, reached by clicking the row, then reloaded: the server
//    serves index.html there too): the ladder's columns are caller, "Switchboard (proxy)",
//    callee; its arrows, as the server saw them, are INVITE, 100 Trying, 180 Ringing, 200 OK,
//    ACK, BYE, 200 OK between the caller and Switchboard, and INVITE, 180 Ringing, 200 OK, ACK,
//    BYE, 200 OK between Switchboard and the callee (retransmissions collapsed), interleaved as a
//    proxy forwards them (the callee's INVITE after the caller's, the caller's 180 after the
//    callee's …);
//  - clicking the forwarded INVITE shows its raw text (start line first: retargeted to bob's
//    registered contact) in the raw panel, as the messages route has it;
//  - screenshots: test-artifacts/console-home.png and test-artifacts/console-ladder.png.
//
// The server's config file only adds what SIPp needs: bob's password (the registrar challenges
// as usual) and `proxy.authenticate: false` (SIPp's built-in uac does not answer a 407).
// Everything is on loopback; every process (serve, both SIPps, Chromium) is stopped by its PID
// in `finally`; the test is bounded to 60 s. Skips only when Chromium is not installed.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserServer, type Page } from 'playwright-core';
import { freePort, freePortBoth, isListening, runProcess, startProcess, stopAll, type Managed } from '../../harness/processes.js';
import { SCENARIO_DIR, SWITCHBOARD_CLI, describeSipp, runSipp, startSipp, type SippProcess } from '../sipp/sipp.js';

const CHROMIUM = '/usr/bin/chromium';
/** The repository (this file runs as dist/test/interop/operations/console-browser.test.js). */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const ARTIFACTS = join(ROOT, 'test-artifacts');
const dir = mkdtempSync(join(tmpdir(), 'console-browser-'));

after(async () => {
  await stopAll();
  if (process.env.KEEP_TMP !== '1') rmSync(dir, { recursive: true, force: true });
});

interface Arrow {
  seq: number;
  label: string;
  from: string;
  to: string;
}

async function arrows(page: Page): Promise<Arrow[]> {
  const loc = page.locator('[data-testid="arrow"]');
  const out: Arrow[] = [];
  for (let i = 0, n = await loc.count(); i < n; i++) {
    const a = loc.nth(i);
    out.push({
      seq: Number(await a.getAttribute('data-seq')),
      label: (await a.getAttribute('data-label')) ?? '',
      from: (await a.getAttribute('data-from')) ?? '',
      to: (await a.getAttribute('data-to')) ?? '',
    });
  }
  return out;
}

/** The labels of the arrows between two addresses (either way), a repeated label (a retransmission) once. */
function side(list: Arrow[], a: string, b: string): string[] {
  const out: string[] = [];
  for (const x of list) {
    if (!((x.from === a && x.to === b) || (x.from === b && x.to === a))) continue;
    if (out[out.length - 1] !== x.label) out.push(x.label);
  }
  return out;
}

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Index of the first arrow from → to labelled `label`. */
function at(list: Arrow[], from: string, to: string, label: string, after = -1): number {
  return list.findIndex((x, i) => i > after && x.from === from && x.to === to && x.label === label);
}

test('web console: live registration and call rows, the call\'s ladder and a raw message, in Chromium', { timeout: 60_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`Chromium is not installed (${CHROMIUM} missing; Debian package "chromium")`);
    return;
  }
  // The console bundle comes with `npm run build`; build it here if only tsc ran.
  if (!existsSync(join(ROOT, 'dist', 'console', 'app.js'))) {
    const b = await runProcess(process.execPath, [join(ROOT, 'scripts', 'build-console.mjs')], { timeoutMs: 20_000 });
    assert.equal(b.code, 0, `build-console failed\n${b.stdout}\n${b.stderr}`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });

  const sipPort = await freePortBoth();
  const adminPort = await freePort('tcp');
  let uasPort = await freePortBoth();
  while (uasPort === sipPort) uasPort = await freePortBoth();
  let uacPort = await freePortBoth();
  while (uacPort === sipPort || uacPort === uasPort) uacPort = await freePortBoth();
  const caller = `127.0.0.1:${uacPort}`;
  const callee = `127.0.0.1:${uasPort}`;
  const proxy = `127.0.0.1:${sipPort}`;
  const base = `http://127.0.0.1:${adminPort}`;

  const config = join(dir, 'serve.yaml');
  writeFileSync(config, ['store: memory', 'users:', '  - {user: bob, password: bobpw}', 'proxy:', '  authenticate: false', ''].join('\n'));
  const inf = join(dir, 'bob.inf');
  writeFileSync(inf, 'SEQUENTIAL\nbob;127.0.0.1;[authentication username=bob password=bobpw]\n');

  let server: Managed | undefined;
  let uas: SippProcess | undefined;
  let browserServer: BrowserServer | undefined;
  let browser: Browser | undefined;
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];
  const context = (): string =>
    [
      pageErrors.length ? `--- page errors ---\n${pageErrors.join('\n')}` : '',
      consoleErrors.length ? `--- browser console errors ---\n${consoleErrors.join('\n')}` : '',
      server ? `--- serve stdout (tail) ---\n${server.output().stdout.slice(-2000)}\n--- serve stderr (tail) ---\n${server.output().stderr.slice(-3000)}` : '',
    ]
      .filter(Boolean)
      .join('\n');

  try {
    server = await startProcess(
      process.execPath,
      [SWITCHBOARD_CLI, 'serve', '--config', config, '--listen', `udp:${proxy}`, '--domain', '127.0.0.1', '--admin', `127.0.0.1:${adminPort}`],
      {
        readyPattern: new RegExp(`listening on udp:127\\.0\\.0\\.1:${sipPort}\\b`),
        readyCheck: () => isListening('udp', sipPort) && isListening('tcp', adminPort),
        timeoutMs: 15_000,
        maxLifetimeMs: 60_000,
      },
    );

    browserServer = await chromium.launchServer({
      executablePath: CHROMIUM,
      host: '127.0.0.1',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: 15_000,
    });
    browser = await chromium.connect(browserServer.wsEndpoint(), { timeout: 10_000 });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });

    // Home, before anything happened: it must fill in live.
    await page.goto(`${base}/`);
    await page.locator('header .stream.live').waitFor();

    // bob registers (REGISTER → 401 → REGISTER with credentials → 200) from the port his uas will use.
    const reg = await runSipp({ scenario: join(SCENARIO_DIR, 'register-digest-md5.xml'), target: proxy, localPort: uasPort, calls: 1, timeoutS: 10, extra: ['-inf', inf] });
    assert.equal(reg.code, 0, `SIPp REGISTER\n${describeSipp(reg)}\n${context()}`);
    const row = page.locator('[data-testid="registration"][data-aor="sip:bob@127.0.0.1"]');
    await row.waitFor({ timeout: 8_000 });
    assert.match((await row.textContent()) ?? '', new RegExp(`sip:bob@127\\.0\\.0\\.1:${uasPort}`), 'the row shows bob\'s contact');

    // The call: SIPp uac → serve (proxy) → bob's SIPp uas.
    uas = await startSipp({ scenario: 'uas', localPort: uasPort, timeoutS: 40 });
    const uac = await runSipp({ scenario: 'uac', target: proxy, localPort: uacPort, calls: 1, timeoutS: 15, extra: ['-s', 'bob', '-d', '200'] });
    assert.equal(uac.code, 0, `SIPp uac\n${describeSipp(uac)}\n${context()}`);
    assert.equal(uac.successful, 1, describeSipp(uac));

    // Its Call-ID, from the API (SIPp's uac: "1-PID@127.0.0.1").
    const calls = (await (await fetch(`${base}/api/calls?q=bob`)).json()) as { calls: Array<{ callId: string; to: string; state: string; role: string }> };
    const call = calls.calls.find((c) => c.to.includes('sip:bob@'));
    assert.ok(call, `the call in /api/calls: ${JSON.stringify(calls)}\n${context()}`);
    const callId = call.callId;

    const callRow = page.locator(`[data-testid="call"][data-call-id="${callId.replace(/["\\]/g, '\\$&')}"]`);
    await callRow.waitFor({ timeout: 8_000 });
    await page.waitForTimeout(500); // the header's counts catch up (a stats request after the call events)
    await page.screenshot({ path: join(ARTIFACTS, 'console-home.png'), fullPage: true });

    // Its page, by a click (client-side routing) …
    await callRow.locator('a').first().click();
    await page.waitForURL(`${base}/calls/${encodeURIComponent(callId)}`);
    await page.locator('[data-testid="arrow"]').nth(12).waitFor();
    // … and again by loading that address (the server serves the console there too).
    await page.reload();
    await page.locator('[data-testid="arrow"]').nth(12).waitFor();

    const list = await arrows(page);
    const shown = list.map((a) => `${a.seq} ${a.from} → ${a.to} ${a.label}`).join('\n');
    const why = `arrows:\n${shown}\ncaller ${caller}, proxy ${proxy}, callee ${callee}\n${context()}`;
    assert.equal(list[0]?.from, caller, `the first arrow comes from the caller\n${why}`);
    assert.equal(list[0]?.to, proxy, why);
    assert.deepEqual(side(list, caller, proxy), ['INVITE', '100 Trying', '180 Ringing', '200 OK', 'ACK', 'BYE', '200 OK'], `caller ↔ Switchboard\n${why}`);
    assert.deepEqual(side(list, proxy, callee), ['INVITE', '180 Ringing', '200 OK', 'ACK', 'BYE', '200 OK'], `Switchboard ↔ callee\n${why}`);
    assert.equal(list.filter((a) => a.from !== proxy && a.to !== proxy).length, 0, `every arrow starts or ends at Switchboard\n${why}`);
    // Forwarded after it came in (requests downstream, responses upstream).
    const order: Array<[string, string, string, string, string, string]> = [
      [caller, proxy, 'INVITE', proxy, callee, 'INVITE'],
      [callee, proxy, '180 Ringing', proxy, caller, '180 Ringing'],
      [callee, proxy, '200 OK', proxy, caller, '200 OK'],
      [caller, proxy, 'ACK', proxy, callee, 'ACK'],
      [caller, proxy, 'BYE', proxy, callee, 'BYE'],
    ];
    for (const [f1, t1, l1, f2, t2, l2] of order) {
      const i = at(list, f1, t1, l1);
      const j = at(list, f2, t2, l2);
      assert.ok(i >= 0 && j > i, `${l1} ${f1} → ${t1} (#${i}) before ${l2} ${f2} → ${t2} (#${j})\n${why}`);
    }
    const byeIn = at(list, callee, proxy, '200 OK', at(list, proxy, callee, 'BYE'));
    const byeOut = at(list, proxy, caller, '200 OK', at(list, caller, proxy, 'BYE'));
    assert.ok(byeIn >= 0 && byeOut > byeIn, `the BYE's 200 from the callee before the one to the caller\n${why}`);

    // The columns: caller, Switchboard (its role), callee — in order of first appearance.
    const heads = await page.locator('svg.ladder .lifeline .name').allTextContents();
    assert.deepEqual(heads, [caller, 'Switchboard (proxy)', callee], why);
    // Two legs' legend only for multi-leg calls: a proxied call has one Call-ID.
    assert.equal(await page.locator('.legend').count(), 0);

    // A click on the forwarded INVITE shows its raw text.
    const fwd = list[at(list, proxy, callee, 'INVITE')]!;
    const msgs = (await (await fetch(`${base}/api/calls/${encodeURIComponent(callId)}/messages`)).json()) as { messages: Array<{ seq: number; startLine: string; raw: string }> };
    const expected = msgs.messages.find((m) => m.seq === fwd.seq);
    assert.ok(expected, `message #${fwd.seq} in the messages route\n${why}`);
    assert.match(expected.startLine, new RegExp(`^INVITE sip:bob@127\\.0\\.0\\.1:${uasPort}\\b`), 'retargeted to bob\'s contact');
    await page.locator(`[data-testid="arrow"][data-seq="${fwd.seq}"]`).click();
    const raw = page.locator('[data-testid="raw"]');
    await raw.waitFor();
    const text = (await raw.textContent()) ?? '';
    assert.equal(text.split(/\r?\n/)[0], expected.startLine, `the raw panel starts with the start line\n${text}`);
    const callIdLine = new RegExp(`^(?:Call-ID|i)[ \t]*:[ \t]*${escapeRe(callId)}[ \t]*\r?$`, 'mi');
    assert.match(text, callIdLine, `the raw panel shows the whole message (its Call-ID header too)\n${text}`);
    assert.equal(await page.locator(`[data-testid="arrow"][data-seq="${fwd.seq}"].selected`).count(), 1, 'the clicked arrow is marked');

    await page.screenshot({ path: join(ARTIFACTS, 'console-ladder.png'), fullPage: true });
    assert.deepEqual(pageErrors, [], `no uncaught errors in the page\n${context()}`);
  } finally {
    // Chromium: closed through Playwright, then killed by its PID if it is somehow still there
    // (never a PID that has already exited: it could be someone else's by now).
    const chrome = browserServer?.process();
    const bounded = (p: Promise<unknown> | undefined): Promise<unknown> =>
      Promise.race([p?.catch(() => undefined), new Promise((r) => setTimeout(r, 5000).unref())]);
    await bounded(browser?.close());
    await bounded(browserServer?.close());
    if (chrome && chrome.exitCode === null && chrome.signalCode === null) chrome.kill('SIGKILL');
    await uas?.stop();
    await server?.stop();
  }
});
