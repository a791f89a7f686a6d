/**
 * Runs the benchmarks: `npm run bench` for all of them, or `npm run bench -- NAME ...` for some
 * (names: reference, split, subtitles, protocol, espeak, say, http, busy, auth, scale, glm, glm-batch (needs GLMTTS_REPO), first-audio, redis-scale-out,
 * redis-accept, redis-busy, redis-tasks, redis-auth, queue-position; the redis ones and queue-position use the Redis at REDIS_URL).
 * Each prints its figures beside a baseline measured in the same run.
 */

import { availableParallelism, cpus, totalmem } from 'node:os';
import { benchAuthOverhead, benchAuthOverheadRedis } from './auth-overhead.js';
import { benchEngineBusy } from './engine-busy.js';
import { benchEspeakScaling } from './espeak-scaling.js';
import { benchGlmTtsHost } from './glm-tts-host.js';
import { benchGlmTtsBatch } from './glm-tts-batch.js';
import { benchHttpThroughput } from './http-throughput.js';
import { benchProtocolThroughput } from './protocol-throughput.js';
import { benchQueuePosition } from './queue-position.js';
import { benchReferenceNormalize } from './reference-normalize.js';
import { benchSayCli } from './say-cli.js';
import { benchAccepting, benchBusy, benchManyTasks, benchScaleOut } from './redis.js';
import { benchScale } from './scale.js';
import { benchSplitLinear } from './split-linear.js';
import { benchSubtitles } from './subtitles.js';
import { benchTimeToFirstAudio } from './time-to-first-audio.js';

const BENCHMARKS: Record<string, () => Promise<void>> = {
  reference: () => benchReferenceNormalize(),
  split: () => benchSplitLinear(),
  subtitles: () => benchSubtitles(),
  protocol: () => benchProtocolThroughput(),
  espeak: () => benchEspeakScaling(),
  say: () => benchSayCli(),
  http: () => benchHttpThroughput(),
  busy: () => benchEngineBusy(),
  auth: () => benchAuthOverhead(),
  scale: () => benchScale(),
  glm: () => benchGlmTtsHost(),
  'glm-batch': () => benchGlmTtsBatch(),
  'first-audio': () => benchTimeToFirstAudio(),
  'redis-scale-out': () => benchScaleOut(),
  'redis-accept': () => benchAccepting(),
  'redis-busy': () => benchBusy(),
  'redis-tasks': () => benchManyTasks(),
  'redis-auth': () => benchAuthOverheadRedis(),
  'queue-position': () => benchQueuePosition(),
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !Object.hasOwn(BENCHMARKS, name));
if (unknown.length > 0) {
  console.error(`Unknown benchmark ${unknown.join(', ')}; expected some of: ${Object.keys(BENCHMARKS).join(', ')}.`);
  process.exit(2);
}
console.log(`# tts-queue benchmarks, ${new Date().toISOString()}`);
console.log(`machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GB, Node ${process.version}`);
for (const name of wanted.length > 0 ? wanted : Object.keys(BENCHMARKS)) await BENCHMARKS[name]!();
