/**
 * What API keys and rate limiting cost (issue 11): `POST /api/synthesis` and `GET /api/task/:id`
 * at 50 connections, load from autocannon, on two set-ups of the same service:
 * - A, without: no key exists and the service listens on loopback, so requests are anonymous
 *   (no key to look up or hash) and the rate limiter lets them through uncounted (its allow list);
 * - B, with: one admin key created beforehand with the `keys` command, every request sending
 *   `Authorization: Bearer <key>`: the key is parsed, looked up (through the authenticator's
 *   cache), hashed and compared, and the request is counted by the rate limiter under that key.
 *   The key's own limit is set far above the load (`--rps 1000000`) so that the limiter counts
 *   but never refuses (the 429s are reported and must be 0), and `--open-tasks 0` (no limit),
 *   since the POST runs queue tens of thousands of tasks.
 *
 * Each run starts a fresh service (empty queue, fresh data folder) as bench/http-throughput.ts
 * does, warms it up, measures, and stops it; runs alternate A/B (ABBA order over rounds);
 * medians, and the ratio B/A. `auth` runs on SQLite; `redis-auth` on the Redis at REDIS_URL,
 * where the rate limiter counts in Redis (a round trip per request), under a prefix of its own
 * removed after each run.
 */

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type autocannon from 'autocannon';
import { acceptingTasks, createTasks, readingStatus, startOurService, stopServer } from './http-throughput.js';
import { median, printLines } from './stats.js';
import { dropPrefix, testPrefix } from '../src/backends/redis/testing/redis-test-prefix.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const CONNECTIONS = 50;
const COST_MS = 200;
const WARM_UP_S = 2;
const MEASURE_S = 5;
const STATUS_TASKS = 200;
const TARGET = 0.9;

type Route = 'post' | 'get';
type Setup = 'without' | 'with';

interface AuthRun {
  rps: number;
  non2xx: number;
  status429: number;
  errors: number;
}

/** Creates an admin key with the `keys` command on the service's DATA_DIR and backend; returns the key. */
async function createKey(env: Record<string, string>): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'keys', 'create', '--name', 'bench', '--role', 'admin', '--rps', '1000000', '--open-tasks', '0'], {
    env: { ...process.env, ...env },
  });
  const key = stdout.trim();
  if (!key.startsWith('ttsq_')) throw new Error(`keys create printed "${stdout}"`);
  return key;
}

function figures(result: autocannon.Result): AuthRun {
  return { rps: result.requests.average, non2xx: result.non2xx, status429: result.statusCodeStats?.['429']?.count ?? 0, errors: result.errors };
}

/** One measured run on a fresh service: set-up, warm-up, measured run, stop. */
async function measure(route: Route, setup: Setup, extraEnv: Record<string, string>): Promise<AuthRun> {
  let headers: Record<string, string> = {};
  const server = await startOurService(COST_MS, extraEnv, async (env) => {
    if (setup === 'with') headers = { authorization: `Bearer ${await createKey(env)}` };
  });
  try {
    const run =
      route === 'post'
        ? (seconds: number) => acceptingTasks(server.url, seconds, headers)
        : await createTasks(server.url, STATUS_TASKS, headers).then((ids) => (seconds: number) => readingStatus(server.url, ids, seconds, headers));
    await run(WARM_UP_S);
    return figures(await run(MEASURE_S));
  } finally {
    await stopServer(server);
  }
}

function describe(runs: readonly AuthRun[]): string {
  const sum = (pick: (run: AuthRun) => number): number => runs.reduce((total, run) => total + pick(run), 0);
  const errors = sum((r) => r.errors);
  return `${median(runs.map((r) => r.rps)).toFixed(0)} req/s (runs: ${runs.map((r) => r.rps.toFixed(0)).join(', ')}), ${sum((r) => r.non2xx)} non-2xx, ${sum((r) => r.status429)} × 429${errors === 0 ? '' : `, ${errors} connection errors`}`;
}

async function benchAuth(label: string, rounds: number, env: () => { extraEnv: Record<string, string>; cleanUp: () => Promise<void> }): Promise<void> {
  const runs: Record<Route, Record<Setup, AuthRun[]>> = { post: { without: [], with: [] }, get: { without: [], with: [] } };
  for (let round = 0; round < rounds; round++) {
    for (const route of ['post', 'get'] as const) {
      const order: Setup[] = round % 2 === 0 ? ['without', 'with'] : ['with', 'without'];
      for (const setup of order) {
        const { extraEnv, cleanUp } = env();
        try {
          runs[route][setup].push(await measure(route, setup, extraEnv));
        } finally {
          await cleanUp();
        }
      }
    }
  }
  const line = (route: Route, name: string) => {
    const { without, with: withAuth } = runs[route];
    const ratio = median(withAuth.map((r) => r.rps)) / median(without.map((r) => r.rps));
    const clean = [...without, ...withAuth].every((r) => r.non2xx === 0 && r.errors === 0);
    return {
      name,
      value: describe(withAuth),
      baseline: describe(without),
      ratio: `${ratio.toFixed(2)}×`,
      target: `≥ ${TARGET.toFixed(2)}× (auth costs ≤ 10 %), no 429`,
      met: ratio >= TARGET && clean,
    };
  };
  printLines(
    `auth and rate limiting (${label}): with an API key (auth required, rate limiter counting per key) against without (anonymous on loopback, no limiter), ${CONNECTIONS} connections, load from autocannon, bench-sleep at ${COST_MS} ms, ${MEASURE_S} s runs after ${WARM_UP_S} s warm-up, a fresh service each, A/B alternating, median of ${rounds} rounds (non-2xx summed)`,
    [line('post', `POST /api/synthesis with a key`), line('get', `GET /api/task/:id with a key (${STATUS_TASKS} tasks)`)],
  );
}

export async function benchAuthOverhead(rounds = 5): Promise<void> {
  await benchAuth('SQLite', rounds, () => ({ extraEnv: {}, cleanUp: async () => undefined }));
}

export async function benchAuthOverheadRedis(rounds = 5): Promise<void> {
  await benchAuth(`BACKEND=redis at ${REDIS_URL.replace(/\/\/[^@/]*@/u, '//…@')}`, rounds, () => {
    const prefix = testPrefix();
    return { extraEnv: { BACKEND: 'redis', REDIS_URL, REDIS_PREFIX: prefix }, cleanUp: () => dropPrefix(prefix, REDIS_URL) };
  });
}
