/**
 * `workers: N`: one `switchboard serve` as N worker processes on the same listeners, the way
 * Kamailio runs `children` — one event loop per core.
 *
 * The primary binds nothing itself. Node's `cluster` gives every worker the same UDP socket
 * (listeners are UDP only with several workers, see config-schema's checkWorkers), each worker
 * opens a private loopback relay socket
 * and reports its port; once all have reported, the primary sends each the full table, and from
 * then on a datagram read by the wrong worker is passed to the one its Call-ID belongs to (see
 * `transport/worker-relay.ts`). A worker that dies is started again under the same index; while
 * it is down its share is handled by whichever worker reads it. SIGTERM/SIGINT to the primary
 * stops every worker cleanly (each finishes in-flight work and flushes its store) and exits 0.
 *
 * @remarks App layer (`app/`).
 */
import cluster, { type Worker } from 'node:cluster';
import crypto from 'node:crypto';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { BoundListener } from '../transport/index.js';
import { SipError } from '../util/errors.js';

/** Messages between primary and workers over the cluster IPC channel. */
export type WorkerMessage =
  | { type: 'ready'; index: number; relayPort: number; listeners: BoundListener[] }
  | { type: 'failed'; index: number; message: string; usage: boolean }
  /** Worker 0's admin listener wants every worker's metrics (GET /metrics). */
  | { type: 'metrics-request'; id: number }
  /** One worker's metrics (prom-client's JSON form), for a `metrics-get`. */
  | { type: 'metrics'; id: number; index: number; json: MetricsJson };
export type PrimaryMessage =
  | { type: 'peers'; ports: number[] }
  | { type: 'stop' }
  | { type: 'metrics-get'; id: number }
  | { type: 'metrics-text'; id: number; text: string; contentType: string };

/** prom-client's `getMetricsAsJSON()`. */
type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

const ENV_INDEX = 'SWITCHBOARD_WORKER_INDEX';
const ENV_COUNT = 'SWITCHBOARD_WORKER_COUNT';
const ENV_SECRET = 'SWITCHBOARD_WORKER_NONCE_SECRET';

/** This process's place in the cluster, when it is a worker. */
export function workerIdentity(): { index: number; count: number; nonceSecret?: string } | undefined {
  if (!cluster.isWorker) return undefined;
  const index = Number(process.env[ENV_INDEX]);
  const count = Number(process.env[ENV_COUNT]);
  if (!Number.isInteger(index) || !Number.isInteger(count) || count < 1) return undefined;
  return { index, count, nonceSecret: process.env[ENV_SECRET] };
}

export interface PrimaryOptions {
  workers: number;
  log: (line: string) => void;
  /** Printed once every worker listens: what a single process prints at start-up. */
  onReady: (listeners: BoundListener[]) => void;
  /** How long a stopping worker may take before it is killed (default 10 s). */
  stopTimeoutMs?: number;
}

/**
 * Runs the primary until SIGTERM/SIGINT; resolves with the exit code (0 after a clean stop,
 * 2 when a worker's start-up failed on a usage or config error, 1 on another start-up failure).
 */
