import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWav } from '../audio/wav.js';
import { jsonPost, startTestService, waitForTask } from '../service/testing/test-service.js';

test('a finished segment whose scratch file is deleted before assembling is synthesised again; the task completes with every segment', async () => {
  const logDir = await mkdtemp(join(tmpdir(), 'missing-segment-'));
  const log = join(logDir, 'segments.log');
  // One host and a slow engine: after the first segment is done, the others take long enough to delete its file.
  const service = await startTestService({ ENGINE_HOSTS: '1', BENCH_SLEEP_COST_MS: '400', BENCH_SLEEP_MS_PER_CHAR: '10', BENCH_SLEEP_LOG: log });
  try {
    const sentence = (i: number): string => `第${i}句话写得足够长，长到每一句都会成为一个单独的片段，这样删除一个片段的文件才有意义。`.repeat(3);
    const { status, body } = await service.request('/api/synthesis', jsonPost({ text: [0, 1, 2].map(sentence).join('') }));
    assert.equal(status, 202, JSON.stringify(body));
    // Segment 0 itself, not any first segment: claims overlap, so another may finish before it.
    const deadline = Date.now() + 60_000;
    while ((await service.backend.segmentAudio(body.id))[0] === undefined) {
      assert.ok(Date.now() < deadline, 'segment 0 is finished within a minute');
      await new Promise((r) => setTimeout(r, 25));
    }
    const started = (await service.request(`/api/task/${body.id}`)).body;
    assert.equal(started.status, 'synthesizing', 'the task is still running when segment 0 is done');
    assert.ok(started.progress.segments_total >= 3);
    await rm(join(service.dataDir, 'blobs', 'tasks', body.id, 'segment-000000.wav'));

    const task = await waitForTask(service, body.id);
    assert.equal(task.status, 'completed', JSON.stringify(task.error));
    assert.equal(task.progress.segments_done, task.progress.segments_total);
    const written = (await readFile(log, 'utf8')).split('\n').filter((line) => line.endsWith('segment-000000.wav'));
    assert.equal(written.length, 2, 'the deleted segment was synthesised once more');
    const audio = decodeWav(Buffer.from(await (await fetch(`${service.url}${task.result.url}`)).arrayBuffer()));
    assert.ok(audio.samples.length > 0);
  } finally {
    await service.stop();
    await rm(logDir, { recursive: true, force: true });
  }
});
