/** Runs every benchmark of the synthesis core: `npm run bench`. */

import { availableParallelism, cpus, totalmem } from 'node:os';
import { benchEspeakScaling } from './espeak-scaling.js';
import { benchProtocolThroughput } from './protocol-throughput.js';
import { benchReferenceNormalize } from './reference-normalize.js';
import { benchSayCli } from './say-cli.js';
import { benchHttpThroughput } from './http-throughput.js';

console.log(`# tts-queue benchmarks, ${new Date().toISOString()}`);
console.log(`machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GB, Node ${process.version}`);
await benchReferenceNormalize();
await benchProtocolThroughput();
await benchEspeakScaling();
await benchSayCli();
await benchHttpThroughput();
