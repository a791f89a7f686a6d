/**
 * Webhooks through the real service (either backend: TEST_BACKEND=redis) to a receiver on
 * loopback (WEBHOOK_ALLOW_PRIVATE only here): one signed delivery per task, checked by the
 * independent `standardwebhooks` implementation; retries after a 500 and a dropped connection;
 * 410 stops; every status with `all`; a key's default webhook and its own secret.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonPost, startTestService, waitForTask, type TestService } from '../service/testing/test-service.js';
import { WebhookReceiver, verified } from '../webhooks/testing/receiver.js';

let service: TestService;
let receiver: WebhookReceiver;
let anonymousSecret: string;

before(async () => {
  receiver = await WebhookReceiver.start();
  // Short retries; a failing task: an audio_url on the receiver, which answers 204 instead of audio.
  service = await startTestService({ WEBHOOK_ALLOW_PRIVATE: '1', AUDIO_URL_ALLOW_PRIVATE: '1', WEBHOOK_RETRY_DELAYS: '50ms,50ms,50ms' });
  const secret = await service.request('/api/webhooks/secret');
  assert.equal(secret.status, 200);
  assert.equal(secret.body.owner, null);
  assert.match(secret.headers.get('cache-control') ?? '', /no-store/u);
  anonymousSecret = secret.body.secret;
});
after(async () => {
  await service.stop();
  await receiver.close();
});

/** Waits until every delivery of the task has ended; returns the task as GET /api/task/:id shows it. */
async function settled(id: string, headers: Record<string, string> = {}): Promise<any> {
  return await waitForTask(
    service,
    id,
    (t) => ['completed', 'failed', 'canceled'].includes(t.status) && t.webhook.deliveries.length > 0 && t.webhook.deliveries.every((d: any) => d.status !== 'pending'),
    30_000,
    headers,
  );
}

test('a completed and a failed task: exactly one signed delivery each, the task as GET shows it', async () => {
  const ok = await service.request('/api/synthesis', jsonPost({ text: '完成以后通知我。', webhook_url: receiver.url('/done') }));
  assert.equal(ok.status, 202, JSON.stringify(ok.body));
  const failing = await service.request(
    '/api/synthesis',
    jsonPost({ text: '这个任务会失败。', audio_url: receiver.url('/not-audio'), consent: true, speaker_name: 'Nobody', webhook_url: receiver.url('/failed') }),
  );
  assert.equal(failing.status, 202, JSON.stringify(failing.body));

  const done = await settled(ok.body.id);
  assert.equal(done.status, 'completed');
  assert.equal(done.webhook.url, receiver.url('/done'));
  assert.equal(done.webhook.events, 'final');
  const [delivery] = done.webhook.deliveries;
  assert.equal(delivery.type, 'task.completed');
  assert.equal(delivery.status, 'delivered');
  assert.equal(delivery.attempts, 1);
  assert.equal(delivery.last_status_code, 204);
  assert.equal(delivery.last_error, null);
  assert.equal(delivery.next_attempt_at, null);
  assert.ok(delivery.delivered_at !== null);
  assert.equal(receiver.to('/done').length, 1, 'one delivery');
  const request = receiver.to('/done')[0]!;
  assert.equal(request.headers['webhook-id'], delivery.id);
  assert.equal(request.headers['content-type'], 'application/json');
  const payload = verified(request, anonymousSecret);
  assert.equal(payload.type, 'task.completed');
  assert.ok(Math.abs(Date.parse(payload.timestamp) - Date.parse(done.finished_at)) < 1_000, 'the time of the change');
  const { webhook, ...shown } = done;
  assert.deepEqual(payload.data, { ...shown, webhook: { url: webhook.url, events: webhook.events } }, 'the task as GET /api/task/:id shows it, without the deliveries');

  const failed = await settled(failing.body.id);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.webhook.deliveries.length, 1);
  assert.equal(receiver.to('/failed').length, 1);
  const failure = verified(receiver.to('/failed')[0]!, anonymousSecret);
  assert.equal(failure.type, 'task.failed');
  assert.equal(failure.data.error.code, 'E_URL_FETCH_FAILED');

  const metrics = await service.request('/metrics');
  assert.match(String(metrics.body), /ttsq_webhook_attempts_total\{[^}]*outcome="delivered"[^}]*\} [2-9]/u);
});

