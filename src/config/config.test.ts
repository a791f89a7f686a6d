import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { ENVIRONMENT_VARIABLES, loadConfig } from './config.js';
import type { TtsError } from '../errors.js';

test('ENGINE lists engines in order of preference, each with its host count or ENGINE_HOSTS', () => {
  assert.deepEqual(loadConfig({}).engines, [{ name: 'espeak', hosts: availableParallelism() }]);
  assert.deepEqual(loadConfig({ ENGINE: 'glm-tts:4, espeak', ENGINE_HOSTS: '2' }).engines, [
    { name: 'glm-tts', hosts: 4 },
    { name: 'espeak', hosts: 2 },
  ]);
});

test('a malformed ENGINE is refused with a message that says what it takes', () => {
  const refused = (pattern: RegExp) => (error: TtsError) => error.code === 'E_INVALID_ARGUMENT' && pattern.test(error.message);
  assert.throws(() => loadConfig({ ENGINE: 'festival' }), refused(/among espeak, bench-sleep, glm-tts, glm-tts-cli.*got "festival"/u));
  assert.throws(() => loadConfig({ ENGINE: 'glm-tts:0' }), refused(/ENGINE \(glm-tts\).*from 1 to 64/u));
  assert.throws(() => loadConfig({ ENGINE: 'glm-tts:2:3' }), refused(/got "glm-tts:2:3"/u));
  assert.throws(() => loadConfig({ ENGINE: 'espeak,espeak' }), refused(/each engine once/u));
  assert.throws(() => loadConfig({ ENGINE: 'espeak,' }), refused(/got ""/u));
});

test('ENVIRONMENT_VARIABLES is exactly what loadConfig reads', () => {
  const read = new Set<string>();
  const env = new Proxy({} as Record<string, string | undefined>, {
    get: (_target, name) => {
      if (typeof name === 'string') read.add(name);
      return undefined;
    },
  });
  loadConfig(env);
  loadConfig(new Proxy({ BLOB_STORE: 's3', S3_BUCKET: 'b' } as Record<string, string | undefined>, { get: (target, name) => (typeof name === 'string' && read.add(name) ? target[name] : undefined) }));
  assert.deepEqual([...read].sort(), [...ENVIRONMENT_VARIABLES].sort());
});

test('the scaled-out settings: redis, its prefix, the blob store', () => {
  const config = loadConfig({ BACKEND: 'redis', REDIS_URL: 'redis://cache:6380/2', REDIS_PREFIX: 'staging', BLOB_STORE: 's3', S3_BUCKET: 'audio', S3_FORCE_PATH_STYLE: '1' });
  assert.deepEqual(config.redis, { url: 'redis://cache:6380/2', prefix: 'staging' });
  assert.equal(config.s3.bucket, 'audio');
  assert.equal(config.s3.forcePathStyle, true);
  const refused = (pattern: RegExp) => (error: TtsError) => error.code === 'E_INVALID_ARGUMENT' && pattern.test(error.message);
  assert.throws(() => loadConfig({ REDIS_PREFIX: 'a:b' }), refused(/REDIS_PREFIX/u));
  for (const url of ['notaurl', 'redis://[::1', 'http://cache:6379', 'redis://'])
    assert.throws(() => loadConfig({ REDIS_URL: url }), refused(/REDIS_URL to be a redis:\/\/ or rediss:\/\/ URL with a host/u), url);
  // A password in the URL is not repeated in the message.
  assert.throws(
    () => loadConfig({ REDIS_URL: 'http://user:secret@cache' }),
    (error: TtsError) => !error.message.includes('secret'),
  );
  assert.equal(loadConfig({ REDIS_URL: 'rediss://:pw@[::1]:6380/2' }).redis.url, 'rediss://:pw@[::1]:6380/2');
  for (const url of ['notaurl', 'http://[::1', 'ftp://store']) assert.throws(() => loadConfig({ S3_ENDPOINT: url }), refused(/S3_ENDPOINT to be a http:\/\/ or https:\/\/ URL with a host/u), url);
  assert.equal(loadConfig({ S3_ENDPOINT: 'http://[::1]:9000' }).s3.endpoint, 'http://[::1]:9000');
  assert.throws(() => loadConfig({ BLOB_STORE: 's3' }), refused(/S3_BUCKET/u));
  assert.throws(() => loadConfig({ BACKEND: 'postgres' }), refused(/sqlite, redis/u));
});

