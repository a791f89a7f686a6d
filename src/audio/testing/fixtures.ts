/**
 * Test audio generated at test time with ffmpeg (nothing binary is committed): a voiced,
 * amplitude-modulated tone framed by silence, in any container the service accepts.
 */

import { createHash } from 'node:crypto';
import { ffmpegPath } from '../binaries.js';
import { asFileUrl } from '../probe.js';
import { lastLine, runBinary } from '../run-binary.js';

export const FIXTURE_FORMATS = {
  wav: ['-c:a', 'pcm_s16le', '-f', 'wav'],
  mp3: ['-c:a', 'libmp3lame', '-b:a', '64k', '-f', 'mp3'],
  m4a: ['-c:a', 'aac', '-b:a', '64k', '-f', 'ipod'],
  aac: ['-c:a', 'aac', '-b:a', '64k', '-f', 'adts'],
  ogg: ['-c:a', 'libopus', '-b:a', '48k', '-ar', '48000', '-f', 'ogg'],
  webm: ['-c:a', 'libopus', '-b:a', '48k', '-ar', '48000', '-f', 'webm'],
  flac: ['-c:a', 'flac', '-f', 'flac'],
} as const;

export type FixtureFormat = keyof typeof FIXTURE_FORMATS;

export interface ToneOptions {
  /** Seconds of "voice". */
  seconds: number;
  /** Seconds of silence before and after. */
  silence?: number;
  format?: FixtureFormat;
  sampleRate?: number;
  /** Peak amplitude, 0..1. */
  amplitude?: number;
  channels?: number;
  /** Pitch of the tone. */
  frequencyHz?: number;
}

/** Writes a tone fixture; returns its path. */
export async function makeTone(path: string, options: ToneOptions): Promise<string> {
  const { seconds, silence = 0, format = 'wav', sampleRate = 44_100, amplitude = 0.5, channels = 1, frequencyHz = 180 } = options;
  const total = seconds + 2 * silence;
  // A tone (180 Hz unless told) with a 4 Hz syllable-like envelope, gated to the "voice" interval.
  const expression = `${amplitude}*sin(2*PI*${frequencyHz}*t)*(0.55+0.45*sin(2*PI*4*t))*between(t,${silence},${silence + seconds})`;
  await ffmpeg(['-f', 'lavfi', '-i', `aevalsrc='${expression}':s=${sampleRate}:d=${total}`, '-ac', String(channels), ...FIXTURE_FORMATS[format], asFileUrl(path)]);
  return path;
}

/** A short video with no audio stream. */
export async function makeSilentVideo(path: string): Promise<string> {
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=10:duration=3', '-c:v', 'mpeg4', '-f', 'mp4', asFileUrl(path)]);
  return path;
}

async function ffmpeg(args: string[]): Promise<void> {
  const result = await runBinary(ffmpegPath(), ['-nostdin', '-v', 'error', '-y', ...args], { timeoutMs: 60_000 });
  if (result.exitCode !== 0) throw new Error(`fixture ffmpeg failed: ${lastLine(result.stderr)}`);
}

/**
 * 64 KiB of noise, the same for a seed on every run: random bytes would make a flaky test, since
 * ffprobe guesses a demuxer for about one file of noise in a hundred.
 */
export function noise(seed: number): Buffer {
  const blocks = Array.from({ length: 2048 }, (_, i) => createHash('sha256').update(`noise-${seed}-${i}`).digest());
  return Buffer.concat(blocks);
}
