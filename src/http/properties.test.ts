/**
 * Property-based tests of the HTTP API against a real service: whatever JSON, form fields,
 * text, paths, query strings or credentials arrive, the answer is never a 5xx, and every
 * refusal is `{"error": {"code", "message"}}` with a code of the catalogue and its status.
 * Runs are few per property (the service is real); a failure prints the seed to replay it.
 *
 * The service starts on loopback without keys (anonymous requests allowed); the last
 * properties run after an admin key was made, with it.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ERROR_CATALOGUE, isErrorCode } from '../errors.js';
import { jsonPost, startTestService } from '../service/testing/test-service.js';

const service = await startTestService({ MAX_TEXT_CHARS: '2000', MAX_UPLOAD_BYTES: '100000', RATE_LIMIT_RPS: '0', QUOTA_OPEN_TASKS: '0', QUOTA_VOICES: '0' });
test.after(() => service.stop());

const RUNS = 150;

/** The answer holds: no 5xx, and a refusal in the API's shape, its code in the catalogue with that status. */
function checkAnswer(status: number, body: any, what: string): void {
  const shown = `${what} → ${status} ${JSON.stringify(body)?.slice(0, 300)}`;
  assert.ok(status >= 200 && status < 500, `no 5xx: ${shown}`);
  if (status < 400) return;
  assert.ok(typeof body === 'object' && body !== null && typeof body.error === 'object', `error shape: ${shown}`);
  assert.ok(isErrorCode(body.error.code), `a catalogue code: ${shown}`);
  assert.equal(ERROR_CATALOGUE[body.error.code as keyof typeof ERROR_CATALOGUE].status, status, `the code's status: ${shown}`);
  assert.ok(typeof body.error.message === 'string' && body.error.message.length > 0, `a message: ${shown}`);
}

const SYNTHESIS_FIELDS = [
  'text',
  'voice_id',
  'audio_url',
  'prompt_text',
  'consent',
  'speaker_name',
  'format',
  'sample_rate',
  'seed',
  'priority',
  'pronunciations',
  'engine',
  'require_cloning',
  'engine_options',
] as const;
const KEY_FIELDS = ['name', 'role', 'quotas'] as const;
const QUOTA_FIELDS = ['requests_per_second', 'chars_per_day', 'open_tasks', 'voices'] as const;
const HOSTILE_NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', ' text', 'TEXT'];

/** Strings of any UTF-16 code units: lone surrogates, controls, anything. */
const codeUnitString = (maxLength = 60) => fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength });
const anyString = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), codeUnitString());
/** Numbers at and past every bound, with the values JSON cannot hold left to JSON.stringify (null). */
const anyNumber = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -0, -1, 1.5, 2 ** 32, 2 ** 53, -(2 ** 53), 1e308, 8_000, 48_000, 16_000, -10, 10, 11, 1e9, 1e9 + 1));
const anyValue = fc.oneof(anyString, anyNumber, fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 3 }), fc.array(anyString, { maxLength: 3 }));

/** Values near what each field takes, so that requests get past the first check often. */
const nearValid: Record<string, fc.Arbitrary<unknown>> = {
  text: fc.oneof(fc.constant('你好，世界。'), anyString),
  voice_id: fc.oneof(fc.uuid(), anyString),
  audio_url: fc.oneof(fc.webUrl(), fc.constantFrom('http://127.0.0.1/', 'file:///etc/passwd', 'https://[::1]/a', 'http://0x7f.1/', 'gopher://x/'), anyString),
  prompt_text: anyString,
  consent: fc.oneof(fc.boolean(), fc.constantFrom('true', 'yes', 1)),
  speaker_name: anyString,
  format: fc.oneof(fc.constantFrom('wav', 'mp3', 'opus', 'flac', 'pcm', 'WAV', 'aiff'), anyString),
  sample_rate: anyNumber,
  seed: anyNumber,
  priority: anyNumber,
  pronunciations: fc.oneof(fc.array(fc.record({ text: anyString, pinyin: fc.oneof(fc.constantFrom('ni3', 'hao3', 'zhong4 yao4'), anyString) }), { maxLength: 3 }), anyValue),
  engine: fc.oneof(fc.constantFrom('bench-sleep', 'glm-tts', 'BENCH'), anyString),
  require_cloning: fc.oneof(fc.boolean(), anyValue),
  engine_options: fc.oneof(fc.dictionary(fc.oneof(fc.constantFrom('sample_method', 'use_phoneme', '__proto__'), anyString), anyValue, { maxKeys: 4 }), anyValue),
  name: fc.oneof(fc.stringMatching(/^[a-z][a-z0-9 ._@-]{0,20}$/u), anyString),
  role: fc.oneof(fc.constantFrom('admin', 'user', 'root', 'ADMIN'), anyValue),
  quotas: fc.oneof(fc.dictionary(fc.oneof(fc.constantFrom(...QUOTA_FIELDS), anyString), anyValue, { maxKeys: 5 }), anyValue),
};

