import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rename, rm, stat, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { writeSegments, type OutputFormat, type WriteSegmentsOptions } from '../audio/output.js';
import { decodeWav, encodeWav } from '../audio/wav.js';
import { EnginePool } from '../engines/engine-pool.js';
import { EngineSet } from '../engines/engine-set.js';
import { hostSpec } from '../engines/registry.js';
import { TtsError } from '../errors.js';
import { createLogger } from '../service/logger.js';
import { jsonPost, startTestService, waitForTask, waitUntil } from '../service/testing/test-service.js';
import { sampleChineseText } from '../text/testing/sample-text.js';
import { EarlyAssembly } from './early-assembly.js';
import { LocalSynthesis } from './local-synthesis.js';

const dir = await mkdtemp(join(tmpdir(), 'early-assembly-'));
test.after(async () => await rm(dir, { recursive: true, force: true }));

/** ffmpeg processes this test process started (from /proc). */
async function ffmpegChildren(): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/u.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === process.pid && name.startsWith('ffmpeg')) found.push(Number(entry));
  }
  return found;
}

const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

/** A voiced-sounding segment: a tone whose pitch and length depend on `index`. */
async function segmentFile(name: string, index: number, sampleRate = 24_000): Promise<string> {
  const samples = new Int16Array(Math.round(sampleRate * (0.6 + 0.17 * index)));
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * (180 + 40 * index) * i) / sampleRate) * Math.sin((Math.PI * i) / samples.length));
  const path = join(dir, name);
  await writeFile(path, encodeWav({ sampleRate, channels: 1, samples }));
  return path;
}

async function segmentFiles(prefix: string, count: number): Promise<string[]> {
  return await Promise.all(Array.from({ length: count }, (_, i) => segmentFile(`${prefix}-${i}.wav`, i)));
}

const layout = (count: number, speed?: number): WriteSegmentsOptions => ({
  pauseMs: 120,
  speed,
  pausesAfterMs: Array.from({ length: count }, (_, i) => (i === 2 ? 900 : 120)),
  chapterStarts: [
    { title: 'One', segment: 0 },
    { title: 'Two', segment: 3 },
  ],
});

// Not opus: ffmpeg's Ogg muxer picks a random stream serial, so no two encodings are the same bytes.
const cases: Array<{ format: OutputFormat; speed?: number }> = [{ format: 'mp3' }, { format: 'mp3', speed: 1.5 }, { format: 'wav' }, { format: 'm4b' }, { format: 'flac', speed: 0.8 }];

for (const { format, speed } of cases) {
  test(`an assembly begun early writes the bytes writeSegments writes (${format}${speed === undefined ? '' : `, speed ${speed}`})`, async () => {
    const paths = await segmentFiles(`${format}-${speed}`, 6);
    const options = layout(paths.length, speed);
    const expected = await writeSegments(paths, format, join(dir, `expected-${format}-${speed}`), options);

    const resultPath = join(dir, `early-${format}-${speed}`);
    const early = new EarlyAssembly(format, resultPath, join(dir, `scratch-${format}-${speed}.partial`), layout(paths.length, speed));
    // Out of order, as several hosts finish them; the last two only when assembling.
    for (const index of [1, 3, 0, 2]) early.offer(index, paths[index]!);
    const outcome = await early.complete(paths, options, new AbortController().signal);
    assert.ok('written' in outcome, JSON.stringify(outcome));
    assert.equal(outcome.appendedEarly, 4);
    assert.ok((await readFile(resultPath)).equals(await readFile(expected.path)), 'the same bytes');
    assert.deepEqual({ ...outcome.written, path: '' }, { ...expected, path: '' });
    assert.equal(outcome.written.chapters.length, 2);
    await early.abort(); // after completing: the result stays
    assert.ok(await exists(resultPath));
  });
}

test('a segment written again after it was appended spoils the output: assembly starts over, nothing is left', async () => {
  for (const [n, change] of ['rewritten in place, another length', 'replaced by a file of the same length'].entries()) {
    const paths = await segmentFiles(`changed-${n}`, 3);
    const scratch = join(dir, `changed-${n}.partial`);
    const resultPath = join(dir, `changed-${n}.wav`);
    const early = new EarlyAssembly('wav', resultPath, scratch, layout(3));
    early.offer(0, paths[0]!);
    // A WAV output holds a segment's samples once it is appended: its header and data, as long as the segment's file.
    const segmentBytes = (await stat(paths[0]!)).size;
    await waitUntil(async () => ((await stat(scratch).catch(() => undefined))?.size ?? 0) >= segmentBytes, 'the first segment to be appended');
    const again = encodeWav({ sampleRate: 24_000, channels: 1, samples: new Int16Array(decodeWav(await readFile(paths[0]!)).samples.length + (change.startsWith('rewritten') ? 100 : 0)).fill(7) });
    if (change.startsWith('rewritten')) {
      await writeFile(paths[0]!, again);
    } else {
      await writeFile(`${paths[0]}.new`, again);
      await rename(`${paths[0]}.new`, paths[0]!);
    }
    const outcome = await early.complete(paths, layout(3), new AbortController().signal);
    assert.deepEqual(outcome, { discarded: 'segment 0 is not the file that was appended' }, change);
    assert.equal(await exists(scratch), false, 'its file is removed');
    assert.equal(await exists(resultPath), false, 'no result');
  }
});

