import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TtsError } from '../../errors.js';
import { runBackendContract } from '../testing/backend-contract.js';
import { runAccessContract } from '../testing/access-contract.js';
import { runWebhookContract } from '../testing/webhook-contract.js';
import { RedisBackend } from './redis-backend.js';
import { TEST_REDIS_URL, dropPrefix, testPrefix } from './testing/redis-test-prefix.js';
import { freePort } from './testing/redis-server.js';

// The same contract as SQLite's, against the real Redis, on real time: leases are BullMQ locks
// that Redis itself expires, so the contract's durations are short ones here.
const LEASE_MS = 1_000;
const STALLED_INTERVAL_MS = 200;
const BACKOFF_MS = 1_000;

runBackendContract(
  'redis',
  async () => {
    const prefix = testPrefix();
    const backend = await RedisBackend.open({ url: TEST_REDIS_URL, prefix, leaseMs: LEASE_MS, stalledIntervalMs: STALLED_INTERVAL_MS, backoffMs: () => BACKOFF_MS, repairIntervalMs: 0 });
    const close = backend.close.bind(backend);
    backend.close = async () => {
      await close();
      await dropPrefix(prefix);
    };
    return backend;
  },
  { clock: 'real', leaseMs: LEASE_MS, leaseLapseMs: LEASE_MS + 3 * STALLED_INTERVAL_MS + 500, backoffWaitMs: BACKOFF_MS + 500 },
);

runAccessContract('redis', async () => {
  const prefix = testPrefix();
  const backend = await RedisBackend.open({ url: TEST_REDIS_URL, prefix, repairIntervalMs: 0 });
  const close = backend.close.bind(backend);
  backend.close = async () => {
    await close();
    await dropPrefix(prefix);
  };
  return backend;
});

runWebhookContract('redis', async () => {
  const prefix = testPrefix();
  const backend = await RedisBackend.open({ url: TEST_REDIS_URL, prefix, repairIntervalMs: 0 });
  const close = backend.close.bind(backend);
  backend.close = async () => {
    await close();
    await dropPrefix(prefix);
  };
  return backend;
});

test('a Redis that cannot be reached at start is E_BACKEND_UNAVAILABLE naming it, without its password', async () => {
  const port = await freePort(); // nothing listens there
  await assert.rejects(
    RedisBackend.open({ url: `redis://user:secret@127.0.0.1:${port}`, prefix: 'x', repairIntervalMs: 0 }),
    (error: unknown) => error instanceof TtsError && error.code === 'E_BACKEND_UNAVAILABLE' && error.message.includes(`127.0.0.1:${port}`) && !error.message.includes('secret'),
  );
});
