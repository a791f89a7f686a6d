import { runHostConformance } from '../testing/host-conformance.js';
import { hostSpec } from '../registry.js';

runHostConformance('bench-sleep', () => hostSpec('bench-sleep'), { sampleText: 'a short segment', slowEnv: { BENCH_SLEEP_COST_MS: '3000' } });
