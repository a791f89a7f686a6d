/**
 * `tts-queue say` as a user runs it (fresh engine hosts, start-up included) on 2,000 and
 * 20,000 characters, 1 host (the baseline) against 2, for an output ffmpeg must encode (mp3)
 * and one written directly (wav). Medians of several runs, 1 and 2 hosts alternating.
 */

import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, printLines, type BenchLine } from './stats.js';
import { sampleChineseText } from '../src/text/testing/sample-text.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

async function timeSay(args: string[]): Promise<number> {
  const started = performance.now();
  const code = await new Promise<number | null>((resolve) => spawn(process.execPath, [CLI, 'say', ...args, '--quiet'], { stdio: 'inherit' }).on('close', resolve));
  if (code !== 0) throw new Error(`say exited ${code}`);
  return (performance.now() - started) / 1000;
}

export async function benchSayCli(runs = 3): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-say-'));
  const lines: BenchLine[] = [];
  try {
    for (const chars of [2_000, 20_000]) {
      const file = join(dir, `text-${chars}.txt`);
      await writeFile(file, sampleChineseText(chars));
      for (const format of ['wav', 'mp3']) {
        const one: number[] = [];
        const two: number[] = [];
        for (let i = 0; i < runs; i++) {
          one.push(await timeSay(['--file', file, '--format', format, '--engines', '1', '--out', join(dir, `one.${format}`)]));
          two.push(await timeSay(['--file', file, '--format', format, '--engines', '2', '--out', join(dir, `two.${format}`)]));
        }
        const ratio = median(one) / median(two);
        lines.push({
          name: `${chars} characters to ${format}, 2 hosts`,
          value: `${median(two).toFixed(2)} s`,
          baseline: `1 host ${median(one).toFixed(2)} s`,
          ratio: `${ratio.toFixed(2)}× the speed`,
          target: null,
          met: null,
        });
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  printLines(`tts-queue say, fresh hosts, start-up included, median of ${runs} runs`, lines);
}
