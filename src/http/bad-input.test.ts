import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jsonPost, startTestService } from '../service/testing/test-service.js';
import { makeSilentVideo, makeTone } from '../audio/testing/fixtures.js';

const service = await startTestService({ MAX_TEXT_CHARS: '1000', MAX_UPLOAD_BYTES: '200000' });
test.after(() => service.stop());

const task = (await service.request('/api/synthesis', jsonPost({ text: '存在的任务。' }))).body.id as string;
const missing = '00000000-0000-4000-8000-000000000000';

function multipart(fields: Record<string, string>, file?: { name: string; data: Buffer; field?: string }): RequestInit {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.set(key, value);
  if (file) form.set(file.field ?? 'audio', new Blob([file.data]), file.name);
  return { method: 'POST', body: form };
}

const raw = (body: string, contentType = 'application/json', method = 'POST'): RequestInit => ({ method, headers: { 'content-type': contentType }, body });

const tone = async (name: string, seconds: number, format: 'wav' | 'mp3' = 'wav'): Promise<Buffer> =>
  readFile(await makeTone(join(service.dataDir, name), { seconds, format, sampleRate: 8_000 }));

interface Case {
  name: string;
  path: string;
  init: () => Promise<RequestInit> | RequestInit;
  status: number;
  code: string;
}

