// Starting throwaway redis-server processes for the Redis store tests (loopback, no persistence).
import { freePort, runProcess, startProcess, type Managed } from '../../harness/processes.js';

export const REDIS_BIN = process.env.REDIS_SERVER_BIN || 'redis-server';
export const REDIS_CLI = process.env.REDIS_CLI_BIN || 'redis-cli';

const MISSING = 'run `node scripts/ensure-peers.mjs` (it installs the redis-server package)';

/** Fails (never skips) when redis-server is not installed. */
export async function assertRedisInstalled(): Promise<string> {
  const r = await runProcess(REDIS_BIN, ['--version'], { timeoutMs: 5000 }).catch((err: Error) => {
    throw new Error(`${REDIS_BIN} is not installed or not runnable (${err.message}); ${MISSING}`);
  });
  const m = /v=(\d+(?:\.\d+)+)/.exec(r.stdout + r.stderr);
  if (r.code !== 0 || !m) throw new Error(`unexpected \`${REDIS_BIN} --version\` output (code ${r.code}): ${r.stdout}${r.stderr}; ${MISSING}`);
  return m[1]!;
}

export interface RedisInstance {
  port: number;
  url: string;
  proc: Managed;
}

/** One standalone redis-server on 127.0.0.1:<free port>, no RDB/AOF. */
export async function startRedis(extra: string[] = [], cwd?: string): Promise<RedisInstance> {
  await assertRedisInstalled();
  const port = await freePort('tcp');
  const proc = await startProcess(REDIS_BIN, ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', ...extra], {
    readyPattern: /Ready to accept connections/,
    timeoutMs: 10_000,
    maxLifetimeMs: 10 * 60_000,
    cwd,
  });
  return { port, url: `redis://127.0.0.1:${port}`, proc };
}

/** A port p with p and p + 10000 (the cluster bus) both free. */
async function clusterPort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const p = await freePort('tcp');
    if (p + 10000 > 65535) continue;
    try {
      const { createServer } = await import('node:net');
      await new Promise<void>((resolve, reject) => {
        const srv = createServer();
        srv.once('error', reject);
        srv.listen({ port: p + 10000, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve()));
      });
      return p;
    } catch {
      /* try another */
    }
  }
  throw new Error('no port pair (p, p+10000) free on 127.0.0.1');
}

export interface RedisCluster {
  nodes: RedisInstance[];
  stop(): Promise<void>;
}

/**
 * `masters` redis-server processes with cluster-enabled, joined by `redis-cli --cluster create`
 * (no replicas), in `dir` (their nodes.conf files). Resolves once CLUSTER INFO says ok on all.
 */
export async function startRedisCluster(dir: string, masters = 3): Promise<RedisCluster> {
  await assertRedisInstalled();
  const nodes: RedisInstance[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.proc.stop().catch(() => undefined)));
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await clusterPort();
      const proc = await startProcess(
        REDIS_BIN,
        ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000'],
        { readyPattern: /Ready to accept connections/, timeoutMs: 10_000, maxLifetimeMs: 10 * 60_000, cwd: dir },
      );
      nodes.push({ port, url: `redis://127.0.0.1:${port}`, proc });
    }
    const r = await runProcess(REDIS_CLI, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
      timeoutMs: 30_000,
    });
    if (r.code !== 0) throw new Error(`redis-cli --cluster create failed (code ${r.code}):\n${r.stdout}\n${r.stderr}`);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const infos = await Promise.all(nodes.map((n) => runProcess(REDIS_CLI, ['-p', String(n.port), 'cluster', 'info'], { timeoutMs: 5000 })));
      if (infos.every((x) => /cluster_state:ok/.test(x.stdout))) break;
      if (Date.now() > deadline) throw new Error(`cluster not ok after 20 s:\n${infos.map((x) => x.stdout).join('\n')}`);
      await new Promise((res) => setTimeout(res, 200));
    }
    return { nodes, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
