/**
 * A webhook delivery is durable: `kill -9` of the whole service after a task completed and
 * before its webhook was delivered (the receiver was down), then a restart: the delivery is
 * made, signed with the same secret. SQLite, or Redis with TEST_BACKEND=redis.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../backends/redis/testing/redis-server.js';
import { TEST_REDIS_URL, dropPrefix, testPrefix } from '../backends/redis/testing/redis-test-prefix.js';
import { WebhookReceiver, verified } from '../webhooks/testing/receiver.js';
import { killServiceGroup, startServiceProcess, type ServiceProcess } from './testing/service-process.js';

async function json(url: string, init?: RequestInit): Promise<any> {
  return await (await fetch(url, init)).json();
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('kill -9 between a completion and its webhook (receiver down), restart: the webhook is delivered, signed with the same secret', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'webhook-crash-'));
  const prefix = process.env.TEST_BACKEND === 'redis' ? testPrefix() : undefined;
  const redis: Record<string, string> = prefix === undefined ? {} : { BACKEND: 'redis', REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: prefix };
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    ENGINE: 'bench-sleep',
    ENGINE_HOSTS: '1',
    BENCH_SLEEP_COST_MS: '10',
    LOG_LEVEL: 'warn',
    WEBHOOK_ALLOW_PRIVATE: '1',
    WEBHOOK_RETRY_DELAYS: Array(10).fill('1s').join(','),
    ...redis,
  };
  const port = await freePort(); // the receiver's, nothing listens there yet
  let running: ServiceProcess | undefined;
  let receiver: WebhookReceiver | undefined;
  try {
    running = await startServiceProcess(env);
    const first = running;
    const { secret } = await json(`${first.url}/api/webhooks/secret`);
    const task = await json(`${first.url}/api/synthesis`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: '服务崩溃以后也要通知。', webhook_url: `http://127.0.0.1:${port}/hook` }),
    });
    assert.equal(task.status, 'queued', JSON.stringify(task));
    // Completed, and its delivery tried once and refused (the receiver is down): pending.
    let before: any;
    await until(async () => {
      before = await json(`${first.url}/api/task/${task.id}`);
      return before.status === 'completed' && before.webhook.deliveries[0]?.attempts >= 1;
    }, 'the completion and a first, refused try');
    assert.equal(before.webhook.deliveries[0].status, 'pending');
    assert.equal(before.webhook.deliveries[0].last_error.code, 'E_WEBHOOK_DELIVERY_FAILED');

    killServiceGroup(first);
    await first.exited;
    running = undefined;

    receiver = await WebhookReceiver.start(port);
    running = await startServiceProcess(env);
    const second = running;
    assert.equal((await json(`${second.url}/api/webhooks/secret`)).secret, secret, 'the secret is the same after the restart');
    await receiver.waitFor(() => receiver!.requests.length >= 1, 'the delivery after the restart');
    const payload = verified(receiver.requests[0]!, secret);
    assert.equal(payload.type, 'task.completed');
    assert.equal(payload.data.id, task.id);
    let after: any;
    await until(async () => {
      after = await json(`${second.url}/api/task/${task.id}`);
      return after.webhook.deliveries[0].status === 'delivered';
    }, 'the delivery recorded');
    assert.equal(after.webhook.deliveries.length, 1);
    assert.ok(after.webhook.deliveries[0].attempts >= 2);
    assert.equal(receiver.requests[0]!.headers['webhook-id'], after.webhook.deliveries[0].id);

    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0, 'a graceful stop exits 0');
    running = undefined;
  } finally {
    if (running !== undefined) killServiceGroup(running);
    await receiver?.close();
    if (prefix !== undefined) await dropPrefix(prefix);
    await rm(dataDir, { recursive: true, force: true });
  }
});
