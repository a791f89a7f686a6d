import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPronunciations, countSyllables, pitchParameterFor, splitLanguageRuns } from './espeak-host.js';
import { runHostConformance } from '../testing/host-conformance.js';
import { EnginePool } from '../engine-pool.js';
import { hostSpec } from '../registry.js';
import { medianPitchHz } from '../../audio/pitch.js';
import { normalizeReference } from '../../audio/reference.js';
import { makeTone } from '../../audio/testing/fixtures.js';
import { decodeWav, type PcmAudio } from '../../audio/wav.js';

runHostConformance('espeak', () => hostSpec('espeak'), {
  sampleText: '你好，世界。Hello world.',
  // espeak cannot stop inside a run: a text of many language runs gives it places to stop.
  slowText: Array.from({ length: 200 }, (_, i) => `第${i}句 sentence ${i}。`).join(''),
});

test('English words inside Chinese go to the English voice, pinyin to the Mandarin one', () => {
  assert.deepEqual(splitLanguageRuns('我喜欢用 Python 和 JavaScript 写代码。'), [
    { voice: 'cmn', text: '我喜欢用 ' },
    { voice: 'en-us', text: 'Python' },
    { voice: 'cmn', text: ' 和 ' },
    { voice: 'en-us', text: 'JavaScript' },
    { voice: 'cmn', text: ' 写代码。' },
  ]);
  assert.deepEqual(splitLanguageRuns('The GPU is busy, all 8 of them.'), [{ voice: 'en-us', text: 'The GPU is busy, all 8 of them.' }]);
  const forced = splitLanguageRuns(applyPronunciations('这很重要', [{ text: '重', pinyin: 'chong2' }]));
  assert.deepEqual(
    forced.map((r) => r.voice),
    ['cmn'],
  );
  assert.equal(
    forced
      .map((r) => r.text)
      .join('')
      .replace(/\s+/gu, ' '),
    '这很 chong2 要',
  );
});

test('the longest forced reading wins', () => {
  const text = applyPronunciations('重庆很重要', [
    { text: '重', pinyin: 'zhong4' },
    { text: '重庆', pinyin: 'chong2 qing4' },
  ]);
  assert.match(text, /chong2 qing4.*很.*zhong4/u);
});

test('pitch and syllable helpers', () => {
  assert.equal(pitchParameterFor(97, 'cmn'), 50);
  assert.equal(pitchParameterFor(40, 'cmn'), 0);
  assert.equal(pitchParameterFor(300, 'en-us'), 100);
  assert.equal(countSyllables('你好 hello'), 4);
});

const dir = await mkdtemp(join(tmpdir(), 'espeak-test-'));
const pool = new EnginePool({ spec: hostSpec('espeak'), size: 1 });
await pool.start();
test.after(async () => {
  await pool.close();
  await rm(dir, { recursive: true, force: true });
});

async function speak(text: string, extra: Partial<Parameters<EnginePool['synthesize']>[0]> = {}): Promise<PcmAudio> {
  const outPath = join(dir, `${Math.random()}.wav`);
  await pool.synthesize({ text, outPath, ...extra });
  return decodeWav(await readFile(outPath));
}

function rms(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / samples.length);
}

const seconds = (audio: PcmAudio): number => audio.samples.length / audio.sampleRate;

test('mixed Chinese and English text gives speech whose length follows the text', async () => {
  const short = await speak('今天我们学习 Node.js 的基础。');
  const long = await speak('今天我们学习 Node.js 的基础。明天我们继续学习 TypeScript 和 GPU 编程，然后写一个语音合成服务。');
  assert.equal(short.sampleRate, 22_050);
  assert.ok(rms(short.samples) > 500, 'not silent');
  assert.ok(seconds(short) > 1 && seconds(short) < 8, `${seconds(short)} s`);
  assert.ok(seconds(long) > seconds(short) * 2, 'a text three times as long lasts more than twice as long');
});

test('a forced reading changes the audio to that of the pinyin given', async () => {
  const plain = await speak('这件事很重要。');
  const forced = await speak('这件事很重要。', { pronunciations: [{ text: '重', pinyin: 'chong2' }] });
  // 虫 is read chong2 by default: the forced 重 must sound like it, not like zhong4.
  const homophone = await speak('这件事很虫要。');
  assert.notDeepEqual(forced.samples, plain.samples);
  assert.ok(Math.abs(seconds(forced) - seconds(homophone)) < 0.1, `${seconds(forced)} vs ${seconds(homophone)}`);
});

test('a reference voice moves the pitch toward its own', async () => {
  const low = await normalizeReference(await makeTone(join(dir, 'low.wav'), { seconds: 4, frequencyHz: 75 }), { sampleRate: 22_050, outPath: join(dir, 'low-n.wav') });
  const high = await normalizeReference(await makeTone(join(dir, 'high.wav'), { seconds: 4, frequencyHz: 220 }), { sampleRate: 22_050, outPath: join(dir, 'high-n.wav') });
  const text = '我们今天学习语音合成。';
  const lowVoice = await speak(text, { voice: { audioPath: low.path, sha256: low.sha256, promptText: '' } });
  const highVoice = await speak(text, { voice: { audioPath: high.path, sha256: high.sha256, promptText: '' } });
  const lowHz = medianPitchHz(lowVoice.samples, lowVoice.sampleRate)!;
  const highHz = medianPitchHz(highVoice.samples, highVoice.sampleRate)!;
  assert.ok(highHz > lowHz * 1.4, `pitch ${lowHz.toFixed(0)} Hz vs ${highHz.toFixed(0)} Hz`);
});

test('a reference transcript sets the speaking rate', async () => {
  const reference = await normalizeReference(await makeTone(join(dir, 'ref.wav'), { seconds: 3 }), { sampleRate: 22_050, outPath: join(dir, 'ref-n.wav') });
  const voice = (promptText: string) => ({ audioPath: reference.path, sha256: reference.sha256, promptText });
  const text = '我们今天学习语音合成，明天继续。';
  // 6 syllables in 3 s is slow speech; 18 in 3 s is fast.
  const slow = await speak(text, { voice: voice('一二三四五六') });
  const fast = await speak(text, { voice: voice('一二三四五六七八九十一二三四五六七八') });
  assert.ok(seconds(slow) > seconds(fast) * 1.8, `${seconds(slow)} s vs ${seconds(fast)} s`);
});

test('a segment gives the same samples whatever the host synthesised before it (a retry, or say against the service)', async () => {
  const text = '今天天气很好，我们去公园散步吧。';
  const first = await speak(text);
  await speak('Something else in English, and a longer sentence to move espeak along.');
  await speak('这是一个很长的句子，里面有很多字，我们看看会怎么样。');
  const again = await speak(text);
  assert.deepEqual(again.samples, first.samples);
});

test('a language run too long for the host is refused with a typed error, and the host goes on', async () => {
  await assert.rejects(speak('word '.repeat(60_000)), (error: any) => error.code === 'E_ENGINE_REJECTED' && /at most \d+ bytes/u.test(error.message));
  assert.ok(rms((await speak('你好。')).samples) > 500);
});