const cases: Case[] = [
  // POST /api/synthesis, JSON
  { name: 'malformed JSON', path: '/api/synthesis', init: () => raw('{"text": "你好"'), status: 400, code: 'E_MALFORMED_JSON' },
  { name: 'empty JSON body', path: '/api/synthesis', init: () => raw(''), status: 400, code: 'E_MALFORMED_JSON' },
  { name: 'JSON that is an array', path: '/api/synthesis', init: () => raw('["你好"]'), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'JSON that is a string', path: '/api/synthesis', init: () => raw('"你好"'), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'missing text', path: '/api/synthesis', init: () => jsonPost({ format: 'mp3' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'text of the wrong type', path: '/api/synthesis', init: () => jsonPost({ text: 42 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'text null', path: '/api/synthesis', init: () => jsonPost({ text: null }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'empty text', path: '/api/synthesis', init: () => jsonPost({ text: '' }), status: 400, code: 'E_TEXT_EMPTY' },
  { name: 'white space only', path: '/api/synthesis', init: () => jsonPost({ text: ' \n\t\u3000 ' }), status: 400, code: 'E_TEXT_EMPTY' },
  { name: 'punctuation only', path: '/api/synthesis', init: () => jsonPost({ text: '。，！？……' }), status: 400, code: 'E_TEXT_EMPTY' },
  { name: 'control characters only', path: '/api/synthesis', init: () => jsonPost({ text: '\u0000\u0007\u001b\u200b' }), status: 400, code: 'E_TEXT_EMPTY' },
  { name: 'text over the limit', path: '/api/synthesis', init: () => jsonPost({ text: '长'.repeat(1001) }), status: 413, code: 'E_TEXT_TOO_LONG' },
  { name: 'a body over the size cap', path: '/api/synthesis', init: () => jsonPost({ text: '大'.repeat(2_000_000) }), status: 413, code: 'E_BODY_TOO_LARGE' },
  { name: 'unknown format', path: '/api/synthesis', init: () => jsonPost({ text: '你好', format: 'aiff' }), status: 400, code: 'E_FORMAT_UNSUPPORTED' },
  { name: 'format of the wrong type', path: '/api/synthesis', init: () => jsonPost({ text: '你好', format: 3 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'unknown field', path: '/api/synthesis', init: () => jsonPost({ text: '你好', fromat: 'mp3' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'unknown voice', path: '/api/synthesis', init: () => jsonPost({ text: '你好', voice_id: missing }), status: 404, code: 'E_VOICE_NOT_FOUND' },
  { name: 'malformed voice id', path: '/api/synthesis', init: () => jsonPost({ text: '你好', voice_id: '../../etc/passwd' }), status: 404, code: 'E_VOICE_NOT_FOUND' },
  { name: 'sample rate no engine writes', path: '/api/synthesis', init: () => jsonPost({ text: '你好', sample_rate: 44_100 }), status: 400, code: 'E_SAMPLE_RATE_UNSUPPORTED' },
  { name: 'engine that is not running', path: '/api/synthesis', init: () => jsonPost({ text: '你好', engine: 'glm-tts' }), status: 422, code: 'E_ENGINE_CAPABILITY' },
  { name: 'engine name with odd characters', path: '/api/synthesis', init: () => jsonPost({ text: '你好', engine: '../../bin/sh' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'cloning no engine does', path: '/api/synthesis', init: () => jsonPost({ text: '你好', require_cloning: true }), status: 422, code: 'E_ENGINE_CAPABILITY' },
  { name: 'engine_options as a list', path: '/api/synthesis', init: () => jsonPost({ text: '你好', engine_options: ['use_cache'] }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'too many engine_options', path: '/api/synthesis', init: () => jsonPost({ text: '你好', engine_options: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`o${i}`, true])) }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'an engine option no engine takes', path: '/api/synthesis', init: () => jsonPost({ text: '你好', engine_options: { temperature: 0.7 } }), status: 422, code: 'E_ENGINE_CAPABILITY' },
  { name: 'sample rate not an integer', path: '/api/synthesis', init: () => jsonPost({ text: '你好', sample_rate: 'fast' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'negative seed', path: '/api/synthesis', init: () => jsonPost({ text: '你好', seed: -1 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'priority out of range', path: '/api/synthesis', init: () => jsonPost({ text: '你好', priority: 1000 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'pronunciations not a list', path: '/api/synthesis', init: () => jsonPost({ text: '重要', pronunciations: 'chong2' }), status: 400, code: 'E_PRONUNCIATION_INVALID' },
  { name: 'pinyin without tone', path: '/api/synthesis', init: () => jsonPost({ text: '重要', pronunciations: [{ text: '重', pinyin: 'chong' }] }), status: 400, code: 'E_PRONUNCIATION_INVALID' },
  { name: 'audio_url with a file scheme', path: '/api/synthesis', init: () => jsonPost({ text: '你好', audio_url: 'file:///etc/passwd' }), status: 400, code: 'E_URL_FORBIDDEN' },
  { name: 'audio_url to loopback', path: '/api/synthesis', init: () => jsonPost({ text: '你好', audio_url: 'http://127.0.0.1:6379/' }), status: 400, code: 'E_URL_FORBIDDEN' },
  { name: 'audio_url to cloud metadata', path: '/api/synthesis', init: () => jsonPost({ text: '你好', audio_url: 'http://169.254.169.254/latest/meta-data/' }), status: 400, code: 'E_URL_FORBIDDEN' },
  { name: 'audio_url to a private network', path: '/api/synthesis', init: () => jsonPost({ text: '你好', audio_url: 'http://[::1]/x.wav' }), status: 400, code: 'E_URL_FORBIDDEN' },
  { name: 'audio_url not a URL', path: '/api/synthesis', init: () => jsonPost({ text: '你好', audio_url: 'not a url' }), status: 400, code: 'E_URL_FORBIDDEN' },
  { name: 'both voice_id and audio_url', path: '/api/synthesis', init: () => jsonPost({ text: '你好', voice_id: missing, audio_url: 'https://example.com/a.wav' }), status: 409, code: 'E_VOICE_CONFLICT' },
  { name: 'an over-long Idempotency-Key', path: '/api/synthesis', init: () => jsonPost({ text: '你好' }, { 'idempotency-key': 'k'.repeat(500) }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a content type the route does not take', path: '/api/synthesis', init: () => raw('text=你好', 'text/plain'), status: 415, code: 'E_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'form-urlencoded', path: '/api/synthesis', init: () => raw('text=hi', 'application/x-www-form-urlencoded'), status: 415, code: 'E_UNSUPPORTED_MEDIA_TYPE' },
  // POST /api/synthesis, multipart
  { name: 'both voice_id and an upload', path: '/api/synthesis', init: async () => multipart({ text: '你好', voice_id: missing }, { name: 'a.wav', data: await tone('both.wav', 3) }), status: 409, code: 'E_VOICE_CONFLICT' },
  { name: 'an upload over the size cap', path: '/api/synthesis', init: () => multipart({ text: '你好' }, { name: 'big.wav', data: randomBytes(300_000) }), status: 413, code: 'E_BODY_TOO_LARGE' },
  { name: 'an upload in the wrong field', path: '/api/synthesis', init: async () => multipart({ text: '你好' }, { name: 'a.wav', data: await tone('field.wav', 3), field: 'voice' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'multipart without text', path: '/api/synthesis', init: async () => multipart({}, { name: 'a.wav', data: await tone('notext.wav', 3) }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'multipart seed not a number', path: '/api/synthesis', init: () => multipart({ text: '你好', seed: 'abc' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'multipart pronunciations not JSON', path: '/api/synthesis', init: () => multipart({ text: '你好', pronunciations: '[{' }), status: 400, code: 'E_PRONUNCIATION_INVALID' },
  // GET /api/task/:id and friends
  { name: 'unknown task', path: `/api/task/${missing}`, init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'a path-like task id', path: '/api/task/..%2F..%2Fetc%2Fpasswd', init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'a very long task id', path: `/api/task/${'a'.repeat(150)}`, init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'an id longer than any route allows', path: `/api/task/${'a'.repeat(5000)}`, init: () => ({}), status: 414, code: 'E_URI_TOO_LONG' },
  { name: 'audio of an unknown task', path: `/api/task/${missing}/audio`, init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'events of an unknown task', path: `/api/task/${missing}/events`, init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'a malformed Last-Event-ID', path: `/api/task/${task}/events`, init: () => ({ headers: { 'last-event-id': 'yesterday' } }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'cancel an unknown task', path: `/api/task/${missing}`, init: () => ({ method: 'DELETE' }), status: 404, code: 'E_NOT_FOUND' },
  { name: 'list with an unknown status', path: '/api/tasks?status=dancing', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'list with a limit too large', path: '/api/tasks?limit=100000', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'list with a forged cursor', path: '/api/tasks?cursor=abc', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  // voices
  { name: 'a voice as JSON', path: '/api/voices', init: () => jsonPost({ name: 'x' }), status: 415, code: 'E_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'a voice without a file', path: '/api/voices', init: () => multipart({ name: 'x' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a voice without a name', path: '/api/voices', init: async () => multipart({}, { name: 'a.wav', data: await tone('noname.wav', 3) }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a voice from random bytes', path: '/api/voices', init: () => multipart({ name: 'x' }, { name: 'a.wav', data: randomBytes(20_000) }), status: 415, code: 'E_AUDIO_UNREADABLE' },
  { name: 'a voice from a text file named .wav', path: '/api/voices', init: () => multipart({ name: 'x' }, { name: 'a.wav', data: Buffer.from('not audio\n'.repeat(500)) }), status: 415, code: 'E_AUDIO_UNREADABLE' },
  { name: 'a voice of 0.2 s', path: '/api/voices', init: async () => multipart({ name: 'x' }, { name: 'a.wav', data: await tone('short.wav', 0.2) }), status: 422, code: 'E_AUDIO_TOO_SHORT' },
  { name: 'a voice from a video without sound', path: '/api/voices', init: async () => multipart({ name: 'x' }, { name: 'v.mp4', data: await readFile(await makeSilentVideo(join(service.dataDir, 'v.mp4'))) }), status: 415, code: 'E_AUDIO_NO_AUDIO_STREAM' },
  { name: 'an unknown voice', path: `/api/voices/${missing}`, init: () => ({}), status: 404, code: 'E_VOICE_NOT_FOUND' },
  { name: 'delete an unknown voice', path: `/api/voices/${missing}`, init: () => ({ method: 'DELETE' }), status: 404, code: 'E_VOICE_NOT_FOUND' },
  // routes and methods
  { name: 'an unknown route', path: '/api/nothing-here', init: () => ({}), status: 404, code: 'E_ROUTE_NOT_FOUND' },
  { name: 'a wrong method', path: '/api/synthesis', init: () => ({ method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' }), status: 404, code: 'E_ROUTE_NOT_FOUND' },
  { name: 'GET on the submit route', path: '/api/synthesis', init: () => ({}), status: 404, code: 'E_ROUTE_NOT_FOUND' },
  { name: 'a path traversal', path: '/api/../../etc/passwd', init: () => ({}), status: 404, code: 'E_ROUTE_NOT_FOUND' },
];

test(`${cases.length} kinds of bad input each get a 4xx with a stable code, and the service keeps serving`, async () => {
  assert.ok(cases.length >= 40);
  for (const c of cases) {
    const { status, body } = await service.request(c.path, await c.init());
    assert.equal(status, c.status, `${c.name}: ${JSON.stringify(body)}`);
    assert.equal(body?.error?.code, c.code, `${c.name}: ${JSON.stringify(body)}`);
    assert.ok(typeof body.error.message === 'string' && body.error.message.length > 10, `${c.name}: the message says what to fix`);
  }
  assert.equal((await service.request('/healthz')).status, 200);
  const { status } = await service.request('/api/synthesis', jsonPost({ text: '还在工作。' }));
  assert.equal(status, 202);
});
