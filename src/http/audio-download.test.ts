import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rawRequest, type RawResponse } from './testing/raw-request.js';
import { copyFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { jsonPost, startTestService, waitForTask } from '../service/testing/test-service.js';

const service = await startTestService({ BENCH_SLEEP_COST_MS: '5' });
test.after(() => service.stop());

/** A raw HTTP request (not fetch, which adds `cache-control: no-cache` to conditional requests). */
async function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> {
  return await rawRequest(`${service.url}${path}`, headers, method);
}

async function completed(text: string, format: string): Promise<{ id: string; url: string }> {
  const { body } = await service.request('/api/synthesis', jsonPost({ text, format }));
  const task = await waitForTask(service, body.id);
  assert.equal(task.status, 'completed', JSON.stringify(task.error));
  return { id: task.id, url: task.result.url };
}

const audio = await completed('下载的各种请求。', 'mp3');
const whole = await get(audio.url);
const etag = whole.headers.etag!;
const lastModified = whole.headers['last-modified']!;

test('a download: 200, the whole file, our content type, disposition and cache policy, validators', () => {
  assert.equal(whole.status, 200);
  assert.ok(whole.body.length > 200);
  assert.equal(whole.headers['content-length'], String(whole.body.length));
  assert.equal(whole.headers['content-type'], 'audio/mpeg');
  assert.equal(whole.headers['content-disposition'], `attachment; filename="${audio.id}.mp3"`);
  assert.equal(whole.headers['cache-control'], 'private, max-age=3600');
  assert.equal(whole.headers['accept-ranges'], 'bytes');
  assert.ok(etag);
  assert.ok(lastModified);
});

test('HEAD: the headers of the download and no body', async () => {
  const head = await get(audio.url, {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(whole.body.length));
  assert.equal(head.headers.etag, etag);
  assert.equal(head.body.length, 0);
});

test('Range bytes=a-b: 206 with that part', async () => {
  const part = await get(audio.url, { range: 'bytes=10-109' });
  assert.equal(part.status, 206);
  assert.equal(part.headers['content-range'], `bytes 10-109/${whole.body.length}`);
  assert.equal(part.headers['content-type'], 'audio/mpeg');
  assert.deepEqual(part.body, whole.body.subarray(10, 110));
});

test('Range bytes=-n: the last n bytes', async () => {
  const tail = await get(audio.url, { range: 'bytes=-16' });
  assert.equal(tail.status, 206);
  assert.deepEqual(tail.body, whole.body.subarray(whole.body.length - 16));
});

test('Range bytes=a-: from a to the end', async () => {
  const rest = await get(audio.url, { range: 'bytes=100-' });
  assert.equal(rest.status, 206);
  assert.deepEqual(rest.body, whole.body.subarray(100));
});

test('Range past the end: 416 in our error shape with content-range bytes */SIZE', async () => {
  const beyond = await get(audio.url, { range: `bytes=${whole.body.length + 5}-` });
  assert.equal(beyond.status, 416);
  assert.equal(beyond.headers['content-range'], `bytes */${whole.body.length}`);
  assert.match(beyond.headers['content-type'] ?? '', /application\/json/u);
  const body = JSON.parse(beyond.body.toString());
  assert.equal(body.error.code, 'E_RANGE_NOT_SATISFIABLE');
  assert.match(body.error.message, new RegExp(`${whole.body.length} bytes`, 'u'));
});

test('several ranges at once are answered with the whole file (no multipart answers)', async () => {
  const ignored = await get(audio.url, { range: 'bytes=0-9,20-29' });
  assert.equal(ignored.status, 200);
  assert.deepEqual(ignored.body, whole.body);
});

test('If-Range with the current ETag: the range', async () => {
  const part = await get(audio.url, { range: 'bytes=0-9', 'if-range': etag });
  assert.equal(part.status, 206);
  assert.deepEqual(part.body, whole.body.subarray(0, 10));
});

test('If-Range with another ETag: the whole file', async () => {
  const full = await get(audio.url, { range: 'bytes=0-9', 'if-range': '"some-other-version"' });
  assert.equal(full.status, 200);
  assert.deepEqual(full.body, whole.body);
});

test('If-Range with the Last-Modified date: the range; with an older date: the whole file', async () => {
  assert.equal((await get(audio.url, { range: 'bytes=0-9', 'if-range': lastModified })).status, 206);
  const older = new Date(Date.parse(lastModified) - 60_000).toUTCString();
  assert.equal((await get(audio.url, { range: 'bytes=0-9', 'if-range': older })).status, 200);
});

test('If-None-Match with the ETag: 304 with no body', async () => {
  const notModified = await get(audio.url, { 'if-none-match': etag });
  assert.equal(notModified.status, 304);
  assert.equal(notModified.body.length, 0);
  assert.equal(notModified.headers.etag, etag);
});

test('If-None-Match with another ETag: 200', async () => {
  assert.equal((await get(audio.url, { 'if-none-match': '"other"' })).status, 200);
});

test('If-Modified-Since the Last-Modified date: 304', async () => {
  assert.equal((await get(audio.url, { 'if-modified-since': lastModified })).status, 304);
});

test('If-Match with another ETag: 412 E_PRECONDITION_FAILED', async () => {
  const failed = await get(audio.url, { 'if-match': '"other"' });
  assert.equal(failed.status, 412);
  assert.equal(JSON.parse(failed.body.toString()).error.code, 'E_PRECONDITION_FAILED');
});

test('a result file that is gone: 410 E_RESULT_EXPIRED, no path in the message', async () => {
  const gone = await completed('这个文件会被删掉。', 'wav');
  const path = join(service.dataDir, 'blobs', 'results', `${gone.id}.wav`);
  await copyFile(path, `${path}.kept`);
  await unlink(path);
  const answer = await get(gone.url);
  assert.equal(answer.status, 410);
  const body = JSON.parse(answer.body.toString());
  assert.equal(body.error.code, 'E_RESULT_EXPIRED');
  assert.ok(!body.error.message.includes(service.dataDir));
});
