/**
 * Output audio: segments are appended in order to a sink that writes the requested format as
 * they arrive (ffmpeg encodes from a pipe while later segments are still being synthesised),
 * with a pause between segments. Nothing is held in memory beyond one segment, and the output
 * file appears whole or not at all.
 */

import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { open, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { ffmpegPath } from './binaries.js';
import { asFileUrl } from './probe.js';
import { lastLine, spawnFailure } from './run-binary.js';
import { decodeWav, encodeWav } from './wav.js';
import { TtsError } from '../errors.js';

/**
 * The output formats, defined once: name → file extension, content type, and the ffmpeg
 * encoder (null: written directly). Encoder settings favour speed: speech needs no more.
 */
export const OUTPUT_FORMATS = {
  wav: { extension: 'wav', contentType: 'audio/wav', ffmpegArgs: null },
  mp3: { extension: 'mp3', contentType: 'audio/mpeg', ffmpegArgs: ['-c:a', 'libmp3lame', '-b:a', '128k', '-compression_level', '7', '-f', 'mp3'] },
  opus: { extension: 'ogg', contentType: 'audio/ogg', ffmpegArgs: ['-c:a', 'libopus', '-b:a', '48k', '-ar', '24000', '-compression_level', '5', '-f', 'ogg'] },
  flac: { extension: 'flac', contentType: 'audio/flac', ffmpegArgs: ['-c:a', 'flac', '-f', 'flac'] },
  pcm: { extension: 'pcm', contentType: 'audio/L16', ffmpegArgs: null },
  aac: { extension: 'aac', contentType: 'audio/aac', ffmpegArgs: ['-c:a', 'aac', '-b:a', '96k', '-f', 'adts'] },
} as const;

/** The ffmpeg arguments that write raw PCM (wav, pcm) when it must pass through ffmpeg anyway (a speed other than 1). */
const PCM_THROUGH_FFMPEG: Partial<Record<OutputFormat, readonly string[]>> = { wav: ['-c:a', 'pcm_s16le', '-f', 'wav'], pcm: ['-f', 's16le'] };

/** Playback speeds a task may ask for (atempo's range once chained). */
export const MIN_SPEED = 0.25;
export const MAX_SPEED = 4;

/**
 * ffmpeg's atempo filter for a playback speed: one instance takes 0.5 to 2 (on older ffmpeg),
 * so a speed outside that is a chain (0.25 = 0.5 × 0.5, 4 = 2 × 2, 3 = 2 × 1.5). Empty at 1.
 */
export function atempoFilters(speed: number): string[] {
  if (!(speed >= MIN_SPEED && speed <= MAX_SPEED)) throw new TtsError('E_INVALID_ARGUMENT', `Expected a speed from ${MIN_SPEED} to ${MAX_SPEED}, got ${speed}.`);
  const filters: string[] = [];
  let rest = speed;
  while (rest > 2) {
    filters.push('atempo=2');
    rest /= 2;
  }
  while (rest < 0.5) {
    filters.push('atempo=0.5');
    rest /= 0.5;
  }
  if (Math.abs(rest - 1) > 1e-9) filters.push(`atempo=${Number(rest.toFixed(6))}`);
  return filters;
}

export type OutputFormat = keyof typeof OUTPUT_FORMATS;
export const OUTPUT_FORMAT_NAMES = Object.keys(OUTPUT_FORMATS) as OutputFormat[];

export function parseOutputFormat(value: string): OutputFormat {
  if (Object.hasOwn(OUTPUT_FORMATS, value)) return value as OutputFormat;
  throw new TtsError('E_FORMAT_UNSUPPORTED', `Expected a format among ${OUTPUT_FORMAT_NAMES.join(', ')}, got "${value}".`);
}

export interface EncodedAudio {
  path: string;
  format: OutputFormat;
  sampleRate: number;
  channels: number;
  durationMs: number;
  bytes: number;
  /** Each segment's length in the input, before `speed` (its samples over the rate): a timeline is made from these (timeline.ts). */
  segmentDurationsMs: number[];
}

/** Where PCM bytes go: a file (wav, pcm) or an ffmpeg encoder. */
interface PcmDestination {
  write(bytes: Uint8Array): Promise<void>;
  /** Completes the file at `partialPath`; `dataBytes` is the PCM written. */
  end(dataBytes: number): Promise<void>;
  destroy(): Promise<void>;
}

class FileDestination implements PcmDestination {
  private constructor(
    private readonly file: FileHandle,
    private readonly header: { sampleRate: number; channels: number } | null,
  ) {}

  static async open(path: string, header: { sampleRate: number; channels: number } | null): Promise<FileDestination> {
    const destination = new FileDestination(await open(path, 'w'), header);
    if (header !== null) await destination.file.write(Buffer.alloc(44)); // filled in by end()
    return destination;
  }

  async write(bytes: Uint8Array): Promise<void> {
    await this.file.write(bytes);
  }

  async end(dataBytes: number): Promise<void> {
    if (this.header !== null) {
      const header = encodeWav({ ...this.header, samples: new Int16Array(0) });
      header.writeUInt32LE(36 + dataBytes, 4);
      header.writeUInt32LE(dataBytes, 40);
      await this.file.write(header, 0, 44, 0);
    }
    await this.file.close();
  }

  async destroy(): Promise<void> {
    await this.file.close().catch(() => undefined);
  }
}

class EncoderDestination implements PcmDestination {
  private stderr = '';
  private readonly closed: Promise<number | null>;

  constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly format: OutputFormat,
  ) {
    child.stderr.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-4096)));
    child.stdin.on('error', () => undefined); // reported through the exit code
    this.closed = new Promise((resolve, reject) => {
      child.once('error', (error) => reject(spawnFailure(ffmpegPath(), error)));
      child.once('close', (code) => resolve(code));
    });
    this.closed.catch(() => undefined);
  }

  static async start(format: OutputFormat, partialPath: string, sampleRate: number, channels: number, speed = 1): Promise<EncoderDestination> {
    const args = OUTPUT_FORMATS[format].ffmpegArgs ?? PCM_THROUGH_FFMPEG[format]!;
    const tempo = atempoFilters(speed);
    const filters = tempo.length === 0 ? [] : ['-af', tempo.join(',')];
    let child: ChildProcess;
    try {
      child = spawn(ffmpegPath(), ['-nostdin', '-v', 'error', '-y', '-f', 's16le', '-ar', String(sampleRate), '-ac', String(channels), '-i', 'pipe:0', ...filters, ...args, asFileUrl(partialPath)], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    } catch (error) {
      throw spawnFailure(ffmpegPath(), error as NodeJS.ErrnoException);
    }
    // A spawn that failed (no descriptors left, no binary) has no pid and no pipes: its error comes
    // as an event, which must be listened for before anything touches the pipes.
    if (child.pid === undefined) {
      const [error] = (await once(child, 'error')) as [NodeJS.ErrnoException];
      throw spawnFailure(ffmpegPath(), error);
    }
    return new EncoderDestination(child as ChildProcessWithoutNullStreams, format);
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (!this.child.stdin.write(bytes)) {
      // Wait for the encoder to catch up, or for it to die (then end() reports why).
      await Promise.race([once(this.child.stdin, 'drain'), this.closed]);
    }
  }

  async end(): Promise<void> {
    this.child.stdin.end();
    const code = await this.closed;
    if (code !== 0) throw new TtsError('E_FFMPEG_FAILED', `Encoding to ${this.format} failed: ${lastLine(this.stderr)}`);
  }

  async destroy(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.closed.catch(() => undefined);
  }
}

