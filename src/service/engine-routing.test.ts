/**
 * A service running two engines (ENGINE=glm-tts:1,bench-sleep:1, GLM-TTS being its test
 * double): tasks are routed by what they ask for, refused at once when no engine can do it,
 * and a GLM-TTS host killed mid-task is replaced while the task completes.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jsonPost, startTestService, waitForTask, withConsent } from './testing/test-service.js';
import { makeGlmttsDouble } from '../engines/testing/glmtts-double.js';
import { makeTone } from '../audio/testing/fixtures.js';
import { decodeWav } from '../audio/wav.js';

const double = await makeGlmttsDouble({ GLMTTS_DOUBLE_CHUNK_SECONDS: '0.2' });
const service = await startTestService({ ENGINE: 'glm-tts:1,bench-sleep:1', ...(double.env as Record<string, string>) });
const reference = await readFile(await makeTone(join(service.dataDir, 'reference.mp3'), { seconds: 3, format: 'mp3' }));
test.after(async () => {
  await service.stop();
  await double.remove();
});

/** A multipart synthesis request with the reference recording uploaded. */
function withVoice(fields: Record<string, string>): RequestInit {
  const form = withConsent(new FormData());
  for (const [key, value] of Object.entries(fields)) form.set(key, value);
  form.set('audio', new Blob([reference]), 'reference.mp3');
  return { method: 'POST', body: form };
}

async function audioOf(id: string) {
  const response = await fetch(`${service.url}/api/task/${id}/audio`);
  assert.equal(response.status, 200);
  return decodeWav(Buffer.from(await response.arrayBuffer()));
}

test('GET /api/engines lists both engines, in the order tasks are routed to them', async () => {
  const { body } = await service.request('/api/engines');
  assert.deepEqual(
    body.engines.map((e: { engine: string }) => e.engine),
    ['glm-tts', 'bench-sleep'],
  );
  const [glm] = body.engines;
  assert.deepEqual([glm.cloning, glm.requires_voice, glm.phoneme_control, glm.sample_rates], [true, true, true, [24_000]]);
  assert.deepEqual(glm.options, ['use_cache', 'use_phoneme', 'sample_method']);
});

test('a task with a voice goes to GLM-TTS, with its seed and options; one without goes to the engine that needs none', async () => {
  const cloned = await service.request('/api/synthesis', withVoice({ text: '你好。今天天气很好。', prompt_text: '参考音频的文字', seed: '7', engine_options: '{"sample_method":"topk"}' }));
  assert.equal(cloned.status, 202, JSON.stringify(cloned.body));
  const plain = await service.request('/api/synthesis', jsonPost({ text: '不带参考声音的一段话。' }));
  assert.equal(plain.status, 202);
  const [clonedTask, plainTask] = [await waitForTask(service, cloned.body.id), await waitForTask(service, plain.body.id)];
  assert.deepEqual([clonedTask.status, clonedTask.engine], ['completed', 'glm-tts']);
  assert.deepEqual([plainTask.status, plainTask.engine], ['completed', 'bench-sleep']);
  assert.equal((await audioOf(cloned.body.id)).sampleRate, 24_000);
  const job = (await double.calls()).find((c) => c.call === 'generate_long' && c.text === '你好。今天天气很好。');
  assert.deepEqual([job?.seed, job?.sample_method], [7, 'topk']);
});

test('what no running engine can do is refused at once, saying what each engine lacks', async () => {
  const cases: Array<[RequestInit, string, RegExp]> = [
    [jsonPost({ text: '你好。', require_cloning: true }), 'E_ENGINE_CAPABILITY', /glm-tts needs a reference voice; bench-sleep does not clone/u],
    [jsonPost({ text: '你好。', engine: 'espeak' }), 'E_ENGINE_CAPABILITY', /No engine "espeak" is configured/u],
    [withVoice({ text: '你好。', engine_options: '{"temperature":0.7}' }), 'E_ENGINE_CAPABILITY', /glm-tts has no option temperature/u],
    [jsonPost({ text: '重要。', pronunciations: [{ text: '重', pinyin: 'zhong4' }] }), 'E_ENGINE_CAPABILITY', /glm-tts needs a reference voice; bench-sleep does not take forced readings/u],
    [withVoice({ text: '你好。', sample_rate: '16000' }), 'E_SAMPLE_RATE_UNSUPPORTED', /glm-tts writes 24000 Hz, not 16000 Hz/u],
    [jsonPost({ text: '你好。', engine_options: { sample_method: { nested: true } } }), 'E_INVALID_ARGUMENT', /engine_options\.sample_method/u],
    [jsonPost({ text: '你好。', require_cloning: 'yes' }), 'E_INVALID_ARGUMENT', /require_cloning/u],
  ];
  for (const [init, code, message] of cases) {
    const { status, body } = await service.request('/api/synthesis', init);
    assert.ok(status === 422 || status === 400, `${code}: ${status}`);
    assert.equal(body.error.code, code, JSON.stringify(body));
    assert.match(body.error.message, message);
  }
});

test('a GLM-TTS host killed mid-task is replaced; the task completes with every segment', async () => {
  const text = Array.from({ length: 6 }, (_, i) => `这是第${i}句。`).join('');
  const { body } = await service.request('/api/synthesis', withVoice({ text, prompt_text: '参考音频的文字' }));
  const glmPool = service.engines!.pool('glm-tts')!;
  const first = glmPool.pids[0]!;
  const loadsBefore = (await double.calls()).filter((c) => c.call === 'load_models').length;
  while (!(await double.calls()).some((c) => c.call === 'generate_long' && String(c.text).startsWith('这是第'))) await new Promise((r) => setTimeout(r, 20));
  process.kill(first, 'SIGKILL');
  const task = await waitForTask(service, body.id);
  assert.equal(task.status, 'completed', JSON.stringify(task.error));
  assert.notEqual(glmPool.pids[0], first);
  assert.equal((await double.calls()).filter((c) => c.call === 'load_models').length, loadsBefore + 1);
  assert.ok((await audioOf(body.id)).samples.length > 0);
});

test('after a restart without its engine, a half-done task is routed again and completes', async () => {
  const restartDouble = await makeGlmttsDouble({ GLMTTS_DOUBLE_CHUNK_SECONDS: '0.1' });
  const first = await startTestService({ ENGINE: 'glm-tts:1,bench-sleep:1', ...(restartDouble.env as Record<string, string>) });
  const dataDir = first.dataDir;
  // Two segments of several GLM-TTS chunks each (0.1 s apiece): the service stops while the first runs.
  const text = Array.from({ length: 50 }, (_, i) => `这是第${i}句话。`).join('');
  const form = withVoice({ text, prompt_text: '参考音频的文字' });
  const { body } = await first.request('/api/synthesis', form);
  await waitForTask(first, body.id, (t) => t.status === 'synthesizing' && t.engine === 'glm-tts');
  await first.close();
  const second = await startTestService({ ENGINE: 'bench-sleep:1', DATA_DIR: dataDir });
  try {
    const task = await waitForTask(second, body.id);
    assert.deepEqual([task.status, task.engine], ['completed', 'bench-sleep'], JSON.stringify(task.error));
    assert.ok(task.result.duration_ms > 0);
  } finally {
    await second.stop();
    await restartDouble.remove();
  }
});
