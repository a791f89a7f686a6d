/**
 * The text pipeline on any string: prepareText refuses with a TtsError or returns well-formed
 * text (no lone surrogates, no controls); normalizeText and splitText never throw; segments
 * cover the text in order and none is longer than asked.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TtsError } from '../errors.js';
import { charCount, normalizeText } from './normalize.js';
import { prepareText } from './prepare.js';
import { splitText } from './segment.js';

const codeUnits = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 400 });
const anyText = fc.oneof(
  fc.string({ maxLength: 400 }),
  fc.string({ unit: 'binary', maxLength: 400 }),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.string({ unit: 'grapheme-composite', maxLength: 200 }),
  codeUnits,
  fc
    .array(
      fc.constantFrom(
        '你好',
        '重要',
        'hello',
        ' ',
        '123',
        '。',
        '，',
        '！',
        '\u0301',
        '\u200b',
        '\u202e',
        '\u0000',
        '\n',
        '\r\n',
        '\ud800',
        '\udc00',
        '\u{1f600}',
        '\u{1f468}\u200d\u{1f469}',
        '\u3000',
        'Ａ',
        '\u2800',
      ),
      {
        maxLength: 120,
      },
    )
    .map((parts) => parts.join('')),
);

/** Lone surrogates, and the controls normalisation removes. */
const ILL_FORMED = /[\uD800-\uDFFF]|[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/u;

test('property: normalizeText never throws and gives well-formed text without controls', () => {
  fc.assert(
    fc.property(anyText, (text) => {
      const normalized = normalizeText(text);
      assert.doesNotMatch(normalized, ILL_FORMED);
      assert.equal(normalized, normalized.trim());
    }),
    { numRuns: 500 },
  );
});

test('property: prepareText returns well-formed text within the limit or throws a TtsError', () => {
  fc.assert(
    fc.property(anyText, fc.integer({ min: 1, max: 300 }), (text, maxChars) => {
      let prepared: string;
      try {
        prepared = prepareText(text, maxChars);
      } catch (error) {
        assert.ok(error instanceof TtsError, `not a TtsError: ${String(error)}`);
        assert.ok(['E_TEXT_EMPTY', 'E_TEXT_TOO_LONG'].includes(error.code), error.code);
        return;
      }
      assert.ok(charCount(prepared) <= maxChars);
      assert.doesNotMatch(prepared, ILL_FORMED);
    }),
    { numRuns: 500 },
  );
});

test('property: splitText on any normalised text never throws; segments cover it in order, each within maxChars', () => {
  fc.assert(
    fc.property(anyText, fc.integer({ min: 1, max: 120 }), (raw, maxChars) => {
      const text = normalizeText(raw);
      const segments = splitText(text, { maxChars });
      assert.equal(segments.map((s) => s.text).join(''), text);
      let offset = 0;
      for (const [index, segment] of segments.entries()) {
        assert.equal(segment.index, index);
        assert.equal(segment.start, offset);
        assert.ok(segment.text.length > 0);
        assert.ok(charCount(segment.text) <= maxChars, `${charCount(segment.text)} > ${maxChars}: ${JSON.stringify(segment.text)}`);
        offset += segment.text.length;
      }
    }),
    { numRuns: 500 },
  );
});
