/** Checks of streamed audio for tests: what ffprobe says it is, and how long it lasts once decoded. */

import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ffmpegPath } from '../binaries.js';
import { probeMedia } from '../probe.js';
import { runBinary } from '../run-binary.js';

export interface StreamedAudio {
  /** ffprobe's codec of the audio stream (pcm: none, it is raw). */
  codec: string | undefined;
  containers: string[];
  sampleRate: number;
  /** Decoded to the end: a stream's header cannot announce its length. */
  durationMs: number;
}

const CODECS: Record<string, string> = { wav: 'pcm_s16le', mp3: 'mp3', opus: 'opus', aac: 'aac', flac: 'flac' };

/** The codec each format should probe as. */
export const expectedCodec = (format: string): string | undefined => CODECS[format];

/**
 * Writes `bytes` to `dir` and reads them back with ffprobe and ffmpeg. pcm is raw s16le mono at
 * `pcmRate`. Throws when ffmpeg cannot decode them.
 */
export async function inspectStreamedAudio(bytes: Uint8Array, format: string, dir: string, pcmRate = 24_000): Promise<StreamedAudio> {
  if (format === 'pcm') return { codec: undefined, containers: [], sampleRate: pcmRate, durationMs: (bytes.length / 2 / pcmRate) * 1000 };
  const path = join(dir, `streamed-${(await readdir(dir)).length}-${Math.random().toString(36).slice(2)}.${format}`);
  await writeFile(path, bytes);
  const probe = await probeMedia(path);
  if (probe.audio === undefined) throw new Error(`no audio stream in the ${format} stream`);
  // Decoded at its own rate, counted in samples: exact, whatever the container says of its length.
  const decoded = await runBinary(ffmpegPath(), ['-nostdin', '-v', 'error', '-i', `file:${path}`, '-ac', '1', '-f', 's16le', 'pipe:1'], { timeoutMs: 60_000 });
  if (decoded.exitCode !== 0) throw new Error(`ffmpeg cannot decode the ${format} stream: ${decoded.stderr}`);
  return { codec: probe.audio.codec, containers: probe.containers, sampleRate: probe.audio.sampleRate, durationMs: (decoded.stdout.length / 2 / probe.audio.sampleRate) * 1000 };
}
