/**
 * Splitting long texts of the kinds that once made it quadratic: the time for 100,000 characters
 * against the baseline of 10,000 characters of the same kind, measured in the same run. Linear
 * splitting gives a ratio near 10; the old splitter gave 100 to 1,000.
 */

import { median, printLines } from './stats.js';
import { isSpeakable, normalizeText } from '../src/text/normalize.js';
import { splitText } from '../src/text/segment.js';
import { LONG_TEXT_KINDS } from '../src/text/testing/long-texts.js';

function timePrepare(text: string): number {
  const started = performance.now();
  splitText(normalizeText(text), { maxChars: 200 }).filter((s) => isSpeakable(s.text));
  return performance.now() - started;
}

export async function benchSplitLinear(runs = 7): Promise<void> {
  const lines = Object.entries(LONG_TEXT_KINDS).map(([kind, make]) => {
    timePrepare(make(1_000)); // warm up the compiler
    const small = make(10_000);
    const large = make(100_000);
    const smallMs = median(Array.from({ length: runs }, () => timePrepare(small)));
    const largeMs = median(Array.from({ length: runs }, () => timePrepare(large)));
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
  printLines(`splitting long texts, median of ${runs} runs`, lines);
}
