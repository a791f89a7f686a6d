/**
 * The streamer against a real SQLite backend, real files and ffmpeg, with the task's work done by
 * hand, so that the order of events is the test's: a stream that lags behind a task assembled
 * meanwhile (its segment files removed) continues from the result, at speed 1 and at another;
 * streams are limited per caller and in all, and a stream that ends gives its slot back.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { writeSegments } from '../audio/output.js';
import { inspectStreamedAudio } from '../audio/testing/streamed-audio.js';
import { encodeWav } from '../audio/wav.js';
import type { TaskBackend, WorkUnit } from '../backends/backend.js';
import { SqliteBackend } from '../backends/sqlite/sqlite-backend.js';
import { createLogger } from './logger.js';
import { TaskAudioStreamer } from './task-audio-stream.js';

const dir = await mkdtemp(join(tmpdir(), 'stream-test-'));
test.after(() => rm(dir, { recursive: true, force: true }));
const RATE = 24_000;
const PAUSE_MS = 200;

function tone(seconds: number, hz: number): Int16Array {
  const samples = new Int16Array(Math.round(seconds * RATE));
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(6000 * Math.sin((2 * Math.PI * hz * i) / RATE));
  return samples;
}

async function claim<K extends WorkUnit['kind']>(backend: TaskBackend, kind: K): Promise<WorkUnit & { kind: K }> {
  const unit = await backend.claim('test', [kind], 60_000);
  assert.equal(unit?.kind, kind);
  return unit as WorkUnit & { kind: K };
}

const STREAMER_OPTIONS = { blobs: { load: async (path: string) => path }, pauseMs: PAUSE_MS, logger: createLogger('silent'), pollMs: 50 };

async function readRest(chunks: AsyncIterator<Buffer>, first: Buffer): Promise<Buffer> {
  const all = [first];
  for (let next = await chunks.next(); next.done !== true; next = await chunks.next()) all.push(next.value);
  return Buffer.concat(all);
}

for (const [speed, format] of [
  [1, 'pcm'],
  [2, 'wav'],
] as const) {
  test(`speed ${speed}, ${format}: a stream that lags behind a task assembled meanwhile continues from the result`, async () => {
    const backend = new SqliteBackend({ path: ':memory:' });
    try {
      const { task } = await backend.createTask({ text: '一。二。三。', format: 'mp3', priority: 0, pronunciations: [], ...(speed === 1 ? {} : { speed }) });
      await backend.completePrepare(await claim(backend, 'prepare'), { segments: ['一。', '二。', '三。'] });
      const paths = [0, 1, 2].map((i) => join(dir, `${task.id}-segment-${i}.wav`));
      // Five seconds each: far more than the stream's buffers hold for a client that does not read.
      for (const [i, path] of paths.entries()) await writeFile(path, encodeWav({ sampleRate: RATE, channels: 1, samples: tone(5, 220 * (i + 1)) }));
      await backend.completeSegment(await claim(backend, 'segment'), { audioPath: paths[0]!, durationMs: 5000 });

      const streamer = new TaskAudioStreamer({ ...STREAMER_OPTIONS, backend, maxStreams: 10, maxStreamsPerCaller: 10 });
      const opened = await streamer.open((await backend.getTask(task.id))!, { format, caller: 'test', signal: new AbortController().signal });
      const chunks = (opened.body as Readable)[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      const first = (await chunks.next()).value as Buffer;

      // The rest of the task is done while the client does not read; its segment files are then removed.
      await backend.completeSegment(await claim(backend, 'segment'), { audioPath: paths[1]!, durationMs: 5000 });
      await backend.completeSegment(await claim(backend, 'segment'), { audioPath: paths[2]!, durationMs: 5000 });
      const assemble = await claim(backend, 'assemble');
      const result = await writeSegments(paths, 'mp3', join(dir, `${task.id}.mp3`), { pauseMs: PAUSE_MS, speed });
      await backend.completeAssemble(assemble, { path: result.path, format: 'mp3', durationMs: result.durationMs, bytes: result.bytes, sampleRate: RATE }, 60_000);
      for (const path of paths) await unlink(path);

      const bytes = await readRest(chunks, first);
      const audio = await inspectStreamedAudio(bytes, format, dir, RATE);
      const expected = (15_000 + 2 * PAUSE_MS) / speed;
      // mp3 (the result) starts a frame late or so; atempo there and back costs a little more.
      assert.ok(Math.abs(audio.durationMs - expected) < 80, `${audio.durationMs} ms streamed, ${expected} ms expected`);
    } finally {
      await backend.close();
    }
  });
}

test('streams are limited per caller and in all; one that ends (here: its client went away) frees its slot', async () => {
  const backend = new SqliteBackend({ path: ':memory:' });
  const streams: Array<{ controller: AbortController; opened: Promise<unknown> }> = [];
  const streamer = new TaskAudioStreamer({ ...STREAMER_OPTIONS, backend, maxStreams: 3, maxStreamsPerCaller: 2 });
  try {
    // A queued task: every stream of it waits for a first segment, holding its slot (and an mp3 encoder).
    const { task } = await backend.createTask({ text: '一。', format: 'wav', priority: 0, pronunciations: [] });
    const open = (caller: string) => {
      const controller = new AbortController();
      const opened = streamer.open(task, { format: 'mp3', caller, signal: controller.signal });
      opened.catch(() => undefined);
      streams.push({ controller, opened });
      return { controller, opened };
    };
    const refused = async (caller: string, why: RegExp) => {
      const { opened } = open(caller);
      await assert.rejects(
        opened,
        (error: { code?: string; message?: string; retryAfterS?: number }) => error.code === 'E_TOO_MANY_STREAMS' && why.test(error.message ?? '') && error.retryAfterS !== undefined,
      );
    };
    const a1 = open('a');
    open('a');
    await refused('a', /This caller has 2/u);
    open('b');
    await refused('c', /The service has 3/u);
    assert.equal(streamer.openStreams(), 3);
    a1.controller.abort();
    await assert.rejects(a1.opened, { code: 'E_CANCELED' });
    assert.equal(streamer.openStreams(), 2);
    open('c');
    assert.equal(streamer.openStreams(), 3);
  } finally {
    for (const stream of streams) stream.controller.abort();
    await Promise.allSettled(streams.map((stream) => stream.opened));
    assert.equal(streamer.openStreams(), 0);
    await backend.close();
  }
});
