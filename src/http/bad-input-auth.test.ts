/**
 * The hostile-input corpus for authentication and authorisation (bad-input.test.ts runs on
 * loopback without keys, where anonymous requests are allowed). This service gets its keys
 * through its own API: an admin key created while it is still anonymous, then a user key and a
 * key that is revoked. From then on every request needs a valid key.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonPost, startTestService } from '../service/testing/test-service.js';
import { sendRawBytes } from './testing/raw-request.js';

const service = await startTestService();
test.after(() => service.stop());

const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

async function createKey(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<{ key: string; id: string }> {
  const { status, body: created } = await service.request('/api/keys', jsonPost(body, headers));
  assert.equal(status, 201, JSON.stringify(created));
  return { key: created.key as string, id: created.api_key.id as string };
}

// Anonymous on loopback before any key exists: the first admin key is made through the API.
const admin = await createKey({ name: 'corpus-admin', role: 'admin' });
const user = await createKey({ name: 'corpus-user', role: 'user' }, bearer(admin.key));
const revoked = await createKey({ name: 'corpus-revoked', role: 'admin' }, bearer(admin.key));
assert.equal((await service.request(`/api/keys/${revoked.id}`, { method: 'DELETE', headers: bearer(admin.key) })).status, 200);
const adminTask = (await service.request('/api/synthesis', jsonPost({ text: '管理员的任务。' }, bearer(admin.key)))).body.id as string;

const SECRET_LENGTH = 43;
const wrongSecret = `${admin.key.slice(0, -SECRET_LENGTH)}${'A'.repeat(SECRET_LENGTH)}`;
const unknownId = `ttsq_${'a'.repeat(12)}_${'A'.repeat(SECRET_LENGTH)}`;

interface Case {
  name: string;
  path: string;
  init: () => RequestInit;
  status: number;
  code: string;
}

const get = (headers: Record<string, string>): RequestInit => ({ headers });

const cases: Case[] = [
  // no key, or a key that is not one
  { name: 'no key', path: '/api/tasks', init: () => ({}), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'no key on submit', path: '/api/synthesis', init: () => jsonPost({ text: '你好' }), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'no key on the voices', path: '/api/voices', init: () => ({}), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'no key on the engines', path: '/api/engines', init: () => ({}), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'no key on a task', path: `/api/task/${adminTask}`, init: () => ({}), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'no key on the WebSocket route', path: '/api/ws', init: () => ({}), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'no key on the audit log', path: '/api/audit', init: () => ({}), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'anonymous key creation once a key exists', path: '/api/keys', init: () => jsonPost({ name: 'sneaky', role: 'admin' }), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'anonymous revocation', path: `/api/keys/${admin.id}`, init: () => ({ method: 'DELETE' }), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'the key in the query string', path: `/api/tasks?api_key=${admin.key}`, init: () => ({}), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'Authorization: Basic', path: '/api/tasks', init: () => get({ authorization: `Basic ${Buffer.from(`admin:${admin.key}`).toString('base64')}` }), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'Authorization: Token', path: '/api/tasks', init: () => get({ authorization: `Token ${admin.key}` }), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'the key without a scheme', path: '/api/tasks', init: () => get({ authorization: admin.key }), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'Bearer without a token', path: '/api/tasks', init: () => get({ authorization: 'Bearer' }), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'Bearer and spaces', path: '/api/tasks', init: () => get({ authorization: 'Bearer      ' }), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'an empty Authorization', path: '/api/tasks', init: () => get({ authorization: '' }), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'Bearer with two tokens', path: '/api/tasks', init: () => get({ authorization: `Bearer ${admin.key} ${user.key}` }), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'two Bearer credentials in one header', path: '/api/tasks', init: () => get({ authorization: `Bearer ${admin.key}, Bearer ${user.key}` }), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'a wrong secret', path: '/api/tasks', init: () => get(bearer(wrongSecret)), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'a valid shape with an unknown id', path: '/api/tasks', init: () => get(bearer(unknownId)), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'a revoked key', path: '/api/tasks', init: () => get(bearer(revoked.key)), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'a revoked admin key on the keys', path: '/api/keys', init: () => get(bearer(revoked.key)), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'a revoked key as X-API-Key', path: '/api/tasks', init: () => get({ 'x-api-key': revoked.key }), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'a key of the wrong prefix', path: '/api/tasks', init: () => get(bearer(admin.key.replace(/^ttsq_/u, 'ttsx_'))), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'a key without its prefix', path: '/api/tasks', init: () => get(bearer(admin.key.replace(/^ttsq_/u, ''))), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'a key in upper case', path: '/api/tasks', init: () => get(bearer(admin.key.toUpperCase())), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'a key one character short', path: '/api/tasks', init: () => get(bearer(admin.key.slice(0, -1))), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'a key one character long', path: '/api/tasks', init: () => get(bearer(`${admin.key}A`)), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'the key id alone', path: '/api/tasks', init: () => get(bearer(admin.id)), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'the stored hash of a key', path: '/api/tasks', init: () => get(bearer('0'.repeat(64))), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'two different keys in Authorization and X-API-Key', path: '/api/tasks', init: () => get({ ...bearer(user.key), 'x-api-key': admin.key }), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'a malformed Authorization beside a valid X-API-Key', path: '/api/tasks', init: () => get({ authorization: 'Bearer', 'x-api-key': admin.key }), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'an empty X-API-Key', path: '/api/tasks', init: () => get({ 'x-api-key': '' }), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'an X-API-Key of spaces', path: '/api/tasks', init: () => get({ 'x-api-key': '     ' }), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'a wrong secret as X-API-Key', path: '/api/tasks', init: () => get({ 'x-api-key': wrongSecret }), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'a key of 10,000 characters', path: '/api/tasks', init: () => get(bearer(`ttsq_${'a'.repeat(9_995)}`)), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'an X-API-Key of 10,000 characters', path: '/api/tasks', init: () => get({ 'x-api-key': 'k'.repeat(10_000) }), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'a key with Latin-1 letters', path: '/api/tasks', init: () => get(bearer(admin.key.replace(/^ttsq_./u, 'ttsq_é'))), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'a key with a NUL escape', path: '/api/tasks', init: () => get(bearer(`${admin.key.slice(0, 20)}%00${admin.key.slice(23)}`)), status: 401, code: 'E_UNAUTHORIZED' },
  // a user key where only admins may go, or at what another key made
  { name: 'a user key listing keys', path: '/api/keys', init: () => get(bearer(user.key)), status: 403, code: 'E_FORBIDDEN' },
  { name: 'a user key creating a key', path: '/api/keys', init: () => jsonPost({ name: 'escalate', role: 'admin' }, bearer(user.key)), status: 403, code: 'E_FORBIDDEN' },
  { name: 'a user key sending a malformed key body', path: '/api/keys', init: () => jsonPost({ role: 42 }, bearer(user.key)), status: 403, code: 'E_FORBIDDEN' },
  { name: 'a user key reading a key', path: `/api/keys/${admin.id}`, init: () => get(bearer(user.key)), status: 403, code: 'E_FORBIDDEN' },
  { name: 'a user key reading its own key', path: `/api/keys/${user.id}`, init: () => get(bearer(user.key)), status: 403, code: 'E_FORBIDDEN' },
  { name: 'a user key revoking the admin key', path: `/api/keys/${admin.id}`, init: () => ({ method: 'DELETE', headers: bearer(user.key) }), status: 403, code: 'E_FORBIDDEN' },
  { name: 'a user key reading the audit log', path: '/api/audit', init: () => get(bearer(user.key)), status: 403, code: 'E_FORBIDDEN' },
  { name: 'a user key with a malformed audit query', path: '/api/audit?limit=abc&cursor=x', init: () => get(bearer(user.key)), status: 403, code: 'E_FORBIDDEN' },
  { name: 'a user key as X-API-Key on the audit log', path: '/api/audit', init: () => get({ 'x-api-key': user.key }), status: 403, code: 'E_FORBIDDEN' },
  { name: "a user key reading an admin's task", path: `/api/task/${adminTask}`, init: () => get(bearer(user.key)), status: 404, code: 'E_NOT_FOUND' },
  { name: "a user key downloading an admin's audio", path: `/api/task/${adminTask}/audio`, init: () => get(bearer(user.key)), status: 404, code: 'E_NOT_FOUND' },
  { name: "a user key following an admin's task", path: `/api/task/${adminTask}/events`, init: () => get(bearer(user.key)), status: 404, code: 'E_NOT_FOUND' },
  { name: "a user key canceling an admin's task", path: `/api/task/${adminTask}`, init: () => ({ method: 'DELETE', headers: bearer(user.key) }), status: 404, code: 'E_NOT_FOUND' },
  // admins make mistakes too
  { name: 'an admin reusing a key name', path: '/api/keys', init: () => jsonPost({ name: 'corpus-user' }, bearer(admin.key)), status: 409, code: 'E_KEY_NAME_TAKEN' },
  { name: 'an admin revoking an unknown key', path: '/api/keys/zzzzzzzzzzzz', init: () => ({ method: 'DELETE', headers: bearer(admin.key) }), status: 404, code: 'E_KEY_NOT_FOUND' },
  { name: 'an admin reading a key by its secret', path: `/api/keys/${encodeURIComponent(admin.key)}`, init: () => get(bearer(admin.key)), status: 404, code: 'E_KEY_NOT_FOUND' },
];

const request = (headerLines: string): Buffer => Buffer.from(`GET /api/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headerLines}\r\n`, 'utf8');

const rawCases: Array<{ name: string; bytes: () => Buffer; status: number; code: string }> = [
  { name: 'a key in Chinese (UTF-8 bytes)', bytes: () => request(`Authorization: Bearer ttsq_密钥密钥密钥密钥密钥密钥_${'A'.repeat(SECRET_LENGTH)}\r\n`), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'a key with an emoji (UTF-8 bytes)', bytes: () => request(`X-API-Key: ${admin.key.slice(0, -2)}\u{1f511}\r\n`), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'two Authorization headers', bytes: () => request(`Authorization: Bearer ${admin.key}\r\nAuthorization: Bearer ${user.key}\r\n`), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'two X-API-Key headers', bytes: () => request(`X-API-Key: ${admin.key}\r\nX-API-Key: ${admin.key}\r\n`), status: 401, code: 'E_UNAUTHORIZED' },
  { name: 'a key of 20,000 characters', bytes: () => request(`Authorization: Bearer ttsq_${'a'.repeat(20_000)}\r\n`), status: 431, code: 'E_HEADERS_TOO_LARGE' },
];

for (const c of cases) {
  test(`bad credentials: ${c.name} → ${c.status} ${c.code}`, async () => {
    const { status, body } = await service.request(c.path, c.init());
    assert.ok(status < 500, `no 5xx: ${status} ${JSON.stringify(body)?.slice(0, 500)}`);
    assert.equal(status, c.status, JSON.stringify(body)?.slice(0, 500));
    assert.equal(body?.error?.code, c.code, JSON.stringify(body)?.slice(0, 500));
    assert.ok(typeof body.error.message === 'string' && body.error.message.length > 10, 'the message says what to fix');
    assert.doesNotMatch(JSON.stringify(body), new RegExp(admin.key.slice(-SECRET_LENGTH), 'u'), 'no answer repeats a secret');
  });
}

for (const c of rawCases) {
  test(`bad credentials, raw: ${c.name} → ${c.status} ${c.code}`, async () => {
    const { status, body } = await sendRawBytes(service.url, c.bytes());
    assert.ok(status > 0 && status < 500, `no 5xx: ${status} ${JSON.stringify(body)?.slice(0, 500)}`);
    assert.equal(status, c.status, JSON.stringify(body)?.slice(0, 500));
    assert.equal(body?.error?.code, c.code, JSON.stringify(body)?.slice(0, 500));
  });
}

test('after all the bad credentials the service still serves its keys', async () => {
  assert.ok(cases.length + rawCases.length >= 50, `${cases.length + rawCases.length} cases`);
  assert.equal((await service.request('/healthz')).status, 200);
  assert.equal((await service.request('/api/keys', get(bearer(admin.key)))).status, 200);
  assert.equal((await service.request('/api/audit?limit=5', get({ 'x-api-key': admin.key }))).status, 200);
  const submitted = await service.request('/api/synthesis', jsonPost({ text: '用户还在工作。' }, bearer(user.key)));
  assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
  assert.equal((await service.request(`/api/task/${submitted.body.id}`, get(bearer(user.key)))).status, 200);
  assert.equal((await service.request(`/api/task/${submitted.body.id}`, get({ 'x-api-key': admin.key }))).status, 200);
});
