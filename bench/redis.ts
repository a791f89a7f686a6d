/**
 * The Redis backend (BACKEND=redis), each figure beside a baseline from the same run:
 * - scale-out: one `api` and 1, 2, 4 `worker` processes (bench-sleep, 100 ms per segment, one
 *   host each); segments per second against 4× the rate of one worker;
 * - accepting: POST /api/synthesis at 50 connections, durable in Redis before the 202, against
 *   the article's design (in memory) and our SQLite service;
 * - engine busy: 200 one-segment tasks at 200 ms on one host, against the article's design and SQLite;
 * - 100,000 tasks in Redis: memory per task, and the p99 of GET /api/task/:id against an empty Redis.
 * Uses the Redis at REDIS_URL (default 127.0.0.1:6379) under prefixes of its own, removed after.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { measureBaselineEngineBusy } from './engine-busy-baseline.js';
import { measureOurs as measureEngineBusy } from './engine-busy.js';
import {
  describe,
  freePort,
  measureRun,
  measureStatusReads,
  startBaselineServer,
  startOurService,
  startServer,
  stopServer,
  summarise,
  type RunFigures,
  type ServerProcess,
} from './http-throughput.js';
import { median, percentile, printLines } from './stats.js';
import { RedisBackend } from '../src/backends/redis/redis-backend.js';
import { dropPrefix, testPrefix } from '../src/backends/redis/testing/redis-test-prefix.js';

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const HOST = '127.0.0.1';

const redisEnv = (prefix: string): Record<string, string> => ({ BACKEND: 'redis', REDIS_URL, REDIS_PREFIX: prefix });

// ---- scale-out ------------------------------------------------------------------------------

/** Segments per second through an `api` and `workers` worker processes. */
async function scaleOutRun(workers: number, segmentsPerWorker: number, costMs: number): Promise<number> {
  const prefix = testPrefix();
  const root = await mkdtemp(join(tmpdir(), 'bench-scale-out-'));
  const common = { ...redisEnv(prefix), HOST, BLOB_DIR: join(root, 'blobs'), LOG_LEVEL: 'warn' };
  const servers: ServerProcess[] = [];
  try {
    const apiPort = String(await freePort());
    servers.push(await startServer('api', [CLI, 'api'], { ...common, PORT: apiPort, DATA_DIR: join(root, 'api') }, '/healthz'));
    const api = servers[0]!;
    for (let i = 0; i < workers; i++) {
      const port = String(await freePort());
      // A worker listens on METRICS_PORT; PORT only tells startServer where to ask.
      const env = { ...common, METRICS_PORT: port, PORT: port, DATA_DIR: join(root, `w${i}`), ENGINE: 'bench-sleep', ENGINE_HOSTS: '1', BENCH_SLEEP_COST_MS: String(costMs) };
      servers.push(await startServer(`worker ${i}`, [CLI, 'worker'], env, '/readyz'));
    }
    const backend = await RedisBackend.open({ url: REDIS_URL, prefix, repairIntervalMs: 0 });
    try {
      const tasks = workers * segmentsPerWorker;
      let completed = 0;
      const allDone = new Promise<void>((resolve) =>
        backend.subscribe((event) => {
          if (event.type === 'status' && event.status === 'completed' && ++completed === tasks) resolve();
        }),
      );
      const started = performance.now();
      await Promise.all(
        Array.from({ length: tasks }, async (_, i) => {
          const res = await fetch(`${api.url}/api/synthesis`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `第${i}句话。`, format: 'wav' }) });
          if (res.status !== 202) throw new Error(`POST answered ${res.status} ${await res.text()}`);
          await res.arrayBuffer();
        }),
      );
      await allDone;
      return tasks / ((performance.now() - started) / 1000);
    } finally {
      await backend.close();
    }
  } finally {
    for (const server of servers.reverse()) await stopServer(server);
    await dropPrefix(prefix, REDIS_URL);
    await rm(root, { recursive: true, force: true });
  }
}

export async function benchScaleOut(runs = 3): Promise<void> {
  const costMs = 100;
  const rates: Record<number, number[]> = { 1: [], 2: [], 4: [] };
  for (let run = 0; run < runs; run++) for (const workers of [1, 2, 4]) rates[workers]!.push(await scaleOutRun(workers, 40, costMs));
  const [one, two, four] = [median(rates[1]!), median(rates[2]!), median(rates[4]!)];
  printLines(`scale-out on Redis: api + N worker processes, bench-sleep ${costMs} ms per segment, one host each, 40 one-segment tasks per worker, median of ${runs} runs`, [
    { name: '2 workers', value: `${two.toFixed(1)} segments/s`, baseline: `2 × 1 worker = ${(2 * one).toFixed(1)}/s`, ratio: `${(two / (2 * one)).toFixed(2)}`, target: null, met: null },
    {
      name: '4 workers',
      value: `${four.toFixed(1)} segments/s`,
      baseline: `4 × 1 worker = ${(4 * one).toFixed(1)}/s`,
      ratio: `${(four / (4 * one)).toFixed(2)}`,
      target: '≥ 0.9',
      met: four / (4 * one) >= 0.9,
    },
  ]);
}

// ---- accepting ------------------------------------------------------------------------------

