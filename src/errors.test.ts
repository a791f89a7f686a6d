import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { ERROR_CATALOGUE, TtsError, toTtsError } from './errors.js';

test('every error code is documented in docs/errors.md', async () => {
  const doc = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  for (const code of Object.keys(ERROR_CATALOGUE)) assert.match(doc, new RegExp(`\\| \`${code}\` \\|`, 'u'), `${code} is not in docs/errors.md`);
});

test('errors cross a process boundary as {code, message, retryable} and come back typed', () => {
  const original = new TtsError('E_ENGINE_OOM', 'CUDA out of memory');
  const rebuilt = TtsError.fromWire(JSON.parse(JSON.stringify(original.toWire())) as { code: string; message: string });
  assert.ok(rebuilt instanceof TtsError);
  assert.equal(rebuilt.code, 'E_ENGINE_OOM');
  assert.equal(rebuilt.retryable, true);
  const foreign = TtsError.fromWire({ code: 'E_SOMETHING_NEW', message: 'odd', retryable: true });
  assert.equal(foreign.code, 'E_ENGINE_FAILED');
  assert.match(foreign.message, /E_SOMETHING_NEW/u);
  assert.equal(foreign.retryable, true);
});

test('foreign errors become E_INTERNAL with their cause', () => {
  const cause = new Error('boom');
  const error = toTtsError(cause);
  assert.equal(error.code, 'E_INTERNAL');
  assert.equal(error.cause, cause);
});
