/**
 * Streamed output: PCM written in pieces (segments as they finish) comes out as a valid stream of
 * the requested format while it is written. Encoded formats (mp3, opus, aac, flac), a speed other
 * than 1 and a resampled rate go through ONE long-lived ffmpeg per stream, started at once (its
 * start-up is off the path of the first segment) and reniced once its first audio is out, so that
 * it never slows the engines;
 * it reads a WAV stream on stdin (the header comes with the first segment, which says the rate) and
 * flushes every packet. wav and pcm at speed 1 are written directly.
 */

import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { setPriority } from 'node:os';
import { PassThrough, type Readable } from 'node:stream';
import { ffmpegPath } from './binaries.js';
import { atempoFilters, OUTPUT_FORMATS, type OutputFormat } from './output.js';
import { lastLine, spawnFailure, spawnPiped } from './run-binary.js';
import { streamingWavHeader } from './wav.js';
import { TtsError } from '../errors.js';

export interface PcmFormat {
  sampleRate: number;
  channels: number;
}

/** Niceness of a stream's encoder: below the engines and the assembly, which run at the service's own. */
export const STREAM_ENCODER_NICENESS = 10;

/** Per format, what makes its muxer write as it goes (no header that waits for the end, small Ogg pages). */
const STREAMING_ARGS: Partial<Record<OutputFormat, readonly string[]>> = {
  mp3: ['-write_xing', '0'],
  opus: ['-page_duration', '100000'],
};

export interface StreamEncoderOptions {
  format: OutputFormat;
  /** Playback speed (atempo); absent: 1. */
  speed?: number;
  /** Resample to this rate (OpenAI's pcm is 24 kHz); absent: the input's rate. */
  outputRate?: number;
  niceness?: number;
}

/** Waits until `stream` takes more (or is gone); the listener of the other event is removed, not left to pile up with each wait. */
async function drainedOrClosed(stream: PassThrough): Promise<void> {
  const done = new AbortController();
  try {
    await Promise.race([once(stream, 'drain', { signal: done.signal }), once(stream, 'close', { signal: done.signal })]);
  } finally {
    done.abort();
  }
}

/**
 * One stream's encoder. `begin` once with the PCM format, then `write` 16-bit PCM, then `end`;
 * `output` carries the encoded bytes and ends after `end`. `destroy` stops it at once (the
 * client went away): the ffmpeg child is killed, never left behind.
 */
export class StreamEncoder {
  /** The encoded stream: what the client receives. */
  readonly output: Readable;
  private readonly out = new PassThrough();
  private child: ChildProcessWithoutNullStreams | undefined;
  private closed: Promise<number | null> | undefined;
  private stderr = '';
  private direct = false;
  private started = false;

  private constructor(private readonly options: StreamEncoderOptions) {
    this.output = this.out;
  }

  /** Whether `begin` will run ffmpeg whatever the input rate (so it can be started ahead). */
  private get needsEncoder(): boolean {
    return OUTPUT_FORMATS[this.options.format].ffmpegArgs !== null || (this.options.speed ?? 1) !== 1;
  }

  /** Starts the encoder now when one is needed: failures to spawn are typed (E_FFMPEG_MISSING, E_RESOURCES_EXHAUSTED). */
  static async start(options: StreamEncoderOptions): Promise<StreamEncoder> {
    const encoder = new StreamEncoder(options);
    if (encoder.needsEncoder) await encoder.spawn();
    return encoder;
  }

  /** The rate of the bytes that come out, once `begin` was called. */
  outputRate(input: PcmFormat): number {
    return this.options.outputRate ?? input.sampleRate;
  }

  async begin(input: PcmFormat): Promise<void> {
    if (this.started) throw new Error('begin() called twice');
    this.started = true;
    const rate = this.outputRate(input);
    if (this.child === undefined && rate !== input.sampleRate) await this.spawn();
    if (this.child === undefined) {
      this.direct = true;
      if (this.options.format === 'wav') this.out.write(streamingWavHeader(rate, input.channels));
      return;
    }
    // The encoder reads a WAV stream: the header tells it the rate, so it could start before it was known.
    if (this.options.format === 'wav') this.out.write(streamingWavHeader(rate, input.channels));
    await this.write(streamingWavHeader(input.sampleRate, input.channels));
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.direct) {
      if (!this.out.write(bytes)) await drainedOrClosed(this.out);
      return;
    }
    const child = this.child!;
    if (!child.stdin.write(bytes)) await Promise.race([once(child.stdin, 'drain'), this.closed]);
  }

  /** Ends the stream after what was written (the encoder flushes its last frames). */
  async end(): Promise<void> {
    if (this.child === undefined) {
      this.out.end();
      return;
    }
    this.child.stdin.end();
    const code = await this.closed;
    if (code !== 0 && !this.out.destroyed) {
      this.out.destroy(new TtsError('E_FFMPEG_FAILED', `Encoding the stream to ${this.options.format} failed: ${lastLine(this.stderr)}`));
    }
  }

  /** Stops at once: the child is killed and the output destroyed. */
  async destroy(): Promise<void> {
    this.out.destroy();
    if (this.child !== undefined) {
      this.child.kill('SIGKILL');
      await this.closed?.catch(() => undefined);
    }
  }

  private async spawn(): Promise<void> {
    const { format, speed = 1, outputRate } = this.options;
    const tempo = atempoFilters(speed);
    const filters = tempo.length === 0 ? [] : ['-af', tempo.join(',')];
    const rate = outputRate === undefined ? [] : ['-ar', String(outputRate)];
    const encoded = OUTPUT_FORMATS[format].ffmpegArgs;
    // wav and pcm through ffmpeg (speed, rate) come out raw: the WAV header is written here, with unknown sizes.
    const args = encoded === null ? ['-f', 's16le'] : [...encoded, ...(STREAMING_ARGS[format] ?? [])];
    const running = await spawnPiped(ffmpegPath(), ['-nostdin', '-v', 'error', '-f', 'wav', '-i', 'pipe:0', ...filters, ...rate, ...args, '-flush_packets', '1', 'pipe:1']);
    // The first audio is encoded at the service's priority (a few milliseconds of work on the way
    // of the first bytes); then the encoder yields to the engines. Raising a niceness needs no privilege.
    const pid = running.pid!;
    running.stdout.once('data', () => {
      try {
        setPriority(pid, this.options.niceness ?? STREAM_ENCODER_NICENESS);
      } catch {
        // Gone already, or not allowed here: it keeps the service's priority.
      }
    });
    running.stderr.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-4096)));
    running.stdin.on('error', () => undefined); // reported through the exit code
    this.closed = new Promise((resolve, reject) => {
      running.once('error', (error) => reject(spawnFailure(ffmpegPath(), error)));
      running.once('close', (code) => resolve(code));
    });
    this.closed.catch(() => undefined);
    // The encoded bytes go out as they come; the client's pace holds the encoder back (backpressure).
    running.stdout.pipe(this.out, { end: false });
    running.stdout.once('end', () => {
      void this.closed!.then(
        (code) => {
          if (code === 0) this.out.end();
        },
        () => undefined,
      );
    });
    this.child = running;
  }
}
