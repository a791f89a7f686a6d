/**
 * Recognises an audio container by its first bytes ("magic bytes"), before anything is decoded:
 * a cheap first gate for uploads and downloads; ffprobe still decides whether the file is usable.
 */

import { open } from 'node:fs/promises';

/** Containers recognised by content, named like REFERENCE_CONTAINERS' families. */
export type SniffedContainer = 'wav' | 'mp3' | 'aac' | 'flac' | 'ogg' | 'mp4' | 'webm';

/** Bytes `sniffAudioContainer` needs to decide; fewer is allowed (it then recognises less). */
export const SNIFF_BYTES = 12;

function ascii(head: Uint8Array, start: number, text: string): boolean {
  if (head.length < start + text.length) return false;
  for (let i = 0; i < text.length; i++) if (head[start + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** An MPEG audio frame header (layer I-III): sync, then a bitrate and a sample rate that exist. */
function isMpegFrame(head: Uint8Array): boolean {
  if (head.length < 3) return false;
  const [b0 = 0, b1 = 0, b2 = 0] = head;
  const layer = (b1 >> 1) & 0b11;
  const version = (b1 >> 3) & 0b11;
  const bitrate = b2 >> 4;
  const sampleRate = (b2 >> 2) & 0b11;
  return b0 === 0xff && (b1 & 0xe0) === 0xe0 && layer !== 0 && version !== 1 && bitrate !== 0xf && sampleRate !== 3;
}

/** An ADTS (raw AAC) header: 12 sync bits, layer 0, a sampling-frequency index that exists. */
function isAdtsFrame(head: Uint8Array): boolean {
  if (head.length < 3) return false;
  const [b0 = 0, b1 = 0, b2 = 0] = head;
  return b0 === 0xff && (b1 & 0xf6) === 0xf0 && ((b2 >> 2) & 0xf) < 13;
}

/** The container `head` (the first SNIFF_BYTES bytes of a file) starts like, or undefined when it is not audio we accept. */
export function sniffAudioContainer(head: Uint8Array): SniffedContainer | undefined {
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WAVE')) return 'wav';
  if (ascii(head, 0, 'ID3')) return 'mp3';
  if (ascii(head, 0, 'fLaC')) return 'flac';
  if (ascii(head, 0, 'OggS')) return 'ogg';
  if (ascii(head, 4, 'ftyp')) return 'mp4';
  if (head.length >= 4 && head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) return 'webm';
  if (isAdtsFrame(head)) return 'aac';
  if (isMpegFrame(head)) return 'mp3';
  return undefined;
}

/** The first SNIFF_BYTES of a file (fewer when it is shorter; none when there is no such file, so that ffprobe says what is wrong). */
export async function readFileHead(path: string): Promise<Buffer> {
  const file = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'EISDIR') return undefined;
    throw error;
  });
  if (file === undefined) return Buffer.alloc(0);
  try {
    const head = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await file.read(head, 0, SNIFF_BYTES, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}