export interface AudioSinkOptions {
  /** Silence between segments. */
  pauseMs: number;
  /** Playback speed (0.25–4; absent: 1), by ffmpeg's atempo: wav and pcm then go through ffmpeg too. */
  speed?: number;
}

/**
 * Receives segment WAVs in order and writes `outPath` in `format`. Call `finish()` after the
 * last segment, or `abort()` to stop and remove everything written.
 */
export class AudioSink {
  private destination: PcmDestination | undefined;
  private readonly partialPath: string;
  private sampleRate = 0;
  private channels = 0;
  private dataBytes = 0;
  private segments = 0;
  private readonly segmentDurationsMs: number[] = [];

  constructor(
    readonly format: OutputFormat,
    readonly outPath: string,
    private readonly options: AudioSinkOptions,
  ) {
    this.partialPath = `${outPath}.partial`;
  }

  /** Appends the next segment (a 16-bit PCM WAV file). */
  async append(segmentPath: string): Promise<void> {
    const audio = decodeWav(await readFile(segmentPath), `segment ${this.segments + 1}`);
    if (this.destination === undefined) {
      this.sampleRate = audio.sampleRate;
      this.channels = audio.channels;
      this.destination = await this.openDestination();
    } else if (audio.sampleRate !== this.sampleRate || audio.channels !== this.channels) {
      throw new TtsError('E_ENGINE_FAILED', `Segment ${this.segments + 1} is ${audio.sampleRate} Hz/${audio.channels} ch, the first was ${this.sampleRate} Hz/${this.channels} ch.`);
    }
    if (this.segments > 0 && this.options.pauseMs > 0) {
      const pause = new Uint8Array(Math.round((this.sampleRate * this.options.pauseMs) / 1000) * this.channels * 2);
      await this.destination.write(pause);
      this.dataBytes += pause.length;
    }
    await this.destination.write(new Uint8Array(audio.samples.buffer, audio.samples.byteOffset, audio.samples.byteLength));
    this.dataBytes += audio.samples.byteLength;
    this.segmentDurationsMs.push((audio.samples.length / this.channels / this.sampleRate) * 1000);
    this.segments++;
  }

