import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { TimelineEntry } from '../backends/backend.js';
import { charCount } from './normalize.js';
import { buildCues, displayWidth, formatTimestamp, toSrt, toWebVtt, type SubtitleCue } from './subtitles.js';
import { parseSrt, parseVtt } from './testing/subtitle-parsers.js';

/** Entries laid end to end with `pauseMs` between, each `ms` long. */
function timeline(texts: string[], ms: number[], pauseMs = 500): TimelineEntry[] {
  let at = 0;
  return texts.map((text, i) => {
    const entry = { text, part: 0, startMs: at, endMs: at + ms[i]! };
    at = entry.endMs + pauseMs;
    return entry;
  });
}

function assertCuesFollowSegments(cues: SubtitleCue[], entries: TimelineEntry[]): void {
  // Every segment boundary is a cue boundary: some cue starts at each segment's start, one ends at its end.
  // (A segment with nothing to show gets no cue; the service never makes one: segments are speakable.)
  for (const entry of entries.filter((e) => /\S/u.test(e.text))) {
    assert.ok(
      cues.some((cue) => Math.abs(cue.startMs - entry.startMs) < 50),
      `a cue starts at ${entry.startMs}`,
    );
    assert.ok(
      cues.some((cue) => Math.abs(cue.endMs - entry.endMs) < 50),
      `a cue ends at ${entry.endMs}`,
    );
  }
  for (let i = 1; i < cues.length; i++) assert.ok(cues[i]!.startMs >= cues[i - 1]!.endMs - 1e-6, 'cues in order, not overlapping');
}

test('one sentence per segment: the cue is the segment span; several sentences share it in proportion', () => {
  const entries = timeline(['Hello there.', 'This is one. And this is a much longer second sentence.'], [1000, 3000]);
  const cues = buildCues(entries);
  assert.deepEqual(
    cues.map((c) => c.text),
    ['Hello there.', 'This is one.', 'And this is a much longer second sentence.'],
  );
  assert.deepEqual([cues[0]!.startMs, cues[0]!.endMs], [0, 1000]);
  assert.equal(cues[1]!.startMs, 1500);
  assert.equal(cues[2]!.endMs, 4500);
  // The short sentence gets the smaller share, in proportion to its speakable weight.
  const share = (cues[1]!.endMs - cues[1]!.startMs) / 3000;
  assert.ok(share > 0.15 && share < 0.35, `share ${share}`);
  assert.equal(cues[1]!.endMs, cues[2]!.startMs);
  assertCuesFollowSegments(cues, entries);
});

test('Chinese and Japanese sentences are found and weighed; mixed text too', () => {
  const entries = timeline(['今天天气很好。我们去公园散步吧！', '東京は晴れです。', 'GPU 很快。Speech synthesis is fun.'], [2000, 1200, 2500], 300);
  const cues = buildCues(entries);
  assert.deepEqual(
    cues.map((c) => c.text),
    ['今天天气很好。', '我们去公园散步吧！', '東京は晴れです。', 'GPU 很快。', 'Speech synthesis is fun.'],
  );
  // Six characters against eight: about 7/16 of the segment (punctuation weighs a little too).
  const share = (cues[0]!.endMs - cues[0]!.startMs) / 2000;
  assert.ok(share > 0.38 && share < 0.5, `share ${share}`);
  assertCuesFollowSegments(cues, entries);
  parseVtt(toWebVtt(cues));
  assert.equal(parseSrt(toSrt(cues)).length, cues.length);
});

test('a long sentence is cut into cues of at most two lines of 42 characters, at word boundaries', () => {
  const sentence = `${'The quick brown fox jumps over the lazy dog and keeps on running through the fields, '.repeat(4).trim()}.`;
  const cues = buildCues(timeline([sentence], [20_000]));
  assert.ok(cues.length >= 4, `${cues.length} cues`);
  for (const cue of cues) {
    const lines = cue.text.split('\n');
    assert.ok(lines.length <= 2);
    for (const line of lines) {
      assert.ok(charCount(line) <= 42, `line "${line}"`);
      assert.equal(line, line.trim());
    }
  }
  // Nothing lost, no word cut.
  assert.equal(cues.map((c) => c.text.replace(/\n/gu, ' ')).join(' '), sentence);
  assert.equal(cues[0]!.startMs, 0);
  assert.equal(cues.at(-1)!.endMs, 20_000);
  // A long Chinese sentence: cut too.
  const chinese = `${'我们今天学习语音合成模型，'.repeat(12)}非常重要。`;
  const chineseCues = buildCues(timeline([chinese], [30_000]), { maxLineChars: 20 });
  assert.ok(chineseCues.length > 3);
  for (const cue of chineseCues) for (const line of cue.text.split('\n')) assert.ok(displayWidth(line) <= 20 && charCount(line) <= 10, line);
  assert.equal(chineseCues.map((c) => c.text.replace(/\n/gu, '')).join(''), chinese);
  // A word longer than a line (a URL) is cut.
  const url = `Visit https://example.com/${'a'.repeat(100)} now.`;
  const urlCues = buildCues(timeline([url], [5000]));
  for (const cue of urlCues) for (const line of cue.text.split('\n')) assert.ok(charCount(line) <= 42, line);
  assert.equal(
    urlCues
      .map((c) => c.text.replace(/\n/gu, ''))
      .join('')
      .replace(/\s/gu, ''),
    url.replace(/\s/gu, ''),
  );
});

