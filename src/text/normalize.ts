/**
 * Text normalisation before splitting and synthesis: what reaches an engine is free of control
 * characters, invisible formatting and full-width Latin forms, with white space made regular.
 */

// C0/C1 controls except tab, line feed and carriage return (those are white space, handled below),
// every default-ignorable character: zero-width and bidirectional formatting, the byte-order
// mark, variation selectors, tags, and the Hangul fillers (letters by category, but invisible),
// and lone surrogates (JSON may carry "\ud800"): no character, and not valid UTF-8 for an engine
// or a store. With the `u` flag a surrogate range matches only unpaired halves, never a pair.
const INVISIBLE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\uD800-\uDFFF\p{Default_Ignorable_Code_Point}]/gu;

// Blanks drawn as wide as a space (often used to fake an empty text): made spaces here, before
// INVISIBLE (which includes the two Hangul fillers) would remove them and join the words around.
const DRAWN_BLANK = /[\u2800\u3164\uFFA0]/gu;

// Chinese punctuation written in full-width form is the normal way to write Chinese: keep it.
const KEEP_FULL_WIDTH = new Set(['，', '！', '？', '：', '；', '（', '）']);

/** Full-width ASCII forms (Ａ, １, ＃ ...) become their ASCII counterparts, except Chinese punctuation. */
function narrowFullWidth(text: string): string {
  return text.replace(/[\uFF01-\uFF5E]/gu, (ch) => (KEEP_FULL_WIDTH.has(ch) ? ch : String.fromCharCode(ch.charCodeAt(0) - 0xfee0)));
}

/**
 * Normalises text for synthesis:
 * - Unicode NFC; full-width letters, digits and symbols to ASCII (Chinese punctuation kept);
 * - control and invisible (default-ignorable) characters removed;
 * - blank characters drawn as a space (braille blank, Hangul fillers) become one;
 * - every run of spaces/tabs (including the ideographic space) becomes one space, lines are
 *   trimmed, and blank lines collapse so that paragraphs are separated by a single line feed.
 */
export function normalizeText(input: string): string {
  const text = narrowFullWidth(input.normalize('NFC'))
    .replace(/\r\n?|[\u2028\u2029\u0085]/gu, '\n')
    .replace(DRAWN_BLANK, ' ')
    .replace(INVISIBLE, '')
    .replace(/[\t\v\f \u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]+/gu, ' ');
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .join('\n');
}

const SPEAKABLE = /[\p{L}\p{N}]/u;

/** Whether a piece of text holds anything an engine can read aloud (a letter or a digit). */
export function isSpeakable(text: string): boolean {
  return SPEAKABLE.test(text);
}

/** Length in Unicode code points: what "characters" means in limits and segment sizes. */
export function charCount(text: string): number {
  let count = 0;
  for (const code of text) {
    void code;
    count++;
  }
  return count;
}
