/**
 * GET /api/task/:id/subtitles over real HTTP, on the bench-sleep engine, whose segments last a
 * known time (10 ms per character): cues follow the real segment boundaries and pauses (within
 * 50 ms), at any speed; the VTT passes webvtt-parser and the SRT is well formed; a reused
 * result has the same subtitles; refusals before completion, for another key, after expiry,
 * and for bad formats are typed. TEST_BACKEND=redis runs it on Redis.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { decodeWav } from '../audio/wav.js';
import { charCount } from '../text/normalize.js';
import { displayWidth } from '../text/subtitles.js';
import { parseSrt, parseVtt } from '../text/testing/subtitle-parsers.js';
import { jsonPost, startTestService, waitForTask as waitForAnyTask, waitUntil, type TestService } from '../service/testing/test-service.js';

const MS_PER_CHAR = 10;
const PAUSE_MS = 300;
const service = await startTestService({ BENCH_SLEEP_MS_PER_CHAR: String(MS_PER_CHAR), PAUSE_MS: String(PAUSE_MS) });
test.after(() => service.stop());

const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });
async function createKey(target: TestService, by: string | undefined, body: Record<string, unknown>): Promise<string> {
  const answer = await target.request('/api/keys', jsonPost(body, by === undefined ? {} : bearer(by)));
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body.key;
}
const admin = await createKey(service, undefined, { name: 'admin', role: 'admin' });
const alice = await createKey(service, admin, { name: 'alice' });
const bob = await createKey(service, admin, { name: 'bob' });

// Three segments (bench-sleep takes up to 200 characters): Chinese with two sentences, then English with two, then one long one.
const SEGMENTS = [
  `第一句话在这里。${'这是第二个句子，内容比较长'.repeat(13)}。`,
  `This is the first English sentence. ${'And the second one goes on and on, '.repeat(4).trim()}.`,
  `${'A very long sentence that will need several cues to be readable on a screen, '.repeat(2).trim()}.`,
];
assert.ok(SEGMENTS.every((s) => charCount(s) <= 200 && charCount(s) > 150));
const TEXT = SEGMENTS.join('\n');

async function completed(target: TestService, key: string, body: Record<string, unknown>): Promise<any> {
  const answer = await target.request('/api/synthesis', jsonPost({ format: 'wav', ...body }, bearer(key)));
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  const task = await waitForAnyTask(target, answer.body.id, undefined, 60_000, bearer(key));
  assert.equal(task.status, 'completed', JSON.stringify(task));
  return task;
}

/** Where bench-sleep's segments lie in the result: start and end of each, pauses between, at `speed`. */
function segmentSpans(speed = 1): Array<{ startMs: number; endMs: number }> {
  let at = 0;
  return SEGMENTS.map((text) => {
    const span = { startMs: at / speed, endMs: (at + charCount(text) * MS_PER_CHAR) / speed };
    at += charCount(text) * MS_PER_CHAR + PAUSE_MS;
    return span;
  });
}

function assertFollows(cues: Array<{ startMs: number; endMs: number }>, spans: Array<{ startMs: number; endMs: number }>): void {
  for (const span of spans) {
    assert.ok(
      cues.some((cue) => Math.abs(cue.startMs - span.startMs) <= 50),
      `a cue starts at ${span.startMs}: ${JSON.stringify(cues)}`,
    );
    assert.ok(
      cues.some((cue) => Math.abs(cue.endMs - span.endMs) <= 50),
      `a cue ends at ${span.endMs}`,
    );
    // No cue crosses a segment boundary or lies in a pause.
    for (const cue of cues) assert.ok(cue.endMs <= span.startMs + 1 || cue.startMs >= span.endMs - 1 || (cue.startMs >= span.startMs - 1 && cue.endMs <= span.endMs + 1), 'cue inside one segment');
  }
}

test('VTT and SRT cues follow the real segment boundaries and pauses, one or more per sentence', async () => {
  const task = await completed(service, alice, { text: TEXT });
  const vtt = await fetch(`${service.url}/api/task/${task.id}/subtitles`, { headers: bearer(alice) });
  assert.equal(vtt.status, 200);
  assert.match(vtt.headers.get('content-type') ?? '', /^text\/vtt/u);
  const parsed = parseVtt(await vtt.text());
  const cues = parsed.cues.map((c) => ({ startMs: c.startTime * 1000, endMs: c.endTime * 1000, text: c.text }));
  assertFollows(cues, segmentSpans());
  // Sentences: 2 + 2 + 1 (cut in several cues); every cue at most two lines of 42.
  assert.equal(cues[0]!.text, '第一句话在这里。');
  const english = cues.find((c) => c.text === 'This is the first English sentence.');
  assert.ok(english !== undefined && Math.abs(english.startMs - segmentSpans()[1]!.startMs) <= 50, 'the second segment starts with its own cue');
  assert.ok(cues.length > 5, `${cues.length} cues`);
  for (const cue of cues) for (const line of cue.text.split('\n')) assert.ok(displayWidth(line) <= 42, line);
  // The last cue ends where the audio does.
  assert.ok(Math.abs(cues.at(-1)!.endMs - task.result.duration_ms) <= 50, `${cues.at(-1)!.endMs} vs ${task.result.duration_ms}`);

  const srt = await fetch(`${service.url}/api/task/${task.id}/subtitles?format=srt`, { headers: bearer(alice) });
  assert.equal(srt.status, 200);
  assert.match(srt.headers.get('content-type') ?? '', /^application\/x-subrip/u);
  const srtCues = parseSrt(await srt.text());
  assert.deepEqual(
    srtCues.map((c) => [c.startMs, c.endMs, c.text]),
    cues.map((c) => [Math.round(c.startMs), Math.round(c.endMs), c.text]),
  );

  // Recorded as a download of the task.
  const audit = await service.request(`/api/audit?subject=${task.id}&action=task.download`, { headers: bearer(admin) });
  assert.equal(audit.status, 200, JSON.stringify(audit.body));
  assert.deepEqual(
    audit.body.entries.map((e: { detail: unknown }) => e.detail),
    [
      { format: 'srt', subtitles: true },
      { format: 'vtt', subtitles: true },
    ],
  );
});

