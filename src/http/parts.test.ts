import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ffprobePath } from '../audio/binaries.js';
import { medianPitchHz } from '../audio/pitch.js';
import { makeTone } from '../audio/testing/fixtures.js';
import { decodeWav } from '../audio/wav.js';
import type { TimelineEntry } from '../backends/backend.js';
import { jsonPost, startTestService, waitForTask, withConsent, type TestService } from '../service/testing/test-service.js';

// Several voices in one task, on the real espeak engine (which follows a reference's pitch):
// three stored voices made here from tones of clearly different pitch.

let service: TestService;
const VOICE_HZ = [75, 105, 145];
const voices: string[] = [];

before(async () => {
  service = await startTestService({ ENGINE: 'espeak', PAUSE_MS: '200' });
  for (const [i, hz] of VOICE_HZ.entries()) {
    const form = withConsent(new FormData());
    form.set('name', `voice-${hz}`);
    form.set('audio', new Blob([await readFile(await makeTone(join(service.dataDir, `voice-${i}.wav`), { seconds: 4, frequencyHz: hz }))]), 'voice.wav');
    const created = await service.request('/api/voices', { method: 'POST', body: form });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    voices.push(created.body.id);
  }
});

after(async () => {
  await service.stop();
});

/** The timeline stored beside a task's result (the local blob store's file). */
async function timelineOf(id: string): Promise<TimelineEntry[]> {
  const find = async (dir: string): Promise<string | undefined> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        const found = await find(path);
        if (found !== undefined) return found;
      } else if (entry.name === `${id}.timeline.json`) return path;
    }
    return undefined;
  };
  const path = await find(service.dataDir);
  assert.ok(path !== undefined, 'a timeline beside the result');
  return JSON.parse(await readFile(path, 'utf8')) as TimelineEntry[];
}

async function download(id: string, name: string): Promise<string> {
  const response = await fetch(`${service.url}/api/task/${id}/audio`);
  assert.equal(response.status, 200);
  const path = join(service.dataDir, name);
  await writeFile(path, Buffer.from(await response.arrayBuffer()));
  return path;
}

// English: espeak's en-us voice follows a reference's pitch within a few percent from 75 to 145 Hz
// (its Mandarin voice reads mid pitches some 15% low on these lines).
const LINES = [
  'Today we learn how speech synthesis works.',
  'Yes teacher, I am ready to begin.',
  'Then let us start with how high a voice sounds.',
  'How high a voice sounds is called its pitch.',
  'I understand, please go on with the lesson.',
  'Finally, let us sum up what we have learned.',
];
const PAUSES = [300, 800, 150, 1200, 500, undefined];

test('a script of three voices: one file, each part in its own voice, in order, with the pauses asked for', async () => {
  const parts = LINES.map((text, i) => ({ text, voice_id: voices[i % 3], ...(PAUSES[i] === undefined ? {} : { pause_ms: PAUSES[i] }) }));
  const submitted = await service.request('/api/synthesis', jsonPost({ parts, format: 'wav' }));
  assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
  const task = await waitForTask(service, submitted.body.id, undefined, 120_000);
  assert.equal(task.status, 'completed', JSON.stringify(task.error));
  const audio = decodeWav(await readFile(await download(task.id, 'script.wav')));
  const timeline = await timelineOf(task.id);
  const msToSample = (ms: number): number => Math.round((ms / 1000) * audio.sampleRate);

  // In order: parts follow one another, every part present.
  const spans = LINES.map((_, part) => {
    const entries = timeline.filter((e) => e.part === part);
    assert.ok(entries.length > 0, `part ${part} in the timeline`);
    return { startMs: entries[0]!.startMs, endMs: entries.at(-1)!.endMs };
  });
  assert.deepEqual(
    timeline.map((e) => e.part),
    [...timeline.map((e) => e.part)].sort((a, b) => a - b),
  );
  for (let i = 1; i < spans.length; i++) assert.ok(spans[i]!.startMs >= spans[i - 1]!.endMs, `part ${i} after part ${i - 1}`);
  assert.ok(Math.abs(spans.at(-1)!.endMs - task.result.duration_ms) < 2);

  // Each part's pitch follows its voice (espeak follows a reference's median pitch).
  for (const [part, span] of spans.entries()) {
    const samples = audio.samples.subarray(msToSample(span.startMs), msToSample(span.endMs));
    const hz = medianPitchHz(samples, audio.sampleRate)!;
    const want = VOICE_HZ[part % 3]!;
    assert.ok(Math.abs(hz - want) <= want * 0.1, `part ${part}: ${hz.toFixed(1)} Hz, its voice ${want} Hz`);
  }

  // The pauses: the gap after each part is the asked silence (±30 ms), digital silence, inside a silent run at least that long.
  for (let part = 0; part + 1 < spans.length; part++) {
    const want = PAUSES[part] ?? 200;
    const gapMs = spans[part + 1]!.startMs - spans[part]!.endMs;
    assert.ok(Math.abs(gapMs - want) <= 30, `pause after part ${part}: ${gapMs} ms, asked ${want} ms`);
    const gap = audio.samples.subarray(msToSample(spans[part]!.endMs), msToSample(spans[part + 1]!.startMs));
    assert.ok(
      gap.every((s) => s === 0),
      `the pause after part ${part} is silence`,
    );
  }
});

