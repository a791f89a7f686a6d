/** Reads a multipart request: text fields, and at most one file (`audio`) saved to the blob store. */

import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import type { BlobStore } from '../storage/blob-store.js';
import { TtsError } from '../errors.js';

export interface MultipartContent {
  fields: Record<string, string>;
  uploadPath?: string;
}

export async function readMultipart(request: FastifyRequest, blobs: BlobStore): Promise<MultipartContent> {
  const fields: Record<string, string> = {};
  let uploadPath: string | undefined;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'field') {
        if (typeof part.value !== 'string') throw new TtsError('E_INVALID_ARGUMENT', `Field \`${part.fieldname}\` must be text.`);
        if (Object.hasOwn(fields, part.fieldname)) throw new TtsError('E_INVALID_ARGUMENT', `Field \`${part.fieldname}\` is given twice.`);
        fields[part.fieldname] = part.value;
        continue;
      }
      if (part.fieldname !== 'audio') {
        part.file.resume();
        throw new TtsError('E_INVALID_ARGUMENT', `Unexpected file field \`${part.fieldname}\`; the reference goes in \`audio\`.`);
      }
      if (uploadPath !== undefined) {
        part.file.resume();
        throw new TtsError('E_INVALID_ARGUMENT', 'Only one `audio` file may be sent.');
      }
      // The name and type the client gave are not trusted: ffprobe decides what the file is.
      uploadPath = blobs.uploadPath(randomUUID());
      await blobs.prepareFor(uploadPath);
      await pipeline(part.file, createWriteStream(uploadPath));
      if (part.file.truncated) throw new TtsError('E_BODY_TOO_LARGE', 'The uploaded file is larger than the upload cap (MAX_UPLOAD_BYTES).');
    }
  } catch (error) {
    if (uploadPath !== undefined) await blobs.remove(uploadPath);
    throw error;
  }
  return uploadPath === undefined ? { fields } : { fields, uploadPath };
}
