/**
 * The part of the backend contract about the webhook outbox (WebhookStore): deliveries recorded
 * with the status events that call for them, and only those; claims under a lease; tries
 * recorded by the claim's holder only; pruning; the master secret. Times are passed in, so the
 * cases need no clock. Run by each backend's test file beside runBackendContract.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TaskBackend, TaskRequest, WebhookEvents, WorkUnit } from '../backend.js';

export type WebhookBackendFactory = () => Promise<TaskBackend>;

const LEASE = 60_000;
const URL = 'https://hooks.example.com/tts';
const request = (events?: WebhookEvents): TaskRequest => ({
  text: '你好。',
  format: 'wav',
  priority: 0,
  pronunciations: [],
  ...(events === undefined ? {} : { webhook: { url: URL, events } }),
});
const FAR = 4_000_000_000_000;

async function withBackend(factory: WebhookBackendFactory, body: (backend: TaskBackend) => Promise<void>): Promise<void> {
  const backend = await factory();
  try {
    await body(backend);
  } finally {
    await backend.close();
  }
}

async function claim<K extends WorkUnit['kind']>(backend: TaskBackend, kind: K): Promise<WorkUnit & { kind: K }> {
  const unit = await backend.claim('worker-1', [kind], LEASE);
  assert.ok(unit !== undefined && unit.kind === kind, `expected a ${kind} unit`);
  return unit as WorkUnit & { kind: K };
}

/** Runs a one-segment task to completion. */
async function complete(backend: TaskBackend): Promise<void> {
  await backend.completePrepare(await claim(backend, 'prepare'), { segments: ['你好。'] });
  await backend.completeSegment(await claim(backend, 'segment'), { audioPath: '/s0.wav', durationMs: 500 });
  await backend.completeAssemble(await claim(backend, 'assemble'), { path: '/r.wav', format: 'wav', durationMs: 500, bytes: 10, sampleRate: 24_000 }, 60_000);
}

const attempt = (at: number, statusCode?: number) => ({ at, durationMs: 12, ...(statusCode === undefined ? { error: { code: 'E_WEBHOOK_DELIVERY_FAILED', message: 'refused' } } : { statusCode }) });