  async finish(): Promise<EncodedAudio> {
    if (this.destination === undefined) throw new TtsError('E_INTERNAL', 'No segments to write.');
    try {
      await this.destination.end(this.dataBytes);
      this.destination = undefined;
      await rename(this.partialPath, this.outPath);
    } catch (error) {
      await this.abort();
      throw error;
    }
    const { size } = await stat(this.outPath);
    return {
      path: this.outPath,
      format: this.format,
      sampleRate: this.sampleRate,
      channels: this.channels,
      durationMs: (this.dataBytes / 2 / this.channels / this.sampleRate / (this.options.speed ?? 1)) * 1000,
      bytes: size,
      segmentDurationsMs: this.segmentDurationsMs,
    };
  }

  async abort(): Promise<void> {
    await this.destination?.destroy();
    this.destination = undefined;
    await unlink(this.partialPath).catch(() => undefined);
  }

  private async openDestination(): Promise<PcmDestination> {
    const speed = this.options.speed ?? 1;
    if (speed !== 1) return EncoderDestination.start(this.format, this.partialPath, this.sampleRate, this.channels, speed);
    if (this.format === 'wav') return await FileDestination.open(this.partialPath, { sampleRate: this.sampleRate, channels: this.channels });
    if (this.format === 'pcm') return await FileDestination.open(this.partialPath, null);
    return EncoderDestination.start(this.format, this.partialPath, this.sampleRate, this.channels);
  }
}

/** Writes segments already on disk to `outPath` (see AudioSink). */
export async function writeSegments(paths: readonly string[], format: OutputFormat, outPath: string, options: AudioSinkOptions): Promise<EncodedAudio> {
  const sink = new AudioSink(format, outPath, options);
  try {
    for (const path of paths) await sink.append(path);
    return await sink.finish();
  } catch (error) {
    await sink.abort();
    throw error;
  }
}