test('a receiver that fails twice (500, then a dropped connection) gets the third try; every try is on the task', async () => {
  receiver.answers.push(500, 'drop');
  const { body } = await service.request('/api/synthesis', jsonPost({ text: '第三次才成功。', webhook_url: receiver.url('/flaky') }));
  const task = await settled(body.id);
  const [delivery] = task.webhook.deliveries;
  assert.equal(delivery.status, 'delivered');
  assert.equal(delivery.attempts, 3);
  assert.deepEqual(
    delivery.history.map((a: any) => [a.status_code, a.error?.code ?? null]),
    [
      [500, 'E_WEBHOOK_DELIVERY_FAILED'],
      [null, 'E_WEBHOOK_DELIVERY_FAILED'],
      [204, null],
    ],
  );
  assert.match(delivery.history[0].error.message, /HTTP 500/u);
  assert.match(delivery.history[1].error.message, /closed before an answer/u);
  const tries = receiver.to('/flaky');
  assert.deepEqual(
    tries.map((t) => t.answer),
    [500, 'drop', 204],
  );
  assert.equal(new Set(tries.map((t) => t.headers['webhook-id'])).size, 1, 'one webhook-id for every try');
  for (const t of tries) assert.equal(verified(t, anonymousSecret).type, 'task.completed');
});

test('410 Gone stops a delivery at once: failed, no more tries', async () => {
  receiver.answers.push(410);
  const { body } = await service.request('/api/synthesis', jsonPost({ text: '不要再发了。', webhook_url: receiver.url('/gone') }));
  const task = await settled(body.id);
  assert.equal(task.webhook.deliveries[0].status, 'failed');
  assert.equal(task.webhook.deliveries[0].attempts, 1);
  assert.match(task.webhook.deliveries[0].last_error.message, /410/u);
  assert.equal(receiver.to('/gone').length, 1);
});

test("webhook_events 'all': one delivery per change of status", async () => {
  const { body } = await service.request('/api/synthesis', jsonPost({ text: '每一步都告诉我。', webhook_url: receiver.url('/all'), webhook_events: 'all' }));
  const task = await settled(body.id);
  const types = ['task.queued', 'task.preparing', 'task.synthesizing', 'task.encoding', 'task.completed'];
  assert.deepEqual(
    task.webhook.deliveries.map((d: any) => d.type),
    types,
  );
  await receiver.waitFor(() => receiver.to('/all').length === types.length, 'every delivery');
  assert.deepEqual(
    receiver
      .to('/all')
      .map((r) => verified(r, anonymousSecret).type)
      .sort(),
    [...types].sort(),
  );
  assert.equal(task.webhook.events, 'all');
});

test('webhook_events without a webhook_url (and no key default) is refused', async () => {
  const refused = await service.request('/api/synthesis', jsonPost({ text: '发到哪里？', webhook_events: 'all' }));
  assert.equal(refused.status, 400);
  assert.equal(refused.body.error.code, 'E_INVALID_ARGUMENT');
  assert.match(refused.body.error.message, /webhook_url/u);
});

// Last: once a key exists, anonymous requests are refused on this service.
test("a key's default webhook: its tasks that name none use it, signed with the key's own secret, shown when it was made", async () => {
  const created = await service.request('/api/keys', jsonPost({ name: 'hooked', webhook_url: receiver.url('/keyed') }));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.api_key.webhook_url, receiver.url('/keyed'));
  const keySecret: string = created.body.webhook_secret;
  assert.notEqual(keySecret, anonymousSecret);
  const auth = { authorization: `Bearer ${created.body.key}` };
  const read = await service.request('/api/webhooks/secret', { headers: auth });
  assert.deepEqual(read.body, { secret: keySecret, owner: created.body.api_key.id });

  const submitted = await service.request('/api/synthesis', jsonPost({ text: '用钥匙的网址。' }, auth));
  assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
  const task = await settled(submitted.body.id, auth);
  assert.deepEqual({ url: task.webhook.url, events: task.webhook.events }, { url: receiver.url('/keyed'), events: 'final' });
  const [request] = receiver.to('/keyed');
  assert.equal(verified(request!, keySecret).data.id, task.id);
  assert.throws(() => verified(request!, anonymousSecret), 'not signed with another owner’s secret');

  // A task's own webhook_url wins over the key's.
  const own = await service.request('/api/synthesis', jsonPost({ text: '用自己的网址。', webhook_url: receiver.url('/own') }, auth));
  await settled(own.body.id, auth);
  assert.equal(receiver.to('/own').length, 1);
  assert.equal(receiver.to('/keyed').length, 1);
});
