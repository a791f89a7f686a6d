/**
 * Output audio: segments joined with a pause into one WAV (streamed to disk, so a long book
 * never sits in memory), then encoded to the requested format.
 */

import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
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
 * Joins 16-bit PCM WAV segments into one WAV, in order, as they become ready: the caller
 * appends segment i once segments 0..i-1 are appended, so joining overlaps synthesis instead of
 * waiting for the last segment. All segments must share a sample rate and channel count.
 */
export class WavJoiner {
  private file: FileHandle | undefined;
  private sampleRate = 0;
  private channels = 0;
  private dataBytes = 0;
  private count = 0;

  constructor(
    readonly path: string,
    private readonly pauseMs: number,
  ) {}

  async append(segmentPath: string): Promise<void> {
    this.file ??= await open(this.path, 'w');
    if (this.count === 0) await this.file.write(Buffer.alloc(44)); // header, written by finish()
    const audio = decodeWav(await readFile(segmentPath), `segment ${this.count + 1}`);
    if (this.count === 0) {
      this.sampleRate = audio.sampleRate;
      this.channels = audio.channels;
    } else if (audio.sampleRate !== this.sampleRate || audio.channels !== this.channels) {
      throw new TtsError('E_ENGINE_FAILED', `Segment ${this.count + 1} is ${audio.sampleRate} Hz/${audio.channels} ch, the first was ${this.sampleRate} Hz/${this.channels} ch.`);
    }
    if (this.count > 0 && this.pauseMs > 0) {
      const pause = Buffer.alloc(Math.round((this.sampleRate * this.pauseMs) / 1000) * this.channels * 2);
      await this.file.write(pause);
      this.dataBytes += pause.length;
    }
    await this.file.write(new Uint8Array(audio.samples.buffer, audio.samples.byteOffset, audio.samples.byteLength));
    this.dataBytes += audio.samples.byteLength;
    this.count++;
  }

  /** Writes the header and closes the file. */
  async finish(): Promise<JoinedAudio> {
    if (this.file === undefined || this.count === 0) throw new TtsError('E_INTERNAL', 'No segments to join.');
    const header = encodeWav({ sampleRate: this.sampleRate, channels: this.channels, samples: new Int16Array(0) });
    header.writeUInt32LE(36 + this.dataBytes, 4);
    header.writeUInt32LE(this.dataBytes, 40);
    await this.file.write(header, 0, 44, 0);
    await this.close();
    return { path: this.path, sampleRate: this.sampleRate, channels: this.channels, durationMs: (this.dataBytes / 2 / this.channels / this.sampleRate) * 1000 };
  }

  async close(): Promise<void> {
    await this.file?.close();
    this.file = undefined;
  }
}

/** Joins WAV segments already on disk (see WavJoiner). */
export async function joinWavFiles(paths: readonly string[], outPath: string, pauseMs: number): Promise<JoinedAudio> {
  const joiner = new WavJoiner(outPath, pauseMs);
  try {
    for (const path of paths) await joiner.append(path);
    return await joiner.finish();
  } finally {
    await joiner.close();
  }
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
      // Raw little-endian 16-bit samples: the joined WAV's data, after its 44-byte header.
      await pipeline(createReadStream(wavPath, { start: 44 }), createWriteStream(partial));
    } else if (ffmpegArgs === null) {
      await copyFile(wavPath, partial);
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
