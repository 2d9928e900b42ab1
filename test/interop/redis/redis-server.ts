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
