/**
 * GET /api/task/:id/stream over real HTTP, on the bench-sleep engine (a tone per segment) and
 * real ffmpeg: every format is valid audio as long as the assembled result, the first bytes come
 * before the task completes, several and late clients get the whole audio, a client that goes
 * away leaves no encoder behind, speed applies, and the refusals are typed (a stream that lags
 * behind its task: service/task-audio-stream.test.ts). TEST_BACKEND=redis runs it on Redis.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { OUTPUT_FORMAT_NAMES, STREAM_FORMAT_NAMES } from '../audio/output.js';
import { expectedCodec, inspectStreamedAudio } from '../audio/testing/streamed-audio.js';
import { jsonPost, startTestService, waitForTask as waitForAnyTask, waitUntil } from '../service/testing/test-service.js';
import { closeIsHeld } from './testing/close.js';

// 10 ms of tone per character: a 150-character sentence is a 1.5 s segment.
const service = await startTestService({ BENCH_SLEEP_MS_PER_CHAR: '10', BENCH_SLEEP_COST_MS: '150', PAUSE_MS: '200' });
test.after(() => service.stop());

const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });
async function createKey(by: string | undefined, body: Record<string, unknown>): Promise<string> {
  const answer = await service.request('/api/keys', jsonPost(body, by === undefined ? {} : bearer(by)));
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body.key;
}
const admin = await createKey(undefined, { name: 'admin', role: 'admin' });
const alice = await createKey(admin, { name: 'alice' });
const bob = await createKey(admin, { name: 'bob' });
const as = (key: string): Record<string, string> => bearer(key);
const waitForTask = (id: string, done?: (task: any) => boolean): Promise<any> => waitForAnyTask(service, id, done, 60_000, as(alice));

/** `count` sentences of about 150 characters: one segment each. */
const sentences = (count: number): string => Array.from({ length: count }, (_, i) => `这是第${i + 1}个句子，${'内容很长的文字'.repeat(20)}。`).join('');

async function submit(body: Record<string, unknown>): Promise<string> {
  const answer = await service.request('/api/synthesis', jsonPost({ format: 'wav', ...body }, as(alice)));
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  return answer.body.id;
}

/** Reads a stream to its end. */
async function readAll(response: Response): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of response.body!) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const stream = (id: string, format?: string, key = alice, signal?: AbortSignal): Promise<Response> =>
  fetch(`${service.url}/api/task/${id}/stream${format === undefined ? '' : `?format=${format}`}`, { headers: as(key), signal });

/** Tolerance between a stream's length and the result's: encoders pad a frame or two (aac, mp3). */
const TOLERANCE_MS = 120;

/** The ffmpeg processes this process started (the service runs in it). */
async function ffmpegChildren(): Promise<number> {
  let count = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/u.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid ...
    const match = /^\d+ \((.*)\) \S+ (\d+)/u.exec(stat);
    if (match?.[1] === 'ffmpeg' && Number(match[2]) === process.pid) count++;
  }
  return count;
}

test('every format streams as valid audio as long as the assembled result (several clients at once, each from the start)', async () => {
  const id = await submit({ text: sentences(3) });
  const answers = await Promise.all(STREAM_FORMAT_NAMES.map(async (format) => ({ format, response: await stream(id, format) })));
  const bodies = await Promise.all(answers.map(async ({ format, response }) => ({ format, response, bytes: await readAll(response) })));
  const task = await waitForTask(id);
  assert.equal(task.status, 'completed');
  assert.equal(task.progress.segments_total, 3);
  for (const { format, response, bytes } of bodies) {
    assert.equal(response.status, 200, format);
    assert.equal(response.headers.get('content-type'), { wav: 'audio/wav', mp3: 'audio/mpeg', opus: 'audio/ogg', flac: 'audio/flac', pcm: 'audio/L16', aac: 'audio/aac', m4b: 'audio/mp4' }[format]);
    if (format === 'pcm') assert.equal(response.headers.get('x-sample-rate'), '24000');
    if (format === 'wav') assert.equal(bytes.readUInt32LE(40), 0xffffffff, 'a streaming header: the size is unknown');
    const audio = await inspectStreamedAudio(bytes, format, service.dataDir, 24_000);
    assert.equal(audio.codec, expectedCodec(format), format);
    assert.ok(Math.abs(audio.durationMs - task.result.duration_ms) < TOLERANCE_MS, `${format}: ${audio.durationMs} ms streamed, ${task.result.duration_ms} ms assembled`);
  }
});

