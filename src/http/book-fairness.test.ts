/**
 * Fairness holds for books (issue 13): a book of about 100,000 characters in twenty chapters,
 * sent as one task of parts, and a one-line task from another key submitted while the book is
 * being read: the one-line task finishes within a few segment-times, not after the book's
 * hundreds of segments. Counted from the backend's own events, never timed, from the moment its
 * segment is queued (it is prepared and encoded beside the engine).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { charCount } from '../text/normalize.js';
import { jsonPost, startTestService, waitForTask } from '../service/testing/test-service.js';
import { recordEvents, segmentsWhileWaiting } from '../service/testing/event-log.js';

const CHAPTERS = 20;
/** Characters of each chapter's text: twenty of them and their separators stay under the 100,000-character limit. */
const CHAPTER_CHARS = 4_990;

function chapterText(chapter: number): string {
  const sentence = `第${chapter + 1}章的一句话，用来测试很长的书和很短的任务能否公平地轮流合成。`;
  return sentence.repeat(Math.ceil(CHAPTER_CHARS / sentence.length)).slice(0, CHAPTER_CHARS - 1) + '。';
}

test("a 100,000-character book does not hold up another key's one-line task", async (t) => {
  const service = await startTestService({ BENCH_SLEEP_COST_MS: '20' });
  try {
    const admin = (await service.request('/api/keys', jsonPost({ name: 'admin', role: 'admin' }))).body.key as string;
    const makeKey = async (name: string): Promise<string> =>
      (await service.request('/api/keys', jsonPost({ name, quotas: { requests_per_second: 0 } }, { authorization: `Bearer ${admin}` }))).body.key as string;
    const reader = await makeKey('reader');
    const other = await makeKey('other');

    const parts = Array.from({ length: CHAPTERS }, (_, i) => ({ text: chapterText(i), chapter: `Chapter ${i + 1}`, pause_ms: 800 }));
    assert.ok(charCount(parts.map((part) => part.text).join('\n\n')) > 99_000);
    const book = await service.request('/api/synthesis', jsonPost({ parts, format: 'mp3' }, { authorization: `Bearer ${reader}` }));
    assert.equal(book.status, 202, JSON.stringify(book.body));
    const bookId = book.body.id as string;

    const log = recordEvents(service.backend);
    // The book is being read (the engine is busy with it) when the other key submits.
    const started = await waitForTask(service, bookId, (task) => task.progress.segments_done >= 3, 120_000, { authorization: `Bearer ${reader}` });
    assert.ok(started.progress.segments_total > 400, `the book has ${started.progress.segments_total} segments`);
    const line = await service.request('/api/synthesis', jsonPost({ text: '只有一句。' }, { authorization: `Bearer ${other}` }));
    assert.equal(line.status, 202, JSON.stringify(line.body));
    const lineId = line.body.id as string;
    const done = await waitForTask(service, lineId, (task) => ['completed', 'failed', 'canceled'].includes(task.status), 120_000, { authorization: `Bearer ${other}` });
    log.stop();
    assert.equal(done.status, 'completed');

    const overtaken = segmentsWhileWaiting(log, lineId, (taskId) => taskId === bookId);
    t.diagnostic(`the book read ${overtaken} segments while the one-line task's segment waited and ran`);
    // One host: the line waits for the segment running when it came (in Redis mode a few may be handed out already).
    assert.ok(overtaken <= 6, `the book read ${overtaken} segments while the one-line task's segment waited and ran`);
    const bookNow = (await service.request(`/api/task/${bookId}`, { headers: { authorization: `Bearer ${reader}` } })).body;
    assert.notEqual(bookNow.status, 'completed', 'the book was still being read: the line did not simply wait for it');
  } finally {
    await service.stop();
  }
});
