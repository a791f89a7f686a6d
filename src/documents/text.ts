/** Plain text: read as it is; a blank line ends a paragraph (lines inside one are joined, as hard-wrapped text is). */

import { PartsBuilder } from './parts-builder.js';
import type { ExtractedDocument, Reader } from './types.js';

export function decodeText(bytes: Uint8Array): string {
  // Invalid UTF-8 becomes U+FFFD rather than a refusal: a Latin-1 file still reads mostly right.
  return new TextDecoder('utf-8', { fatal: false, ignoreBOM: false }).decode(bytes);
}

export function readPlainText(text: string, maxChars: number): ExtractedDocument {
  const builder = new PartsBuilder(maxChars);
  for (const paragraph of text.split(/\r?\n[ \t]*\r?\n/u)) builder.paragraph(paragraph);
  return { parts: builder.finish() };
}

export const readText: Reader = (bytes, limits) => readPlainText(decodeText(bytes), limits.maxChars);
