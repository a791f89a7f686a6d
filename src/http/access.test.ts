/**
 * Issue 11 over real HTTP: API keys (Bearer and X-API-Key, revoked keys), owners (another key's
 * task, audio, events, WebSocket subscription and voice are not found; an admin sees all),
 * limits per key (requests a second, characters a day, unfinished tasks, voices: 429 with
 * Retry-After and a code naming the limit), voice consent, the blocklist, and the audit log.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import WebSocket from 'ws';
import { makeTone } from '../audio/testing/fixtures.js';
import { CONSENT_FIELDS, jsonPost, startTestService, waitForTask as waitForAnyTask, withConsent } from '../service/testing/test-service.js';

const service = await startTestService({ BENCH_SLEEP_COST_MS: '20', MODERATION_BLOCKLIST: await blocklist(), METRICS_TOKEN: 'metrics-secret' }, {});
test.after(() => service.stop());

async function blocklist(): Promise<string> {
  const path = join(process.env.TMPDIR ?? '/tmp', `blocklist-${process.pid}.txt`);
  await writeFile(path, '# words no one may have read aloud here\nforbiddenword\n');
  return path;
}

/** Waits for a task as its owner (the admin key sees every task). */
const waitForTask = (_service: unknown, id: string, done?: (task: any) => boolean) => waitForAnyTask(service, id, done, 60_000, bearer(admin.key));

const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });
const as = (key: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...(init.headers as Record<string, string>), ...bearer(key) } });

async function createKey(by: string | undefined, body: Record<string, unknown>): Promise<{ key: string; id: string }> {
  const answer = await service.request('/api/keys', jsonPost(body, by === undefined ? {} : bearer(by)));
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return { key: answer.body.key, id: answer.body.api_key.id };
}

// On loopback before any key exists, requests are anonymous and trusted: the first admin key is made that way.
const anonymousBefore = await service.request('/api/tasks');
const admin = await createKey(undefined, { name: 'admin', role: 'admin' });
const alice = await createKey(admin.key, { name: 'alice' });
const bob = await createKey(admin.key, { name: 'bob' });

async function voiceForm(name: string, consent = true): Promise<FormData> {
  const form = new FormData();
  form.set('name', name);
  if (consent) withConsent(form);
  form.set('audio', new Blob([await readFile(await makeTone(join(service.dataDir, `${name}.wav`), { seconds: 3 }))]), `${name}.wav`);
  return form;
}

test('before any key exists a loopback service serves anonymous requests; once one exists, no key is 401', async () => {
  assert.equal(anonymousBefore.status, 200);
  const refused = await service.request('/api/tasks');
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error.code, 'E_UNAUTHORIZED');
  assert.match(refused.headers.get('www-authenticate') ?? '', /^Bearer/u);
  assert.equal((await service.request('/healthz')).status, 200, 'probes stay open');
  // The web page and its assets load without a key (its API calls send one): 200, or 503 E_PAGE_NOT_BUILT after a tsc-only build.
  assert.notEqual((await service.request('/')).status, 401, 'the page stays open');
  assert.equal((await service.request('/assets/no-such-file.js')).body.error.code, 'E_ROUTE_NOT_FOUND');
});

