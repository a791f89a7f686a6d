/**
 * espeak real-time factor on 5,000 Chinese characters with 1 host (the baseline) and with
 * 2 hosts, through the same worker pipeline `say` uses. Hosts are long-lived, so both
 * pools are started and warmed up first (espeak is a large JavaScript program whose first
 * second is spent being compiled); runs then alternate 1/2 hosts so that machine noise hits
 * both alike; medians of several runs.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, printLines } from './stats.js';
import { EnginePool } from '../src/engines/engine-pool.js';
import { EngineSet } from '../src/engines/engine-set.js';
import { hostSpec } from '../src/engines/registry.js';
import { sampleChineseText } from '../src/text/testing/sample-text.js';
import { LocalSynthesis } from '../src/worker/local-synthesis.js';

async function timeOnce(engines: EngineSet, text: string, dir: string): Promise<{ seconds: number; audioSeconds: number }> {
  const started = performance.now();
  const local = await LocalSynthesis.create();
  try {
    const task = await local.submit({ text, format: 'wav' });
    local.start(engines);
    const result = await local.saveResult(await local.waitFor(task.id), join(dir, `out-${engines.size}.wav`));
    return { seconds: (performance.now() - started) / 1000, audioSeconds: result.durationMs / 1000 };
  } finally {
    await local.close();
  }
}

export async function benchEspeakScaling(runs = 7): Promise<void> {
  const text = sampleChineseText(5_000);
  const dir = await mkdtemp(join(tmpdir(), 'bench-espeak-'));
  const one: number[] = [];
  const two: number[] = [];
  let audioSeconds = 0;
  const single = new EngineSet([{ name: 'espeak', pool: new EnginePool({ spec: hostSpec('espeak'), size: 1 }) }]);
  const double = new EngineSet([{ name: 'espeak', pool: new EnginePool({ spec: hostSpec('espeak'), size: 2 }) }]);
  try {
    await Promise.all([single.start(), double.start()]);
    for (const pool of [single, double]) await timeOnce(pool, text, dir); // warm-up
    for (let i = 0; i < runs; i++) {
      const a = await timeOnce(single, text, dir);
      const b = await timeOnce(double, text, dir);
      one.push(a.seconds);
      two.push(b.seconds);
      audioSeconds = a.audioSeconds;
    }
  } finally {
    await Promise.all([single.close(), double.close()]);
    await rm(dir, { recursive: true, force: true });
  }
  const speedup = median(one) / median(two);
  printLines(`espeak, ${text.length} Chinese characters (${audioSeconds.toFixed(0)} s of audio), median of ${runs} runs`, [
    {
      name: 'real-time factor, 2 hosts',
      value: `${(median(two) / audioSeconds).toFixed(4)} (${median(two).toFixed(2)} s)`,
      baseline: `1 host ${(median(one) / audioSeconds).toFixed(4)} (${median(one).toFixed(2)} s)`,
      ratio: `${speedup.toFixed(2)}× faster`,
      target: '≥ 1.7× faster',
      met: speedup >= 1.7,
    },
  ]);
}