test('the moderation settings: off by default, checked when given', () => {
  assert.deepEqual(loadConfig({}).moderation, { blocklistPath: undefined, url: undefined, timeoutMs: 3_000, fail: 'closed', allowPrivate: false });
  const config = loadConfig({
    MODERATION_BLOCKLIST: '/etc/tts/blocklist.txt',
    MODERATION_URL: 'http://127.0.0.1:8080/check',
    MODERATION_TIMEOUT_MS: '500',
    MODERATION_FAIL: 'open',
    MODERATION_ALLOW_PRIVATE: '1',
  });
  assert.deepEqual(config.moderation, { blocklistPath: '/etc/tts/blocklist.txt', url: 'http://127.0.0.1:8080/check', timeoutMs: 500, fail: 'open', allowPrivate: true });
  const refused = (pattern: RegExp) => (error: TtsError) => error.code === 'E_INVALID_ARGUMENT' && pattern.test(error.message);
  assert.throws(() => loadConfig({ MODERATION_URL: 'ftp://check' }), refused(/MODERATION_URL to be a http:\/\/ or https:\/\/ URL/u));
  assert.throws(() => loadConfig({ MODERATION_FAIL: 'maybe' }), refused(/MODERATION_FAIL to be one of closed, open/u));
  assert.throws(() => loadConfig({ MODERATION_TIMEOUT_MS: '0' }), refused(/MODERATION_TIMEOUT_MS/u));
});

test('AUDIT_RETENTION_DAYS: 90 days by default, 0 keeps the audit log forever, anything else is refused', () => {
  assert.equal(loadConfig({}).auditRetentionMs, 90 * 86_400_000);
  assert.equal(loadConfig({ AUDIT_RETENTION_DAYS: '0' }).auditRetentionMs, 0);
  assert.equal(loadConfig({ AUDIT_RETENTION_DAYS: '7' }).auditRetentionMs, 7 * 86_400_000);
  for (const raw of ['-1', '1.5', 'forever'])
    assert.throws(
      () => loadConfig({ AUDIT_RETENTION_DAYS: raw }),
      (error: TtsError) => error.code === 'E_INVALID_ARGUMENT' && error.message.includes('AUDIT_RETENTION_DAYS'),
    );
});

test('the webhook settings: Standard Webhooks’ schedule by default, checked when given; a short secret is refused without being repeated', () => {
  const defaults = loadConfig({}).webhooks;
  assert.deepEqual(defaults, { allowPrivate: false, timeoutMs: 10_000, retryDelaysMs: [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000], secret: undefined });
  const config = loadConfig({ WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_TIMEOUT_MS: '500', WEBHOOK_RETRY_DELAYS: '250ms, 1s,2m', WEBHOOK_SECRET: 'x'.repeat(32) });
  assert.deepEqual(config.webhooks, { allowPrivate: true, timeoutMs: 500, retryDelaysMs: [250, 1_000, 120_000], secret: 'x'.repeat(32) });
  const refused = (pattern: RegExp) => (error: TtsError) => error.code === 'E_INVALID_ARGUMENT' && pattern.test(error.message);
  for (const raw of ['5', '5d', '0s', '-1s', '1s,,2s', '200h']) assert.throws(() => loadConfig({ WEBHOOK_RETRY_DELAYS: raw }), refused(/WEBHOOK_RETRY_DELAYS to list waits/u), raw);
  assert.throws(() => loadConfig({ WEBHOOK_RETRY_DELAYS: Array(21).fill('1s').join(',') }), refused(/at most 20/u));
  assert.throws(
    () => loadConfig({ WEBHOOK_SECRET: 'short-secret' }),
    (error: TtsError) => refused(/at least 24 characters.*got 12/u)(error) && !error.message.includes('short-secret'),
  );
  assert.throws(() => loadConfig({ WEBHOOK_TIMEOUT_MS: '10' }), refused(/WEBHOOK_TIMEOUT_MS/u));
});
