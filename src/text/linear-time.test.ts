/**
 * Splitting must take time in proportion to the text's length, whatever the text: one request of
 * 100,000 characters without punctuation used to block the event loop for tens of seconds,
 * because Node's Intl.Segmenter spends time in proportion to the length of its string for every
 * segment it yields. The test counts that work (string length × segments yielded, summed over
 * every call) on 100,000 characters of each kind of long text, per character: bounded for a
 * linear splitter, in the tens of thousands for the old one. Counting, not timing, keeps the test
 * exact on a busy machine; `npm run bench -- split` times the same texts. Invariants are checked on
 * long random mixes of the same kinds.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { splitText, WINDOW } from './segment.js';
import { charCount, isSpeakable, normalizeText } from './normalize.js';
import { LONG_TEXT_KINDS } from './testing/long-texts.js';

const MAX_CHARS = 200; // what the engines take today

/** What the prepare stage does with a text: normalise, split, keep what can be read aloud. */
function prepare(raw: string): number {
  const text = normalizeText(raw);
  return splitText(text, { maxChars: MAX_CHARS }).filter((s) => isSpeakable(s.text)).length;
}

/** Segmenter work done by `run`: for every segment yielded, the length of the string it came from. */
function segmenterWork(run: () => void): number {
  const original = Intl.Segmenter.prototype.segment;
  let work = 0;
  Intl.Segmenter.prototype.segment = function (this: Intl.Segmenter, input: string) {
    const segments = original.call(this, input);
    return {
      containing: (index?: number) => segments.containing(index),
      *[Symbol.iterator]() {
        for (const segment of segments) {
          work += input.length;
          yield segment;
        }
      },
    } as Intl.Segments;
  };
  try {
    run();
  } finally {
    Intl.Segmenter.prototype.segment = original;
  }
  return work;
}

// A linear splitter gives each character to the segmenter within a bounded number of windows, so
// the work per character is bounded by a small multiple of the window (today at most about one
// window); the old splitter's work per character grew with the length: about 50,000 at 100k.
const MAX_WORK_PER_CHAR = 2 * WINDOW;

for (const [kind, make] of Object.entries(LONG_TEXT_KINDS)) {
  test(`splitting grows linearly: ${kind}`, () => {
    const text = make(100_000);
    const work = segmenterWork(() => prepare(text));
    assert.ok(work > 0, 'the splitter no longer uses Intl.Segmenter: count its work another way');
    const perChar = work / text.length;
    assert.ok(perChar <= MAX_WORK_PER_CHAR, `segmenter work per character at 100k chars: ${perChar.toFixed(0)}, over ${MAX_WORK_PER_CHAR}`);
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
