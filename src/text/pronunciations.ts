/** Forced readings (`pronunciations`): checked here once, before any engine sees them. */

import type { Pronunciation } from '../engines/protocol.js';
import { TtsError } from '../errors.js';
import { charCount, normalizeText } from './normalize.js';

export const MAX_PRONUNCIATIONS = 100;
const MAX_PRONUNCIATION_TEXT = 16;
/** One pinyin syllable with its tone number (5 = neutral); `v` or `ü` for ü. */
const SYLLABLE = /^[a-zü]{1,6}[1-5]$/u;
const HAN = /^\p{Script=Han}+$/u;

function invalid(index: number, why: string): never {
  throw new TtsError('E_PRONUNCIATION_INVALID', `pronunciations[${index}]: ${why}. Example: {"text": "重", "pinyin": "chong2"}.`);
}

/**
 * Checks and normalises a list of forced readings (`text` normalised as the input text is, pinyin
 * lower-cased, `ü` written `v`). Given the normalised input `text`, also checks that every
 * forced reading occurs in it.
 */
export function parsePronunciations(value: unknown, text?: string): Pronunciation[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new TtsError('E_PRONUNCIATION_INVALID', `Expected pronunciations to be a list, got ${typeof value}.`);
  if (value.length > MAX_PRONUNCIATIONS) {
    throw new TtsError('E_PRONUNCIATION_INVALID', `Expected at most ${MAX_PRONUNCIATIONS} pronunciations, got ${value.length}.`);
  }
  const pronunciations = value.map((entry: unknown, index): Pronunciation => {
    if (typeof entry !== 'object' || entry === null) invalid(index, 'expected an object with "text" and "pinyin"');
    const { text, pinyin } = entry as Record<string, unknown>;
    // Normalised as the input text is, so that it is found there (full-width forms, invisible characters).
    const word = typeof text === 'string' ? normalizeText(text) : '';
    if (word === '') invalid(index, '"text" must be a non-empty string');
    if (typeof pinyin !== 'string' || pinyin.trim() === '') invalid(index, '"pinyin" must be a non-empty string');
    if (charCount(word) > MAX_PRONUNCIATION_TEXT) invalid(index, `"text" may have at most ${MAX_PRONUNCIATION_TEXT} characters`);
    const syllables = pinyin.trim().toLowerCase().replaceAll('ü', 'v').split(/\s+/u);
    for (const syllable of syllables) {
      if (!SYLLABLE.test(syllable)) invalid(index, `"${syllable}" is not a pinyin syllable with a tone number 1–5`);
    }
    if (HAN.test(word) && syllables.length !== charCount(word)) {
      invalid(index, `"${word}" has ${charCount(word)} characters but ${syllables.length} syllables were given`);
    }
    return { text: word, pinyin: syllables.join(' ') };
  });
  if (text !== undefined) checkPronunciationsOccur(text, pronunciations);
  return pronunciations;
}

/**
 * A forced reading whose text is not in the (normalised) input text would be ignored without a
 * word: refuse it, naming it. The service and `say` both check here.
 */
export function checkPronunciationsOccur(text: string, pronunciations: readonly Pronunciation[]): void {
  pronunciations.forEach(({ text: word }, index) => {
    if (!text.includes(word)) {
      throw new TtsError('E_PRONUNCIATION_INVALID', `pronunciations[${index}]: ${JSON.stringify(word)} does not occur in the text; give forced readings only for words the text contains.`);
    }
  });
}
