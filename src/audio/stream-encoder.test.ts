import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamEncoder } from './stream-encoder.js';
import { inspectStreamedAudio } from './testing/streamed-audio.js';

const dir = await mkdtemp(join(tmpdir(), 'stream-encoder-test-'));
test.after(() => rm(dir, { recursive: true, force: true }));

const pcm = (seconds: number, rate: number): Uint8Array => {
  const samples = new Int16Array(Math.round(seconds * rate));
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(5000 * Math.sin((2 * Math.PI * 330 * i) / rate));
  return new Uint8Array(samples.buffer);
};

async function encode(encoder: StreamEncoder, rate: number, pieces: number[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  encoder.output.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise((resolve) => encoder.output.once('end', resolve));
  await encoder.begin({ sampleRate: rate, channels: 1 });
  for (const seconds of pieces) await encoder.write(pcm(seconds, rate));
  await encoder.end();
  await ended;
  return Buffer.concat(chunks);
}

test('pcm resampled (OpenAI: 24 kHz) from 22.05 kHz keeps the length', async () => {
  const encoder = await StreamEncoder.start({ format: 'pcm', outputRate: 24_000 });
  const bytes = await encode(encoder, 22_050, [1, 0.5]);
  assert.equal(encoder.outputRate({ sampleRate: 22_050, channels: 1 }), 24_000);
  assert.ok(Math.abs(bytes.length / 2 / 24_000 - 1.5) < 0.01, `${bytes.length} bytes`);
});

test('wav at speed 1 is written directly, with a streaming header; at speed 0.5 through ffmpeg, twice as long', async () => {
  const direct = await encode(await StreamEncoder.start({ format: 'wav' }), 22_050, [1]);
  assert.equal(direct.length, 44 + 22_050 * 2);
  assert.equal(direct.readUInt32LE(4), 0xffffffff);
  const slow = await encode(await StreamEncoder.start({ format: 'wav', speed: 0.5 }), 22_050, [1]);
  const audio = await inspectStreamedAudio(slow, 'wav', dir);
  assert.ok(Math.abs(audio.durationMs - 2000) < 50, `${audio.durationMs} ms`);
});

test('aac (ADTS) is encoded as it is written', async () => {
  const bytes = await encode(await StreamEncoder.start({ format: 'aac' }), 24_000, [0.5, 0.5]);
  const audio = await inspectStreamedAudio(bytes, 'aac', dir);
  assert.equal(audio.codec, 'aac');
  assert.ok(Math.abs(audio.durationMs - 1000) < 100, `${audio.durationMs} ms`);
});
