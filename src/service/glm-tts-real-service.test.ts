/**
 * The whole service on GLM-TTS's real code: ENGINE=glm-tts:1 in CPU mode with tiny random
 * weights (src/engines/testing/glmtts-real.ts). A task with an uploaded reference voice goes
 * through HTTP, the queue, the host and assembly, and its audio comes back at GLM-TTS's rate.
 * Skipped without GLMTTS_REPO (`GLMTTS_REPO=/path/to/GLM-TTS npm run test:glmtts-real`).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { prepareRealGlmtts, REAL_GLMTTS_SKIP } from '../engines/testing/glmtts-real.js';
import { makeTone } from '../audio/testing/fixtures.js';
import { decodeWav } from '../audio/wav.js';
import { startTestService, waitForTask, withConsent } from './testing/test-service.js';

if (REAL_GLMTTS_SKIP) {
  test('the service on GLM-TTS real code', { skip: REAL_GLMTTS_SKIP }, () => {});
} else {
  const real = await prepareRealGlmtts();
  // The engine hosts inherit these from the service's environment, as in a deployment.
  for (const key of ['PYTHONDONTWRITEBYTECODE', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE']) process.env[key] = real.env[key];
  const engineEnv = { ENGINE: 'glm-tts:1', GLMTTS_REPO: real.repo, GLMTTS_PYTHON: real.python, GLMTTS_DEVICE: 'cpu' };
  const service = await startTestService(engineEnv);
  test.after(() => service.stop());

  test('service (GLM-TTS real code, CPU): a task with a reference voice completes with 24 kHz audio', async () => {
    const reference = await readFile(await makeTone(join(service.dataDir, 'reference.mp3'), { seconds: 3, format: 'mp3' }));
    const form = withConsent(new FormData());
    form.set('text', '你好，这是一个测试。Hello, this is a test.');
    form.set('prompt_text', '参考音频。');
    form.set('seed', '11');
    form.set('audio', new Blob([reference]), 'reference.mp3');
    const accepted = await service.request('/api/synthesis', { method: 'POST', body: form });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const task = await waitForTask(service, accepted.body.id, undefined, 600_000);
    assert.deepEqual([task.status, task.engine], ['completed', 'glm-tts'], JSON.stringify(task));
    const response = await fetch(`${service.url}/api/task/${accepted.body.id}/audio`);
    assert.equal(response.status, 200);
    const audio = decodeWav(Buffer.from(await response.arrayBuffer()));
    assert.equal(audio.sampleRate, 24_000);
    assert.ok(audio.samples.length > 24_000 / 10, `${audio.samples.length} samples`);
  });

  test('service (GLM-TTS real code, CPU, GLMTTS_MAX_BATCH=4): tasks of two priorities and two voices share the batched host, the higher priority first, and all complete', async () => {
    const batched = await startTestService({ ...engineEnv, GLMTTS_MAX_BATCH: '4' });
    try {
      assert.equal(batched.engines!.pools()[0]!.pool.capacity, 4);
      const submit = async (text: string, priority: number, frequencyHz: number) => {
        const reference = await readFile(await makeTone(join(batched.dataDir, `reference-${frequencyHz}.mp3`), { seconds: 3, format: 'mp3', frequencyHz }));
        const form = withConsent(new FormData());
        form.set('text', text);
        form.set('priority', String(priority));
        form.set('audio', new Blob([reference]), 'reference.mp3');
        const accepted = await batched.request('/api/synthesis', { method: 'POST', body: form });
        assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
        return accepted.body.id as string;
      };
      const low = [];
      for (let i = 0; i < 3; i++) low.push(await submit('第一句话。第二句话。第三句话。第四句话。第五句话。第六句话。', 0, 200 + i * 40));
      const high = await submit('优先的一句话。', 5, 330);
      const highDone = await waitForTask(batched, high, undefined, 600_000);
      const lowDone = [];
      for (const id of low) lowDone.push(await waitForTask(batched, id, undefined, 600_000));
      for (const task of [highDone, ...lowDone]) assert.equal(task.status, 'completed', JSON.stringify(task.error));
      assert.ok(
        lowDone.some((task) => Date.parse(task.finished_at) > Date.parse(highDone.finished_at)),
        'the high-priority task did not wait for the low ones',
      );
    } finally {
      await batched.stop();
    }
  });
}