/** Objects whose keys mix the real field names (with values of every type) and any others. */
function requestObject(fields: readonly string[]): fc.Arbitrary<Record<string, unknown>> {
  const known = fc.dictionary(fc.constantFrom(...fields), anyValue, { maxKeys: fields.length });
  return fc
    .tuple(
      fc.record(Object.fromEntries(fields.map((field) => [field, fc.oneof(nearValid[field] ?? anyValue, anyValue)])), { requiredKeys: [] }),
      known,
      fc.dictionary(fc.oneof(anyString, fc.constantFrom(...HOSTILE_NAMES)), anyValue, { maxKeys: 3 }),
      fc.nat(2),
    )
    .map(([near, wrong, extra, mix]) => {
      // JSON text of an object with own keys such as __proto__ (an object literal would set the prototype instead).
      const entries = [...Object.entries(near), ...(mix === 0 ? Object.entries(wrong) : []), ...(mix === 1 ? Object.entries(extra) : [])];
      return Object.fromEntries(entries);
    });
}

const jsonBody = fc.oneof(
  { weight: 4, arbitrary: requestObject(SYNTHESIS_FIELDS) },
  { weight: 1, arbitrary: fc.anything({ withBigInt: false, withBoxedValues: false, maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
);

test('property: any JSON value POSTed to /api/synthesis is answered without a 5xx, refusals from the catalogue', async () => {
  await fc.assert(
    fc.asyncProperty(jsonBody, async (value) => {
      const text = JSON.stringify(value) ?? 'null';
      const { status, body } = await service.request('/api/synthesis', { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
      checkAnswer(status, body, text.slice(0, 300));
    }),
    { numRuns: RUNS },
  );
});

test('property: any JSON text, valid or not, POSTed to /api/synthesis is answered without a 5xx', async () => {
  const jsonish = fc.oneof(
    anyString,
    fc.json().map((json) => json.slice(0, Math.max(1, json.length - 1))),
    fc.tuple(fc.json(), anyString).map(([json, tail]) => json + tail),
  );
  await fc.assert(
    fc.asyncProperty(jsonish, async (text) => {
      const { status, body } = await service.request('/api/synthesis', { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
      checkAnswer(status, body, JSON.stringify(text).slice(0, 300));
    }),
    { numRuns: RUNS },
  );
});

/** Form field values: any text, or any JSON as text (for the fields read as JSON). */
const fieldValue = fc.oneof(
  anyString,
  anyValue.map((value) => (typeof value === 'string' ? value : (JSON.stringify(value) ?? ''))),
);

test('property: any multipart fields sent to /api/synthesis and /api/voices are answered without a 5xx', async () => {
  const fields = fc.dictionary(fc.oneof(fc.constantFrom(...SYNTHESIS_FIELDS, 'name'), fc.constantFrom(...HOSTILE_NAMES), anyString), fieldValue, { maxKeys: 8 });
  const file = fc.option(fc.record({ field: fc.constantFrom('audio', 'audio', 'voice', '__proto__'), data: fc.uint8Array({ maxLength: 2_000 }), name: anyString }), { freq: 5 });
  await fc.assert(
    fc.asyncProperty(fields, file, fc.constantFrom('/api/synthesis', '/api/voices'), async (values, upload, path) => {
      const form = new FormData();
      for (const [key, value] of Object.entries(values)) form.append(key, value);
      if (upload !== null) form.append(upload.field, new Blob([upload.data]), upload.name);
      const { status, body } = await service.request(path, { method: 'POST', body: form });
      checkAnswer(status, body, `${path} ${JSON.stringify(values).slice(0, 300)}`);
    }),
    { numRuns: RUNS },
  );
});

test('property: any text is accepted (202) or refused with a 4xx, never a 5xx', async () => {
  const texts = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.string({ unit: 'grapheme', maxLength: 200 }),
    fc.string({ unit: 'grapheme-composite', maxLength: 200 }),
    codeUnitString(300),
    // Mixes of what texts are made of: Chinese, Latin, digits, marks, controls, invisible and combining characters.
    fc
      .array(fc.constantFrom('你好', '重要', 'hello', ' ', '123', '。', '，', '\u0301', '\u200b', '\u202e', '\u0000', '\n', '\ud800', '\udc00', '\u{1f600}', '\u3000', 'Ａ'), { maxLength: 80 })
      .map((parts) => parts.join('')),
  );
  await fc.assert(
    fc.asyncProperty(texts, async (text) => {
      const { status, body } = await service.request('/api/synthesis', jsonPost({ text }));
      checkAnswer(status, body, JSON.stringify(text).slice(0, 300));
      assert.ok(status === 202 || (status >= 400 && status < 500), `202 or a 4xx: ${status}`);
    }),
    { numRuns: RUNS },
  );
});

/** A path segment: anything, percent-encoded, or raw URL-safe characters (. and .. included). */
const percentEncoded = (bytes: Uint8Array): string => Array.from(bytes, (byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');
const segment = fc.oneof(
  // encodeURIComponent throws on a lone surrogate: its UTF-8 (U+FFFD in its place), and any bytes, invalid UTF-8 included.
  anyString.map((s) => percentEncoded(Buffer.from(s, 'utf8'))),
  fc.uint8Array({ minLength: 1, maxLength: 60 }).map(percentEncoded),
  fc.webSegment(),
  fc.constantFrom('.', '..', '%', '%zz', '%00', '%2e%2e', '%2F', 'a'.repeat(201), '00000000-0000-4000-8000-000000000000'),
);
/** A query string: real parameter names and any others, with any values, sometimes repeated, sometimes raw. */
const queryString = fc.oneof(
  fc
    .array(
      fc.tuple(
        fc.oneof(fc.constantFrom('status', 'limit', 'cursor', 'key_id', 'action', 'subject', 'since', 'until', 'last_event_id', '__proto__', 'constructor'), anyString),
        fc.oneof(anyString, anyNumber.map(String), fc.constantFrom('queued', 'task.create', '2025-01-01T00:00:00Z', '0-0', '-1', '1e400', 'Infinity', '')),
      ),
      { maxLength: 5 },
    )
    .map((pairs) => new URLSearchParams(pairs).toString()),
  fc.webQueryParameters(),
  fc.constantFrom('%', '&&&', '=', '%ff%fe', 'a[b][c]=1', '__proto__[x]=1'),
);

test('property: any path segment and query string on the GET routes is answered without a 5xx', async () => {
  const routes = fc.constantFrom(
    (s: string) => `/api/task/${s}`,
    (s: string) => `/api/task/${s}/audio`,
    (s: string) => `/api/voices/${s}`,
    (s: string) => `/api/keys/${s}`,
    () => '/api/tasks',
    () => '/api/audit',
    () => '/api/voices',
    () => '/api/keys',
  );
  await fc.assert(
    fc.asyncProperty(routes, segment, queryString, async (route, id, query) => {
      const path = `${route(id)}${query === '' ? '' : `?${query}`}`;
      const { status, body } = await service.request(path);
      checkAnswer(status, body, path.slice(0, 300));
    }),
    { numRuns: RUNS },
  );
});

test('property: any DELETE of a task, voice or key id is answered without a 5xx', async () => {
  const routes = fc.constantFrom('/api/task/', '/api/voices/', '/api/keys/');
  // Key names made by this file start with "prop" and no key exists yet: nothing is revoked here.
  await fc.assert(
    fc.asyncProperty(routes, segment, async (route, id) => {
      const { status, body } = await service.request(`${route}${id}`, { method: 'DELETE' });
      checkAnswer(status, body, `DELETE ${route}${id}`);
    }),
    { numRuns: 60 },
  );
});

/** Header values fetch can send: Latin-1 without controls (fetch trims the white space around them). */
const headerText = fc.string({
  unit: fc
    .integer({ min: 0x20, max: 0xff })
    .filter((c) => c !== 0x7f)
    .map((c) => String.fromCharCode(c)),
  maxLength: 120,
});
const base64url = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), minLength: 40, maxLength: 46 });
const keyLike = fc.tuple(fc.stringMatching(/^[a-z2-7]{10,13}$/u), base64url).map(([id, secret]) => `ttsq_${id}_${secret}`);
const credential = fc.oneof(
  headerText,
  keyLike,
  fc.tuple(fc.constantFrom('Bearer ', 'bearer ', 'BEARER  ', 'Basic ', 'Bearer', ''), fc.oneof(keyLike, headerText)).map(([scheme, value]) => scheme + value),
);

async function checkCredentials(extraKey?: string): Promise<void> {
  const header = fc.option(credential, { freq: 3 });
  await fc.assert(
    fc.asyncProperty(header, header, fc.constantFrom('/api/tasks', '/api/voices', '/api/audit', '/api/keys'), async (authorization, apiKey, path) => {
      const headers: Record<string, string> = {};
      if (authorization !== null) headers.authorization = authorization;
      if (apiKey !== null) headers['x-api-key'] = apiKey;
      const { status, body } = await service.request(path, { headers });
      const what = `${path} ${JSON.stringify(headers)}`;
      checkAnswer(status, body, what);
      if (status !== 200) assert.equal(body.error.code, 'E_UNAUTHORIZED', what);
      // Without keys no credential is needed, and any given is checked: only a request without one passes.
      if (extraKey === undefined) assert.equal(status === 200, authorization === null && apiKey === null, what);
    }),
    { numRuns: RUNS },
  );
  if (extraKey !== undefined) {
    // The admin key in one header and anything in the other: passes only when the other is absent or the same key.
    await fc.assert(
      fc.asyncProperty(fc.option(credential, { freq: 3 }), fc.boolean(), async (other, keyInAuthorization) => {
        const headers: Record<string, string> = keyInAuthorization ? { authorization: `Bearer ${extraKey}` } : { 'x-api-key': extraKey };
        if (other !== null) headers[keyInAuthorization ? 'x-api-key' : 'authorization'] = other;
        const { status, body } = await service.request('/api/tasks', { headers });
        checkAnswer(status, body, JSON.stringify(headers));
        assert.ok(status === 200 || status === 401, `${status}: ${JSON.stringify(headers)}`);
      }),
      { numRuns: 60 },
    );
  }
}

test('property: any Authorization and X-API-Key values, without keys: 401 E_UNAUTHORIZED or 2xx, never a 5xx', async () => {
  await checkCredentials();
});

test('property: once keys exist, any credentials: 401 E_UNAUTHORIZED or 2xx; any key body POSTed by an admin: no 5xx', async () => {
  const created = await service.request('/api/keys', jsonPost({ name: 'prop-admin', role: 'admin' }));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const adminKey = created.body.key as string;
  await checkCredentials(adminKey);

  const keyBodies = fc.oneof(
    { weight: 4, arbitrary: requestObject(KEY_FIELDS) },
    { weight: 1, arbitrary: fc.anything({ withBigInt: false, withBoxedValues: false, maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  );
  await fc.assert(
    fc.asyncProperty(keyBodies, async (value) => {
      const text = JSON.stringify(value) ?? 'null';
      const { status, body } = await service.request('/api/keys', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` }, body: text });
      checkAnswer(status, body, text.slice(0, 300));
    }),
    { numRuns: RUNS },
  );
  // Whatever keys were made, the admin key still works.
  assert.equal((await service.request('/api/keys', { headers: { authorization: `Bearer ${adminKey}` } })).status, 200);
});