test('open routes are judged by the route matched, not by the URL: /docs/../api/tasks is not open', async () => {
  const raw = (path: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = http.request(`${service.url}${path}`, { path }, (response) => {
        let body = '';
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      request.on('error', reject);
      request.end();
    });
  assert.equal((await raw('/docs/json')).status, 200);
  for (const path of ['/docs/../api/tasks', '/docs/..%2Fapi%2Ftasks', '/healthz/../api/tasks', '/metrics/../api/keys', '/assets/../api/tasks', '/assets/..%2Fapi%2Ftasks', '/assets/%2e%2e/api/keys']) {
    const answer = await raw(path);
    assert.ok(answer.status !== 200 || !answer.body.includes('"tasks"'), `${path}: ${answer.status} ${answer.body.slice(0, 100)}`);
    assert.ok(!answer.body.includes('"keys"'), path);
  }
});

test('a key is accepted as Bearer or X-API-Key; a wrong, unknown or malformed one is 401', async () => {
  assert.equal((await service.request('/api/tasks', as(alice.key))).status, 200);
  assert.equal((await service.request('/api/tasks', { headers: { 'x-api-key': alice.key } })).status, 200);
  const wrongSecret = `${alice.key.slice(0, -4)}AAAA`;
  for (const header of [bearer(wrongSecret), bearer('ttsq_aaaaaaaaaaaa_'.padEnd(61, 'x')), { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, { 'x-api-key': 'nonsense' }]) {
    const answer = await service.request('/api/tasks', { headers: header });
    assert.equal(answer.status, 401, JSON.stringify(header));
    assert.equal(answer.body.error.code, 'E_UNAUTHORIZED');
  }
});

test('a revoked key is 401 at once; revoking is for admins', async () => {
  const carol = await createKey(admin.key, { name: 'carol' });
  assert.equal((await service.request('/api/tasks', as(carol.key))).status, 200);
  assert.equal((await service.request(`/api/keys/${carol.id}`, as(alice.key, { method: 'DELETE' }))).body.error.code, 'E_FORBIDDEN');
  const revoked = await service.request(`/api/keys/${carol.id}`, as(admin.key, { method: 'DELETE' }));
  assert.equal(revoked.status, 200);
  assert.ok(revoked.body.revoked_at !== null);
  const answer = await service.request('/api/tasks', as(carol.key));
  assert.equal(answer.status, 401);
  assert.equal(answer.body.error.code, 'E_UNAUTHORIZED');
  const listed = await service.request('/api/keys', as(admin.key));
  assert.ok(listed.body.keys.some((k: { id: string; revoked_at: string | null }) => k.id === carol.id && k.revoked_at !== null));
  assert.ok(!JSON.stringify(listed.body).includes(carol.key.slice(18)), 'no key or hash is listed');
});

test("another key's task, audio, events, cancel and WebSocket subscription are 404; lists show one's own; an admin sees all", async () => {
  const submitted = await service.request('/api/synthesis', jsonPost({ text: '爱丽丝的任务。' }, bearer(alice.key)));
  assert.equal(submitted.status, 202);
  const id = submitted.body.id as string;
  await waitForTask(service, id, () => true).catch(() => undefined);
  for (const [path, init] of [
    [`/api/task/${id}`, {}],
    [`/api/task/${id}/audio`, {}],
    [`/api/task/${id}/events`, {}],
    [`/api/task/${id}`, { method: 'DELETE' }],
  ] as const) {
    const answer = await service.request(path, as(bob.key, init));
    assert.equal(answer.status, 404, `${init.method ?? 'GET'} ${path}`);
    assert.equal(answer.body.error.code, 'E_NOT_FOUND');
  }
  assert.equal((await service.request(`/api/task/${id}`, as(alice.key))).status, 200);
  assert.equal((await service.request(`/api/task/${id}`, as(admin.key))).body.owner, alice.id);
  const bobs = (await service.request('/api/tasks?limit=100', as(bob.key))).body.tasks as Array<{ id: string }>;
  assert.ok(!bobs.some((t) => t.id === id));
  const alices = (await service.request('/api/tasks?limit=100', as(alice.key))).body.tasks as Array<{ id: string; owner: string }>;
  assert.ok(alices.some((t) => t.id === id) && alices.every((t) => t.owner === alice.id));
  assert.ok(((await service.request('/api/tasks?limit=100', as(admin.key))).body.tasks as Array<{ id: string }>).some((t) => t.id === id));

  const socket = new WebSocket(`${service.url.replace('http', 'ws')}/api/ws`, { headers: bearer(bob.key) });
  const message = new Promise<any>((resolve) => socket.once('message', (data) => resolve(JSON.parse(String(data)))));
  await new Promise((resolve) => socket.once('open', resolve));
  socket.send(JSON.stringify({ type: 'subscribe', ids: [id] }));
  const answer = await message;
  socket.terminate();
  assert.equal(answer.type, 'error');
  assert.equal(answer.error.code, 'E_NOT_FOUND');
  const anonymousSocket = new WebSocket(`${service.url.replace('http', 'ws')}/api/ws`);
  anonymousSocket.on('error', () => undefined); // the refused upgrade
  const refused = await new Promise<number>((resolve) =>
    anonymousSocket.once('unexpected-response', (request, response) => {
      resolve(response.statusCode ?? 0);
      request.destroy();
    }),
  );
  assert.equal(refused, 401);
});

test("another key's voice is 404 to read, delete or use; voices need consent; an admin sees all", async () => {
  const withoutConsent = await service.request('/api/voices', as(alice.key, { method: 'POST', body: await voiceForm('no-consent', false) }));
  assert.equal(withoutConsent.status, 400);
  assert.equal(withoutConsent.body.error.code, 'E_CONSENT_REQUIRED');
  const created = await service.request('/api/voices', as(alice.key, { method: 'POST', body: await voiceForm('alice-voice') }));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.speaker_name, CONSENT_FIELDS.speaker_name);
  const id = created.body.id as string;
  assert.equal((await service.request(`/api/voices/${id}`, as(bob.key))).body.error.code, 'E_VOICE_NOT_FOUND');
  assert.equal((await service.request(`/api/voices/${id}`, as(bob.key, { method: 'DELETE' }))).status, 404);
  // Its recording is the owner's to hear: RIFF WAV to alice, 404 to bob, 401 without a key.
  const recording = await fetch(`${service.url}/api/voices/${id}/audio`, as(alice.key));
  assert.equal(recording.status, 200);
  assert.equal(recording.headers.get('content-type'), 'audio/wav');
  assert.equal(
    Buffer.from(await recording.arrayBuffer())
      .subarray(0, 4)
      .toString('latin1'),
    'RIFF',
  );
  assert.equal((await service.request(`/api/voices/${id}/audio`, as(bob.key))).body.error.code, 'E_VOICE_NOT_FOUND');
  assert.equal((await service.request(`/api/voices/${id}/audio`)).status, 401);
  const used = await service.request('/api/synthesis', jsonPost({ text: '借用别人的声音。', voice_id: id }, bearer(bob.key)));
  assert.equal(used.status, 404);
  assert.equal(used.body.error.code, 'E_VOICE_NOT_FOUND');
  assert.ok(!((await service.request('/api/voices', as(bob.key))).body.voices as Array<{ id: string }>).some((v) => v.id === id));
  assert.ok(((await service.request('/api/voices', as(admin.key))).body.voices as Array<{ id: string }>).some((v) => v.id === id));
  assert.equal((await service.request('/api/synthesis', jsonPost({ text: '用自己的声音。', voice_id: id }, bearer(alice.key)))).status, 202);
});

test('a task that clones an uploaded recording needs consent too', async () => {
  const form = new FormData();
  form.set('text', '上传的参考。');
  form.set('audio', new Blob([await readFile(await makeTone(join(service.dataDir, 'task-ref.wav'), { seconds: 3 }))]), 'ref.wav');
  const refused = await service.request('/api/synthesis', as(alice.key, { method: 'POST', body: form }));
  assert.equal(refused.status, 400);
  assert.equal(refused.body.error.code, 'E_CONSENT_REQUIRED');
  assert.equal((await service.request('/api/synthesis', as(alice.key, { method: 'POST', body: withConsent(form) }))).status, 202);
});

test('idempotency keys are scoped per key', async () => {
  const first = await service.request('/api/synthesis', jsonPost({ text: '同一个键。' }, { ...bearer(alice.key), 'idempotency-key': 'shared-key' }));
  const second = await service.request('/api/synthesis', jsonPost({ text: '另一个请求。' }, { ...bearer(bob.key), 'idempotency-key': 'shared-key' }));
  assert.equal(first.status, 202);
  assert.equal(second.status, 202);
  assert.notEqual(first.body.id, second.body.id);
});

test('each limit of a key answers 429 with Retry-After and a code naming it', async () => {
  const limited = await createKey(admin.key, { name: 'limited', quotas: { requests_per_second: 3, chars_per_day: 12, open_tasks: 1, voices: 1 } });
  // Requests a second: a burst goes past 3.
  const burst = await Promise.all(Array.from({ length: 8 }, () => service.request('/api/tasks', as(limited.key))));
  const tooMany = burst.filter((answer) => answer.status === 429);
  assert.ok(tooMany.length > 0, `statuses: ${burst.map((a) => a.status).join(',')}`);
  assert.equal(tooMany[0]!.body.error.code, 'E_RATE_LIMITED');
  assert.ok(Number(tooMany[0]!.headers.get('retry-after')) >= 1);

  const pause = () => new Promise((resolve) => setTimeout(resolve, 1_100)); // the next second's allowance
  await pause();
  // Unfinished tasks: one, and the first (40 segments of at least 20 ms each) is still running when the second comes.
  const oneAtATime = await createKey(admin.key, { name: 'one-at-a-time', quotas: { open_tasks: 1 } });
  const long = await service.request('/api/synthesis', jsonPost({ text: '这是一句。'.repeat(40).replace(/。/gu, '。\n') }, bearer(oneAtATime.key)));
  assert.equal(long.status, 202);
  const second = await service.request('/api/synthesis', jsonPost({ text: '六七。' }, bearer(oneAtATime.key)));
  assert.equal(second.status, 429);
  assert.equal(second.body.error.code, 'E_QUOTA_TASKS');
  assert.ok(Number(second.headers.get('retry-after')) >= 1);
  await service.request(`/api/task/${long.body.id}`, as(oneAtATime.key, { method: 'DELETE' }));
  assert.equal((await service.request('/api/synthesis', jsonPost({ text: '六七。' }, bearer(oneAtATime.key)))).status, 202, 'a canceled task no longer counts');
  const first = await service.request('/api/synthesis', jsonPost({ text: '一二三四五。' }, bearer(limited.key)));
  assert.equal(first.status, 202);
  await waitForTask(service, first.body.id as string, (t) => t.status === 'completed');
  await pause();
  // Characters a day: 12, of which the task above used 5.
  const overDay = await service.request('/api/synthesis', jsonPost({ text: '这是一段超过每日字数限制的文字。' }, bearer(limited.key)));
  assert.equal(overDay.status, 429);
  assert.equal(overDay.body.error.code, 'E_QUOTA_CHARS');
  const retryAfter = Number(overDay.headers.get('retry-after'));
  assert.ok(retryAfter >= 1 && retryAfter <= 86_400, `Retry-After: ${retryAfter}`);
  await pause();
  // Stored voices: one.
  assert.equal((await service.request('/api/voices', as(limited.key, { method: 'POST', body: await voiceForm('limited-1') }))).status, 201);
  await pause();
  const secondVoice = await service.request('/api/voices', as(limited.key, { method: 'POST', body: await voiceForm('limited-2') }));
  assert.equal(secondVoice.status, 429);
  assert.equal(secondVoice.body.error.code, 'E_QUOTA_VOICES');
});

test('a blocked text is 422 E_CONTENT_REFUSED without the term in the message', async () => {
  const answer = await service.request('/api/synthesis', jsonPost({ text: 'Please read ForbiddenWord aloud.' }, bearer(alice.key)));
  assert.equal(answer.status, 422);
  assert.equal(answer.body.error.code, 'E_CONTENT_REFUSED');
  assert.doesNotMatch(answer.body.error.message, /forbiddenword/iu);
});

test('/metrics wants METRICS_TOKEN; an API key is not it', async () => {
  assert.equal((await service.request('/metrics')).status, 401);
  assert.equal((await service.request('/metrics', as(admin.key))).status, 401);
  const answer = await service.request('/metrics', { headers: bearer('metrics-secret') });
  assert.equal(answer.status, 200);
  assert.match(String(answer.body), /^ttsq_/mu);
});

test('the audit log records tasks, downloads, cancels, voices and keys, with key and address; admins only', async () => {
  const created = await service.request('/api/synthesis', jsonPost({ text: '审计。' }, bearer(alice.key)));
  const id = created.body.id as string;
  await waitForTask(service, id, (t) => t.status === 'completed');
  assert.equal((await service.request(`/api/task/${id}/audio`, as(alice.key))).status, 200);
  const voice = await service.request('/api/voices', as(bob.key, { method: 'POST', body: await voiceForm('audited') }));
  await service.request('/api/synthesis', jsonPost({ text: '用声音。', voice_id: voice.body.id }, bearer(bob.key)));
  assert.equal((await service.request(`/api/voices/${voice.body.id}`, as(bob.key, { method: 'DELETE' }))).status, 204);
  const canceled = await service.request('/api/synthesis', jsonPost({ text: '取消。', priority: -10 }, bearer(bob.key)));
  await service.request(`/api/task/${canceled.body.id}`, as(bob.key, { method: 'DELETE' }));

  assert.equal((await service.request('/api/audit', as(alice.key))).body.error.code, 'E_FORBIDDEN');
  const entries = (await service.request('/api/audit?limit=500', as(admin.key))).body.entries as Array<{ action: string; key_id: string | null; subject: string; address: string }>;
  const has = (action: string, keyId: string, subject?: string) => entries.some((e) => e.action === action && e.key_id === keyId && (subject === undefined || e.subject === subject));
  assert.ok(has('task.create', alice.id, id));
  assert.ok(has('task.download', alice.id, id));
  assert.ok(has('voice.create', bob.id, voice.body.id));
  assert.ok(has('voice.use', bob.id, voice.body.id));
  assert.ok(has('voice.delete', bob.id, voice.body.id));
  assert.ok(has('task.cancel', bob.id, canceled.body.id));
  assert.ok(has('key.create', admin.id, alice.id));
  assert.ok(
    entries.some((e) => e.action === 'key.create' && e.key_id === null && e.subject === admin.id),
    'the first key, made anonymously',
  );
  assert.ok(entries.every((e) => e.address === '127.0.0.1' || e.address === '::1' || e.address === '::ffff:127.0.0.1'));
  const filtered = (await service.request(`/api/audit?key_id=${alice.id}&action=task.download`, as(admin.key))).body.entries as Array<{ subject: string }>;
  assert.deepEqual(
    filtered.map((e) => e.subject),
    [id],
  );
});

test('webhook secrets: each key reads its own at GET /api/webhooks/secret; without a key it is 401', async () => {
  assert.equal((await service.request('/api/webhooks/secret')).status, 401);
  const mine = await service.request('/api/webhooks/secret', as(alice.key));
  const theirs = await service.request('/api/webhooks/secret', as(bob.key));
  assert.equal(mine.body.owner, alice.id);
  assert.equal(theirs.body.owner, bob.id);
  assert.match(mine.body.secret, /^whsec_/u);
  assert.notEqual(mine.body.secret, theirs.body.secret);
});