test('a line break ends a sentence; white space inside a cue is one space, never a blank line', () => {
  const cues = buildCues(timeline(['第一行没有标点\n第二行也没有', 'Tabs\tand   spaces\u3000here.\n\n\nNext'], [2000, 2000]));
  assert.deepEqual(
    cues.map((c) => c.text),
    ['第一行没有标点', '第二行也没有', 'Tabs and spaces here.', 'Next'],
  );
  parseVtt(toWebVtt(cues));
});

test('a wide (CJK) character takes two columns', () => {
  assert.equal(displayWidth('abc'), 3);
  assert.equal(displayWidth('语音合成。'), 10);
  assert.equal(displayWidth('ＡＢ'), 4);
  const cues = buildCues(timeline([`${'语音合成模型非常重要'.repeat(5)}。`], [10_000]));
  for (const cue of cues) for (const line of cue.text.split('\n')) assert.ok(charCount(line) <= 21, line);
});

test('timing marks from an engine place the boundaries instead of the estimate', () => {
  const text = 'First sentence here. Second one.';
  const entries = timeline([text], [4000]);
  const marks = [{ offset: text.indexOf('Second'), ms: 3000 }];
  const cues = buildCues(entries, { marks: [marks] });
  assert.equal(cues[0]!.endMs, 3000);
  assert.equal(cues[1]!.startMs, 3000);
  // Marks that make no sense (out of range, backwards) are ignored.
  const ignored = buildCues(entries, {
    marks: [
      [
        { offset: 999, ms: 10 },
        { offset: 5, ms: 99_999 },
      ],
    ],
  });
  assert.deepEqual(ignored, buildCues(entries));
});

test('timestamps, numbering and escaping in VTT and SRT', () => {
  assert.equal(formatTimestamp(3_723_004.4, '.'), '01:02:03.004');
  assert.equal(formatTimestamp(59_999.6, ','), '00:01:00,000');
  assert.equal(formatTimestamp(100 * 3_600_000, '.'), '100:00:00.000');
  const cues = buildCues(timeline(['Use a --> b & <c> here.', 'Tom & Jerry <3.'], [1500, 1000], 250));
  const vtt = toWebVtt(cues);
  assert.ok(vtt.startsWith('WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.500\n'));
  assert.match(vtt, /Use a --&gt; b &amp; &lt;c&gt; here\./u);
  const parsed = parseVtt(vtt);
  assert.equal(parsed.cues.length, 2);
  assert.equal(parsed.cues[0]!.text, 'Use a --&gt; b &amp; &lt;c&gt; here.');
  assert.equal(parsed.cues[1]!.startTime, 1.75);
  const srt = toSrt(cues);
  assert.ok(srt.startsWith('1\n00:00:00,000 --> 00:00:01,500\nUse a -> b & <c> here.\n\n2\n00:00:01,750 --> 00:00:02,750\n'));
  assert.equal(parseSrt(srt).length, 2);
  assert.equal(toWebVtt([]), 'WEBVTT\n');
});

test('any timeline gives cues that follow its segments, parse as VTT and SRT, and keep every word', () => {
  const piece = fc.constantFrom('Hello', 'world', 'GPU', '语音合成', '今天', '100,000', 'a --> b', 'x < y', '&', 'supercalifragilisticexpialidocious', '東京', '\n', '\t\u3000');
  const sentence = fc.array(piece, { minLength: 1, maxLength: 25 }).chain((words) => fc.constantFrom('.', '!', '?', '。', '，', '').map((end) => `${words.join(' ')}${end}`));
  const segment = fc.array(sentence, { minLength: 1, maxLength: 4 }).map((s) => s.join(' '));
  fc.assert(
    fc.property(fc.array(fc.tuple(segment, fc.integer({ min: 1, max: 20_000 })), { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 2000 }), (segments, pauseMs) => {
      const entries = timeline(
        segments.map(([text]) => text),
        segments.map(([, ms]) => ms),
        pauseMs,
      );
      const cues = buildCues(entries);
      assertCuesFollowSegments(cues, entries);
      for (const cue of cues) assert.ok(cue.endMs >= cue.startMs);
      const vtt = parseVtt(toWebVtt(cues));
      assert.equal(vtt.cues.length, cues.length);
      assert.equal(parseSrt(toSrt(cues)).length, cues.length);
      const words = (s: string): string => s.replace(/\s/gu, '');
      assert.equal(words(cues.map((c) => c.text).join('')), words(entries.map((e) => e.text).join('')));
    }),
    { numRuns: 200 },
  );
});
