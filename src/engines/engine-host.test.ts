import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { EngineHost } from './engine-host.js';
import { TtsError } from '../errors.js';
import { runWithDescriptorsExhausted } from '../service/testing/descriptor-exhaustion.js';

const moduleUrl = (path: string): string => pathToFileURL(new URL(path, import.meta.url).pathname).href;

test('a host command that does not exist: the start fails with E_ENGINE_START_FAILED (no path in the message), and the host counts as exited', async () => {
  const host = new EngineHost({ name: 'nowhere', command: '/nonexistent/folder/engine-host', args: [] }, { startTimeoutMs: 10_000 });
  const error = await host.start().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof TtsError, String(error));
  assert.equal(error.code, 'E_ENGINE_START_FAILED');
  assert.equal(error.retryable, true);
  assert.ok(!error.message.includes('/nonexistent'), error.message);
  await host.waitForExit();
  assert.equal(host.state, 'dead');
});

test('no file descriptor left (EMFILE): the host start fails with E_ENGINE_START_FAILED, the process does not crash, and a host starts once descriptors are free', async () => {
  const run = await runWithDescriptorsExhausted(
    `import { EngineHost } from ${JSON.stringify(moduleUrl('./engine-host.js'))};
import { hostSpec } from ${JSON.stringify(moduleUrl('./registry.js'))};`,
    `
const outcome = (promise) => promise.then((c) => ({ ok: true, engine: c.engine }), (e) => ({ ok: false, name: e.name, code: e.code, retryable: e.retryable, message: e.message }));
const starved = new EngineHost(hostSpec('bench-sleep'), { startTimeoutMs: 10_000 });
report(await outcome(starved.start()));
await starved.waitForExit();
release();
const host = new EngineHost(hostSpec('bench-sleep'), { startTimeoutMs: 20_000 });
report(await outcome(host.start()));
await host.close();
`,
  );
  assert.equal(run.code, 0, `the process survived: ${run.stderr}`);
  const [starved, fresh] = run.reports as any[];
  assert.equal(starved.ok, false);
  assert.equal(starved.name, 'TtsError', JSON.stringify(starved));
  assert.equal(starved.code, 'E_ENGINE_START_FAILED', JSON.stringify(starved));
  assert.equal(starved.retryable, true);
  assert.match(starved.message, /EMFILE/u);
  assert.deepEqual(fresh, { ok: true, engine: 'bench-sleep' });
});
