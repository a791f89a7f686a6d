/** No API key or Authorization value reaches the logs, at any level, whatever the request. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../service/logger.js';
import { jsonPost, startTestService } from '../service/testing/test-service.js';

test('keys and Authorization headers never reach the log output, even at trace level', async () => {
  let output = '';
  const sink = new Writable({
    write(chunk, _encoding, done) {
      output += String(chunk);
      done();
    },
  });
  const service = await startTestService({}, { logger: createLogger('trace', sink) });
  const secrets: string[] = [];
  try {
    const admin = (await service.request('/api/keys', jsonPost({ name: 'admin', role: 'admin' }))).body.key as string;
    const user = (await service.request('/api/keys', jsonPost({ name: 'user' }, { authorization: `Bearer ${admin}` }))).body.key as string;
    secrets.push(admin, user);
    const wrong = `${user.slice(0, -6)}ZZZZZZ`;
    secrets.push(wrong, 'not-a-key-but-secret-looking-9f3a');
    await service.request('/api/tasks', { headers: { authorization: `Bearer ${admin}` } });
    await service.request('/api/tasks', { headers: { 'x-api-key': user } });
    await service.request('/api/tasks', { headers: { authorization: `Bearer ${wrong}` } });
    await service.request('/api/tasks', { headers: { authorization: 'Bearer not-a-key-but-secret-looking-9f3a' } });
    await service.request('/api/synthesis', jsonPost({ text: '日志。' }, { authorization: `Bearer ${user}` }));
    await service.request('/api/synthesis', jsonPost({ text: 7 }, { 'x-api-key': user }));
    await service.request('/api/nothing', { headers: { authorization: `Bearer ${user}` } });
    await service.request(`/api/keys/${admin.slice(5, 17)}`, { method: 'DELETE', headers: { authorization: `Bearer ${user}` } });
  } finally {
    await service.stop();
  }
  assert.ok(output.includes('incoming request'), 'requests were logged (trace level)');
  for (const secret of secrets) assert.ok(!output.includes(secret), 'a key reached the log');
  // The secret part alone, in case something logs a fragment.
  for (const secret of secrets.slice(0, 3)) assert.ok(!output.includes(secret.slice(18)), 'part of a key reached the log');
  assert.doesNotMatch(output, /bearer /iu);
});
