/**
 * Keeping the engine busy: 200 one-segment tasks at 200 ms per segment on one bench-sleep host.
 * Measured on our service (in this process, so that the pool's own segment timings are read)
 * from the first segment's start to the last task's completion: the share of that time the
 * engine was working, and the gaps between one segment's end and the next one's start.
 * Baseline: the article's design (bench/engine-busy-baseline.ts), same engine and cost.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureBaselineEngineBusy } from './engine-busy-baseline.js';
import { percentile, printLines } from './stats.js';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/service/logger.js';
import { startService } from '../src/service/service.js';

export interface BusyFigures {
  busyFraction: number;
  gapsMs: number[];
  totalMs: number;
}

/** Our service in this process (`env`: e.g. BACKEND=redis and its prefix). */
export async function measureOurs(tasks: number, costMs: number, env: Record<string, string> = {}): Promise<BusyFigures> {
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-busy-'));
  const intervals: Array<{ start: number; end: number }> = [];
  const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, ENGINE: 'bench-sleep', ENGINE_HOSTS: '1', ...env });
  const service = await startService(config, {
    logger: createLogger('warn'),
    engineEnv: { BENCH_SLEEP_COST_MS: String(costMs) },
    onPoolEvent: (event) => {
      if (event.type === 'segment:end') intervals.push({ start: event.startedAt, end: event.endedAt });
    },
  });
  try {
    await service.enginesReady;
    let completed = 0;
    let lastCompletion = 0;
    const allDone = new Promise<void>((resolve) => {
      service.backend.subscribe((event) => {
        if (event.type === 'status' && event.status === 'completed' && ++completed === tasks) {
          lastCompletion = performance.now();
          resolve();
        }
      });
    });
    for (let i = 1; i <= tasks; i++) {
      const res = await fetch(`${service.url}/api/synthesis`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `第${i}句话。` }) });
      await res.arrayBuffer();
      if (res.status !== 202) throw new Error(`POST /api/synthesis answered ${res.status}`);
    }
    await allDone;
    intervals.sort((a, b) => a.start - b.start);
    const totalMs = lastCompletion - intervals[0]!.start;
    const busyMs = intervals.reduce((sum, { start, end }) => sum + (end - start), 0);
    return { busyFraction: busyMs / totalMs, gapsMs: intervals.slice(1).map((next, i) => next.start - intervals[i]!.end), totalMs };
  } finally {
    await service.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

export async function benchEngineBusy(tasks = 200, costMs = 200): Promise<void> {
  const ours = await measureOurs(tasks, costMs);
  const baseline = await measureBaselineEngineBusy(tasks, costMs);
  const p99 = percentile(ours.gapsMs, 99);
  printLines(`engine busy, ${tasks} one-segment tasks at ${costMs} ms on one host`, [
    {
      name: 'engine busy from first claim to last completion',
      value: `${(100 * ours.busyFraction).toFixed(2)} % (${(ours.totalMs / 1000).toFixed(1)} s)`,
      baseline: `${(100 * baseline.busyFraction).toFixed(1)} % (${(baseline.totalMs / 1000).toFixed(1)} s)`,
      ratio: `${(baseline.totalMs / ours.totalMs).toFixed(2)}× sooner done`,
      target: '≥ 98 %',
      met: ours.busyFraction >= 0.98,
    },
    {
      name: 'gap between segments, p99',
      value: `${p99.toFixed(2)} ms (median ${percentile(ours.gapsMs, 50).toFixed(2)} ms)`,
      baseline: `p99 ${percentile(baseline.gapsMs, 99).toFixed(0)} ms (median ${percentile(baseline.gapsMs, 50).toFixed(0)} ms)`,
      ratio: `${(percentile(baseline.gapsMs, 50) / Math.max(0.001, percentile(ours.gapsMs, 50))).toFixed(0)}× shorter (medians)`,
      target: '< 5 ms',
      met: p99 < 5,
    },
  ]);
}