export function runPrimary(opts: PrimaryOptions): Promise<number> {
  const n = opts.workers;
  const secret = crypto.randomBytes(32).toString('hex');
  const ports: number[] = new Array<number>(n).fill(0);
  const byIndex = new Map<number, Worker>();
  let started = false; // every worker reported ready once
  let stopping = false;
  let exitCode = 0;
  const reported = new Set<string>();
  /** Per index: when it was last forked, and the delay before the next restart. */
  const lastFork = new Map<number, number>();
  const backoff = new Map<number, number>();

  return new Promise<number>((resolve) => {
    const broadcast = () => {
      for (const w of byIndex.values()) if (w.isConnected()) w.send({ type: 'peers', ports } satisfies PrimaryMessage);
    };
    const finish = () => {
      if ([...byIndex.values()].every((w) => w.isDead())) resolve(exitCode);
    };
    const stopAll = (why: string) => {
      if (stopping) return;
      stopping = true;
      if (why) process.stdout.write(`${why}: stopping ${n} workers\n`);
      for (const w of byIndex.values()) {
        if (w.isConnected()) w.send({ type: 'stop' } satisfies PrimaryMessage);
        else if (!w.isDead()) w.process.kill('SIGTERM');
      }
      // A worker that does not leave in time is killed; its store writes were committed as they went.
      const t = setTimeout(() => {
        for (const w of byIndex.values()) if (!w.isDead()) w.process.kill('SIGKILL');
      }, opts.stopTimeoutMs ?? 10_000);
      t.unref();
      finish();
    };
    // GET /metrics with several workers: each worker's series (label worker="N") and their sums
    // (worker="all"), one family per metric — prom-client's AggregatorRegistry sums the copies.
    const pendingMetrics = new Map<number, (index: number, json: MetricsJson) => void>();
    let metricsId = 0;
    const gatherMetrics = async (): Promise<{ text: string; contentType: string }> => {
      const id = ++metricsId;
      const live = [...byIndex.entries()].filter(([, w]) => w.isConnected());
      const got = new Map<number, MetricsJson>();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        pendingMetrics.set(id, (index, json) => {
          got.set(index, json);
          if (got.size === live.length) {
            clearTimeout(timer);
            resolve();
          }
        });
        for (const [, w] of live) w.send({ type: 'metrics-get', id } satisfies PrimaryMessage);
        if (live.length === 0) resolve();
      });
      pendingMetrics.delete(id);
      const labelled = (json: MetricsJson, worker: string) => json.map((m) => ({ ...m, values: m.values.map((v) => ({ ...v, labels: { ...v.labels, worker } })) })) as MetricsJson;
      const summed = (await AggregatorRegistry.aggregate([...got.values()]).getMetricsAsJSON()) as MetricsJson;
      const all = AggregatorRegistry.aggregate([...[...got].map(([i, json]) => labelled(json, String(i))), labelled(summed, 'all')]);
      return { text: await all.metrics(), contentType: all.contentType };
    };
    const fork = (index: number) => {
      const w = cluster.fork({ [ENV_INDEX]: String(index), [ENV_COUNT]: String(n), [ENV_SECRET]: secret });
      byIndex.set(index, w);
      lastFork.set(index, Date.now());
      w.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready') {
          ports[index] = m.relayPort;
          if (!started && ports.every((p) => p !== 0)) {
            started = true;
            opts.onReady(m.listeners);
          } else if (started) opts.log(`worker-${index} restarted (pid ${w.process.pid})`);
          broadcast();
        } else if (m.type === 'metrics-request') {
          void gatherMetrics().then((r) => {
            if (w.isConnected()) w.send({ type: 'metrics-text', id: m.id, ...r } satisfies PrimaryMessage);
          });
        } else if (m.type === 'metrics') {
          pendingMetrics.get(m.id)?.(m.index, m.json);
        } else if (m.type === 'failed') {
          // Every worker fails the same way (a port in use): say it once.
          if (!reported.has(m.message)) opts.log(m.message);
          reported.add(m.message);
          if (!started) {
            exitCode = m.usage ? 2 : 1;
            stopAll('');
          }
        }
      });
      w.on('exit', (code, signal) => {
        ports[index] = 0;
        if (stopping) return finish();
        // After start-up a crashed worker is replaced; its siblings handle its share meanwhile.
        broadcast();
        if (started) {
          // A worker that keeps dying young is restarted ever more slowly (up to 10 s), not in a loop.
          const young = Date.now() - (lastFork.get(index) ?? 0) < 5_000;
          const delay = young ? Math.min(10_000, Math.max(200, 2 * (backoff.get(index) ?? 0))) : 0;
          backoff.set(index, delay);
          opts.log(`worker-${index} (pid ${w.process.pid}) exited with ${signal ?? code}; starting it again${delay ? ` in ${delay} ms` : ''}`);
          // Not unref'd: with every worker gone this timer is what keeps the primary running.
          setTimeout(() => {
            if (!stopping) fork(index);
          }, delay);
        } else {
          if (exitCode === 0) opts.log(`worker-${index} (pid ${w.process.pid}) exited with ${signal ?? code} while starting`);
          exitCode ||= 1;
          stopAll('');
        }
      });
    };
    for (let i = 0; i < n; i++) fork(i);
    process.once('SIGTERM', () => stopAll('SIGTERM'));
    process.once('SIGINT', () => stopAll('SIGINT'));
    // SIGHUP (reload the dial plan) goes to every worker: each reads it again.
    process.on('SIGHUP', () => {
      for (const w of byIndex.values()) if (!w.isDead()) w.process.kill('SIGHUP');
    });
  });
}

/**
 * In a worker: listens to the primary at once (a `stop` may come while this worker is still
 * starting) and returns how to report back.
 */
export function joinPrimary(index: number, handlers: { peers: (ports: number[]) => void; stop: () => void }) {
  process.on('message', (m: PrimaryMessage) => {
    if (m.type === 'peers') handlers.peers(m.ports);
    else if (m.type === 'stop') handlers.stop();
  });
  // The primary going away (killed by SIGKILL) must not leave workers holding the port.
  process.on('disconnect', () => handlers.stop());
  return {
    ready(relayPort: number, listeners: BoundListener[]): void {
      process.send?.({ type: 'ready', index, relayPort, listeners } satisfies WorkerMessage);
    },
    /** Reports a start-up failure; resolves once the primary has it. */
    failed(message: string, usage: boolean): Promise<void> {
      return new Promise((resolve) => {
        if (!process.send || !process.connected) return resolve();
        process.send({ type: 'failed', index, message, usage } satisfies WorkerMessage, undefined, {}, () => resolve());
      });
    },
  };
}

/**
 * In a worker: answers the primary's `metrics-get` with `json()` (this worker's registry), and
 * returns how worker 0's admin listener asks the primary for everyone's (GET /metrics).
 */
export function workerMetrics(index: number, json: () => Promise<MetricsJson>): { text(): Promise<{ text: string; contentType: string }> } {
  process.on('message', (m: PrimaryMessage) => {
    if (m.type !== 'metrics-get') return;
    void json().then((j) => process.send?.({ type: 'metrics', id: m.id, index, json: j } satisfies WorkerMessage), () => undefined);
  });
  let next = 0;
  const waiting = new Map<number, (r: { text: string; contentType: string }) => void>();
  process.on('message', (m: PrimaryMessage) => {
    if (m.type === 'metrics-text') waiting.get(m.id)?.({ text: m.text, contentType: m.contentType });
  });
  return {
    text: () => new Promise((resolve, reject) => {
      const id = ++next;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new SipError('CLUSTER_ERR_METRICS', 'the cluster primary did not answer with the workers\' metrics within 5 s'));
      }, 5000);
      waiting.set(id, (r) => {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(r);
      });
      process.send?.({ type: 'metrics-request', id } satisfies WorkerMessage);
    }),
  };
}
