/**
 * The dispatcher on a real SQLite backend with the real guarded POST: a host name that resolves
 * to loopback is refused when delivering and recorded as a failed try saying why; dispatchers of
 * several nodes on one outbox send each delivery once.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteBackend } from '../backends/sqlite/sqlite-backend.js';
import type { TaskRequest } from '../backends/backend.js';
import { postWebhook } from '../net/post-webhook.js';
import { createLogger } from '../service/logger.js';
import { WebhookDispatcher, type SendWebhook } from './dispatcher.js';
import { WebhookSecrets } from './secrets.js';
import { WebhookReceiver, verified } from './testing/receiver.js';

const secrets = new WebhookSecrets('a master secret for the dispatcher tests');
const request = (url: string): TaskRequest => ({ text: '你好。', format: 'wav', priority: 0, pronunciations: [], webhook: { url, events: 'final' } });

function dispatcher(backend: SqliteBackend, send: SendWebhook, retryDelaysMs: number[] = []): WebhookDispatcher {
  return new WebhookDispatcher({ store: backend.webhooks, tasks: backend, secrets, send, retryDelaysMs, timeoutMs: 2_000, logger: createLogger('silent'), pollMs: 50 });
}

async function until(condition: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('a host name that resolves to loopback is refused at delivery, recorded as a failed try with a clear error; the receiver is never reached', async () => {
  const receiver = await WebhookReceiver.start();
  const backend = new SqliteBackend({ path: ':memory:' });
  // The system resolver stands in for a public DNS name whose answer is 127.0.0.1.
  const resolve = async () => [{ address: '127.0.0.1', family: 4 }];
  const send: SendWebhook = (url, body, headers, signal) => postWebhook(url, body, headers, { timeoutMs: 2_000, allowPrivate: false, resolve, signal });
  const running = dispatcher(backend, send, [30]);
  try {
    running.start();
    const { task } = await backend.createTask(request(`http://rebind.example.com:${receiver.port}/hook`));
    await backend.cancelTask(task.id);
    await until(async () => (await backend.webhooks.listForTask(task.id))[0]?.status === 'failed', 'the delivery to be given up');
    const [delivery] = await backend.webhooks.listForTask(task.id);
    assert.equal(delivery!.attempts.length, 2, 'tried on the schedule, then given up');
    for (const attempt of delivery!.attempts) {
      assert.equal(attempt.statusCode, undefined);
      assert.equal(attempt.error?.code, 'E_WEBHOOK_URL_FORBIDDEN');
      assert.match(attempt.error!.message, /resolves to a private, loopback or reserved address \(127\.0\.0\.1\)/u);
    }
    assert.deepEqual(receiver.requests, []);
  } finally {
    await running.stop();
    await backend.close();
    await receiver.close();
  }
});

test('dispatchers of several nodes on one outbox send each delivery once', async () => {
  const receiver = await WebhookReceiver.start();
  const backend = new SqliteBackend({ path: ':memory:' });
  const send: SendWebhook = (url, body, headers, signal) => postWebhook(url, body, headers, { timeoutMs: 2_000, allowPrivate: true, signal });
  const nodes = [dispatcher(backend, send), dispatcher(backend, send), dispatcher(backend, send)];
  try {
    for (const node of nodes) node.start();
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const { task } = await backend.createTask(request(receiver.url()));
      await backend.cancelTask(task.id);
      ids.push(task.id);
    }
    await receiver.waitFor(() => receiver.requests.length >= 30, '30 deliveries');
    for (const node of nodes) await node.stop();
    assert.equal(receiver.requests.length, 30);
    assert.deepEqual(receiver.requests.map((r) => verified(r, secrets.secretFor(undefined)).data.id).sort(), [...ids].sort());
    for (const id of ids) assert.equal((await backend.webhooks.listForTask(id))[0]?.status, 'delivered');
  } finally {
    for (const node of nodes) await node.stop();
    await backend.close();
    await receiver.close();
  }
});
