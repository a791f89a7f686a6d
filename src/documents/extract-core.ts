/**
 * Reads a document of a known kind in the calling thread (document-worker.ts calls this; the
 * API goes through extract.ts, which runs it in a worker thread). Checks what every kind shares:
 * bytes in, characters out (a longer document is refused, not cut).
 */

import type { DocumentKind } from '../backends/backend.js';
import { TtsError } from '../errors.js';
import { charCount } from '../text/normalize.js';
import { readEpub } from './epub.js';
import { readHtml } from './html.js';
import { readMarkdown } from './markdown.js';
import { documentTooLong } from './parts-builder.js';
import { readPdf } from './pdf.js';
import { readText } from './text.js';
import type { DocumentLimits, ExtractedDocument, Reader } from './types.js';

const READERS: Record<DocumentKind, Reader> = { text: readText, markdown: readMarkdown, html: readHtml, epub: readEpub, pdf: readPdf };

export const DEFAULT_MAX_PDF_PAGES = 2_000;

export function fullLimits(limits: DocumentLimits): Required<DocumentLimits> {
  return {
    ...limits,
    maxUnpackedBytes: limits.maxUnpackedBytes ?? Math.max(50 * 1024 * 1024, 10 * limits.maxBytes),
    maxPdfPages: limits.maxPdfPages ?? DEFAULT_MAX_PDF_PAGES,
  };
}

export function documentTooLarge(bytes: number, maxBytes: number): TtsError {
  return new TtsError('E_DOCUMENT_TOO_LARGE', `The document is ${bytes} bytes; the limit is ${maxBytes} (MAX_DOCUMENT_BYTES).`);
}

export async function extractInThread(bytes: Uint8Array, kind: DocumentKind, limits: DocumentLimits): Promise<ExtractedDocument> {
  if (bytes.byteLength > limits.maxBytes) throw documentTooLarge(bytes.byteLength, limits.maxBytes);
  const full = fullLimits(limits);
  // Text kinds with NUL bytes are binary files named wrongly.
  if ((kind === 'text' || kind === 'markdown' || kind === 'html') && bytes.includes(0)) {
    throw new TtsError('E_DOCUMENT_UNREADABLE', `The document is not ${kind} (it holds binary data); send the file itself or name its kind with \`document_kind\`.`);
  }
  const document = await READERS[kind](bytes, full);
  const chars = document.parts.reduce((sum, part) => sum + charCount(part.text) + 1, -1);
  if (chars > limits.maxChars) throw documentTooLong(limits.maxChars);
  return document;
}
