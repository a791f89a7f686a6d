import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { ERROR_CATALOGUE, redactPaths, TtsError, toTtsError } from './errors.js';

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

for (const [message, expected] of [
  ["ENOENT: no such file or directory, open '/tmp/tts-service-test-x/blobs/segments/a/0.wav'", "ENOENT: no such file or directory, open '<file>'"],
  ['file:/work/data/blobs/voices/v1/original: Invalid data found when processing input', '<file>: Invalid data found when processing input'],
  ['file:///var/lib/tts/uploads/u.bin: End of file', '<file>: End of file'],
  ['Traceback: File "/home/gpu/GLM-TTS/cosyvoice/cli/frontend.py", line 3', 'Traceback: File "<file>", line 3'],
  ['cannot open C:\\data\\x.wav', 'cannot open <file>'],
  ['The task is queued; its audio is there once it is completed (GET /api/task/abc).', 'The task is queued; its audio is there once it is completed (GET /api/task/abc).'],
  ['Expected `format` to be one of wav, mp3, opus, flac, pcm, got "ogg/vorbis".', 'Expected `format` to be one of wav, mp3, opus, flac, pcm, got "ogg/vorbis".'],
] as const) {
  test(`redactPaths: ${JSON.stringify(message.slice(0, 50))}`, () => {
    assert.equal(redactPaths(message), expected);
  });
}

test('a foreign error that names a file becomes E_INTERNAL without the path, which stays in its cause', () => {
  const cause = Object.assign(new Error("EACCES: permission denied, open '/srv/tts/data/blobs/results/x.mp3'"), { code: 'EACCES' });
  const typed = toTtsError(cause);
  assert.equal(typed.code, 'E_INTERNAL');
  assert.ok(!typed.message.includes('/srv/'), typed.message);
  assert.equal(typed.cause, cause);
});

test('an engine error quoting its files reaches the worker without them', () => {
  const typed = TtsError.fromWire({ code: 'E_ENGINE_FAILED', message: 'RuntimeError in /opt/glm/flow/dit.py: bad shape', retryable: false });
  assert.equal(typed.message, 'RuntimeError in <file>: bad shape');
});
