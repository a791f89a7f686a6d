/**
 * Kinds of long text that once made splitting slow, shared by the linear-work test and the
 * splitting benchmark. Each maker gives about `length` code units of its kind.
 */

/** About `length` code units of text, built by repeating `unit`. */
const repeat =
  (unit: string) =>
  (length: number): string =>
    unit.repeat(Math.ceil(length / unit.length)).slice(0, length);

export const LONG_TEXT_KINDS: Record<string, (length: number) => string> = {
  'Latin words separated by spaces, no punctuation': repeat('speech queue model '),
  'one word of Latin letters without spaces': repeat('abcdefghij'),
  'one number of digits without spaces': repeat('1234567890'),
  'Han characters without punctuation': repeat('我们今天学习语音合成模型非常重要'),
  'Latin words separated by commas only': repeat('speech, queue, '),
  'Han clauses separated by commas only': repeat('我们今天，学习语音，'),
  'commas only between single letters': repeat('a,'),
  'only spaces and line feeds between two words': (length) => `start${' \n'.repeat(length / 2)}end`,
  'mixed scripts (Han, Latin, digits, Cyrillic, Arabic)': repeat('我们 GPU 2024 模型 speech привет мир مرحبا '),
  'emoji and ZWJ sequences': repeat('👩‍👩‍👧‍👦🏳️‍🌈👍🏽'),
  'letters with combining marks': repeat('e\u0301\u0323a\u0308\u0331'),
  'one letter followed by combining marks only': (length) => `a${'\u0301'.repeat(length - 1)}`,
  'long runs of spaces between words': repeat(`word${' '.repeat(200)}`),
  'long runs of invisible characters between words': repeat(`word${'\u200b\u2060\ufeff'.repeat(60)}`),
  'Thai without spaces': repeat('ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ'),
};
