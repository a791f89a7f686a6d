/**
 * Output audio: segments are appended in order to a sink that writes the requested format as
 * they arrive (ffmpeg encodes from a pipe while later segments are still being synthesised),
 * with a pause between segments. Nothing is held in memory beyond one segment, and the output
 * file appears whole or not at all.
 */

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { open, readFile, rename, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { ffmpegPath } from './binaries.js';
import { asFileUrl } from './probe.js';
import { lastLine, spawnFailure, spawnPiped } from './run-binary.js';
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
  // An audiobook: AAC in MP4 with chapter marks (written in a second, copying pass: see addChapters).
  m4b: { extension: 'm4b', contentType: 'audio/mp4', ffmpegArgs: ['-c:a', 'aac', '-b:a', '96k', '-f', 'mp4'] },
} as const;

/** Formats whose file carries chapter marks (mp3: ID3v2 CHAP/CTOC; m4b: MP4 chapters); others keep chapters on the task only. */
export const CHAPTER_FORMATS: Partial<Record<OutputFormat, string>> = { mp3: 'mp3', m4b: 'mp4' };

/** Formats that cannot be written to a pipe as they are encoded (MP4 writes its index at the end): no live stream of them. */
export const UNSTREAMABLE_FORMATS: readonly OutputFormat[] = ['m4b'];

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
/** The formats a live stream may be sent in (a task of any format streams in one of these). */
export const STREAM_FORMAT_NAMES = OUTPUT_FORMAT_NAMES.filter((format) => !UNSTREAMABLE_FORMATS.includes(format));

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
  /** Where each segment lies in the file (ms, speed applied), in order. */
  spans: Array<{ startMs: number; endMs: number }>;
}

/** A chapter to mark in the file (ms). */
export interface ChapterMark {
  title: string;
  startMs: number;
  endMs: number;
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
    const child = await spawnPiped(ffmpegPath(), [
      '-nostdin',
      '-v',
      'error',
      '-y',
      '-f',
      's16le',
      '-ar',
      String(sampleRate),
      '-ac',
      String(channels),
      '-i',
      'pipe:0',
      ...filters,
      ...args,
      asFileUrl(partialPath),
    ]);
    return new EncoderDestination(child, format);
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
  /** Silence between segments (where `append` is given none). */
  pauseMs: number;
  /** Playback speed (0.25–4; absent: 1), by ffmpeg's atempo: wav and pcm then go through ffmpeg too. */
  speed?: number;
}

/**
 * Receives segment WAVs in order and writes `outPath` in `format`. Call `finish()` after the
 * last segment, or `abort()` to stop and remove everything written. Until `finish()` the file
 * is written at `partialPath` (absent: beside `outPath`), on the same file system as `outPath`.
 */
export class AudioSink {
  private destination: PcmDestination | undefined;
  private sampleRate = 0;
  private channels = 0;
  private dataBytes = 0;
  private segments = 0;
  /** Silence asked for after the last segment appended, written only if another follows. */
  private pendingPauseMs = 0;
  /** Each segment's first and last PCM frame (as byte offsets). */
  private readonly byteSpans: Array<[number, number]> = [];

  constructor(
    readonly format: OutputFormat,
    readonly outPath: string,
    private readonly options: AudioSinkOptions,
    private readonly partialPath = `${outPath}.partial`,
  ) {}

  /** Appends the next segment (a 16-bit PCM WAV file), then `pauseAfterMs` of silence if another segment follows (absent: the sink's pause). */
  async append(segmentPath: string, pauseAfterMs?: number): Promise<void> {
    const audio = decodeWav(await readFile(segmentPath), `segment ${this.segments + 1}`);
    if (this.destination === undefined) {
      this.sampleRate = audio.sampleRate;
      this.channels = audio.channels;
      this.destination = await this.openDestination();
    } else if (audio.sampleRate !== this.sampleRate || audio.channels !== this.channels) {
      throw new TtsError('E_ENGINE_FAILED', `Segment ${this.segments + 1} is ${audio.sampleRate} Hz/${audio.channels} ch, the first was ${this.sampleRate} Hz/${this.channels} ch.`);
    }
    if (this.segments > 0 && this.pendingPauseMs > 0) {
      const pause = new Uint8Array(Math.round((this.sampleRate * this.pendingPauseMs) / 1000) * this.channels * 2);
      await this.destination.write(pause);
      this.dataBytes += pause.length;
    }
    await this.destination.write(new Uint8Array(audio.samples.buffer, audio.samples.byteOffset, audio.samples.byteLength));
    this.byteSpans.push([this.dataBytes, this.dataBytes + audio.samples.byteLength]);
    this.dataBytes += audio.samples.byteLength;
    this.segments++;
    this.pendingPauseMs = pauseAfterMs ?? this.options.pauseMs;
  }

