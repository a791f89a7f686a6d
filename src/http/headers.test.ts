/** Security headers, CORS by allow-list, request ids, and the client's address behind a trusted proxy. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonPost, startTestService } from '../service/testing/test-service.js';

test('helmet headers and a request id on every answer; no CORS unless an origin is allowed', async () => {
  const service = await startTestService();
  try {
    const answer = await service.request('/api/tasks', { headers: { origin: 'https://elsewhere.example' } });
    assert.equal(answer.headers.get('x-content-type-options'), 'nosniff');
    assert.match(answer.headers.get('content-security-policy') ?? '', /default-src 'self'/u);
    assert.doesNotMatch(answer.headers.get('content-security-policy') ?? '', /upgrade-insecure-requests/u);
    assert.ok((answer.headers.get('x-request-id') ?? '') !== '');
    assert.equal(answer.headers.get('access-control-allow-origin'), null);
  } finally {
    await service.stop();
  }
});

test('CORS_ORIGINS allows those origins, with the key headers, and no others', async () => {
  const service = await startTestService({ CORS_ORIGINS: 'https://app.example.com' });
  try {
    const preflight = await service.request('/api/synthesis', {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/iu);
    const other = await service.request('/api/tasks', { headers: { origin: 'https://evil.example' } });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  } finally {
    await service.stop();
  }
});

test("behind TRUST_PROXY the audit log records the client's forwarded address; without it, the peer's", async () => {
  for (const [env, expected] of [
    [{ TRUST_PROXY: '127.0.0.1' }, '203.0.113.7'],
    [{}, '127.0.0.1'],
  ] as const) {
    const service = await startTestService(env);
    try {
      const forwarded = { 'x-forwarded-for': '203.0.113.7' };
      const admin = await service.request('/api/keys', jsonPost({ name: 'admin', role: 'admin' }, forwarded));
      assert.equal(admin.status, 201);
      const entries = (await service.request('/api/audit', { headers: { authorization: `Bearer ${admin.body.key}` } })).body.entries as Array<{ address: string }>;
      assert.equal(entries[0]?.address.replace('::ffff:', ''), expected);
    } finally {
      await service.stop();
    }
  }
});
