/**
 * The OpenAI-compatible routes with the official `openai` package, unchanged, pointed at the
 * service: speech in every response_format (valid audio as long as the task's result; pcm at
 * 24 kHz), the body read while it arrives, the SSE form, /v1/models, errors as the SDK's
 * APIError with our code, keys (a wrong one is 401, a limit 429, in OpenAI's shape), and the
 * task behind each request in /api/tasks. TEST_BACKEND=redis runs it on Redis.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI, { APIError, AuthenticationError } from 'openai';
import { expectedCodec, inspectStreamedAudio } from '../audio/testing/streamed-audio.js';
import { OPENAI_RESPONSE_FORMATS } from '../service/openai-speech.js';
import { jsonPost, startTestService, waitForTask as waitForAnyTask } from '../service/testing/test-service.js';

const service = await startTestService({ BENCH_SLEEP_MS_PER_CHAR: '10', BENCH_SLEEP_COST_MS: '150', PAUSE_MS: '200' });
test.after(() => service.stop());

async function createKey(by: string | undefined, body: Record<string, unknown>): Promise<string> {
  const answer = await service.request('/api/keys', jsonPost(body, by === undefined ? {} : { authorization: `Bearer ${by}` }));
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body.key;
}
const admin = await createKey(undefined, { name: 'admin', role: 'admin' });
const apiKey = await createKey(admin, { name: 'openai-client' });
const client = new OpenAI({ baseURL: `${service.url}/v1`, apiKey, maxRetries: 0 });
const waitForTask = (id: string): Promise<any> => waitForAnyTask(service, id, undefined, 60_000, { authorization: `Bearer ${apiKey}` });

/** `count` sentences of about 150 characters: one segment each. */
const sentences = (count: number): string => Array.from({ length: count }, (_, i) => `这是第${i + 1}个句子，${'内容很长的文字'.repeat(20)}。`).join('');

test('audio.speech.create in every response_format: valid audio as long as the task behind it (pcm at 24 kHz), a task in /api/tasks', async () => {
  for (const format of OPENAI_RESPONSE_FORMATS) {
    const response = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: sentences(2), response_format: format });
    const bytes = Buffer.from(await response.arrayBuffer());
    const id = response.headers.get('x-task-id')!;
    const task = await waitForTask(id);
    assert.equal(task.status, 'completed');
    assert.equal(task.format, format);
    if (format === 'pcm') assert.equal(response.headers.get('x-sample-rate'), '24000');
    const audio = await inspectStreamedAudio(bytes, format, service.dataDir, 24_000);
    assert.equal(audio.codec, expectedCodec(format), format);
    assert.ok(Math.abs(audio.durationMs - task.result.duration_ms) < 120, `${format}: ${audio.durationMs} ms, result ${task.result.duration_ms} ms`);
  }
  const listed = await service.request('/api/tasks?limit=100', { headers: { authorization: `Bearer ${apiKey}` } });
  assert.equal(listed.body.tasks.length, OPENAI_RESPONSE_FORMATS.length);
});

test('the body is written to a file while it arrives: the first chunk comes before the task completes; speed and an engine as model', async () => {
  const response = await client.audio.speech.create({ model: 'bench-sleep', voice: 'nova', input: sentences(4), response_format: 'mp3', speed: 1.5 });
  const id = response.headers.get('x-task-id')!;
  const path = join(service.dataDir, 'speech.mp3');
  const file = createWriteStream(path);
  let statusAtFirstChunk: string | undefined;
  for await (const chunk of response.body!) {
    if (statusAtFirstChunk === undefined) statusAtFirstChunk = (await service.request(`/api/task/${id}`, { headers: { authorization: `Bearer ${apiKey}` } })).body.status;
    file.write(chunk);
  }
  await new Promise((resolve) => file.end(resolve));
  assert.notEqual(statusAtFirstChunk, 'completed');
  const task = await waitForTask(id);
  assert.equal(task.engine, 'bench-sleep');
  assert.ok(Math.abs(task.result.duration_ms - (4 * 1500 + 3 * 200) / 1.5) < 80, `result ${task.result.duration_ms} ms`);
  const audio = await inspectStreamedAudio(await readFile(path), 'mp3', service.dataDir);
  assert.ok(Math.abs(audio.durationMs - task.result.duration_ms) < 120, `${audio.durationMs} ms streamed`);
});

test('stream_format sse: speech.audio.delta events whose audio decodes, then speech.audio.done with the usage', async () => {
  const input = sentences(2);
  const response = await client.audio.speech.create({ model: 'tts-1', voice: 'echo', input, response_format: 'wav', stream_format: 'sse' });
  assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/u);
  const events = (await response.text())
    .split('\n\n')
    .filter((block) => block.startsWith('data: '))
    .map((block) => JSON.parse(block.slice(6)) as { type: string; audio?: string; usage?: Record<string, number> });
  const deltas = events.filter((e) => e.type === 'speech.audio.delta');
  assert.ok(deltas.length > 1);
  const done = events.at(-1)!;
  assert.equal(done.type, 'speech.audio.done');
  assert.deepEqual(Object.keys(done.usage!).sort(), ['input_tokens', 'output_tokens', 'total_tokens']);
  assert.equal(done.usage!.input_tokens, [...input].length);
  const bytes = Buffer.concat(deltas.map((e) => Buffer.from(e.audio!, 'base64')));
  const task = await waitForTask(response.headers.get('x-task-id')!);
  const audio = await inspectStreamedAudio(bytes, 'wav', service.dataDir);
  assert.ok(Math.abs(audio.durationMs - task.result.duration_ms) < 5, `${audio.durationMs} ms, result ${task.result.duration_ms} ms`);
});