test('the first bytes come before the task completes; a client that starts midway and a late one get the whole audio', async () => {
  const id = await submit({ text: sentences(4) });
  const early = await stream(id, 'wav');
  const reader = early.body!.getReader();
  const chunks: Buffer[] = [];
  let audioBytes = 0;
  // Past the 44-byte header: audio.
  while (audioBytes <= 44) {
    const { value, done } = await reader.read();
    assert.equal(done, false);
    chunks.push(Buffer.from(value));
    audioBytes += value.length;
  }
  const atFirstBytes = (await service.request(`/api/task/${id}`, { headers: as(alice) })).body;
  assert.notEqual(atFirstBytes.status, 'completed', 'audio arrived before the task was done');
  assert.ok(atFirstBytes.progress.segments_done < 4, `${atFirstBytes.progress.segments_done} segments done`);
  // Another client joins midway: it starts from the beginning too.
  const midway = stream(id, 'wav').then(readAll);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(Buffer.from(value));
  }
  const task = await waitForTask(id);
  const late = await readAll(await stream(id, 'wav'));
  for (const [who, bytes] of [
    ['early', Buffer.concat(chunks)],
    ['midway', await midway],
    ['late', late],
  ] as const) {
    const audio = await inspectStreamedAudio(bytes, 'wav', service.dataDir);
    assert.ok(Math.abs(audio.durationMs - task.result.duration_ms) < 5, `${who}: ${audio.durationMs} ms, result ${task.result.duration_ms} ms`);
  }
  assert.deepEqual(late.subarray(44), Buffer.concat(chunks).subarray(44), 'the late client gets the same samples, from the result');
});

test('a completed task streams from its result, whatever the format it was made in', async () => {
  // Its segments were removed after assembly: the stream decodes the result (raw pcm included).
  for (const made of OUTPUT_FORMAT_NAMES) {
    const id = await submit({ text: sentences(2), format: made });
    const task = await waitForTask(id);
    assert.equal(task.status, 'completed', made);
    for (const format of ['mp3', 'wav'] as const) {
      const response = await stream(id, format);
      assert.equal(response.status, 200, `${made} as ${format}`);
      const audio = await inspectStreamedAudio(await readAll(response), format, service.dataDir);
      // ADTS (aac) does not record the encoder's priming: decoded, it keeps a few frames more.
      const tolerance = made === 'aac' || made === 'm4b' ? 2 * TOLERANCE_MS : TOLERANCE_MS;
      assert.ok(Math.abs(audio.durationMs - task.result.duration_ms) < tolerance, `${made} as ${format}: ${audio.durationMs} ms streamed, ${task.result.duration_ms} ms made`);
    }
  }
});

test('a client that goes away mid-stream leaves no ffmpeg behind', async () => {
  const id = await submit({ text: sentences(6) });
  const controller = new AbortController();
  const response = await stream(id, 'mp3', alice, controller.signal);
  const reader = response.body!.getReader();
  await reader.read();
  assert.ok((await ffmpegChildren()) >= 1, 'the encoder runs while the stream is read');
  controller.abort();
  await waitUntil(async () => (await ffmpegChildren()) === 0, 'the encoder to be gone');
  await service.request(`/api/task/${id}`, { method: 'DELETE', headers: as(alice) });
});

