/**
 * Splitting must take time in proportion to the text's length, whatever the text: one request of
 * 100,000 characters without punctuation used to block the event loop for tens of seconds.
 * Each kind of long text is timed at 10,000 and 100,000 characters; linear time gives a ratio
 * near 10, quadratic near 100. Invariants are checked on long random mixes of the same kinds.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { splitText } from './segment.js';
import { charCount, isSpeakable, normalizeText } from './normalize.js';

const MAX_CHARS = 200; // what the engines take today

/** About `length` code units of text, built by repeating `unit`. */
const repeat =
  (unit: string) =>
  (length: number): string =>
    unit.repeat(Math.ceil(length / unit.length)).slice(0, length);

const kinds: Record<string, (length: number) => string> = {
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

/** What the prepare stage does with a text: normalise, split, keep what can be read aloud. */
function prepare(raw: string): number {
  const text = normalizeText(raw);
  return splitText(text, { maxChars: MAX_CHARS }).filter((s) => isSpeakable(s.text)).length;
}

function timeOnce(text: string): number {
  const started = performance.now();
  prepare(text);
  return performance.now() - started;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

// Linear growth gives about 10; the old quadratic splitter gave 100 to 1,000. Times under 2 ms
// are too noisy to divide by, hence the floor.
const MAX_RATIO = 30;
const FLOOR_MS = 2;

for (const [kind, make] of Object.entries(kinds)) {
  test(`splitting grows linearly: ${kind}`, () => {
    prepare(make(1_000)); // warm up the compiler
    const small = make(10_000);
    const large = make(100_000);
    const smallMs = median([timeOnce(small), timeOnce(small), timeOnce(small)]);
    const budgetMs = MAX_RATIO * Math.max(smallMs, FLOOR_MS);
    // Stop at the first run over budget: the old code took minutes for three runs.
    const largeRuns: number[] = [];
    for (let run = 0; run < 3; run++) {
      largeRuns.push(timeOnce(large));
      if (largeRuns.at(-1)! > budgetMs) break;
    }
    const largeMs = largeRuns.length === 3 ? median(largeRuns) : largeRuns.at(-1)!;
    assert.ok(largeMs <= budgetMs, `10k chars: ${smallMs.toFixed(1)} ms, 100k chars: ${largeMs.toFixed(1)} ms (over ${MAX_RATIO}× the 10k time)`);
  });
}

const wordSegmenter = new Intl.Segmenter('zh', { granularity: 'word' });
// Scripts written without spaces are cut into words with a dictionary, choosing among several
// valid readings over the whole run (字字字 is 字|字字 or 字字|字); the splitter, which sees a
// bounded window, may choose another. A cut between two such characters is a word boundary too.
const DICTIONARY_PAIR = /^[\p{Script=Han}\p{Script=Thai}]{2}$/u;

/** Word spans of the whole text, segmented at once (quadratic, but these texts are short). */
function wordSpans(text: string): Array<{ start: number; end: number }> {
  return Array.from(wordSegmenter.segment(text), ({ index, segment }) => ({ start: index, end: index + segment.length }));
}

// Pieces of every kind above, and long ones, mixed: texts of a few thousand characters cross the
// splitter's internal windows many times.
const pieceArbitrary = fc.oneof(
  fc.constantFrom('speech ', 'queue ', 'model ', 'GPU ', '2024 ', '3.14 ', '100,000 ', 'Node.js '),
  fc.constantFrom('我们', '今天', '学习', '语音合成', '非常', '重要', '北京'),
  fc.constantFrom('，', '、', '。', '！', '. ', ', ', '; ', '\n', '    ', '\u200b\u200b', '\u3164', '\u0301'),
  fc.constantFrom('👩‍👩‍👧‍👦', '👍🏽', '🇨🇳🇫🇷', 'é', 'e\u0301', 'привет ', 'ภาษาไทย'),
  fc.integer({ min: 1, max: 700 }).chain((n) => fc.constantFrom('x'.repeat(n), '9'.repeat(n), '字'.repeat(n), `a${'\u0301'.repeat(n)}`, ' '.repeat(n))),
);
const longTextArbitrary = fc.array(pieceArbitrary, { minLength: 1, maxLength: 300 }).map((pieces) => normalizeText(pieces.join('')));

test('long mixed texts: segments join back, fit, and cut only inside words longer than a segment', () => {
  fc.assert(
    fc.property(longTextArbitrary, fc.integer({ min: 1, max: 300 }), (text, maxChars) => {
      const segments = splitText(text, { maxChars });
      assert.equal(segments.map((s) => s.text).join(''), text);
      for (const segment of segments) {
        assert.ok(charCount(segment.text) <= maxChars, `segment of ${charCount(segment.text)} chars over ${maxChars}`);
        assert.equal(text.slice(segment.start, segment.start + segment.text.length), segment.text);
      }
      const spans = wordSpans(text);
      let span = 0;
      for (const segment of segments.slice(0, -1)) {
        const cut = segment.start + segment.text.length;
        while (spans[span]!.end <= cut) span++;
        const word = spans[span]!;
        if (word.start === cut || DICTIONARY_PAIR.test(String.fromCodePoint(text.codePointAt(cut - 1)!, text.codePointAt(cut)!))) continue;
        const wordText = text.slice(word.start, word.end);
        assert.ok(charCount(wordText) > maxChars, `cut at ${cut} inside ${JSON.stringify(wordText)}, which fits in ${maxChars}`);
      }
    }),
    { numRuns: 200 },
  );
});
