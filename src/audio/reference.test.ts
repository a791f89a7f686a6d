import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURE_FORMATS, makeSilentVideo, makeTone, noise, type FixtureFormat } from './testing/fixtures.js';
import { normalizeReference } from './reference.js';
import { decodeWav } from './wav.js';
import { TtsError } from '../errors.js';

const dir = await mkdtemp(join(tmpdir(), 'reference-test-'));
test.after(() => rm(dir, { recursive: true, force: true }));

function rmsDb(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += (s / 32768) ** 2;
  return 20 * Math.log10(Math.sqrt(sum / samples.length));
}

async function refused(input: string, code: string): Promise<void> {
  const outPath = join(dir, `out-${Math.random()}.wav`);
  const error = await normalizeReference(input, { sampleRate: 24_000, outPath }).then(
    () => assert.fail(`expected ${code} for ${input}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof TtsError, String(error));
  assert.equal(error.code, code, error.message);
  assert.ok(error.message.length > 20, 'the message says what to do');
  const leftovers = (await readdir(dir)).filter((f) => f.startsWith('out-'));
  assert.deepEqual(leftovers, [], 'no stray files');
}

for (const format of Object.keys(FIXTURE_FORMATS) as FixtureFormat[]) {
  test(`a ${format} reference becomes 24 kHz mono 16-bit, trimmed and evened out`, async () => {
    const input = await makeTone(join(dir, `voice.${format}`), { seconds: 4, silence: 1, format, amplitude: 0.1, channels: 2 });
    const outPath = join(dir, `normalized-${format}.wav`);
    const result = await normalizeReference(input, { sampleRate: 24_000, outPath });
    const audio = decodeWav(await readFile(outPath));
    assert.equal(audio.sampleRate, 24_000);
    assert.equal(audio.channels, 1);
    // 4 s of voice kept, 2 s of silence trimmed (a little edge padding and codec delay allowed).
    assert.ok(result.durationMs > 3_800 && result.durationMs < 4_400, `kept ${result.durationMs} ms`);
    const level = rmsDb(audio.samples);
    assert.ok(level > -24 && level < -17, `loudness ${level.toFixed(1)} dBFS, expected about -20`);
    assert.match(result.sha256, /^[0-9a-f]{64}$/);
  });
}

test('the same reference always gives the same hash', async () => {
  const input = await makeTone(join(dir, 'same.wav'), { seconds: 3 });
  const a = await normalizeReference(input, { sampleRate: 22_050, outPath: join(dir, 'same-a.wav') });
  const b = await normalizeReference(input, { sampleRate: 22_050, outPath: join(dir, 'same-b.wav') });
  assert.equal(a.sha256, b.sha256);
});

// ffprobe names a demuxer for about one file of random bytes in a hundred: these seeds give noise it
// guesses as LRC lyrics (score 5) and as raw H.263 video (score 25). Both were once answered as
// unsupported media instead of as unreadable.
for (const [seed, guess] of [
  [0, 'nothing'],
  [86, 'lrc'],
  [572, 'h263'],
] as const) {
  test(`noise that ffprobe guesses as ${guess} is refused as unreadable`, async () => {
    const input = join(dir, `noise-${seed}.wav`);
    await writeFile(input, noise(seed));
    await refused(input, 'E_AUDIO_UNREADABLE');
  });
}

// Text formats ffprobe recognises (LRC lyrics, SRT subtitles) hold neither sound nor picture.
for (const [name, text] of [
  ['lyrics.wav', '[00:01.00]These are lyrics\n[00:05.50]not a recording\n'.repeat(50)],
  ['subtitles.wav', '1\n00:00:01,000 --> 00:00:02,000\nNot a recording\n\n'.repeat(50)],
] as const) {
  test(`a text format ffprobe knows (${name}) is refused as unreadable, not as other media`, async () => {
    const input = join(dir, name);
    await writeFile(input, text);
    await refused(input, 'E_AUDIO_UNREADABLE');
  });
}

test('a text file named .wav is refused by its content', async () => {
  const input = join(dir, 'notes.wav');
  await writeFile(input, 'These are my lecture notes, not a recording.\n'.repeat(100));
  await refused(input, 'E_AUDIO_UNREADABLE');
});

test('a truncated mp3 is refused as cut short', async () => {
  const whole = await makeTone(join(dir, 'whole.mp3'), { seconds: 10, format: 'mp3' });
  const bytes = await readFile(whole);
  const input = join(dir, 'truncated.mp3');
  await writeFile(input, bytes.subarray(0, Math.floor(bytes.length * 0.4)));
  await refused(input, 'E_AUDIO_TRUNCATED');
});

test('a 0.2 s clip is too short', async () => {
  await refused(await makeTone(join(dir, 'short.wav'), { seconds: 0.2 }), 'E_AUDIO_TOO_SHORT');
});

test('a 10-minute clip is too long, refused before decoding', async () => {
  await refused(await makeTone(join(dir, 'long.mp3'), { seconds: 600, format: 'mp3', sampleRate: 8_000 }), 'E_AUDIO_TOO_LONG');
});

test('35 s of continuous speech is too long', async () => {
  await refused(await makeTone(join(dir, 'long-speech.wav'), { seconds: 35, sampleRate: 8_000 }), 'E_AUDIO_TOO_LONG');
});

test('a video without sound has no audio stream', async () => {
  await refused(await makeSilentVideo(join(dir, 'video.mp4')), 'E_AUDIO_NO_AUDIO_STREAM');
});

test('a silent recording is refused', async () => {
  await refused(await makeTone(join(dir, 'silent.wav'), { seconds: 5, amplitude: 0 }), 'E_AUDIO_SILENT');
});

test('an empty file and a missing file are refused', async () => {
  const empty = join(dir, 'empty.wav');
  await writeFile(empty, '');
  await refused(empty, 'E_AUDIO_UNREADABLE');
  await refused(join(dir, 'does-not-exist.wav'), 'E_AUDIO_UNREADABLE');
});

test('an mp3 behind leading junk bytes is refused by its first bytes, though ffprobe would read it', async () => {
  const mp3 = await makeTone(join(dir, 'behind-junk.mp3'), { seconds: 3, format: 'mp3' });
  const junk = join(dir, 'junk-then-mp3.bin');
  await writeFile(junk, Buffer.concat([Buffer.from('<html>not audio</html>\n'), await readFile(mp3)]));
  await refused(junk, 'E_AUDIO_UNREADABLE');
});
