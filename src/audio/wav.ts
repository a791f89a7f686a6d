/**
 * 16-bit PCM WAV files: the one format that crosses the engine-host protocol. Parsing walks
 * the RIFF chunks instead of assuming a 44-byte header, since engines write extra chunks.
 */

import { TtsError } from '../errors.js';

export interface PcmAudio {
  sampleRate: number;
  channels: number;
  /** Interleaved signed 16-bit samples. */
  samples: Int16Array;
}

export function encodeWav(audio: PcmAudio): Buffer {
  const dataBytes = audio.samples.length * 2;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(audio.channels, 22);
  header.writeUInt32LE(audio.sampleRate, 24);
  header.writeUInt32LE(audio.sampleRate * audio.channels * 2, 28);
  header.writeUInt16LE(audio.channels * 2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(dataBytes, 40);
  const data = Buffer.from(audio.samples.buffer, audio.samples.byteOffset, dataBytes);
  return Buffer.concat([header, data]);
}

export function decodeWav(file: Buffer, name = 'WAV file'): PcmAudio {
  const fail = (why: string): never => {
    throw new TtsError('E_ENGINE_FAILED', `${name} is not a 16-bit PCM WAV: ${why}.`);
  };
  if (file.length < 12 || file.toString('ascii', 0, 4) !== 'RIFF' || file.toString('ascii', 8, 12) !== 'WAVE') fail('no RIFF/WAVE header');
  let offset = 12;
  let format: { channels: number; sampleRate: number; bits: number; tag: number } | undefined;
  while (offset + 8 <= file.length) {
    const id = file.toString('ascii', offset, offset + 4);
    let size = file.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (size < 16) fail('short fmt chunk');
      format = {
        tag: file.readUInt16LE(body),
        channels: file.readUInt16LE(body + 2),
        sampleRate: file.readUInt32LE(body + 4),
        bits: file.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (format === undefined) return fail('data before fmt');
      // WAVE_FORMAT_EXTENSIBLE (0xFFFE) carries PCM too; other tags (float, ...) are refused.
      if ((format.tag !== 1 && format.tag !== 0xfffe) || format.bits !== 16) fail(`format tag ${format.tag}, ${format.bits} bits`);
      if (format.channels < 1 || format.sampleRate < 1) fail('no channels or no sample rate');
      // Streaming writers leave the size as 0 or 0xFFFFFFFF: take what is there.
      if (size === 0 || body + size > file.length) size = file.length - body;
      const bytes = size - (size % 2);
      // An Int16Array needs an even byte offset: copy only when the data is not aligned.
      const data = (file.byteOffset + body) % 2 === 0 ? file.subarray(body, body + bytes) : Buffer.from(file.subarray(body, body + bytes));
      const samples = new Int16Array(data.buffer, data.byteOffset, bytes / 2);
      return { sampleRate: format.sampleRate, channels: format.channels, samples };
    }
    offset = body + size + (size % 2);
  }
  return fail('no data chunk');
}

export function durationMs(audio: PcmAudio): number {
  return (audio.samples.length / audio.channels / audio.sampleRate) * 1000;
}

/**
 * The header of a WAV stream whose length is not known yet: RIFF and data sizes 0xFFFFFFFF, as
 * ffmpeg writes to a pipe; readers take the data to the end of the stream.
 */
export function streamingWavHeader(sampleRate: number, channels: number): Buffer {
  const header = encodeWav({ sampleRate, channels, samples: new Int16Array(0) });
  header.writeUInt32LE(0xffffffff, 4);
  header.writeUInt32LE(0xffffffff, 40);
  return header;
}
