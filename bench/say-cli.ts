/**
 * `tts-queue say` as a user runs it (fresh engine hosts, start-up included) on 2,000 and
 * 20,000 characters, with 1 and 2 hosts, for an output ffmpeg must encode (mp3) and one written
 * directly (wav). The baseline is the same command encoding after the last segment
 * (TTS_QUEUE_BENCH_EARLY_ASSEMBLY=off), as the worker did before its early assembly. Medians of
 * several runs, the four variants alternating.
 */

import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, printLines, type BenchLine } from './stats.js';
import { sampleChineseText } from '../src/text/testing/sample-text.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

async function timeSay(args: string[], early: boolean): Promise<number> {
  const started = performance.now();
  const env = { ...process.env, TTS_QUEUE_BENCH_EARLY_ASSEMBLY: early ? 'on' : 'off' };
  const code = await new Promise<number | null>((resolve) => spawn(process.execPath, [CLI, 'say', ...args, '--quiet'], { stdio: 'inherit', env }).on('close', resolve));
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
        const times = new Map<string, number[]>();
        const time = async (hosts: number, early: boolean): Promise<void> => {
          const key = `${hosts} ${early}`;
          const args = ['--file', file, '--format', format, '--engines', String(hosts), '--out', join(dir, `out.${format}`)];
          times.set(key, [...(times.get(key) ?? []), await timeSay(args, early)]);
        };
        for (let i = 0; i < runs; i++) for (const hosts of [1, 2]) for (const early of [true, false]) await time(hosts, early);
        const at = (hosts: number, early: boolean): number => median(times.get(`${hosts} ${early}`)!);
        for (const hosts of [1, 2]) {
          lines.push({
            name: `${chars} characters to ${format}, ${hosts} host${hosts === 1 ? '' : 's'}`,
            value: `${at(hosts, true).toFixed(2)} s`,
            baseline: `encoded after the last segment ${at(hosts, false).toFixed(2)} s`,
            ratio: `${(at(hosts, false) / at(hosts, true)).toFixed(2)}× the speed${hosts === 2 ? ` (${(at(1, true) / at(2, true)).toFixed(2)}× 1 host's)` : ''}`,
            target: null,
            met: null,
          });
        }
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  printLines(`tts-queue say, fresh hosts, start-up included, median of ${runs} runs`, lines);
}
