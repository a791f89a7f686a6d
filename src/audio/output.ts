/**
 * Output audio: segments joined with a pause into one WAV (streamed to disk, so a long book
 * never sits in memory), then encoded to the requested format.
 */

import { open, readFile, rename, unlink } from 'node:fs/promises';
import { ffmpegPath } from './binaries.js';
import { asFileUrl } from './probe.js';
import { lastLine, runBinary } from './run-binary.js';
import { decodeWav, encodeWav } from './wav.js';
import { TtsError } from '../errors.js';

/** The output formats, defined once: name → file extension, content type, ffmpeg encoder. */
export const OUTPUT_FORMATS = {
  wav: { extension: 'wav', contentType: 'audio/wav', ffmpegArgs: null },
  mp3: { extension: 'mp3', contentType: 'audio/mpeg', ffmpegArgs: ['-c:a', 'libmp3lame', '-b:a', '128k', '-f', 'mp3'] },
  opus: { extension: 'ogg', contentType: 'audio/ogg', ffmpegArgs: ['-c:a', 'libopus', '-b:a', '48k', '-f', 'ogg'] },
  flac: { extension: 'flac', contentType: 'audio/flac', ffmpegArgs: ['-c:a', 'flac', '-f', 'flac'] },
  pcm: { extension: 'pcm', contentType: 'audio/L16', ffmpegArgs: null },
} as const;

export type OutputFormat = keyof typeof OUTPUT_FORMATS;
export const OUTPUT_FORMAT_NAMES = Object.keys(OUTPUT_FORMATS) as OutputFormat[];

export function parseOutputFormat(value: string): OutputFormat {
  if (Object.hasOwn(OUTPUT_FORMATS, value)) return value as OutputFormat;
  throw new TtsError('E_FORMAT_UNSUPPORTED', `Expected a format among ${OUTPUT_FORMAT_NAMES.join(', ')}, got "${value}".`);
}

export interface JoinedAudio {
  path: string;
  sampleRate: number;
  channels: number;
  durationMs: number;
}

/**
 * Joins 16-bit PCM WAV segments into one WAV at `outPath`, with `pauseMs` of silence between
 * them. All segments must share a sample rate and channel count (one engine wrote them).
 */
export async function joinWavFiles(paths: readonly string[], outPath: string, pauseMs: number): Promise<JoinedAudio> {
  if (paths.length === 0) throw new TtsError('E_INTERNAL', 'No segments to join.');
  const file = await open(outPath, 'w');
  let sampleRate = 0;
  let channels = 0;
  let dataBytes = 0;
  try {
    await file.write(Buffer.alloc(44)); // header placeholder, written once sizes are known
    for (const [index, path] of paths.entries()) {
      const audio = decodeWav(await readFile(path), `segment ${index + 1}`);
      if (index === 0) {
        sampleRate = audio.sampleRate;
        channels = audio.channels;
      } else if (audio.sampleRate !== sampleRate || audio.channels !== channels) {
        throw new TtsError('E_ENGINE_FAILED', `Segment ${index + 1} is ${audio.sampleRate} Hz/${audio.channels} ch, the first was ${sampleRate} Hz/${channels} ch.`);
      }
      if (index > 0 && pauseMs > 0) {
        const pause = Buffer.alloc(Math.round((sampleRate * pauseMs) / 1000) * channels * 2);
        await file.write(pause);
        dataBytes += pause.length;
      }
      const bytes = Buffer.from(audio.samples.buffer, audio.samples.byteOffset, audio.samples.byteLength);
      await file.write(bytes);
      dataBytes += bytes.length;
    }
    const header = encodeWav({ sampleRate, channels, samples: new Int16Array(0) });
    header.writeUInt32LE(36 + dataBytes, 4);
    header.writeUInt32LE(dataBytes, 40);
    await file.write(header, 0, 44, 0);
  } finally {
    await file.close();
  }
  return { path: outPath, sampleRate, channels, durationMs: (dataBytes / 2 / channels / sampleRate) * 1000 };
}

/**
 * Encodes a WAV into `format` at `outPath`. The file appears whole or not at all: it is written
 * beside the target and renamed into place.
 */
export async function encodeAudio(wavPath: string, format: OutputFormat, outPath: string, options: { signal?: AbortSignal } = {}): Promise<void> {
  const partial = `${outPath}.partial`;
  try {
    const { ffmpegArgs } = OUTPUT_FORMATS[format];
    if (format === 'pcm') {
      // Raw little-endian 16-bit samples: the WAV's data, without its header.
      const audio = decodeWav(await readFile(wavPath), 'joined audio');
      await writeAll(partial, Buffer.from(audio.samples.buffer, audio.samples.byteOffset, audio.samples.byteLength));
    } else if (ffmpegArgs === null) {
      await writeAll(partial, await readFile(wavPath));
    } else {
      const result = await runBinary(
        ffmpegPath(),
        ['-nostdin', '-v', 'error', '-y', '-i', asFileUrl(wavPath), ...ffmpegArgs, asFileUrl(partial)],
        { timeoutMs: 30 * 60_000, signal: options.signal },
      );
      if (result.exitCode !== 0) throw new TtsError('E_FFMPEG_FAILED', `Encoding to ${format} failed: ${lastLine(result.stderr)}`);
    }
    await rename(partial, outPath);
  } catch (error) {
    await unlink(partial).catch(() => undefined);
    throw error;
  }
}

async function writeAll(path: string, data: Buffer): Promise<void> {
  const file = await open(path, 'w');
  try {
    await file.write(data);
  } finally {
    await file.close();
  }
}
