import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import WebSocket from 'ws';
import { jsonPost, startTestService, waitForTask, waitUntil, type TestService, withConsent } from '../service/testing/test-service.js';
import { makeTone } from '../audio/testing/fixtures.js';
import { decodeWav } from '../audio/wav.js';

const service = await startTestService({ BENCH_SLEEP_COST_MS: '5', RESULT_TTL_SECONDS: '1' });
test.after(() => service.stop());

async function submit(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<string> {
  const { status, body: answer } = await service.request('/api/synthesis', jsonPost(body, headers));
  assert.equal(status, 202, JSON.stringify(answer));
  return answer.id as string;
}

test('a task is accepted at once, completes, and its audio downloads', async () => {
  const { status, body, headers } = await service.request('/api/synthesis', jsonPost({ text: '你好，世界。第二句话。', format: 'wav' }));
  assert.equal(status, 202);
  assert.equal(body.status, 'queued');
  assert.equal(headers.get('location'), `/api/task/${body.id}`);
  const task = await waitForTask(service, body.id);
  assert.equal(task.status, 'completed', JSON.stringify(task.error));
  assert.equal(task.progress.segments_done, task.progress.segments_total);
  assert.equal(task.attempts, 1);
  assert.ok(task.result.duration_ms > 0);
  const response = await fetch(`${service.url}${task.result.url}`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'audio/wav');
  const audio = decodeWav(Buffer.from(await response.arrayBuffer()));
  assert.equal(audio.sampleRate, task.result.sample_rate);
});

test('the same Idempotency-Key and body give the same task; another body is refused', async () => {
  const first = await service.request('/api/synthesis', jsonPost({ text: '幂等。' }, { 'idempotency-key': 'key-1' }));
  const again = await service.request('/api/synthesis', jsonPost({ text: '幂等。' }, { 'idempotency-key': 'key-1' }));
  assert.equal(first.status, 202);
  assert.equal(again.status, 200);
  assert.equal(again.body.id, first.body.id);
  const other = await service.request('/api/synthesis', jsonPost({ text: '别的。' }, { 'idempotency-key': 'key-1' }));
  assert.equal(other.status, 409);
  assert.equal(other.body.error.code, 'E_IDEMPOTENCY_CONFLICT');
});

test('Server-Sent Events come in order, end at the final state, and resume from Last-Event-ID', async () => {
  const id = await submit({ text: '一。二。三。' });
  const stream = await (await fetch(`${service.url}/api/task/${id}/events`)).text();
  const events = stream
    .split('\n\n')
    .filter((block) => block.startsWith('id:'))
    .map((block) => {
      const lines = Object.fromEntries(block.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
      return { id: Number(lines.id), type: lines.event, data: JSON.parse(lines.data!) };
    });
  const statuses = events.filter((e) => e.type === 'status').map((e) => e.data.status);
  assert.deepEqual(statuses, ['queued', 'preparing', 'synthesizing', 'encoding', 'completed']);
  assert.ok(
    events.every((e, i) => i === 0 || e.id > events[i - 1]!.id),
    'ids increase',
  );
  const progress = events.filter((e) => e.type === 'progress').map((e) => e.data.segments_done);
  assert.deepEqual(progress, [1, 2, 3].slice(0, progress.length));
  const resumeFrom = events[2]!.id;
  const resumed = await (await fetch(`${service.url}/api/task/${id}/events`, { headers: { 'last-event-id': String(resumeFrom) } })).text();
  const resumedIds = [...resumed.matchAll(/^id: (\d+)$/gmu)].map((m) => Number(m[1]));
  assert.deepEqual(
    resumedIds,
    events.slice(3).map((e) => e.id),
  );
});

test('the WebSocket pushes a snapshot, then events until the task completes', async () => {
  const socket = new WebSocket(`${service.url.replace('http', 'ws')}/api/ws`);
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  const messages: any[] = [];
  const completed = new Promise<void>((resolve) => {
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString());
      messages.push(message);
      if (message.type === 'event' && message.event.status === 'completed') resolve();
    });
  });
  const id = await submit({ text: '推送。', priority: 1 });
  socket.send(JSON.stringify({ type: 'subscribe', ids: [id, 'not-a-task'] }));
  await completed;
  socket.send('not json');
  await waitUntil(() => messages.some((m) => m.type === 'error' && m.error.code === 'E_MALFORMED_JSON'), 'the answer to a message that is not JSON');
  socket.close();
  assert.ok(messages.some((m) => m.type === 'snapshot' && m.task.id === id));
  assert.ok(messages.some((m) => m.type === 'error' && m.id === 'not-a-task' && m.error.code === 'E_NOT_FOUND'));
  assert.ok(messages.some((m) => m.type === 'error' && m.error.code === 'E_MALFORMED_JSON'));
  assert.ok(messages.filter((m) => m.type === 'event').every((m) => m.event.task_id === id));
});