test('speed applies to the stream as to the result', async () => {
  const id = await submit({ text: sentences(2), speed: 2, format: 'mp3' });
  const bytes = await readAll(await stream(id, 'wav'));
  const task = await waitForTask(id);
  const raw = 2 * 1500 + 200;
  assert.ok(Math.abs(task.result.duration_ms - raw / 2) < 60, `result ${task.result.duration_ms} ms`);
  const audio = await inspectStreamedAudio(bytes, 'wav', service.dataDir);
  assert.ok(Math.abs(audio.durationMs - task.result.duration_ms) < TOLERANCE_MS, `${audio.durationMs} ms streamed`);
});

test('a task canceled before any audio answers E_CANCELED; one canceled midway ends the stream early, still valid', async () => {
  const before = await submit({ text: sentences(3) });
  await service.request(`/api/task/${before}`, { method: 'DELETE', headers: as(alice) });
  const refused = await stream(before, 'mp3');
  assert.equal(refused.status, 409);
  assert.equal(((await refused.json()) as any).error.code, 'E_CANCELED');

  const midway = await submit({ text: sentences(8) });
  const response = await stream(midway, 'wav');
  const reader = response.body!.getReader();
  const chunks = [Buffer.from((await reader.read()).value!)];
  await service.request(`/api/task/${midway}`, { method: 'DELETE', headers: as(alice) });
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(Buffer.from(value));
  }
  const audio = await inspectStreamedAudio(Buffer.concat(chunks), 'wav', service.dataDir);
  assert.ok(audio.durationMs > 0 && audio.durationMs < 8 * 1500, `${audio.durationMs} ms before the cancel`);
});

test("refusals: unknown task and another key's task 404, a bad format 400, no key 401", async () => {
  const id = await submit({ text: sentences(1) });
  for (const [path, key] of [
    ['/api/task/00000000-0000-4000-8000-000000000000/stream', alice],
    ['/api/task/not-an-id/stream', alice],
    [`/api/task/${id}/stream`, bob],
  ] as const) {
    const answer = await service.request(path, { headers: as(key) });
    assert.equal(answer.status, 404, path);
    assert.equal(answer.body.error.code, 'E_NOT_FOUND');
  }
  const bad = await service.request(`/api/task/${id}/stream?format=ogg`, { headers: as(alice) });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'E_FORMAT_UNSUPPORTED');
  assert.match(bad.body.error.message, /mp3/u);
  const extra = await service.request(`/api/task/${id}/stream?formats=mp3`, { headers: as(alice) });
  assert.equal(extra.status, 400);
  assert.equal((await service.request(`/api/task/${id}/stream`)).status, 401);
  const task = await service.request(`/api/task/${id}`, { headers: as(alice) });
  assert.equal(task.body.links.stream, `/api/task/${id}/stream`);
  await waitForTask(id);
  // Streams are downloads in the audit log.
  await readAll(await stream(id));
  const audit = await service.request(`/api/audit?subject=${id}&action=task.download`, { headers: as(admin) });
  assert.ok(
    audit.body.entries.some((e: any) => e.detail?.stream === true),
    JSON.stringify(audit.body),
  );
});

test('a service that stops ends the streams waiting for a first segment (they do not hold the shutdown)', async () => {
  const slow = await startTestService({ BENCH_SLEEP_COST_MS: '600000', SHUTDOWN_GRACE_SECONDS: '0' });
  const id = (await slow.request('/api/synthesis', jsonPost({ text: sentences(1) }))).body.id as string;
  const waiting = fetch(`${slow.url}/api/task/${id}/stream`).then(
    (response) => response.status,
    () => 'connection closed',
  );
  await waitUntil(async () => (await slow.request(`/api/task/${id}`)).body.status === 'synthesizing', 'the segment to run');
  // The client keeps its connection alive: a close that waited for it ended after 72 s.
  assert.equal(await closeIsHeld(slow.app, slow.stop()), false, 'closing waited for a kept-alive connection');
  const answer = await waiting;
  assert.ok(answer === 'connection closed' || answer === 503, `a stream cut by the close is told to come back (503), got ${answer}`);
});
