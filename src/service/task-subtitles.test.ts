import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TaskRecord, TimelineEntry } from '../backends/backend.js';
import { TtsError } from '../errors.js';
import { LocalBlobStore } from '../storage/local/local-blob-store.js';
import { taskSubtitles } from './task-subtitles.js';

const root = await mkdtemp(join(tmpdir(), 'task-subtitles-'));
test.after(() => rm(root, { recursive: true, force: true }));
const blobs = new LocalBlobStore(root);

async function completedTask(timeline: TimelineEntry[] | undefined): Promise<TaskRecord> {
  const id = randomUUID();
  let timelinePath: string | undefined;
  if (timeline !== undefined) {
    timelinePath = blobs.timelinePath(id);
    await blobs.prepareFor(timelinePath);
    await writeFile(timelinePath, JSON.stringify(timeline));
  }
  return {
    id,
    status: 'completed',
    request: {} as TaskRecord['request'],
    segmentsTotal: 1,
    segmentsDone: 1,
    attempts: 1,
    expired: false,
    result: { path: blobs.resultPath(id, 'wav'), format: 'wav', durationMs: 1000, bytes: 44, sampleRate: 24000, timelinePath },
    createdAt: 0,
    updatedAt: 0,
  };
}

const code = (expected: string) => (error: unknown) => error instanceof TtsError && error.code === expected;

test('subtitles of a completed task, from its timeline, in both formats; kept in the cache once made', async () => {
  const task = await completedTask([{ text: 'Hello. World!', part: 0, startMs: 0, endMs: 1000 }]);
  const vtt = await taskSubtitles(task, blobs, 'vtt');
  assert.match(vtt, /^WEBVTT\n\n1\n00:00:00\.000 --> /u);
  assert.match(await taskSubtitles(task, blobs, 'srt'), /^1\n00:00:00,000 --> .*\nHello\.\n\n2\n.* --> 00:00:01,000\nWorld!\n$/u);
  const cache = new Map<string, string>();
  assert.equal(await taskSubtitles(task, blobs, 'vtt', cache), vtt);
  await rm(task.result!.timelinePath!);
  assert.equal(await taskSubtitles(task, blobs, 'vtt', cache), vtt, 'from the cache');
});

test('refusals: not completed, expired, timeline gone, no timeline', async () => {
  const task = await completedTask([{ text: 'Hi.', part: 0, startMs: 0, endMs: 500 }]);
  for (const status of ['queued', 'synthesizing', 'failed', 'canceled'] as const) {
    await assert.rejects(taskSubtitles({ ...task, status, result: undefined }, blobs, 'vtt'), code('E_TASK_NOT_READY'));
  }
  await assert.rejects(taskSubtitles({ ...task, expired: true }, blobs, 'vtt'), code('E_RESULT_EXPIRED'));
  await rm(task.result!.timelinePath!);
  await assert.rejects(taskSubtitles(task, blobs, 'vtt'), code('E_RESULT_EXPIRED'));
  await assert.rejects(taskSubtitles(await completedTask(undefined), blobs, 'srt'), code('E_SUBTITLES_UNAVAILABLE'));
});
