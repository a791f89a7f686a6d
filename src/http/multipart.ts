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

export async function readMultipart(request: FastifyRequest, blobs: BlobStore): Promise<MultipartContent> {
  const fields: Record<string, string> = {};
  let uploadPath: string | undefined;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'field') {
        if (typeof part.value !== 'string') throw new TtsError('E_INVALID_ARGUMENT', `Field \`${part.fieldname}\` must be text.`);
        if (Object.hasOwn(fields, part.fieldname)) throw new TtsError('E_INVALID_ARGUMENT', `Field \`${part.fieldname}\` is given twice.`);
        if (part.valueTruncated) throw new TtsError('E_BODY_TOO_LARGE', `Field \`${part.fieldname}\` is longer than a field may be.`);
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
    throw asMultipartError(error);
  }
  return uploadPath === undefined ? { fields } : { fields, uploadPath };
}