test('Range downloads, ETag and If-None-Match', async () => {
  const id = await submit({ text: '范围请求的测试。', format: 'mp3' });
  const task = await waitForTask(service, id);
  const whole = Buffer.from(await (await fetch(`${service.url}${task.result.url}`)).arrayBuffer());
  assert.equal(whole.length, task.result.bytes);
  const part = await fetch(`${service.url}${task.result.url}`, { headers: { range: 'bytes=10-109' } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get('content-range'), `bytes 10-109/${whole.length}`);
  assert.deepEqual(Buffer.from(await part.arrayBuffer()), whole.subarray(10, 110));
  const tail = await fetch(`${service.url}${task.result.url}`, { headers: { range: 'bytes=-16' } });
  assert.deepEqual(Buffer.from(await tail.arrayBuffer()), whole.subarray(whole.length - 16));
  const beyond = await fetch(`${service.url}${task.result.url}`, { headers: { range: `bytes=${whole.length + 5}-` } });
  assert.equal(beyond.status, 416);
  assert.equal(((await beyond.json()) as any).error.code, 'E_RANGE_NOT_SATISFIABLE');
  const etag = (await fetch(`${service.url}${task.result.url}`, { method: 'HEAD' })).headers.get('etag')!;
  assert.ok(etag);
  // (fetch adds `cache-control: no-cache` to a conditional request unless one is given, and no-cache asks for the full answer.)
  assert.equal((await fetch(`${service.url}${task.result.url}`, { headers: { 'if-none-match': etag, 'cache-control': 'max-age=0' } })).status, 304);
});

test('audio is 409 while not ready and 410 once expired (its file deleted)', async () => {
  const slow = await startTestService({ BENCH_SLEEP_COST_MS: '400' });
  try {
    const { body } = await slow.request('/api/synthesis', jsonPost({ text: '慢。' }));
    const early = await slow.request(`/api/task/${body.id}/audio`);
    assert.equal(early.status, 409);
    assert.equal(early.body.error.code, 'E_TASK_NOT_READY');
  } finally {
    await slow.stop();
  }
  const id = await submit({ text: '过期。' });
  const task = await waitForTask(service, id);
  const path = join(service.dataDir, 'blobs', 'results', `${id}.wav`);
  assert.ok(await stat(path));
  const expired = await waitForTask(service, id, (t) => t.result?.expired === true, 10_000);
  assert.equal(expired.status, 'completed');
  const gone = await service.request(task.result.url);
  assert.equal(gone.status, 410);
  assert.equal(gone.body.error.code, 'E_RESULT_EXPIRED');
  // The task is marked expired first, then its file is deleted.
  await waitUntil(
    () =>
      stat(path).then(
        () => false,
        () => true,
      ),
    'the expired file to be deleted',
  );
});

test('tasks are listed newest first with a status filter and a cursor', async () => {
  const ids = [await submit({ text: '列一。' }), await submit({ text: '列二。' }), await submit({ text: '列三。' })];
  for (const id of ids) await waitForTask(service, id);
  const first = await service.request('/api/tasks?limit=2&status=completed');
  assert.deepEqual(
    first.body.tasks.map((t: any) => t.id),
    [ids[2], ids[1]],
  );
  const second = await service.request(`/api/tasks?limit=2&status=completed&cursor=${first.body.next_cursor}`);
  assert.equal(second.body.tasks[0].id, ids[0]);
});

test('voices: upload once, use by id, list, delete', async () => {
  const form = withConsent(new FormData());
  form.set('name', '老师');
  form.set('prompt_text', '这是老师的声音。');
  form.set('audio', new Blob([await readFile(await makeTone(join(service.dataDir, 'voice.ogg'), { seconds: 4, format: 'ogg' }))]), 'voice.ogg');
  const created = await service.request('/api/voices', { method: 'POST', body: form });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.name, '老师');
  assert.ok(created.body.duration_ms > 3_500);
  const id = await submit({ text: '用这个声音读。', voice_id: created.body.id });
  assert.equal((await waitForTask(service, id)).status, 'completed');
  assert.ok((await service.request('/api/voices')).body.voices.some((v: any) => v.id === created.body.id));
  assert.equal((await service.request(`/api/voices/${created.body.id}`)).body.prompt_text, '这是老师的声音。');
  assert.equal((await service.request(`/api/voices/${created.body.id}`, { method: 'DELETE' })).status, 204);
  assert.equal((await service.request(`/api/voices/${created.body.id}`)).body.error.code, 'E_VOICE_NOT_FOUND');
});

