/** Reads a multipart request: text fields, and at most one file each of `audio` (a reference) and `document` (a document to read), saved to the blob store. */

import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import type { BlobStore } from '../storage/blob-store.js';
import { TtsError } from '../errors.js';

export interface MultipartContent {
  fields: Record<string, string>;
  uploadPath?: string;
  /** A `document` file, where the route takes one: its path and the name the client gave (a hint to its kind only). */
  document?: { path: string; name?: string };
}

export interface MultipartOptions {
  /** Take a `document` file field, of at most this many bytes. */
  documentMaxBytes?: number;
  /** The cap of an `audio` file, where the plugin's is larger (documents may be). */
  audioMaxBytes?: number;
}

/**
 * The multipart parser (busboy) reports a malformed body (no boundary, no closing delimiter, a
 * body cut short inside a part) as a plain Error without a code; the plugin's own refusals and
 * system errors (a full disk while saving the upload) carry one and keep their meaning.
 */
function asMultipartError(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof Error && !(error instanceof TtsError) && (code === undefined || code === 'FST_MP_PREMATURE_CLOSE')) {
    return new TtsError('E_MALFORMED_MULTIPART', `The multipart/form-data body is malformed (${error.message.slice(0, 100)}); send it as a form-data library writes it.`, { cause: error });
  }
  return error;
}

export async function readMultipart(request: FastifyRequest, blobs: BlobStore, options: MultipartOptions = {}): Promise<MultipartContent> {
  const fields: Record<string, string> = {};
  let uploadPath: string | undefined;
  let document: MultipartContent['document'];
  try {
    for await (const part of request.parts()) {
      if (part.type === 'field') {
        if (typeof part.value !== 'string') throw new TtsError('E_INVALID_ARGUMENT', `Field \`${part.fieldname}\` must be text.`);
        if (Object.hasOwn(fields, part.fieldname)) throw new TtsError('E_INVALID_ARGUMENT', `Field \`${part.fieldname}\` is given twice.`);
        if (part.valueTruncated) throw new TtsError('E_BODY_TOO_LARGE', `Field \`${part.fieldname}\` is longer than a field may be.`);
        fields[part.fieldname] = part.value;
        continue;
      }
      if (part.fieldname === 'document' && options.documentMaxBytes !== undefined) {
        if (document !== undefined) {
          part.file.resume();
          throw new TtsError('E_INVALID_ARGUMENT', 'Only one `document` file may be sent.');
        }
        document = { path: blobs.uploadPath(randomUUID()) };
        if (part.filename) document.name = part.filename.slice(0, 255);
        await blobs.prepareFor(document.path);
        const cap = new ByteCap(options.documentMaxBytes);
        await pipeline(part.file, cap.stream, createWriteStream(document.path));
        if (cap.exceeded || part.file.truncated) throw new TtsError('E_DOCUMENT_TOO_LARGE', `The document is larger than ${options.documentMaxBytes} bytes (MAX_DOCUMENT_BYTES).`);
        continue;
      }
      if (part.fieldname !== 'audio') {
        part.file.resume();
        throw new TtsError(
          'E_INVALID_ARGUMENT',
          `Unexpected file field \`${part.fieldname}\`; the reference goes in \`audio\`${options.documentMaxBytes === undefined ? '' : ', a document to read in `document`'}.`,
        );
      }
      if (uploadPath !== undefined) {
        part.file.resume();
        throw new TtsError('E_INVALID_ARGUMENT', 'Only one `audio` file may be sent.');
      }
      // The name and type the client gave are not trusted: ffprobe decides what the file is.
      uploadPath = blobs.uploadPath(randomUUID());
      await blobs.prepareFor(uploadPath);
      const cap = new ByteCap(options.audioMaxBytes ?? Number.POSITIVE_INFINITY);
      await pipeline(part.file, cap.stream, createWriteStream(uploadPath));
      if (cap.exceeded || part.file.truncated) throw new TtsError('E_BODY_TOO_LARGE', 'The uploaded file is larger than the upload cap (MAX_UPLOAD_BYTES).');
    }
  } catch (error) {
    if (uploadPath !== undefined) await blobs.remove(uploadPath);
    if (document !== undefined) await blobs.remove(document.path);
    throw asMultipartError(error);
  }
  const content: MultipartContent = { fields };
  if (uploadPath !== undefined) content.uploadPath = uploadPath;
  if (document !== undefined) content.document = document;
  return content;
}

/**
 * Passes a file through up to `maxBytes`, then drops the rest and says so (`exceeded`). It never
 * fails the stream: a file cut off midway would leave the rest of the request unread, and the
 * client's connection stalled until it times out; read to its end, the answer (413) goes out
 * and the connection serves the client's next request. (The plugin's own fileSize bounds what is read.)
 */
class ByteCap {
  exceeded = false;
  readonly stream: Transform;

  constructor(maxBytes: number) {
    let received = 0;
    this.stream = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        received += chunk.length;
        if (received > maxBytes) this.exceeded = true;
        callback(null, this.exceeded ? undefined : chunk);
      },
    });
  }
}
