/**
 * GET /api/task/:id's `queue.position` on a big queue: the time of one `queuePosition` read for
 * the last of N queued tasks (most of the queue ahead of it), beside the baseline of the same read
 * for the task at the head of the queue (none ahead), measured in the same run, on SQLite and on the Redis at REDIS_URL. SQLite counts
 * the tasks ahead over a covering index (linear in them, no row read); Redis counts in BullMQ's
 * sorted set (logarithmic).
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TaskBackend, TaskRequest } from '../src/backends/backend.js';
import { RedisBackend } from '../src/backends/redis/redis-backend.js';
import { dropPrefix, testPrefix } from '../src/backends/redis/testing/redis-test-prefix.js';
import { SqliteBackend } from '../src/backends/sqlite/sqlite-backend.js';
import { median, printLines, type BenchLine } from './stats.js';

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const READS = 50;

/** N queued tasks of 50 owners and 3 priorities, one in ten held an hour ahead; returns the ids of the head of the queue and the last one. */
async function fill(backend: TaskBackend, tasks: number): Promise<{ head: string; last: string }> {
  const now = Date.now();
  const ids: string[] = [];
  for (let start = 0; start < tasks; start += 1_000) {
    const batch = [];
    for (let i = start; i < Math.min(tasks, start + 1_000); i++) {
      const request: TaskRequest = { text: '排队。', format: 'wav', priority: i % 3, pronunciations: [], ...(i % 10 === 0 ? { notBefore: now + 3_600_000 } : {}) };
      batch.push(backend.createTask(request, { owner: `owner-${i % 50}` }));
    }
    for (const { task } of await Promise.all(batch)) ids.push(task.id);
  }
  // Task 2: the first of the highest priority, of rank 0.
  return { head: ids[2]!, last: ids.at(-1)! };
}

async function timeReads(read: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < READS; i++) {
    const started = performance.now();
    await read();
    times.push(performance.now() - started);
  }
  return median(times);
}

async function measure(name: string, backend: TaskBackend, tasks: number): Promise<BenchLine> {
  const { head, last } = await fill(backend, tasks);
  const position = (await backend.queuePosition(last))?.position;
  const headPosition = (await backend.queuePosition(head))?.position;
  const lastMs = await timeReads(() => backend.queuePosition(last));
  const headMs = await timeReads(() => backend.queuePosition(head));
  return {
    name: `${name}, ${tasks.toLocaleString('en')} queued`,
    value: `${lastMs.toFixed(2)} ms at position ${position}`,
    baseline: `${headMs.toFixed(2)} ms at position ${headPosition}`,
    ratio: `${(lastMs / headMs).toFixed(1)}×`,
    target: null,
    met: null,
  };
}

export async function benchQueuePosition(tasks = 100_000): Promise<void> {
  const lines: BenchLine[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'bench-queue-position-'));
  const sqlite = new SqliteBackend({ path: join(dir, 'tasks.db'), recoveryIntervalMs: 0 });
  try {
    lines.push(await measure('sqlite', sqlite, tasks));
  } finally {
    await sqlite.close();
    await rm(dir, { recursive: true, force: true });
  }
  const prefix = testPrefix();
  const redis = await RedisBackend.open({ url: REDIS_URL, prefix, repairIntervalMs: 0 });
  try {
    lines.push(await measure('redis', redis, Math.min(tasks, 20_000)));
  } finally {
    await redis.close();
    await dropPrefix(prefix, REDIS_URL);
  }
  printLines(`queue position of the last queued task, median of ${READS} reads`, lines);
}
