/** Checks of subtitle files for tests: VTT through webvtt-parser, SRT by a strict reading of its form. */

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

export interface ParsedVtt {
  cues: Array<{ id: string; startTime: number; endTime: number; text: string }>;
  errors: Array<{ message: string; line: number }>;
}
const { WebVTTParser } = createRequire(import.meta.url)('webvtt-parser') as { WebVTTParser: new () => { parse(input: string, mode: string): ParsedVtt } };

/** Parses a VTT file with webvtt-parser; fails the test on any error it reports. */
export function parseVtt(vtt: string): ParsedVtt {
  const tree = new WebVTTParser().parse(vtt, 'metadata');
  assert.deepEqual(tree.errors, [], `webvtt-parser errors:\n${vtt}`);
  return tree;
}

/** Parses SRT strictly: numbered blocks from 1, a timing line, one or more text lines, a blank line between. */
export function parseSrt(srt: string): Array<{ startMs: number; endMs: number; text: string }> {
  const toMs = (t: string): number => {
    const [, h, m, s, ms] = /^(\d{2}):(\d{2}):(\d{2}),(\d{3})$/u.exec(t)!;
    return ((Number(h) * 60 + Number(m)) * 60 + Number(s)) * 1000 + Number(ms);
  };
  assert.ok(srt.endsWith('\n'), 'ends with a line break');
  return srt
    .slice(0, -1)
    .split('\n\n')
    .map((block, i) => {
      const [number, timing, ...lines] = block.split('\n');
      assert.equal(number, String(i + 1));
      const match = /^(\S+) --> (\S+)$/u.exec(timing ?? '');
      assert.ok(match, `timing line: ${timing}`);
      assert.ok(lines.length > 0 && lines.every((line) => line.trim() !== '' && !line.includes('-->')), `text lines: ${block}`);
      return { startMs: toMs(match[1]!), endMs: toMs(match[2]!), text: lines.join('\n') };
    });
}
