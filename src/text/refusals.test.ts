/**
 * Texts that hold nothing to read aloud once invisible characters are gone, and forced readings
 * of words the text does not contain: both refused before a task is accepted.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TtsError } from '../errors.js';
import { prepareText } from './prepare.js';
import { jsonPost, startTestService } from '../service/testing/test-service.js';
import { normalizeText } from './normalize.js';
import { checkPronunciationsOccur, parsePronunciations } from './pronunciations.js';

const invisible: Record<string, string> = {
  'U+3164 HANGUL FILLER': '\u3164',
  'U+115F HANGUL CHOSEONG FILLER': '\u115F',
  'U+1160 HANGUL JUNGSEONG FILLER': '\u1160',
  'U+FFA0 HALFWIDTH HANGUL FILLER': '\uFFA0',
  'U+2800 BRAILLE PATTERN BLANK': '\u2800',
  'U+200B ZERO WIDTH SPACE': '\u200B',
  'U+200C ZERO WIDTH NON-JOINER': '\u200C',
  'U+200D ZERO WIDTH JOINER': '\u200D',
  'U+200E LEFT-TO-RIGHT MARK': '\u200E',
  'U+200F RIGHT-TO-LEFT MARK': '\u200F',
  'U+2060 WORD JOINER': '\u2060',
  'U+2061 FUNCTION APPLICATION': '\u2061',
  'U+2062 INVISIBLE TIMES': '\u2062',
  'U+2063 INVISIBLE SEPARATOR': '\u2063',
  'U+2064 INVISIBLE PLUS': '\u2064',
  'U+FEFF BYTE ORDER MARK': '\uFEFF',
  'U+180E MONGOLIAN VOWEL SEPARATOR': '\u180E',
  'U+00AD SOFT HYPHEN': '\u00AD',
  'U+034F COMBINING GRAPHEME JOINER': '\u034F',
  'U+FE0F VARIATION SELECTOR-16': '\uFE0F',
  'U+E0100 VARIATION SELECTOR-17': '\u{E0100}',
  'U+E0001 LANGUAGE TAG and tag letters': '\u{E0001}\u{E0074}\u{E0065}\u{E0078}\u{E0074}',
  'U+1D173 MUSICAL SYMBOL BEGIN BEAM': '\u{1D173}',
  'combining marks alone': '\u0301\u0308\u0323',
};

for (const [name, characters] of Object.entries(invisible)) {
  test(`a text of only ${name} is refused with E_TEXT_EMPTY`, () => {
    // Repeated, and between spaces and line feeds, as a client trying to get past a check would.
    const text = `${characters.repeat(20)} ${characters}\n${characters.repeat(3)}`;
    assert.throws(
      () => prepareText(text),
      (error: TtsError) => error.code === 'E_TEXT_EMPTY',
    );
  });
}

test('fillers drawn as blanks become spaces; invisible formatting is removed', () => {
  assert.equal(normalizeText('左\u3164右\uFFA0中\u2800下'), '左 右 中 下');
  assert.equal(normalizeText('重\u200B要\u2060的\uFEFF事\u{E0041}情\uFE0F'), '重要的事情');
  assert.equal(prepareText('\u3164你好\u3164'), '你好');
});

test('a forced reading of a word the text does not contain is refused, naming the word', () => {
  const pronunciations = parsePronunciations([
    { text: '重', pinyin: 'chong2' },
    { text: '行', pinyin: 'hang2' },
  ]);
  assert.doesNotThrow(() => checkPronunciationsOccur('重新开始银行', pronunciations));
  assert.throws(
    () => checkPronunciationsOccur('重新开始', pronunciations),
    (error: TtsError) => error.code === 'E_PRONUNCIATION_INVALID' && error.message.includes('pronunciations[1]') && error.message.includes('"行" does not occur in the text'),
  );
  assert.throws(
    () => parsePronunciations([{ text: '长', pinyin: 'zhang3' }], '你好'),
    (error: TtsError) => error.code === 'E_PRONUNCIATION_INVALID' && error.message.includes('"长"'),
  );
});

test('a forced reading is compared with the text as normalised (full-width forms, invisible characters)', () => {
  const [reading] = parsePronunciations([{ text: ' Ｇ\u200BＰＵ ', pinyin: 'ji1' }], prepareText('我们的 GPU 很快'));
  assert.equal(reading?.text, 'GPU');
  assert.throws(
    () => parsePronunciations([{ text: '\u200B\u3164', pinyin: 'ji1' }]),
    (error: TtsError) => error.code === 'E_PRONUNCIATION_INVALID',
  );
});

test('POST /api/synthesis refuses invisible-only text and forced readings the text lacks', async (t) => {
  const service = await startTestService();
  t.after(() => service.stop());
  const filler = await service.request('/api/synthesis', jsonPost({ text: '\u3164\u3164\u3164' }));
  assert.equal(filler.status, 400);
  assert.equal(filler.body.error.code, 'E_TEXT_EMPTY');
  const absent = await service.request('/api/synthesis', jsonPost({ text: '你好。', pronunciations: [{ text: '重', pinyin: 'chong2' }] }));
  assert.equal(absent.status, 400);
  assert.equal(absent.body.error.code, 'E_PRONUNCIATION_INVALID');
  assert.match(absent.body.error.message, /"重" does not occur in the text/u);
});
