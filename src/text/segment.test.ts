import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { splitText } from './segment.js';
import { charCount, normalizeText } from './normalize.js';

const chineseWords = ['我们', '今天', '学习', '语音合成', '模型', '非常', '重要', '数据', '老师', '课程', '长城', '北京'];
const englishWords = ['GPU', 'speech', 'synthesis', 'is', 'fast', 'Node.js', 'TypeScript', 'the', 'queue', 'model'];
const numbers = ['2024', '3.14', '100,000', '42'];
const sentenceEnds = ['。', '！', '？', '. ', '! ', '? ', '\n'];
const clauseMarks = ['，', '、', '；', '：', ', ', '; '];

// A random "document": words of Chinese, English and numbers, with clause and sentence marks.
const documentArbitrary = fc
  .array(
    fc.oneof(
      { weight: 5, arbitrary: fc.constantFrom(...chineseWords) },
      { weight: 3, arbitrary: fc.constantFrom(...englishWords).map((w) => ` ${w} `) },
      { weight: 1, arbitrary: fc.constantFrom(...numbers).map((n) => ` ${n} `) },
      { weight: 1, arbitrary: fc.constantFrom(...clauseMarks) },
      { weight: 1, arbitrary: fc.constantFrom(...sentenceEnds) },
    ),
    { minLength: 1, maxLength: 400 },
  )
  .map((parts) => normalizeText(parts.join('')));

test('segments joined give back the normalised text, none over the maximum', () => {
  fc.assert(
    fc.property(documentArbitrary, fc.integer({ min: 12, max: 250 }), (text, maxChars) => {
      const segments = splitText(text, { maxChars });
      assert.equal(segments.map((s) => s.text).join(''), text);
      for (const segment of segments) {
        assert.ok(charCount(segment.text) <= maxChars, `segment of ${charCount(segment.text)} chars over ${maxChars}`);
        assert.equal(text.slice(segment.start, segment.start + segment.text.length), segment.text);
      }
    }),
    { numRuns: 300 },
  );
});

test('cuts fall at sentence or clause ends, never inside a word or a number', () => {
  // Chinese words of two characters are single dictionary words; longer compounds such as 语音合成
  // may legitimately be cut between their parts (语音|合成) when a clause has no punctuation.
  const protectedTokens = [...chineseWords.filter((w) => w.length === 2), ...englishWords, ...numbers];
  fc.assert(
    fc.property(documentArbitrary, fc.integer({ min: 12, max: 120 }), (text, maxChars) => {
      const segments = splitText(text, { maxChars });
      for (const segment of segments.slice(0, -1)) {
        const cut = segment.start + segment.text.length;
        // No protected token may straddle the cut.
        for (const token of protectedTokens) {
          let at = text.indexOf(token);
          while (at !== -1) {
            assert.ok(!(at < cut && cut < at + token.length), `cut at ${cut} splits "${token}" in ${JSON.stringify(text)}`);
            at = text.indexOf(token, at + 1);
          }
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('short sentences are packed together; long ones cut at clause punctuation', () => {
  const text = '第一句话。第二句话。' + '这是一个很长的句子，它有很多从句，每个从句都有一些字，最后才结束。';
  const segments = splitText(text, { maxChars: 20 });
  assert.ok(segments[0]?.text.startsWith('第一句话。第二句话。'), 'short sentences share a segment');
  assert.ok(segments.length > 2);
  for (const segment of segments) assert.match(segment.text, /[，。]$/u);
});

test('English sentences are cut after their punctuation and keep their spaces', () => {
  const text = 'The queue accepts a task. It answers at once! Then the engine works, segment by segment, until done.';
  const segments = splitText(text, { maxChars: 40 });
  for (const segment of segments.slice(0, -1)) assert.match(segment.text, /[.!?,] $/u);
  assert.equal(segments.map((s) => s.text).join(''), text);
  assert.equal(segments[0]?.text, 'The queue accepts a task. ');
  assert.ok(segments.every((s) => charCount(s.text) <= 40));
});

test('a punctuation-only sentence is merged into its neighbour', () => {
  const segments = splitText('你好。……', { maxChars: 3 });
  assert.ok(segments.length >= 1);
  assert.equal(segments.map((s) => s.text).join(''), '你好。……');
});

test('normalizeText removes controls, narrows full-width Latin, keeps Chinese punctuation', () => {
  assert.equal(normalizeText('  Ｈｅｌｌｏ\u200B，　世界！\u0007 ＧＰＵ１２３ \r\n\r\n 第二段 '), 'Hello， 世界! GPU123\n第二段'.replace('!', '！'));
  assert.equal(normalizeText(' \n\t '), '');
});
