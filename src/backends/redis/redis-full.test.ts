// Redis at its maxmemory (noeviction, as BullMQ needs) is a full store: a new task is refused
// with E_STORAGE_FULL (507, retryable), never a 500, and what was accepted stays readable.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TtsError } from '../../errors.js';
import { RedisBackend } from './redis-backend.js';
import { freePort, redisAnswers, startRedisServer } from './testing/redis-server.js';

test('a Redis out of memory refuses new tasks with E_STORAGE_FULL; accepted ones stay readable', async (t) => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const redis = startRedisServer(port, ['--maxmemory', '3mb', '--maxmemory-policy', 'noeviction']);
  t.after(() => redis.kill('SIGKILL'));
  for (let i = 0; !(await redisAnswers(url)); i++) {
    if (i > 200) assert.fail('redis-server did not start');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const backend = await RedisBackend.open({ url, prefix: 'full', repairIntervalMs: 0 });
  t.after(() => backend.close());
  const text = '字'.repeat(20_000);
  const accepted: string[] = [];
  let refusal: unknown;
  for (let i = 0; i < 1_000 && refusal === undefined; i++) {
    try {
      accepted.push((await backend.createTask({ text, format: 'wav', priority: 0, pronunciations: [] })).task.id);
    } catch (error) {
      refusal = error;
    }
  }
  assert.ok(refusal instanceof TtsError, `refused with a TtsError, got ${String(refusal)}`);
  assert.equal(refusal.code, 'E_STORAGE_FULL');
  assert.ok(accepted.length > 0);
  for (const id of accepted) assert.equal((await backend.getTask(id))?.status, 'queued');
});