test('stream_format sse of a task canceled midway ends with an error event, not speech.audio.done', async () => {
  const response = await client.audio.speech.create({ model: 'tts-1', voice: 'echo', input: sentences(8), response_format: 'mp3', stream_format: 'sse' });
  const id = response.headers.get('x-task-id')!;
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = decoder.decode((await reader.read()).value, { stream: true });
  const canceled = await fetch(`${service.url}/api/task/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${apiKey}` } });
  assert.equal(canceled.status, 200);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  const events = text
    .split('\n\n')
    .filter((block) => block.startsWith('data: '))
    .map((block) => JSON.parse(block.slice(6)) as { type: string; error?: Record<string, unknown> });
  assert.ok(events.some((e) => e.type === 'speech.audio.delta'));
  assert.ok(!events.some((e) => e.type === 'speech.audio.done'), 'a stream cut short is not "done"');
  const last = events.at(-1)!;
  assert.equal(last.type, 'error');
  assert.deepEqual(last.error, { message: 'The task was canceled; it has no more audio.', type: 'invalid_request_error', param: null, code: 'E_CANCELED' });
});

test('models.list: the engines and the OpenAI model names; one model by id', async () => {
  const ids = [];
  for await (const model of client.models.list()) {
    assert.equal(model.object, 'model');
    assert.equal(model.owned_by, 'tts-queue');
    ids.push(model.id);
  }
  assert.deepEqual(ids.slice(0, 2), ['bench-sleep', 'tts-1']);
  assert.ok(ids.includes('gpt-4o-mini-tts'));
  assert.equal((await client.models.retrieve('tts-1-hd')).id, 'tts-1-hd');
});

/** The SDK's error for a request, checked to carry our code in OpenAI's shape. */
async function refusal(request: Promise<unknown>, status: number, code: string, param: string | null, type: string): Promise<APIError> {
  try {
    await request;
  } catch (error) {
    assert.ok(error instanceof APIError, String(error));
    assert.equal(error.status, status);
    assert.equal(error.code, code);
    assert.equal(error.param, param);
    assert.equal(error.type, type);
    assert.ok(typeof (error.error as { message?: unknown }).message === 'string');
    return error;
  }
  assert.fail(`expected ${code}`);
}

test("errors come as the SDK's APIError with our code, in OpenAI's shape", async () => {
  const speech = (body: Partial<OpenAI.Audio.SpeechCreateParams>) => client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'Hello.', ...body });
  await refusal(speech({ voice: 'nobody' }), 404, 'E_VOICE_NOT_FOUND', 'voice', 'not_found_error');
  await refusal(speech({ voice: { id: '00000000-0000-4000-8000-000000000000' } }), 404, 'E_VOICE_NOT_FOUND', 'voice', 'not_found_error');
  await refusal(speech({ instructions: 'Speak like a pirate.' }), 400, 'E_INSTRUCTIONS_UNSUPPORTED', 'instructions', 'invalid_request_error');
  await refusal(speech({ model: 'whisper-1' }), 404, 'E_MODEL_NOT_FOUND', 'model', 'not_found_error');
  await refusal(speech({ response_format: 'ogg' as 'opus' }), 400, 'E_FORMAT_UNSUPPORTED', 'response_format', 'invalid_request_error');
  await refusal(speech({ speed: 5 }), 400, 'E_INVALID_ARGUMENT', 'speed', 'invalid_request_error');
  await refusal(speech({ input: '   ' }), 400, 'E_TEXT_EMPTY', 'input', 'invalid_request_error');
  await refusal(client.models.retrieve('tts-2'), 404, 'E_MODEL_NOT_FOUND', 'model', 'not_found_error');
  // Outside /v1 errors keep our own shape.
  const ours = await service.request('/api/task/nothing', { headers: { authorization: `Bearer ${apiKey}` } });
  assert.deepEqual(Object.keys(ours.body.error).sort(), ['code', 'message']);
  const unknownRoute = await service.request('/v1/audio/transcriptions', { method: 'POST', headers: { authorization: `Bearer ${apiKey}` } });
  assert.equal(unknownRoute.body.error.type, 'not_found_error');
});

test('keys: a wrong key is 401 and a key past its rate 429, both in OpenAI shape', async () => {
  const wrong = new OpenAI({ baseURL: `${service.url}/v1`, apiKey: 'ttsq_nope_nope', maxRetries: 0 });
  const error = await refusal(wrong.models.list(), 401, 'E_UNAUTHORIZED', null, 'authentication_error');
  assert.ok(error instanceof AuthenticationError);
  const slow = await createKey(admin, { name: 'slow', quotas: { requests_per_second: 1 } });
  const limited = new OpenAI({ baseURL: `${service.url}/v1`, apiKey: slow, maxRetries: 0 });
  await limited.models.list();
  await refusal(limited.models.list(), 429, 'E_RATE_LIMITED', null, 'rate_limit_error');
});