test('multipart synthesis with an uploaded reference', async () => {
  const form = withConsent(new FormData());
  form.set('text', '上传参考音频。');
  form.set('prompt_text', '参考。');
  form.set('seed', '42');
  form.set('audio', new Blob([await readFile(await makeTone(join(service.dataDir, 'ref.m4a'), { seconds: 3, format: 'm4a' }))]), 'ref.m4a');
  const { status, body } = await service.request('/api/synthesis', { method: 'POST', body: form });
  assert.equal(status, 202, JSON.stringify(body));
  assert.equal((await waitForTask(service, body.id)).status, 'completed');
});

test('multipart fields are read by the schema: numbers and booleans from text; a refused request leaves no upload behind', async () => {
  const form = new FormData();
  form.set('text', '表单字段。');
  form.set('priority', '-3');
  form.set('require_cloning', 'false');
  form.set('format', 'mp3');
  const { status, body } = await service.request('/api/synthesis', { method: 'POST', body: form });
  assert.equal(status, 202, JSON.stringify(body));
  const task = (await service.request(`/api/task/${body.id}`)).body;
  assert.equal(task.priority, -3);
  assert.equal(task.format, 'mp3');

  const uploads = join(service.dataDir, 'blobs', 'uploads');
  const before = await readdir(uploads).catch(() => []);
  const refused = new FormData();
  refused.set('text', '未知字段。');
  refused.set('colour', 'blue');
  refused.set('audio', new Blob([await readFile(await makeTone(join(service.dataDir, 'refused.wav'), { seconds: 3 }))]), 'refused.wav');
  const answer = await service.request('/api/synthesis', { method: 'POST', body: refused });
  assert.equal(answer.status, 400, JSON.stringify(answer.body));
  assert.match(answer.body.error.message, /colour/u);
  assert.deepEqual(await readdir(uploads).catch(() => []), before);
});

test('health, readiness, engines, OpenAPI and docs', async () => {
  assert.equal((await service.request('/healthz')).body.status, 'ok');
  assert.equal((await service.request('/readyz')).body.status, 'ready');
  const engines = await service.request('/api/engines');
  assert.equal(engines.body.engines.length, 1);
  assert.equal(engines.body.engines[0].engine, 'bench-sleep');
  assert.deepEqual(engines.body.engines[0].sample_rates, [24_000]);
  const openapi = await service.request('/openapi.json');
  assert.ok(openapi.body.paths['/api/synthesis']);
  assert.ok(openapi.body.paths['/api/task/{id}/audio']);
  const docs = await fetch(`${service.url}/docs`);
  assert.equal(docs.status, 200);
});

async function cancelScenario(target: TestService): Promise<void> {
  const id = (await target.request('/api/synthesis', jsonPost({ text: Array.from({ length: 80 }, (_, i) => `这是第${i}句比较长的测试句子，用来测试取消。`).join('') }))).body.id as string;
  await waitForTask(target, id, (t) => t.progress.segments_done >= 1);
  const canceled = await target.request(`/api/task/${id}`, { method: 'DELETE' });
  assert.equal(canceled.status, 200);
  assert.equal(canceled.body.status, 'canceled');
  // The host is told, and stops: no engine is busy with the task any more.
  await waitUntil(() => target.engines!.pools().every(({ pool }) => pool.busy === 0), 'the running segment to stop');
  const later = (await target.request(`/api/task/${id}`)).body;
  assert.equal(later.status, 'canceled');
  assert.ok(later.progress.segments_done < later.progress.segments_total, 'it stopped');
  const again = await target.request(`/api/task/${id}`, { method: 'DELETE' });
  assert.equal(again.body.status, 'canceled');
}

test('cancel stops a running task; canceling a completed one is refused', async () => {
  const slow = await startTestService({ BENCH_SLEEP_COST_MS: '300' });
  try {
    await cancelScenario(slow);
  } finally {
    await slow.stop();
  }
  const id = await submit({ text: '已完成。' });
  await waitForTask(service, id);
  const refused = await service.request(`/api/task/${id}`, { method: 'DELETE' });
  assert.equal(refused.status, 409);
  assert.equal(refused.body.error.code, 'E_TASK_FINISHED');
});

test('a graceful stop ends open event streams and lets the running segment finish', async () => {
  const slow = await startTestService({ BENCH_SLEEP_COST_MS: '1000' });
  const id = (await slow.request('/api/synthesis', jsonPost({ text: '停止服务时的事件流。' }))).body.id as string;
  await waitForTask(slow, id, (t) => t.status === 'synthesizing');
  const response = await fetch(`${slow.url}/api/task/${id}/events`);
  const stream = response.text();
  await slow.stop();
  assert.match(await stream, /event: status/u, 'the stream was open, then ended');
});
