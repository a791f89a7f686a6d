import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { runBinary } from './run-binary.js';
import { TtsError } from '../errors.js';
import { runWithDescriptorsExhausted } from '../service/testing/descriptor-exhaustion.js';

const RUN_BINARY = pathToFileURL(new URL('./run-binary.js', import.meta.url).pathname).href;

test('a program that does not exist: E_FFMPEG_MISSING, without its path in the message', async () => {
  const missing = '/nonexistent/folder/ffmpeg-that-is-not-here';
  const error = await runBinary(missing, ['-version']).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof TtsError, String(error));
  assert.equal(error.code, 'E_FFMPEG_MISSING');
  assert.ok(!error.message.includes('/nonexistent'), error.message);
});

test('a program that runs: its output and exit code', async () => {
  const result = await runBinary(process.execPath, ['-e', 'process.stdout.write("hi"); process.exit(3)']);
  assert.equal(result.stdout.toString(), 'hi');
  assert.equal(result.exitCode, 3);
});

test('no file descriptor left (EMFILE): a retryable E_RESOURCES_EXHAUSTED, not a crash; works again once descriptors are free', async () => {
  const run = await runWithDescriptorsExhausted(
    `import { runBinary } from ${JSON.stringify(RUN_BINARY)};`,
    `
const outcome = (promise) => promise.then((r) => ({ ok: true, exitCode: r.exitCode }), (e) => ({ ok: false, name: e.name, code: e.code, retryable: e.retryable, message: e.message }));
report(await outcome(runBinary(process.execPath, ['-e', ''])));
release();
report(await outcome(runBinary(process.execPath, ['-e', 'process.exit(0)'])));
`,
  );
  assert.equal(run.code, 0, `the process survived: ${run.stderr}`);
  const [exhausted, freed] = run.reports as any[];
  assert.equal(exhausted.ok, false);
  assert.equal(exhausted.name, 'TtsError', JSON.stringify(exhausted));
  assert.equal(exhausted.code, 'E_RESOURCES_EXHAUSTED', JSON.stringify(exhausted));
  assert.equal(exhausted.retryable, true);
  assert.deepEqual(freed, { ok: true, exitCode: 0 });
});

test('a program that runs past the time allowed is killed: E_FFMPEG_FAILED', async () => {
  const error = await runBinary(process.execPath, ['-e', 'setTimeout(() => {}, 30_000)'], { timeoutMs: 300 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof TtsError, String(error));
  assert.equal(error.code, 'E_FFMPEG_FAILED');
});