  /** Milliseconds of output (speed applied) at a byte offset of the PCM written. */
  private msAt(bytes: number): number {
    return (bytes / 2 / this.channels / this.sampleRate / (this.options.speed ?? 1)) * 1000;
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
      durationMs: this.msAt(this.dataBytes),
      bytes: size,
      spans: this.byteSpans.map(([start, end]) => ({ startMs: this.msAt(start), endMs: this.msAt(end) })),
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

export interface WriteSegmentsOptions extends AudioSinkOptions {
  /** Silence after each segment, by index (absent, or an entry absent: `pauseMs`). */
  pausesAfterMs?: ReadonlyArray<number | undefined>;
  /**
   * Chapters by the segment each starts at (in order): marked in the file where the format
   * carries them (CHAPTER_FORMATS), and returned with their times either way.
   */
  chapterStarts?: ReadonlyArray<{ title: string; segment: number }>;
}

export type WrittenSegments = EncodedAudio & { chapters: ChapterMark[] };

/** Writes segments already on disk to `outPath` (see AudioSink); with chapters, their times. */
export async function writeSegments(paths: readonly string[], format: OutputFormat, outPath: string, options: WriteSegmentsOptions): Promise<WrittenSegments> {
  const sink = new AudioSink(format, outPath, options);
  try {
    for (const [index, path] of paths.entries()) await appendSegment(sink, path, index, options);
  } catch (error) {
    await sink.abort();
    throw error;
  }
  return await finishSegments(sink, options);
}

/** Appends segment `index` to a sink with the pause `options` give after it: what writeSegments does, and an assembly begun before the last segment (worker/early-assembly.ts). */
export async function appendSegment(sink: AudioSink, path: string, index: number, options: WriteSegmentsOptions): Promise<void> {
  await sink.append(path, options.pausesAfterMs?.[index]);
}

/** Finishes a sink every segment was appended to (appendSegment) and marks its chapters: the end of writeSegments, shared with an assembly begun early. */
export async function finishSegments(sink: AudioSink, options: WriteSegmentsOptions): Promise<WrittenSegments> {
  const encoded = await sink.finish(); // removes what it wrote if it fails
  const { format, outPath } = sink;
  const chapters = chapterTimes(options.chapterStarts ?? [], encoded);
  if (chapters.length > 0 && CHAPTER_FORMATS[format] !== undefined) {
    try {
      await addChapters(outPath, CHAPTER_FORMATS[format]!, chapters);
    } catch (error) {
      await unlink(outPath).catch(() => undefined);
      throw error;
    }
    encoded.bytes = (await stat(outPath)).size;
  }
  return { ...encoded, chapters };
}

/** A chapter runs from its first segment's start to the next chapter's start, the last one to the end. */
export function chapterTimes(starts: ReadonlyArray<{ title: string; segment: number }>, encoded: Pick<EncodedAudio, 'spans' | 'durationMs'>): ChapterMark[] {
  const marks = starts.filter((c) => encoded.spans[c.segment] !== undefined);
  return marks.map((chapter, i) => ({
    title: chapter.title,
    startMs: i === 0 ? 0 : encoded.spans[chapter.segment]!.startMs,
    endMs: i + 1 < marks.length ? encoded.spans[marks[i + 1]!.segment]!.startMs : encoded.durationMs,
  }));
}

/** FFMETADATA escapes '=', ';', '#', '\\' and line breaks with a backslash. */
function metadataValue(value: string): string {
  return value.replace(/[=;#\\\n]/gu, (c) => `\\${c}`);
}

/** The FFMETADATA file of a list of chapters (times in ms). */
export function ffmetadata(chapters: readonly ChapterMark[]): string {
  const lines = [';FFMETADATA1'];
  for (const c of chapters) lines.push('[CHAPTER]', 'TIMEBASE=1/1000', `START=${Math.round(c.startMs)}`, `END=${Math.round(c.endMs)}`, `title=${metadataValue(c.title)}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Marks chapters in an encoded file: ffmpeg copies the audio (no re-encoding) with an
 * FFMETADATA file's chapters (-map_chapters), then the copy replaces the file.
 */
async function addChapters(path: string, muxer: string, chapters: readonly ChapterMark[]): Promise<void> {
  const metadataPath = `${path}.chapters.txt`;
  const partialPath = `${path}.chapters.partial`;
  try {
    await writeFile(metadataPath, ffmetadata(chapters));
    await runFfmpeg([
      '-nostdin',
      '-v',
      'error',
      '-y',
      '-i',
      asFileUrl(path),
      '-f',
      'ffmetadata',
      '-i',
      asFileUrl(metadataPath),
      '-map',
      '0:a',
      '-map_metadata',
      '1',
      '-map_chapters',
      '1',
      '-c',
      'copy',
      '-f',
      muxer,
      asFileUrl(partialPath),
    ]);
    await rename(partialPath, path);
  } finally {
    await unlink(metadataPath).catch(() => undefined);
    await unlink(partialPath).catch(() => undefined);
  }
}

async function runFfmpeg(args: string[]): Promise<void> {
  let stderr = '';
  const child = spawn(ffmpegPath(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4096)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', (error) => reject(spawnFailure(ffmpegPath(), error)));
    child.once('close', resolve);
  });
  if (code !== 0) throw new TtsError('E_FFMPEG_FAILED', `Marking chapters failed: ${lastLine(stderr)}`);
}
