/**
 * Protocol cost per segment: bench-sleep at zero cost through one long-lived host, one segment
 * after another. Baseline: the article's way, a new host process per segment.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, printLines } from './stats.js';
import { EngineHost } from '../src/engines/engine-host.js';
import { EnginePool } from '../src/engines/engine-pool.js';
import { hostSpec } from '../src/engines/registry.js';

const env = { BENCH_SLEEP_COST_MS: '0', BENCH_SLEEP_MS_PER_CHAR: '10' };

async function longLived(segments: number, dir: string): Promise<number> {
  const pool = new EnginePool({ spec: hostSpec('bench-sleep', env), size: 1 });
  await pool.start();
  try {
    const outPath = join(dir, 'segment.wav');
    for (let i = 0; i < 200; i++) await pool.synthesize({ text: 'warm', outPath });
    const started = performance.now();
    for (let i = 0; i < segments; i++) await pool.synthesize({ text: '一句话', outPath });
    return segments / ((performance.now() - started) / 1000);
  } finally {
    await pool.close();
  }
}

async function processPerSegment(segments: number, dir: string): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < segments; i++) {
    const host = new EngineHost(hostSpec('bench-sleep', env));
    await host.start();
    await host.synthesize({ text: '一句话', outPath: join(dir, 'segment.wav') }, { timeoutMs: 30_000 });
    await host.close();
  }
  return segments / ((performance.now() - started) / 1000);
}

export async function benchProtocolThroughput(runs = 5): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-protocol-'));
  const fast: number[] = [];
  const slow: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      fast.push(await longLived(5_000, dir));
      slow.push(await processPerSegment(20, dir));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const rate = median(fast);
  printLines(`engine-host protocol, bench-sleep at zero cost, median of ${runs} runs`, [
    {
      name: 'segments per second through one host',
      value: `${rate.toFixed(0)}/s (${(1000 / rate).toFixed(3)} ms per segment)`,
      baseline: `new process per segment ${median(slow).toFixed(1)}/s`,
      ratio: `${(rate / median(slow)).toFixed(0)}×`,
      target: '≥ 2,000/s',
      met: rate >= 2_000,
    },
  ]);
}
