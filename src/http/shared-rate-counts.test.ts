import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { TEST_REDIS_URL, dropPrefix, testPrefix } from '../backends/redis/testing/redis-test-prefix.js';
import { SharedRateCounts } from './shared-rate-counts.js';

test('two API nodes share their counts through Redis at each flush; a new window starts at zero', async () => {
  const prefix = testPrefix();
  const redis = new Redis(TEST_REDIS_URL);
  let now = 10_000_000;
  const nodeA = new SharedRateCounts(redis, `${prefix}:rate-limit:`, () => now);
  const nodeB = new SharedRateCounts(redis, `${prefix}:rate-limit:`, () => now);
  try {
    for (let i = 1; i <= 3; i++) assert.equal(nodeA.increment('key1', 1_000).current, i, 'counted locally at once');
    nodeB.increment('key1', 1_000);
    nodeB.increment('key1', 1_000);
    await nodeA.flush();
    await nodeB.flush();
    assert.equal(nodeB.peek('key1', 1_000).current, 5, "B knows A's three and its own two");
    await nodeA.flush(); // nothing new to send: A learns the total at its next increment's flush
    const next = nodeA.increment('key1', 1_000);
    assert.equal(next.current, 4, 'A counts on from what it knew: 3, plus this one');
    await nodeA.flush();
    assert.equal(nodeA.peek('key1', 1_000).current, 6, 'and then learns the total');
    assert.ok(next.ttl > 0 && next.ttl <= 1_000);
    assert.equal(nodeA.increment('key2', 1_000).current, 1, 'keys are counted apart');
    now += 1_000;
    assert.equal(nodeA.increment('key1', 1_000).current, 1, 'a new window');
  } finally {
    nodeA.close();
    nodeB.close();
    redis.disconnect();
    await dropPrefix(prefix);
  }
});

test('with Redis away, counting goes on locally', async () => {
  const redis = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  redis.on('error', () => undefined);
  const counts = new SharedRateCounts(redis, 'x:', () => 5_000);
  try {
    counts.increment('k', 1_000);
    await counts.flush();
    assert.equal(counts.increment('k', 1_000).current, 2);
  } finally {
    counts.close();
    redis.disconnect();
  }
});