test('a segment finished twice, or a layout that changed, spoils the output', async () => {
  const paths = await segmentFiles('twice', 3);
  const twice = new EarlyAssembly('wav', join(dir, 'twice.wav'), join(dir, 'twice.partial'), layout(3));
  twice.offer(0, paths[0]!);
  twice.offer(0, paths[0]!);
  assert.deepEqual(await twice.complete(paths, layout(3), new AbortController().signal), { discarded: 'segment 0 was finished again' });
  const moved = new EarlyAssembly('wav', join(dir, 'moved.wav'), join(dir, 'moved.partial'), layout(3));
  moved.offer(0, paths[0]!);
  assert.match(((await moved.complete(paths, layout(3, 2), new AbortController().signal)) as { discarded: string }).discarded, /layout/u);
  assert.equal(await exists(join(dir, 'moved.partial')), false);
});

test('aborting an assembly begun early stops its encoder and removes its file', async () => {
  const paths = await segmentFiles('abort', 4);
  const scratch = join(dir, 'abort.partial');
  const early = new EarlyAssembly('mp3', join(dir, 'abort.mp3'), scratch, layout(4));
  for (const [index, path] of paths.slice(0, 3).entries()) early.offer(index, path);
  await waitUntil(async () => (await ffmpegChildren()).length > 0, 'the encoder to start');
  await early.abort();
  assert.deepEqual(await ffmpegChildren(), []);
  assert.equal(await exists(scratch), false);
  early.offer(3, paths[3]!); // ignored once aborted
  assert.deepEqual(await ffmpegChildren(), []);
});

// ---- through the worker ----------------------------------------------------------------------

/** A logger whose lines are kept, to see which way the worker assembled. */
function recordingLogger(): { logger: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger('debug', stream), lines };
}

/** Runs one request through say's pipeline (the worker over an in-memory backend) with fresh engine hosts; returns the result's bytes. */
async function runLocal(
  fields: Record<string, unknown>,
  options: { earlyAssembly: boolean; engine: string; env?: NodeJS.ProcessEnv; during?: (taskId: string, cancel: () => void) => Promise<void> },
): Promise<{ bytes?: Buffer; error?: unknown; lines: Array<Record<string, unknown>> }> {
  const { logger, lines } = recordingLogger();
  const local = await LocalSynthesis.create({ logger, earlyAssembly: options.earlyAssembly });
  const engines = new EngineSet([{ name: options.engine, pool: new EnginePool({ spec: hostSpec(options.engine, options.env), size: 1 }) }]);
  try {
    await engines.start();
    local.start(engines);
    const task = await local.submit(fields);
    const canceler = new AbortController();
    const waited = local.waitFor(task.id, { signal: canceler.signal });
    waited.catch(() => undefined);
    await options.during?.(task.id, () => canceler.abort());
    try {
      const done = await waited;
      const out = join(dir, `${task.id}.out`);
      await local.saveResult(done, out);
      return { bytes: await readFile(out), lines };
    } catch (error) {
      return { error, lines };
    }
  } finally {
    await local.close();
    await engines.close();
  }
}

/** A task's working folder, once it is made, in a LocalSynthesis scratch folder (under the system's temporary folder). */
async function taskFolder(taskId: string): Promise<string> {
  const find = async (): Promise<string | undefined> => {
    for (const entry of await readdir(tmpdir())) {
      const folder = join(tmpdir(), entry, 'tasks', taskId);
      if (entry.startsWith('tts-queue-') && (await exists(folder))) return folder;
    }
    return undefined;
  };
  await waitUntil(async () => (await find()) !== undefined, 'the task to be prepared');
  return (await find())!;
}

test('through the worker: an mp3 task with chapters, pauses and a speed is the same bytes encoded early as after the last segment', async () => {
  const fields = {
    parts: [
      { text: sampleChineseText(300), chapter: '第一章', pause_ms: 700 },
      { text: sampleChineseText(500), chapter: '第二章' },
    ],
    format: 'mp3',
    speed: 1.25,
    seed: 3,
  };
  const early = await runLocal(fields, { earlyAssembly: true, engine: 'espeak' });
  const late = await runLocal(fields, { earlyAssembly: false, engine: 'espeak' });
  assert.ok(early.bytes !== undefined && late.bytes !== undefined, String(early.error ?? late.error));
  const used = early.lines.find((line) => line.msg === 'output encoded as its segments finished');
  assert.ok(used !== undefined && (used.segments as number) > 2 && used.appendedEarly === used.segments, JSON.stringify(used));
  assert.equal(
    late.lines.some((line) => line.msg === 'output encoded as its segments finished'),
    false,
  );
  assert.ok(early.bytes.equals(late.bytes), `early: ${early.bytes.length} bytes, after the last segment: ${late.bytes.length}`);
});

