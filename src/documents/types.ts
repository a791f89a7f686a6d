/** What every document reader returns and the caps it reads within (see extract.ts). */

import type { DocumentKind, TextPart } from '../backends/backend.js';
import type { BlobStore } from '../storage/blob-store.js';

export interface ExtractedDocument {
  title?: string;
  parts: TextPart[];
}

export interface DocumentLimits {
  /** Bytes of the document as given (MAX_DOCUMENT_BYTES). */
  maxBytes: number;
  /** Characters of the text read out (MAX_TEXT_CHARS): a longer document is refused, never cut. */
  maxChars: number;
  /** Wall time for the whole extraction (DOCUMENT_TIMEOUT_MS); the worker thread is ended after it. */
  timeoutMs: number;
  /** EPUB: total bytes unpacked, all entries together. */
  maxUnpackedBytes?: number;
  /** PDF: pages read at most. */
  maxPdfPages?: number;
}

export type Reader = (bytes: Uint8Array, limits: Required<DocumentLimits>) => ExtractedDocument | Promise<ExtractedDocument>;

export type { DocumentKind };

/** Silence after a part that ends before a chapter heading, and after the heading itself (ms). */
export const CHAPTER_PAUSE_MS = 1500;
export const HEADING_PAUSE_MS = 800;
/** Silence after a lower heading (read, not a chapter). */
export const SUBHEADING_PAUSE_MS = 600;
/** A document gives at most this many parts (as `parts` in a request). */
export const MAX_DOCUMENT_PARTS = 10_000;

/** Caps where the service configures none (config.ts: MAX_DOCUMENT_BYTES, DOCUMENT_TIMEOUT_MS, MAX_DOCUMENT_PAGES). */
export const DEFAULT_DOCUMENT_CAPS = { maxBytes: 20 * 1024 * 1024, timeoutMs: 30_000, maxPdfPages: 2_000 };

/** The text of parts as one text (what moderation, quotas and reuse see): joined by a blank line. */
export function partsText(parts: TextPart[]): string {
  return parts.map((part) => part.text).join('\n\n');
}

/** Where a `document_url` task's parts are stored once read (beside its result; GET /api/task/:id/text reads them). */
export function documentTextPath(blobs: Pick<BlobStore, 'resultPath'>, taskId: string): string {
  return blobs.resultPath(taskId, 'parts'); // JSON; an extension of its own beside the audio and any timeline
}
