/**
 * Subtitles of a long book: the time to make WebVTT from the timeline of 100,000 characters
 * (segmented as for an engine taking 200 characters) against 10,000 characters of the same kind
 * in the same run. The route does this on an API node per request, so it must stay linear and short.
 */

import { median, printLines } from './stats.js';
import type { TimelineEntry } from '../src/backends/backend.js';
import { isSpeakable, normalizeText } from '../src/text/normalize.js';
import { splitText } from '../src/text/segment.js';
import { buildCues, toWebVtt } from '../src/text/subtitles.js';
import { LONG_TEXT_KINDS } from '../src/text/testing/long-texts.js';
import { sampleChineseText } from '../src/text/testing/sample-text.js';

/** A timeline as assembly writes it: 60 ms of audio per character, 200 ms pauses. */
function timelineOf(text: string): TimelineEntry[] {
  let at = 0;
  return splitText(normalizeText(text), { maxChars: 200 })
    .map((s) => s.text.trim())
    .filter(isSpeakable)
    .map((segment) => {
      const entry = { text: segment, part: 0, startMs: at, endMs: at + segment.length * 60 };
      at = entry.endMs + 200;
      return entry;
    });
}

function timeSubtitles(timeline: TimelineEntry[]): number {
  const started = performance.now();
  toWebVtt(buildCues(timeline));
  return performance.now() - started;
}

export async function benchSubtitles(runs = 7): Promise<void> {
  const kinds: Record<string, (chars: number) => string> = { 'Chinese lecture with English words': sampleChineseText, ...LONG_TEXT_KINDS };
  const lines = Object.entries(kinds).map(([kind, make]) => {
    timeSubtitles(timelineOf(make(1_000))); // warm up the compiler
    const small = timelineOf(make(10_000));
    const large = timelineOf(make(100_000));
    const smallMs = median(Array.from({ length: runs }, () => timeSubtitles(small)));
    const largeMs = median(Array.from({ length: runs }, () => timeSubtitles(large)));
    const ratio = largeMs / smallMs;
    return {
      name: kind,
      value: `${largeMs.toFixed(1)} ms for 100k chars`,
      baseline: `${smallMs.toFixed(1)} ms for 10k chars`,
      ratio: `${ratio.toFixed(1)}×`,
      target: '≤ 20× (linear: about 10×)',
      met: ratio <= 20,
    };
  });
  printLines(`subtitles (WebVTT) of long texts, median of ${runs} runs`, lines);
}