/** Chapters as ffprobe lists them in a file. */
async function probeChapters(path: string): Promise<Array<{ title: string; startMs: number; endMs: number }>> {
  const { stdout } = await promisify(execFile)(ffprobePath(), ['-v', 'error', '-show_chapters', '-of', 'json', path]);
  const chapters = (JSON.parse(stdout) as { chapters: Array<{ start_time: string; end_time: string; tags?: { title?: string } }> }).chapters;
  return chapters.map((c) => ({ title: c.tags?.title ?? '', startMs: Number(c.start_time) * 1000, endMs: Number(c.end_time) * 1000 }));
}

for (const format of ['m4b', 'mp3'] as const) {
  test(`${format}: the chapters of the parts are marked in the file, at their parts' times`, async () => {
    const parts = [
      { text: '第一章的内容在这里。', voice_id: voices[0], chapter: '第一章 开始' },
      { text: '这一段还是第一章。', voice_id: voices[1] },
      { text: '第二章讲别的事情。', voice_id: voices[2], chapter: 'Chapter 2: "quotes" = ok; #1' },
      { text: '第三章是最后一章。', chapter: 'Three', pause_ms: 0 },
    ];
    const submitted = await service.request('/api/synthesis', jsonPost({ parts, format }));
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const task = await waitForTask(service, submitted.body.id, undefined, 120_000);
    assert.equal(task.status, 'completed', JSON.stringify(task.error));
    const timeline = await timelineOf(task.id);
    const startOf = (part: number): number => timeline.find((e) => e.part === part)!.startMs;
    const expected = [
      { title: '第一章 开始', startMs: 0, endMs: startOf(2) },
      { title: 'Chapter 2: "quotes" = ok; #1', startMs: startOf(2), endMs: startOf(3) },
      { title: 'Three', startMs: startOf(3), endMs: task.result.duration_ms },
    ];
    assert.deepEqual(
      task.result.chapters.map((c: { title: string }) => c.title),
      expected.map((c) => c.title),
    );
    const path = await download(task.id, `chapters.${format}`);
    const marked = await probeChapters(path);
    assert.deepEqual(
      marked.map((c) => c.title),
      expected.map((c) => c.title),
    );
    for (const [i, want] of expected.entries()) {
      assert.ok(Math.abs(marked[i]!.startMs - want.startMs) <= 50, `${format} chapter ${i} starts at ${marked[i]!.startMs} ms, its part at ${want.startMs} ms`);
      assert.ok(Math.abs(marked[i]!.endMs - want.endMs) <= 50, `${format} chapter ${i} ends at ${marked[i]!.endMs} ms, expected ${want.endMs} ms`);
      assert.ok(Math.abs(task.result.chapters[i].start_ms - want.startMs) <= 1);
    }
  });
}

test('a stream of a task with parts has the same pauses as its result', async () => {
  const parts = [
    { text: '第一句。', voice_id: voices[0], pause_ms: 700 },
    { text: '第二句。', voice_id: voices[1], pause_ms: 0 },
    { text: '第三句。', voice_id: voices[2] },
  ];
  const submitted = await service.request('/api/synthesis', jsonPost({ parts, format: 'wav' }));
  const task = await waitForTask(service, submitted.body.id, undefined, 120_000);
  assert.equal(task.status, 'completed');
  const streamed = Buffer.from(await (await fetch(`${service.url}/api/task/${task.id}/stream?format=wav`)).arrayBuffer());
  const result = await readFile(await download(task.id, 'stream-compare.wav'));
  assert.deepEqual(streamed.subarray(44), result.subarray(44), 'the same samples');
});