export function runWebhookContract(name: string, factory: WebhookBackendFactory): void {
  test(`${name}: a task's webhook (final) gets one delivery, recorded with the completion; a task without one gets none`, () =>
    withBackend(factory, async (backend) => {
      const { task } = await backend.createTask(request('final'), { owner: 'keyA' });
      const plain = await backend.createTask(request());
      assert.deepEqual(await backend.webhooks.listForTask(task.id), [], 'queued is not a final status');
      assert.deepEqual(await backend.webhooks.claimDue(FAR, FAR + LEASE, 10), []);
      await complete(backend);
      await complete(backend);
      assert.equal((await backend.getTask(plain.task.id))?.status, 'completed');
      assert.deepEqual(await backend.webhooks.listForTask(plain.task.id), []);
      const [delivery, ...more] = await backend.webhooks.listForTask(task.id);
      assert.deepEqual(more, []);
      assert.ok(delivery !== undefined);
      assert.equal(delivery.type, 'task.completed');
      assert.equal(delivery.status, 'pending');
      assert.equal(delivery.url, URL);
      assert.equal(delivery.owner, 'keyA');
      assert.equal(delivery.taskId, task.id);
      assert.deepEqual(delivery.attempts, []);
      assert.equal(delivery.nextAttemptAt, delivery.eventAt, 'due at once');
      const finishedAt = (await backend.getTask(task.id))!.finishedAt!;
      assert.ok(Math.abs(delivery.eventAt - finishedAt) < 1_000, 'the time of the change');
    }));

  test(`${name}: 'all' records every change of status in order; failed and canceled tasks get theirs`, () =>
    withBackend(factory, async (backend) => {
      const { task } = await backend.createTask(request('all'));
      await complete(backend);
      assert.deepEqual(
        (await backend.webhooks.listForTask(task.id)).map((d) => d.type),
        ['task.queued', 'task.preparing', 'task.synthesizing', 'task.encoding', 'task.completed'],
      );
      const failing = await backend.createTask(request('final'));
      await backend.failWork(await claim(backend, 'prepare'), { code: 'E_AUDIO_SILENT', message: 'silent', retryable: false }, 3);
      const canceled = await backend.createTask(request('final'));
      await backend.cancelTask(canceled.task.id);
      await backend.cancelTask(canceled.task.id);
      assert.deepEqual(
        (await backend.webhooks.listForTask(failing.task.id)).map((d) => d.type),
        ['task.failed'],
      );
      assert.deepEqual(
        (await backend.webhooks.listForTask(canceled.task.id)).map((d) => d.type),
        ['task.canceled'],
        'canceling twice is one change',
      );
      const ids = [...(await backend.webhooks.listForTask(task.id)), ...(await backend.webhooks.listForTask(failing.task.id))].map((d) => d.id);
      assert.equal(new Set(ids).size, ids.length, 'every delivery has an id of its own');
    }));

  test(`${name}: a claim hides a delivery until it lapses; only its holder records a try; retries wait for their time`, () =>
    withBackend(factory, async (backend) => {
      const { task } = await backend.createTask(request('final'));
      await backend.cancelTask(task.id);
      const [recorded] = await backend.webhooks.listForTask(task.id);
      const t0 = recorded!.eventAt;
      assert.deepEqual(await backend.webhooks.claimDue(t0 - 1, t0 + LEASE, 10), [], 'not due before its time');
      const [first] = await backend.webhooks.claimDue(t0, t0 + LEASE, 10);
      assert.equal(first?.id, recorded!.id);
      assert.deepEqual(await backend.webhooks.claimDue(t0 + 1_000, t0 + 1_000 + LEASE, 10), [], 'claimed: another dispatcher skips it');
      // The first claim lapses; another dispatcher takes it; the first one's late result is not recorded.
      const [second] = await backend.webhooks.claimDue(t0 + LEASE, t0 + 2 * LEASE, 10);
      assert.equal(second?.id, recorded!.id);
      assert.equal(await backend.webhooks.recordAttempt(first!, attempt(t0 + 10, 200), { status: 'delivered' }), false);
      assert.equal(await backend.webhooks.recordAttempt(second!, attempt(t0 + LEASE, 500), { status: 'pending', nextAttemptAt: t0 + LEASE + 5_000 }), true);
      assert.equal(await backend.webhooks.recordAttempt(second!, attempt(t0 + LEASE, 500), { status: 'delivered' }), false, 'a claim records one try');
      let [now] = await backend.webhooks.listForTask(task.id);
      assert.equal(now?.status, 'pending');
      assert.equal(now?.nextAttemptAt, t0 + LEASE + 5_000);
      assert.deepEqual(now?.attempts, [attempt(t0 + LEASE, 500)]);
      assert.deepEqual(await backend.webhooks.claimDue(t0 + LEASE + 4_999, FAR, 10), [], 'the retry waits for its time');
      const [third] = await backend.webhooks.claimDue(t0 + LEASE + 5_000, t0 + 2 * LEASE, 10);
      assert.deepEqual(third?.attempts, [attempt(t0 + LEASE, 500)]);
      assert.equal(await backend.webhooks.recordAttempt(third!, attempt(t0 + LEASE + 5_000), { status: 'pending', nextAttemptAt: t0 + LEASE + 10_000 }), true);
      const [fourth] = await backend.webhooks.claimDue(t0 + LEASE + 10_000, t0 + 2 * LEASE, 10);
      assert.equal(await backend.webhooks.recordAttempt(fourth!, attempt(t0 + LEASE + 10_000, 204), { status: 'delivered' }), true);
      [now] = await backend.webhooks.listForTask(task.id);
      assert.equal(now?.status, 'delivered');
      assert.equal(now?.nextAttemptAt, undefined);
      assert.equal(now?.deliveredAt, t0 + LEASE + 10_000 + 12);
      assert.deepEqual(
        now?.attempts.map((a) => a.statusCode ?? a.error?.code),
        [500, 'E_WEBHOOK_DELIVERY_FAILED', 204],
      );
      assert.deepEqual(await backend.webhooks.claimDue(FAR, FAR + LEASE, 10), [], 'a delivered delivery is never claimed again');
    }));

  test(`${name}: a delivery given up is failed; prune deletes ended deliveries before a time, never pending ones`, () =>
    withBackend(factory, async (backend) => {
      const a = await backend.createTask(request('final'));
      const b = await backend.createTask(request('final'));
      const c = await backend.createTask(request('final'));
      for (const { task } of [a, b, c]) await backend.cancelTask(task.id);
      const t0 = Math.max(...(await Promise.all([a, b, c].map(async ({ task }) => (await backend.webhooks.listForTask(task.id))[0]!.eventAt))));
      const claims = await backend.webhooks.claimDue(t0, t0 + LEASE, 10);
      assert.equal(claims.length, 3);
      const byTask = new Map(claims.map((claimed) => [claimed.taskId, claimed]));
      await backend.webhooks.recordAttempt(byTask.get(a.task.id)!, attempt(t0 + 100, 410), { status: 'failed' });
      await backend.webhooks.recordAttempt(byTask.get(b.task.id)!, attempt(t0 + 200, 200), { status: 'delivered' });
      assert.equal((await backend.webhooks.listForTask(a.task.id))[0]?.status, 'failed');
      assert.equal(await backend.webhooks.prune(t0 + 150), 1, 'only the one that ended before');
      assert.deepEqual(await backend.webhooks.listForTask(a.task.id), []);
      assert.equal(await backend.webhooks.prune(FAR), 1);
      assert.deepEqual(await backend.webhooks.listForTask(b.task.id), []);
      assert.equal((await backend.webhooks.listForTask(c.task.id))[0]?.status, 'pending', 'a pending delivery is kept');
    }));

  test(`${name}: the master secret is stored once: every later caller gets the first one`, () =>
    withBackend(factory, async (backend) => {
      assert.equal(await backend.webhooks.masterSecret('first-secret'), 'first-secret');
      assert.equal(await backend.webhooks.masterSecret('second-secret'), 'first-secret');
    }));

  test(`${name}: a key's default webhook URL is stored with it`, () =>
    withBackend(factory, async (backend) => {
      await backend.keys.create({ id: 'hookkey00001', name: 'hooks', role: 'user', hash: 'a'.repeat(64), quotas: {}, createdAt: Date.now(), webhookUrl: URL });
      assert.equal((await backend.keys.get('hookkey00001'))?.webhookUrl, URL);
      await backend.keys.touch('hookkey00001', Date.now());
      assert.equal((await backend.keys.list())[0]?.webhookUrl, URL);
    }));
}
