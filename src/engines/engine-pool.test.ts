import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_RESTART_BACKOFF, EnginePool, restartDelay, type EnginePoolOptions } from './engine-pool.js';
import { EngineHost, type HostSpec } from './engine-host.js';
import { hostSpec } from './registry.js';
import { killHostsAsTheyAppear } from './testing/host-killer.js';
import { decodeWav } from '../audio/wav.js';
import { TtsError } from '../errors.js';

const misbehaving = (mode: string): HostSpec => ({
  name: `misbehaving-${mode}`,
  command: process.execPath,
  args: [fileURLToPath(new URL('./testing/misbehaving-host.js', import.meta.url))],
  env: { MISBEHAVE: mode },
});

async function withPool<T>(options: Partial<EnginePoolOptions> & { spec: HostSpec }, body: (pool: EnginePool, dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'pool-test-'));
  const pool = new EnginePool({ size: 1, ...options });
  try {
    await pool.start();
    return await body(pool, dir);
  } finally {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<TtsError> {
  const error = await promise.then(
    () => assert.fail(`expected ${code}, got success`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof TtsError, `expected a TtsError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  return error;
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a host announces its capabilities and writes the segment as a WAV', async () => {
  await withPool({ spec: hostSpec('bench-sleep', { BENCH_SLEEP_SAMPLE_RATE: '16000' }) }, async (pool, dir) => {
    assert.equal(pool.capabilities?.engine, 'bench-sleep');
    assert.deepEqual(pool.capabilities?.sampleRates, [16000]);
    const outPath = join(dir, 'a.wav');
    const done = await pool.synthesize({ text: 'four', outPath });
    assert.equal(done.sampleRate, 16000);
    const audio = decodeWav(await readFile(outPath));
    assert.equal(audio.sampleRate, 16000);
    assert.equal(audio.samples.length, 16000); // 4 characters × 250 ms
  });
});

test('kill -9 in the middle of a segment: retryable E_ENGINE_CRASHED, and a new host takes over', async () => {
  await withPool({ spec: hostSpec('bench-sleep', { BENCH_SLEEP_COST_MS: '2000' }) }, async (pool, dir) => {
    const firstPid = pool.pids[0]!;
    const pending = pool.synthesize({ text: 'hello', outPath: join(dir, 'a.wav') });
    await waitFor(() => pool.busy === 1, 'the host to take the segment');
    process.kill(firstPid, 'SIGKILL');
    const error = await rejectsWith(pending, 'E_ENGINE_CRASHED');
    assert.equal(error.retryable, true);
    await waitFor(() => pool.pids[0] !== undefined && pool.pids[0] !== firstPid, 'a restarted host');
    assert.equal(pool.restarts, 1);
  });
});

test('a host that hangs is found by the timeout, killed and replaced', async () => {
  await withPool({ spec: misbehaving('hang'), baseTimeoutMs: 300, perCharTimeoutMs: 0 }, async (pool, dir) => {
    const firstPid = pool.pids[0];
    const error = await rejectsWith(pool.synthesize({ text: 'stuck', outPath: join(dir, 'a.wav') }), 'E_ENGINE_TIMEOUT');
    assert.equal(error.retryable, true);
    await waitFor(() => pool.pids[0] !== undefined && pool.pids[0] !== firstPid, 'a restarted host');
    // The replacement answers pings, so it is a fresh process and not the stuck one.
  });
});

test('the timeout grows with the text', () => {
  const pool = new EnginePool({ spec: hostSpec('bench-sleep'), size: 1, baseTimeoutMs: 1000, perCharTimeoutMs: 10 });
  assert.equal(pool.timeoutFor('abc'), 1030);
  assert.equal(pool.timeoutFor('语音合成'), 1040);
});

test('garbage on stdout and answers for unknown segments are protocol errors', async () => {
  for (const mode of ['garbage', 'wrong-id']) {
    await withPool({ spec: misbehaving(mode) }, async (pool, dir) => {
      const error = await rejectsWith(pool.synthesize({ text: 'x', outPath: join(dir, 'a.wav') }), 'E_ENGINE_PROTOCOL');
      assert.equal(error.retryable, true);
    });
  }
});

test('cancel stops the running segment and the host keeps serving', async () => {
  await withPool({ spec: hostSpec('bench-sleep', { BENCH_SLEEP_COST_MS: '5000' }) }, async (pool, dir) => {
    const pid = pool.pids[0];
    const controller = new AbortController();
    const pending = pool.synthesize({ text: 'long', outPath: join(dir, 'a.wav') }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await rejectsWith(pending, 'E_CANCELED');
    assert.equal(pool.pids[0], pid, 'the host was not restarted');
  });
});

test('a host that ignores cancel is killed after the grace period', async () => {
  await withPool({ spec: misbehaving('ignore-cancel'), host: { stopGraceMs: 200 } }, async (pool, dir) => {
    const pid = pool.pids[0];
    const controller = new AbortController();
    const pending = pool.synthesize({ text: 'x', outPath: join(dir, 'a.wav') }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await rejectsWith(pending, 'E_CANCELED');
    await waitFor(() => pool.pids[0] !== undefined && pool.pids[0] !== pid, 'a replacement host');
  });
});

test('a host that exits before ready fails the start with a typed error', async () => {
  const pool = new EnginePool({ spec: misbehaving('exit-before-ready'), size: 2 });
  await rejectsWith(pool.start(), 'E_ENGINE_START_FAILED');
  const missing = new EnginePool({ spec: { name: 'missing', command: '/nonexistent/engine', args: [] }, size: 1 });
  await rejectsWith(missing.start(), 'E_ENGINE_START_FAILED');
});

test('close lets the segment in flight finish before the host stops', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pool-test-'));
  const pool = new EnginePool({ spec: hostSpec('bench-sleep', { BENCH_SLEEP_COST_MS: '400' }), size: 1 });
  await pool.start();
  const outPath = join(dir, 'a.wav');
  const pending = pool.synthesize({ text: 'finish me', outPath });
  await waitFor(() => pool.busy === 1, 'the host to take the segment');
  await pool.close();
  const done = await pending;
  assert.equal(done.outPath, outPath);
  assert.ok(decodeWav(await readFile(outPath)).samples.length > 0);
  await rejectsWith(pool.synthesize({ text: 'late', outPath }), 'E_ENGINE_CLOSED');
  await rm(dir, { recursive: true, force: true });
});

test('ping gets a pong from an idle host', async () => {
  const host = new EngineHost(hostSpec('bench-sleep'));
  await host.start();
  const latency = await host.ping();
  assert.ok(latency >= 0);
  await host.close();
  assert.equal(host.state, 'dead');
});

test('segments are spread over several hosts', async () => {
  await withPool({ spec: hostSpec('bench-sleep', { BENCH_SLEEP_COST_MS: '300' }), size: 2 }, async (pool, dir) => {
    let mostBusy = 0;
    const watch = setInterval(() => (mostBusy = Math.max(mostBusy, pool.busy)), 10);
    const results = await Promise.all([0, 1, 2, 3].map((i) => pool.synthesize({ text: 'abc', outPath: join(dir, `${i}.wav`) })));
    clearInterval(watch);
    assert.equal(results.length, 4);
    assert.equal(mostBusy, 2, 'both hosts worked at once');
  });
});

test('12 SIGKILLs in a row, most while the hosts load: the pool never gives up, and a segment waiting for a host completes', async () => {
  // Each host loads for 300 ms, so the killer finds most of them before they are ready (a failed start).
  const spec = hostSpec('bench-sleep', { BENCH_SLEEP_LOAD_MS: '300' });
  await withPool({ spec, size: 2, restartBackoff: { initialMs: 50, maxMs: 400 } }, async (pool, dir) => {
    const killer = killHostsAsTheyAppear(() => pool.pids);
    try {
      await waitFor(() => killer.killed() >= 2 && pool.hostsUp === 0, 'both hosts killed');
      const waiting = pool.synthesize({ text: 'after the burst', outPath: join(dir, 'a.wav') });
      await waitFor(() => killer.killed() >= 12, '12 kills', 60_000);
      killer.stop();
      const done = await waiting;
      assert.ok(decodeWav(await readFile(done.outPath)).samples.length > 0);
      await waitFor(() => pool.hostsUp === 2, 'both hosts back', 60_000);
      assert.ok(pool.restarts >= 12, `restarts: ${pool.restarts}`);
    } finally {
      killer.stop();
    }
  });
});

test('restarts back off exponentially up to a cap: at once, then 0.5 s doubling to 30 s', () => {
  const delays = [0, 1, 2, 3, 4, 5, 6, 7, 8, 100, 5000].map((deaths) => restartDelay(deaths, DEFAULT_RESTART_BACKOFF));
  assert.deepEqual(delays, [0, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000]);
});

test('close() does not wait for a pending restart', { timeout: 120_000 }, async () => {
  const pool = new EnginePool({ spec: hostSpec('bench-sleep'), size: 1, restartBackoff: { initialMs: 600_000 } });
  await pool.start();
  const killer = killHostsAsTheyAppear(() => pool.pids);
  try {
    // The first death is restarted at once, the second waits ten minutes.
    await waitFor(() => killer.killed() >= 2 && pool.hostsUp === 0 && pool.pids[0] === undefined, 'two kills');
  } finally {
    killer.stop();
  }
  const pending = pool.synthesize({ text: 'never', outPath: join(tmpdir(), 'never.wav') });
  await pool.close();
  await rejectsWith(pending, 'E_ENGINE_CLOSED');
});

test('a one-shot pool (giveUpAfterDeaths) stops restarting hosts that keep dying and fails the waiting segment', async () => {
  await withPool({ spec: hostSpec('bench-sleep', { BENCH_SLEEP_LOAD_MS: '300' }), giveUpAfterDeaths: 3, restartBackoff: { initialMs: 50, maxMs: 400 } }, async (pool, dir) => {
    const killer = killHostsAsTheyAppear(() => pool.pids);
    try {
      await waitFor(() => killer.killed() >= 1 && pool.hostsUp === 0, 'the first kill');
      const waiting = pool.synthesize({ text: 'never', outPath: join(dir, 'a.wav') });
      const error = await rejectsWith(waiting, 'E_ENGINE_START_FAILED');
      assert.match(error.message, /died 3 times in a row/u);
      await rejectsWith(pool.synthesize({ text: 'later', outPath: join(dir, 'b.wav') }), 'E_ENGINE_START_FAILED');
    } finally {
      killer.stop();
    }
  });
});
