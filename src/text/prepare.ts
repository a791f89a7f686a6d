/**
 * The text of a request, checked and normalised: what the engine will read. The API's request
 * checks and `say` both go through this (the pipeline itself is the worker's: worker/worker.ts).
 */

import { TtsError } from '../errors.js';
import { charCount, isSpeakable, normalizeText } from './normalize.js';

/** Default text limit: about a 250-page book. Longer texts are refused, not truncated. */
export const DEFAULT_MAX_TEXT_CHARS = 100_000;

/** Normalises text and enforces the limits; returns what the engine will read. */
export function prepareText(text: string, maxChars = DEFAULT_MAX_TEXT_CHARS): string {
  // Check the raw length first, so a hostile 1 GB string is refused before any work on it.
  if (text.length > maxChars * 4) throw tooLong(charCount(text), maxChars);
  const normalized = normalizeText(text);
  if (!isSpeakable(normalized)) {
    throw new TtsError('E_TEXT_EMPTY', normalized === '' ? 'The text is empty; give some text to read.' : 'The text has nothing to read aloud (only punctuation or symbols).');
  }
  const chars = charCount(normalized);
  if (chars > maxChars) throw tooLong(chars, maxChars);
  return normalized;
}

function tooLong(chars: number, maxChars: number): TtsError {
  return new TtsError('E_TEXT_TOO_LONG', `The text has ${chars} characters; the limit is ${maxChars}. Split it into several requests.`);
}
