/**
 * bench-sleep: a STAND-IN engine host for benchmarks and orchestration tests only. It speaks
 * the real protocol, waits a fixed cost per segment, and writes silence whose length follows
 * the text (about 4 characters per second), so that only the orchestration is measured.
 *
 * Options (environment): BENCH_SLEEP_COST_MS (default 0), BENCH_SLEEP_SAMPLE_RATE (24000),
 * BENCH_SLEEP_LOAD_MS (time to "load a model" before ready, default 0),
 * BENCH_SLEEP_MS_PER_CHAR (audio per character, default 250), BENCH_SLEEP_LOG (a file to which
 * the path of every segment written is appended: tests use it to count syntheses),
 * BENCH_SLEEP_DETERMINISTIC (what its capabilities claim: always, the default, since its audio
 * follows the text only; seeded; or never, to test result reuse with engines that sample),
 * BENCH_SLEEP_MAX_BATCH (segments it takes at once, default 1: each costs BENCH_SLEEP_COST_MS
 * however many run beside it, as a step of a batched model on a GPU does).
 */

import { appendFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainModule, runHost, type HostEngine } from '../host-runtime.js';
import { encodeWav } from '../../audio/wav.js';
import { charCount } from '../../text/normalize.js';

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`Expected ${name} to be a number from 0 and up, got "${raw}"`);
  return value;
}

async function createBenchSleepEngine(): Promise<HostEngine> {
  const costMs = envNumber('BENCH_SLEEP_COST_MS', 0);
  const sampleRate = envNumber('BENCH_SLEEP_SAMPLE_RATE', 24_000);
  const msPerChar = envNumber('BENCH_SLEEP_MS_PER_CHAR', 250);
  const loadMs = envNumber('BENCH_SLEEP_LOAD_MS', 0);
  const maxBatch = envNumber('BENCH_SLEEP_MAX_BATCH', 1);
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new Error(`Expected BENCH_SLEEP_MAX_BATCH to be an integer from 1 and up, got "${maxBatch}"`);
  const log = process.env.BENCH_SLEEP_LOG;
  const determinism = process.env.BENCH_SLEEP_DETERMINISTIC ?? 'always';
  if (!['always', 'seeded', 'never'].includes(determinism)) throw new Error(`Expected BENCH_SLEEP_DETERMINISTIC to be always, seeded or never, got "${determinism}"`);
  if (loadMs > 0) await sleep(loadMs);
  return {
    capabilities: {
      engine: 'bench-sleep',
      version: '1',
      sampleRates: [sampleRate],
      cloning: false,
      voiceFollowing: [],
      phonemeControl: false,
      languages: ['zh', 'en'],
      maxSegmentChars: 200,
      maxBatch,
      requiresVoice: false,
      options: [],
      ...(determinism === 'never' ? {} : { deterministic: determinism as 'always' | 'seeded' }),
    },
    async synthesize(request, signal) {
      if (costMs > 0) await sleep(costMs, undefined, { signal });
      const samples = new Int16Array(Math.round((charCount(request.text) * msPerChar * sampleRate) / 1000));
      writeFileSync(request.outPath, encodeWav({ sampleRate, channels: 1, samples }));
      if (log) appendFileSync(log, `${request.outPath}\n`);
      return { sampleRate, durationMs: (samples.length / sampleRate) * 1000 };
    },
  };
}

if (isMainModule(import.meta.url)) await runHost(createBenchSleepEngine);
