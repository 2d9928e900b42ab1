// Call flow 4 through the B2BUA with SIPp on both sides, for the flow-4 tests: `serve` with
// examples/callflow-4-b2bua.yaml (ports substituted), GW-B's SIPp started, the phone's SIPp run to
// completion, the server's trace kept (flow4-b2bua.test.ts, flow4-b2bua-hold.test.ts).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SCENARIO_DIR, describeSipp, runSipp, startSipp, type SippProcess, type SippResult } from '../sipp/sipp.js';
import { describe, exampleConfig, freePorts, startServe, type TraceMsg } from './callflow-harness.js';

export interface FlowRun {
  phone: SippResult;
  gw: SippResult;
  /** The server's trace (both legs, all calls). */
  trace: TraceMsg[];
  ports: { b2bua: number; gw: number; phone: number };
  /** null while `serve` runs; its exit status once it ended (a crash). */
  serverExit: { code: number | null; signal: NodeJS.Signals | null } | null;
  /** Everything worth showing when an assertion fails. */
  ctx: string;
}

export interface FlowOptions {
  phone: string;
  gw: string;
  calls: number;
  rate?: number;
  lost?: number;
  timeoutS?: number;
  /** Extra SIPp arguments for GW-B. */
  gwExtra?: string[];
}

function clip(s: string, max: number): string {
  return s.length > max ? `[…]${s.slice(-max)}` : s;
}

/** `serve` with the example config (ports substituted), GW-B's SIPp started, the phone's SIPp run to completion. */
export async function flow(opts: FlowOptions): Promise<FlowRun> {
  const [b2buaPort, gwPort, phonePort] = (await freePorts(3)) as [number, number, number];
  const cfg = exampleConfig('callflow-4-b2bua', { 5070: b2buaPort, 5090: gwPort });
  assert.match(cfg.text, new RegExp(`listen: \\[udp:127\\.0\\.0\\.1:${b2buaPort}\\]`));
  assert.match(cfg.text, new RegExp(`target: 'sip:\\{user\\}@127\\.0\\.0\\.1:${gwPort}'`));
  assert.match(cfg.text, /offer: delayed/);
  const server = await startServe(cfg.path, { udpPorts: [b2buaPort], hop: 'b2bua', maxLifetimeMs: 90_000 });
  let gw: SippProcess | undefined;
  try {
    const timeoutS = opts.timeoutS ?? 20;
    // Without loss GW-B stops by itself after as many calls as the phone makes (-m); with loss a
    // call whose last message was dropped may never end there, so it is stopped after the phone.
    gw = await startSipp({
      scenario: join(SCENARIO_DIR, opts.gw),
      localPort: gwPort,
      calls: opts.lost ? undefined : opts.calls,
      lost: opts.lost,
      timeoutS: 30,
      extra: opts.gwExtra,
    });
    const phone = await runSipp({
      scenario: join(SCENARIO_DIR, opts.phone),
      target: `127.0.0.1:${b2buaPort}`,
      localPort: phonePort,
      calls: opts.calls,
      rate: opts.rate ?? 10,
      lost: opts.lost,
      timeoutS,
    });
    const gwResult = await gw.finish(opts.lost ? 6_000 : 10_000);
    // The last messages (a 200 to a BYE, an ACK) are traced by now; a moment for the pipe.
    await new Promise((r) => setTimeout(r, 200));
    const status = server.exitStatus();
    const trace = server.trace();
    const ctx = [
      `--- phone (SIPp uac, ${opts.phone}) ---\n${describeSipp(phone)}`,
      `--- GW-B (SIPp uas, ${opts.gw}) ---\n${describeSipp(gwResult)}`,
      `--- b2bua: ${status ? `EXITED code ${status.code} signal ${status.signal}` : 'running'}; trace (${trace.length} messages, tail) ---\n${clip(describe(trace), 4000)}`,
      `--- b2bua stdout (tail) ---\n${clip(server.output().stdout, 2000)}`,
      `--- b2bua errors and log lines (stderr, tail) ---\n${clip(server.output().stderr.split('\n').filter((l) => /^\s+at |Error|error|nhandled|^b2bua: /.test(l)).join('\n'), 3000)}`,
    ].join('\n');
    return {
      phone,
      gw: gwResult,
      trace,
      ports: { b2bua: b2buaPort, gw: gwPort, phone: phonePort },
      serverExit: status ? { code: status.code, signal: status.signal } : null,
      ctx,
    };
  } finally {
    await gw?.stop();
    await server.stop();
    cfg.cleanup();
  }
}
