import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AudioSink, OUTPUT_FORMAT_NAMES, atempoFilters, parseOutputFormat, writeSegments } from './output.js';
import { probeMedia } from './probe.js';
import { decodeWav, encodeWav } from './wav.js';
import { TtsError } from '../errors.js';
import { runWithDescriptorsExhausted } from '../service/testing/descriptor-exhaustion.js';

const dir = await mkdtemp(join(tmpdir(), 'output-test-'));
test.after(() => rm(dir, { recursive: true, force: true }));

function tone(seconds: number, sampleRate = 22_050): Int16Array {
  const samples = new Int16Array(Math.round(seconds * sampleRate));
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * 220 * i) / sampleRate));
  return samples;
}

async function segmentFiles(): Promise<string[]> {
  const paths = [join(dir, 's1.wav'), join(dir, 's2.wav')];
  await writeFile(paths[0]!, encodeWav({ sampleRate: 22_050, channels: 1, samples: tone(1) }));
  await writeFile(paths[1]!, encodeWav({ sampleRate: 22_050, channels: 1, samples: tone(0.5) }));
  return paths;
}

test('segments are joined with the pause between them', async () => {
  const joined = await writeSegments(await segmentFiles(), 'wav', join(dir, 'joined.wav'), { pauseMs: 250 });
  assert.equal(joined.sampleRate, 22_050);
  assert.ok(Math.abs(joined.durationMs - 1750) < 1, `${joined.durationMs} ms`);
  const audio = decodeWav(await readFile(joined.path));
  assert.equal(audio.samples.length, Math.round(1.75 * 22_050));
  // The pause is silent.
  assert.equal(audio.samples[22_050 + 100], 0);
});

test('segments of different rates are not joined, and nothing is left behind', async () => {
  const other = join(dir, 'other-rate.wav');
  await writeFile(other, encodeWav({ sampleRate: 16_000, channels: 1, samples: tone(0.2, 16_000) }));
  const [first] = await segmentFiles();
  await assert.rejects(writeSegments([first!, other], 'mp3', join(dir, 'bad.mp3'), { pauseMs: 0 }), (e: unknown) => e instanceof TtsError && e.code === 'E_ENGINE_FAILED');
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.startsWith('bad')),
    [],
  );
});

test('an aborted sink leaves no file', async () => {
  const sink = new AudioSink('opus', join(dir, 'aborted.ogg'), { pauseMs: 0 });
  await sink.append((await segmentFiles())[0]!);
  await sink.abort();
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.startsWith('aborted')),
    [],
  );
});

for (const format of OUTPUT_FORMAT_NAMES) {
  test(`encodes ${format}`, async () => {
    const outPath = join(dir, `speech.${format}`);
    const result = await writeSegments(await segmentFiles(), format, outPath, { pauseMs: 100 });
    assert.equal(result.bytes, (await stat(outPath)).size);
    assert.ok(result.bytes > 0);
    if (format === 'pcm') {
      assert.equal(result.bytes, Math.round(1.6 * 22_050) * 2);
      return;
    }
    const probe = await probeMedia(outPath);
    assert.ok(probe.audio, 'has an audio stream');
    assert.ok(Math.abs((probe.durationMs ?? 0) - 1600) < 120, `duration ${probe.durationMs}`);
    const expected = { wav: 'pcm_s16le', mp3: 'mp3', opus: 'opus', flac: 'flac', aac: 'aac', m4b: 'aac' }[format];
    assert.equal(probe.audio.codec, expected);
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.endsWith('.partial')),
      [],
    );
  });
}

for (const [speed, format] of [
  [0.25, 'wav'],
  [0.7, 'mp3'],
  [1.5, 'pcm'],
  [4, 'opus'],
] as const) {
  test(`speed ${speed} (${format}): atempo, chained beyond 0.5–2, changes the length by 1/speed; the result says so`, async () => {
    const outPath = join(dir, `speed-${speed}.${format}`);
    const result = await writeSegments(await segmentFiles(), format, outPath, { pauseMs: 100, speed });
    assert.ok(Math.abs(result.durationMs - 1600 / speed) < 1, `announced ${result.durationMs}`);
    const measured = format === 'pcm' ? ((await stat(outPath)).size / 2 / 22_050) * 1000 : (await probeMedia(outPath)).durationMs!;
    assert.ok(Math.abs(measured - 1600 / speed) < 120, `measured ${measured} ms, expected ${1600 / speed}`);
  });
}

test('atempo chains stay within 0.5–2 per instance', () => {
  assert.deepEqual(atempoFilters(1), []);
  assert.deepEqual(atempoFilters(0.25), ['atempo=0.5', 'atempo=0.5']);
  assert.deepEqual(atempoFilters(4), ['atempo=2', 'atempo=2']);
  assert.deepEqual(atempoFilters(3), ['atempo=2', 'atempo=1.5']);
  assert.deepEqual(atempoFilters(0.3), ['atempo=0.5', 'atempo=0.6']);
  assert.throws(
    () => atempoFilters(5),
    (e: unknown) => e instanceof TtsError && e.code === 'E_INVALID_ARGUMENT',
  );
});

test('unknown formats are refused with the list of known ones', () => {
  assert.throws(
    () => parseOutputFormat('aiff'),
    (e: unknown) => e instanceof TtsError && e.code === 'E_FORMAT_UNSUPPORTED' && e.message.includes('mp3'),
  );
  assert.equal(parseOutputFormat('opus'), 'opus');
});

test('no file descriptor left when the encoder starts (EMFILE): a retryable E_RESOURCES_EXHAUSTED, not a crash; encodes again once descriptors are free', async () => {
  const segment = join(dir, 'exhausted-segment.wav');
  await writeFile(segment, encodeWav({ sampleRate: 22_050, channels: 1, samples: tone(0.5) }));
  const module = pathToFileURL(new URL('./output.js', import.meta.url).pathname).href;
  const run = await runWithDescriptorsExhausted(
    `import { writeSegments } from ${JSON.stringify(module)};`,
    `
const outcome = (promise) => promise.then((r) => ({ ok: true, format: r.format }), (e) => ({ ok: false, name: e.name, code: e.code, retryable: e.retryable }));
const write = () => writeSegments([${JSON.stringify(segment)}], 'mp3', ${JSON.stringify(join(dir, 'exhausted.mp3'))}, { pauseMs: 0 });
closeSync(held.pop()); // one descriptor: enough to read the segment, not for the encoder's pipes
report(await outcome(write()));
release();
report(await outcome(write()));
`,
  );
  assert.equal(run.code, 0, `the process survived: ${run.stderr}`);
  const [exhausted, freed] = run.reports as any[];
  assert.deepEqual(exhausted, { ok: false, name: 'TtsError', code: 'E_RESOURCES_EXHAUSTED', retryable: true });
  assert.deepEqual(freed, { ok: true, format: 'mp3' });
});