test('at speed 2 every cue time is halved; a reused result has the same subtitles', async () => {
  const task = await completed(service, alice, { text: TEXT, speed: 2 });
  const vtt = await (await fetch(`${service.url}/api/task/${task.id}/subtitles`, { headers: bearer(alice) })).text();
  const cues = parseVtt(vtt).cues.map((c) => ({ startMs: c.startTime * 1000, endMs: c.endTime * 1000 }));
  assertFollows(cues, segmentSpans(2));
  // The timeline matches the audio ffmpeg made at that speed.
  const audio = decodeWav(Buffer.from(await (await fetch(`${service.url}/api/task/${task.id}/audio`, { headers: bearer(alice) })).arrayBuffer()));
  const audioMs = (audio.samples.length / audio.channels / audio.sampleRate) * 1000;
  assert.ok(Math.abs(cues.at(-1)!.endMs - audioMs) <= 50, `last cue ends at ${cues.at(-1)!.endMs} ms, the audio at ${audioMs} ms`);
  const again = await completed(service, alice, { text: TEXT, speed: 2 });
  assert.equal(again.cached, true);
  const reused = await (await fetch(`${service.url}/api/task/${again.id}/subtitles`, { headers: bearer(alice) })).text();
  assert.equal(reused, vtt);
});

test('refusals: before completion 409, another key 404, no key 401, bad formats 400', async () => {
  const slow = await startTestService({ BENCH_SLEEP_MS_PER_CHAR: '1', BENCH_SLEEP_COST_MS: '400' });
  try {
    const answer = await slow.request('/api/synthesis', jsonPost({ text: TEXT }));
    assert.equal(answer.status, 202);
    const early = await slow.request(`/api/task/${answer.body.id}/subtitles`);
    assert.equal(early.status, 409);
    assert.equal(early.body.error.code, 'E_TASK_NOT_READY');
  } finally {
    await slow.stop();
  }
  const task = await completed(service, alice, { text: SEGMENTS[0] });
  assert.equal((await service.request(`/api/task/${task.id}`, { headers: bearer(alice) })).body.links.subtitles, `/api/task/${task.id}/subtitles`);
  const other = await service.request(`/api/task/${task.id}/subtitles`, { headers: bearer(bob) });
  assert.equal(other.status, 404);
  assert.equal(other.body.error.code, 'E_NOT_FOUND');
  assert.equal((await service.request(`/api/task/${task.id}/subtitles`)).status, 401);
  for (const query of ['format=ass', 'format=VTT', 'format=vtt&format=srt', 'formats=vtt']) {
    const bad = await service.request(`/api/task/${task.id}/subtitles?${query}`, { headers: bearer(alice) });
    assert.equal(bad.status, 400, query);
    assert.match(bad.body.error.code, /^E_(FORMAT_UNSUPPORTED|INVALID_ARGUMENT)$/u, query);
  }
  assert.equal((await service.request(`/api/task/${task.id}/subtitles?format=ass`, { headers: bearer(alice) })).body.error.code, 'E_FORMAT_UNSUPPORTED');
});

/** The timeline files in a service's data folder. */
async function timelineFiles(target: TestService): Promise<string[]> {
  const files = await readdir(target.dataDir, { recursive: true });
  return files.filter((name) => name.endsWith('.timeline.json'));
}

test('after the retention period: 410, and the timeline is deleted with the result', async () => {
  const short = await startTestService({ BENCH_SLEEP_MS_PER_CHAR: '1', RESULT_TTL_SECONDS: '1' });
  try {
    const answer = await short.request('/api/synthesis', jsonPost({ text: SEGMENTS[1] }));
    assert.equal(answer.status, 202);
    const id = answer.body.id as string;
    assert.equal((await waitForAnyTask(short, id)).status, 'completed');
    await waitUntil(async () => (await short.request(`/api/task/${id}`)).body.result?.expired === true, 'the result to expire', 15_000);
    const gone = await short.request(`/api/task/${id}/subtitles`);
    assert.equal(gone.status, 410);
    assert.equal(gone.body.error.code, 'E_RESULT_EXPIRED');
    // Marked expired first, then its files are deleted.
    await waitUntil(async () => (await timelineFiles(short)).length === 0, 'the timeline to be deleted');
  } finally {
    await short.stop();
  }
});
