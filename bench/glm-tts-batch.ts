/**
 * GLM-TTS end to end, batched host against unbatched, on GLM-TTS's real code: the same 24
 * segments (two voices, one to three of GLM-TTS's text chunks each, seeds, both samplers) sent
 * at once through the engine pool, as the service's worker sends them, to a `glm-tts` host with
 * GLMTTS_MAX_BATCH=1 and then 8. Each segment goes through GLM-TTS's text front end, LLM, flow
 * and vocoder and is written as a WAV, so this is what a segment costs in the service. Runs on
 * the CPU with the tiny random weights of the real-code tests (GLMTTS_REPO and the GLM-TTS venv,
 * as `npm run test:glmtts-real` needs); segments per second and audio seconds per wall second,
 * median of RUNS alternating runs after one warm-up each.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnginePool } from '../src/engines/engine-pool.js';
import { hostSpec } from '../src/engines/registry.js';
import { prepareRealGlmtts, REAL_GLMTTS_SKIP } from '../src/engines/testing/glmtts-real.js';
import { makeReferenceVoice } from '../src/engines/testing/reference-voice.js';
import type { SegmentRequest } from '../src/engines/engine-host.js';
import { median, printLines } from './stats.js';

const RUNS = Number(process.env.GLM_BATCH_RUNS ?? 3);
const TEXTS = ['今天天气很好，我们一起去公园散步吧。', 'Hello there, this is a segment of the benchmark.', '第一句话比较长，用来测试批处理。第二句话也不短，它会成为另一个文本块。', '你好。'];

export async function benchGlmTtsBatch(): Promise<void> {
  if (REAL_GLMTTS_SKIP) {
    console.log(`\n## glm-batch: skipped: ${REAL_GLMTTS_SKIP}`);
    return;
  }
  const real = await prepareRealGlmtts();
  const scratch = await mkdtemp(join(tmpdir(), 'bench-glm-batch-'));
  const voices = [
    await makeReferenceVoice(scratch, 'a', { sampleRate: 24_000, frequencyHz: 150, promptText: '这是参考声音。' }),
    await makeReferenceVoice(scratch, 'b', { sampleRate: 16_000, frequencyHz: 240 }),
  ];
  const segments: Array<Omit<SegmentRequest, 'outPath'>> = Array.from({ length: 24 }, (_, i) => ({
    text: TEXTS[i % TEXTS.length]!,
    voice: voices[i % 2]!,
    seed: i,
    ...(i % 5 === 0 ? { options: { sample_method: 'topk' } } : {}),
  }));
  const pools = new Map<string, EnginePool>();
  for (const batch of ['1', '8']) {
    const pool = new EnginePool({ spec: hostSpec('glm-tts', { ...real.env, GLMTTS_MAX_BATCH: batch }), size: 1 });
    await pool.start();
    pools.set(batch, pool);
  }
  let written = 0;
  const runOnce = async (pool: EnginePool): Promise<{ seconds: number; audioSeconds: number }> => {
    const started = performance.now();
    const done = await Promise.all(segments.map((segment) => pool.synthesize({ ...segment, outPath: join(scratch, `${written++}.wav`) })));
    return { seconds: (performance.now() - started) / 1000, audioSeconds: done.reduce((sum, d) => sum + d.durationMs / 1000, 0) };
  };
  const results = new Map<string, Array<{ seconds: number; audioSeconds: number }>>([
    ['1', []],
    ['8', []],
  ]);
  try {
    for (const pool of pools.values()) await runOnce(pool); // warm-up: voices extracted, code paths loaded
    for (let run = 0; run < RUNS; run++) for (const [batch, pool] of pools) results.get(batch)!.push(await runOnce(pool));
  } finally {
    for (const pool of pools.values()) await pool.close();
    await rm(scratch, { recursive: true, force: true });
  }
  const rate = (batch: string) => median(results.get(batch)!.map((r) => segments.length / r.seconds));
  const audio = (batch: string) => median(results.get(batch)!.map((r) => r.audioSeconds / r.seconds));
  const ratio = rate('8') / rate('1');
  printLines(`GLM-TTS end to end: ${segments.length} segments at once through the pool, real code, CPU, tiny weights, median of ${RUNS}`, [
    {
      name: 'batched host (GLMTTS_MAX_BATCH=8)',
      value: `${rate('8').toFixed(2)} segments/s, ${audio('8').toFixed(2)} audio s per s`,
      baseline: `unbatched host: ${rate('1').toFixed(2)} segments/s, ${audio('1').toFixed(2)} audio s per s`,
      ratio: `${ratio.toFixed(2)}x`,
      target: null,
      met: null,
    },
  ]);
}