// bench-sleep's segments: 300 ms each, 150 characters (one segment) per sentence.
const slow = { BENCH_SLEEP_COST_MS: '300', BENCH_SLEEP_MS_PER_CHAR: '20' };
const sentences = (count: number): string => Array.from({ length: count }, (_, i) => `第${i}段：${'这是一段用来测试提前编码的长文本内容'.repeat(8)}。`).join('');

test('through the worker: a segment written again after it was encoded is not in the result; its new audio is', async () => {
  const run = await runLocal(
    { text: sentences(5), format: 'wav' },
    {
      earlyAssembly: true,
      engine: 'bench-sleep',
      env: slow,
      during: async (taskId) => {
        const folder = await taskFolder(taskId);
        const segment = join(folder, 'segment-000000.wav');
        await waitUntil(() => exists(segment), 'the first segment');
        const bytes = (await stat(segment)).size;
        await waitUntil(async () => ((await stat(join(folder, 'result.wav.partial')).catch(() => undefined))?.size ?? 0) >= bytes, 'the first segment to be appended');
        // As a claim that lost its lease would: the same file, other audio.
        await writeFile(segment, encodeWav({ sampleRate: 24_000, channels: 1, samples: new Int16Array(2_400).fill(1234) }));
      },
    },
  );
  assert.ok(run.bytes !== undefined, String(run.error));
  assert.ok(run.lines.some((line) => line.msg === 'the output encoded early cannot be used; encoding it again' && line.reason === 'segment 0 is not the file that was appended'));
  const samples = decodeWav(run.bytes).samples;
  assert.deepEqual([...samples.subarray(0, 2_400)], new Array(2_400).fill(1234), 'the segment as it is now');
  assert.equal(samples[2_400], 0, 'then the pause');
});

test('through the worker: a task canceled while encoded early leaves no encoder and no file', async () => {
  const run = await runLocal(
    { text: sentences(8), format: 'mp3' },
    {
      earlyAssembly: true,
      engine: 'bench-sleep',
      env: slow,
      during: async (taskId, cancel) => {
        const folder = await taskFolder(taskId);
        await waitUntil(async () => (await ffmpegChildren()).length > 0 && (await exists(join(folder, 'result.mp3.partial'))), 'the encoder to start');
        cancel();
        await waitUntil(async () => (await ffmpegChildren()).length === 0, 'the encoder to stop');
        await waitUntil(async () => !(await exists(folder)), "the task's files to be removed");
      },
    },
  );
  assert.ok(run.error instanceof TtsError && run.error.code === 'E_CANCELED', String(run.error));
});

test('the embedded service encodes early, and stopping it mid-task leaves no encoder and no file', async () => {
  const service = await startTestService({ ...slow });
  let closed = false;
  try {
    const { body } = await service.request('/api/synthesis', jsonPost({ text: sentences(8), format: 'mp3' }));
    const folder = join(service.dataDir, 'blobs', 'tasks', body.id as string);
    await waitUntil(async () => (await ffmpegChildren()).length > 0 && (await exists(join(folder, 'result.mp3.partial'))), 'the encoder to start');
    assert.equal((await waitForTask(service, body.id, () => true)).status, 'synthesizing');
    await service.close();
    closed = true;
    assert.deepEqual(await ffmpegChildren(), []);
    assert.equal(await exists(join(folder, 'result.mp3.partial')), false);
    assert.ok(await exists(join(folder, 'segment-000000.wav')), 'finished segments are kept');
  } finally {
    if (!closed) await service.close();
    await rm(service.dataDir, { recursive: true, force: true });
  }
});

test('many tasks served in turns hold no more encoders than early assembly allows at once (4), and all complete', async () => {
  const service = await startTestService({ BENCH_SLEEP_COST_MS: '60', BENCH_SLEEP_MS_PER_CHAR: '20' });
  try {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await service.request('/api/synthesis', jsonPost({ text: sentences(4), format: 'mp3' }))).body.id as string);
    let most = 0;
    let done = false;
    const watching = (async () => {
      while (!done) {
        most = Math.max(most, (await ffmpegChildren()).length);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    for (const id of ids) assert.equal((await waitForTask(service, id)).status, 'completed');
    done = true;
    await watching;
    // Four tasks encoded early, plus the one assembly that runs at a time (ASSEMBLE_CONCURRENCY).
    assert.ok(most >= 1 && most <= 5, `at most ${most} encoders ran at once`);
  } finally {
    await service.close();
    await rm(service.dataDir, { recursive: true, force: true });
  }
});