export async function benchAccepting(runs = 3): Promise<void> {
  const figures: { baseline: RunFigures[]; sqlite: RunFigures[]; redis: RunFigures[] } = { baseline: [], sqlite: [], redis: [] };
  for (let i = 0; i < runs; i++) {
    figures.baseline.push(await measureRun(() => startBaselineServer(), 'accepting'));
    figures.sqlite.push(await measureRun(() => startOurService(), 'accepting'));
    const prefix = testPrefix();
    try {
      figures.redis.push(await measureRun(() => startOurService(undefined, redisEnv(prefix)), 'accepting'));
    } finally {
      await dropPrefix(prefix, REDIS_URL);
    }
  }
  const [baseline, sqlite, redis] = [summarise(figures.baseline), summarise(figures.sqlite), summarise(figures.redis)];
  printLines(`accepting on Redis: POST /api/synthesis at 50 connections, durable in Redis before the 202, median of ${runs} runs`, [
    {
      name: 'BACKEND=redis',
      value: describe(redis),
      baseline: `${describe(baseline)} (article design, in memory); SQLite: ${describe(sqlite)}`,
      ratio: `${(redis.rps / baseline.rps).toFixed(2)}× the article's`,
      target: "≥ the article's rate, p99 < 25 ms",
      met: redis.rps >= baseline.rps && redis.p99 < 25 && redis.non2xx === 0,
    },
  ]);
}

// ---- engine busy ----------------------------------------------------------------------------

export async function benchBusy(tasks = 200, costMs = 200): Promise<void> {
  const prefix = testPrefix();
  let redis: Awaited<ReturnType<typeof measureEngineBusy>>;
  try {
    redis = await measureEngineBusy(tasks, costMs, redisEnv(prefix));
  } finally {
    await dropPrefix(prefix, REDIS_URL);
  }
  const sqlite = await measureEngineBusy(tasks, costMs);
  const baseline = await measureBaselineEngineBusy(tasks, costMs);
  const p99 = percentile(redis.gapsMs, 99);
  printLines(`engine busy on Redis: ${tasks} one-segment tasks at ${costMs} ms on one host`, [
    {
      name: 'engine busy from first claim to last completion (BACKEND=redis)',
      value: `${(100 * redis.busyFraction).toFixed(2)} %`,
      baseline: `article ${(100 * baseline.busyFraction).toFixed(1)} %; SQLite ${(100 * sqlite.busyFraction).toFixed(2)} %`,
      ratio: `${(baseline.totalMs / redis.totalMs).toFixed(2)}× sooner done than the article`,
      target: '≥ 98 %',
      met: redis.busyFraction >= 0.98,
    },
    {
      name: 'gap between segments, p99 (BACKEND=redis)',
      value: `${p99.toFixed(2)} ms (median ${percentile(redis.gapsMs, 50).toFixed(2)} ms)`,
      baseline: `article p99 ${percentile(baseline.gapsMs, 99).toFixed(0)} ms; SQLite p99 ${percentile(sqlite.gapsMs, 99).toFixed(2)} ms`,
      ratio: '',
      target: '< 5 ms',
      met: p99 < 5,
    },
  ]);
}

// ---- 100,000 tasks --------------------------------------------------------------------------

async function usedMemory(): Promise<number> {
  const redis = new Redis(REDIS_URL);
  try {
    return Number(/used_memory:(\d+)/u.exec(await redis.info('memory'))?.[1]);
  } finally {
    redis.disconnect();
  }
}

/** Creates `count` tasks through the backend (as the API would); returns up to 20,000 ids. */
async function seed(prefix: string, count: number): Promise<string[]> {
  const backend = await RedisBackend.open({ url: REDIS_URL, prefix, repairIntervalMs: 0 });
  const ids: string[] = [];
  try {
    for (let done = 0; done < count; done += 500) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(500, count - done) }, (_, i) => backend.createTask({ text: `第${done + i}句话：规模测试用的文本。`, format: 'mp3', priority: 0, pronunciations: [] })),
      );
      for (const { task } of batch) if (ids.length < 20_000 || Math.random() < 0.2) ids.push(task.id);
    }
  } finally {
    await backend.close();
  }
  return ids.slice(-20_000);
}

async function statusP99(prefix: string, ids: readonly string[], runs: number): Promise<number> {
  const root = await mkdtemp(join(tmpdir(), 'bench-redis-status-'));
  const p99s: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const server = await startServer('api', [CLI, 'api'], { ...redisEnv(prefix), HOST, PORT: String(await freePort()), DATA_DIR: root, LOG_LEVEL: 'warn' }, '/healthz');
      try {
        await measureStatusReads(server.url, ids, 2);
        p99s.push((await measureStatusReads(server.url, ids, 10)).p99);
      } finally {
        await stopServer(server);
      }
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return median(p99s);
}

export async function benchManyTasks(count = 100_000, runs = 3): Promise<void> {
  const small = testPrefix();
  const large = testPrefix();
  try {
    const smallIds = await seed(small, 200);
    const before = await usedMemory();
    const largeIds = await seed(large, count);
    const perTask = ((await usedMemory()) - before) / count;
    const emptyP99 = await statusP99(small, smallIds, runs);
    const fullP99 = await statusP99(large, largeIds, runs);
    printLines(`${count.toLocaleString('en')} queued tasks in Redis (record, events, prepare job), GET /api/task/:id at 50 connections on an api process, median of ${runs} runs`, [
      { name: 'Redis memory per task', value: `${(perTask / 1024).toFixed(2)} KiB`, baseline: '', ratio: '', target: null, met: null },
      {
        name: 'status p99',
        value: `${fullP99.toFixed(2)} ms`,
        baseline: `${emptyP99.toFixed(2)} ms with 200 tasks`,
        ratio: `${(fullP99 / emptyP99).toFixed(2)}×`,
        target: '≤ 2× the near-empty case',
        met: fullP99 <= 2 * emptyP99,
      },
    ]);
  } finally {
    await dropPrefix(small, REDIS_URL);
    await dropPrefix(large, REDIS_URL);
  }
}
