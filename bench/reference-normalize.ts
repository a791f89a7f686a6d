/**
 * Normalising a 10 s mp3 reference (probe, decode, trim, loudness, WAV). Baseline: the article's
 * single ffmpeg conversion (`-ar 24000 -ac 1 -c:a pcm_s16le`), which checks and trims nothing.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, printLines } from './stats.js';
import { ffmpegPath } from '../src/audio/binaries.js';
import { normalizeReference } from '../src/audio/reference.js';
import { runBinary } from '../src/audio/run-binary.js';
import { makeTone } from '../src/audio/testing/fixtures.js';

export async function benchReferenceNormalize(runs = 15): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-reference-'));
  const ours: number[] = [];
  const plain: number[] = [];
  try {
    const input = await makeTone(join(dir, 'voice.mp3'), { seconds: 9, silence: 0.5, format: 'mp3' });
    for (let i = 0; i < runs + 2; i++) {
      let started = performance.now();
      await normalizeReference(input, { sampleRate: 24_000, outPath: join(dir, 'normalized.wav') });
      const a = performance.now() - started;
      started = performance.now();
      await runBinary(ffmpegPath(), ['-nostdin', '-v', 'error', '-y', '-i', input, '-ar', '24000', '-ac', '1', '-c:a', 'pcm_s16le', join(dir, 'plain.wav')]);
      const b = performance.now() - started;
      if (i >= 2) {
        // the first two are warm-up
        ours.push(a);
        plain.push(b);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  printLines(`reference normalisation, 10 s mp3, median of ${runs} runs`, [
    {
      name: 'normalise (probe + decode + trim + loudness)',
      value: `${median(ours).toFixed(1)} ms`,
      baseline: `plain ffmpeg conversion ${median(plain).toFixed(1)} ms`,
      ratio: `${(median(ours) / median(plain)).toFixed(2)}× the baseline's time`,
      target: '< 100 ms',
      met: median(ours) < 100,
    },
  ]);
}
