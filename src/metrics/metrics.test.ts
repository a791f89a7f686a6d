/**
 * Metrics: the real service on the bench-sleep engine exports what its work did (tasks,
 * segment times, real-time factor, a host killed mid-segment: its restart and the failure);
 * the queue gauges read a real SQLite backend exactly; the worker's listener serves /metrics,
 * /healthz and /readyz.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteBackend } from '../backends/sqlite/sqlite-backend.js';
import type { WorkUnit } from '../backends/backend.js';
import { jsonPost, startTestService, waitForTask, waitUntil } from '../service/testing/test-service.js';
import { createMetricsApp, startMetricsListener } from './listener.js';
import { closeIsHeld, stoppedListening } from '../http/testing/close.js';
import { METRIC_PREFIX, SEGMENTS_QUEUED_METRIC, ServiceMetrics } from './metrics.js';
import { parseExposition, sampleValue, type Sample } from './testing/exposition.js';

async function scrape(url: string): Promise<{ contentType: string; samples: Sample[] }> {
  const response = await fetch(`${url}/metrics`);
  assert.equal(response.status, 200);
  return { contentType: response.headers.get('content-type') ?? '', samples: parseExposition(await response.text()) };
}

test('the service exports its tasks, segment times, real-time factor, a host restart and the failure it caused', async () => {
  // Each segment takes 400 ms on the host: long enough to kill the host while it works on one.
  const service = await startTestService({ ENGINE: 'bench-sleep', ENGINE_HOSTS: '1', BENCH_SLEEP_COST_MS: '400' });
  try {
    const before = await scrape(service.url);
    assert.match(before.contentType, /^text\/plain; version=0\.0\.4/u);
    assert.equal(sampleValue(before.samples, SEGMENTS_QUEUED_METRIC, { engine: 'bench-sleep', priority: '0' }), 0, 'the engine has a series before any work');
    assert.equal(sampleValue(before.samples, 'ttsq_engine_hosts_up', { engine: 'bench-sleep' }), 1);

    const long = await service.request('/api/synthesis', jsonPost({ text: '这是一句用来测试指标的话，它会被切成好几段。'.repeat(30) }));
    assert.equal(long.status, 202, JSON.stringify(long.body));
    // While it runs, its segments are queued for the engine.
    let during: Sample[] = [];
    await waitUntil(async () => {
      during = (await scrape(service.url)).samples;
      return (sampleValue(during, SEGMENTS_QUEUED_METRIC, { engine: 'bench-sleep', priority: '0' }) ?? 0) > 0;
    }, 'queued segments of the long task');
    assert.equal(sampleValue(during, 'ttsq_tasks', { status: 'synthesizing' }), 1);
    const longDone = await waitForTask(service, long.body.id);
    assert.equal(longDone.status, 'completed');
    const longSegments: number = longDone.progress.segments_total;
    assert.ok(longSegments >= 3, `expected several segments, got ${longSegments}`);

    // A host killed in the middle of a segment: the segment fails (retryable), the host restarts, the task completes.
    const pool = service.engines!.pool('bench-sleep')!;
    const killed = await service.request('/api/synthesis', jsonPost({ text: '合成到一半，引擎被杀掉。' }));
    await waitUntil(() => pool.busy === 1, 'the host to work on the segment');
    process.kill(pool.pids[0]!, 'SIGKILL');
    const killedDone = await waitForTask(service, killed.body.id);
    assert.equal(killedDone.status, 'completed');

    const { samples } = await scrape(service.url);
    const segments = longSegments + killedDone.progress.segments_total;
    assert.equal(sampleValue(samples, 'ttsq_tasks', { status: 'completed' }), 2);
    assert.equal(sampleValue(samples, 'ttsq_tasks', { status: 'synthesizing' }), 0);
    assert.equal(sampleValue(samples, SEGMENTS_QUEUED_METRIC, { engine: 'bench-sleep', priority: '0' }), 0, 'the series stays, at 0');
    assert.equal(sampleValue(samples, 'ttsq_segments_running', { engine: 'bench-sleep', priority: '0' }), 0);
    assert.equal(sampleValue(samples, 'ttsq_task_duration_seconds_count', { engine: 'bench-sleep', status: 'completed' }), 2);
    assert.equal(sampleValue(samples, 'ttsq_segment_duration_seconds_count', { engine: 'bench-sleep', outcome: 'ok' }), segments);
    assert.equal(sampleValue(samples, 'ttsq_segment_duration_seconds_count', { engine: 'bench-sleep', outcome: 'error' }), 1);
    assert.ok(sampleValue(samples, 'ttsq_segment_duration_seconds_sum', { engine: 'bench-sleep', outcome: 'ok' })! >= segments * 0.4, 'each segment costs 400 ms');
    assert.equal(sampleValue(samples, 'ttsq_engine_real_time_factor_count', { engine: 'bench-sleep' }), segments);
    assert.equal(sampleValue(samples, 'ttsq_engine_host_restarts_total', { engine: 'bench-sleep' }), 1);
    assert.equal(sampleValue(samples, 'ttsq_work_failures_total', { kind: 'segment', code: 'E_ENGINE_CRASHED', outcome: 'retrying' }), 1);
    assert.equal(sampleValue(samples, 'ttsq_backend_up'), 1);
    assert.ok(sampleValue(samples, 'ttsq_process_resident_memory_bytes')! > 0, 'default process metrics');
    const unprefixed = [...new Set(samples.map((s) => s.name))].filter((name) => !name.startsWith(METRIC_PREFIX));
    assert.deepEqual(unprefixed, []);
  } finally {
    await service.stop();
  }
});

test('a worker whose lease lapsed while its segment ran counts a lost lease, and the task still completes', async () => {
  // Leases renewed every 200 ms; a segment takes 1.5 s, so the lease is renewed while it runs.
  const service = await startTestService({ ENGINE: 'bench-sleep', ENGINE_HOSTS: '1', BENCH_SLEEP_COST_MS: '1500', LEASE_MS: '600' });
  try {
    const backend = service.backend as unknown;
    assert.ok(backend instanceof SqliteBackend, 'the default service runs on SQLite');
    const pool = service.engines!.pool('bench-sleep')!;
    const { body } = await service.request('/api/synthesis', jsonPost({ text: '租约过期的一段。' }));
    await waitUntil(() => pool.busy === 1, 'the host to work on the segment');
    // As if this worker had stalled past its lease: recovery puts the running segment back in the queue.
    assert.equal(backend.recoverExpiredLeases(Date.now() + 60_000), 1);
    const done = await waitForTask(service, body.id);
    assert.equal(done.status, 'completed');
    const { samples } = await scrape(service.url);
    assert.ok((sampleValue(samples, 'ttsq_leases_lost_total', { kind: 'segment' }) ?? 0) >= 1, 'the lost lease is counted');
  } finally {
    await service.stop();
  }
});

test('the queue gauges count a real backend exactly: queued and running segments by engine and priority, tasks by status', async () => {
  const backend = new SqliteBackend({ path: ':memory:', recoveryIntervalMs: 0 });
  const errors: unknown[] = [];
  const metrics = new ServiceMetrics({
    backend,
    engines: () => [
      { engine: 'e1', hosts: 2, hostsUp: 2, busy: 1 },
      { engine: 'e2', hosts: 1, hostsUp: 0, busy: 0 },
    ],
    defaultLabels: { role: 'test' },
    onBackendError: (error) => errors.push(error),
  });
  // A second instance in the same process has its own registry.
  const other = new ServiceMetrics({ backend });
  let closed = false;
  try {
    const prepare = async (priority: number, segments: string[], engine: string): Promise<void> => {
      await backend.createTask({ text: segments.join(''), format: 'wav', priority, pronunciations: [] });
      const unit = await backend.claim('w', ['prepare'], 10_000);
      assert.equal(unit?.kind, 'prepare');
      await backend.completePrepare(unit as WorkUnit & { kind: 'prepare' }, { segments, engine });
    };
    await prepare(3, ['一。', '二。', '三。'], 'e1');
    await prepare(0, ['四。'], 'e1');
    await backend.createTask({ text: '五。', format: 'wav', priority: 0, pronunciations: [] });
    const running = await backend.claim('w', ['segment'], 10_000, { engine: 'e1' });
    assert.equal(running?.kind, 'segment');

    let samples = parseExposition(await metrics.render());
    assert.equal(sampleValue(samples, SEGMENTS_QUEUED_METRIC, { engine: 'e1', priority: '3' }), 2);
    assert.equal(sampleValue(samples, 'ttsq_segments_running', { engine: 'e1', priority: '3' }), 1);
    assert.equal(sampleValue(samples, SEGMENTS_QUEUED_METRIC, { engine: 'e1', priority: '0' }), 1);
    assert.equal(sampleValue(samples, SEGMENTS_QUEUED_METRIC, { engine: 'e2', priority: '0' }), 0, "a configured engine's series exists at 0");
    assert.equal(sampleValue(samples, 'ttsq_tasks', { status: 'synthesizing' }), 2);
    assert.equal(sampleValue(samples, 'ttsq_tasks', { status: 'queued' }), 1);
    assert.equal(sampleValue(samples, 'ttsq_tasks', { status: 'completed' }), 0);
    assert.equal(sampleValue(samples, 'ttsq_engine_hosts', { engine: 'e1' }), 2);
    assert.equal(sampleValue(samples, 'ttsq_engine_hosts_up', { engine: 'e2' }), 0);
    assert.equal(sampleValue(samples, 'ttsq_engine_hosts_busy', { engine: 'e1' }), 1);
    assert.ok(
      samples.every((s) => s.labels.role === 'test'),
      'default labels on every series',
    );
    assert.equal(sampleValue(parseExposition(await other.render()), SEGMENTS_QUEUED_METRIC, { engine: 'e1', priority: '3' }), 2);

    // Once the priority-3 task is canceled its series drops to 0 rather than vanishing.
    await backend.cancelTask(running!.task.id);
    samples = parseExposition(await metrics.render());
    assert.equal(sampleValue(samples, SEGMENTS_QUEUED_METRIC, { engine: 'e1', priority: '3' }), 0);
    assert.equal(sampleValue(samples, 'ttsq_segments_running', { engine: 'e1', priority: '3' }), 0);
    assert.equal(sampleValue(samples, 'ttsq_tasks', { status: 'canceled' }), 1);

    // A backend that cannot be read: the scrape still answers, and says so.
    await backend.close();
    closed = true;
    samples = parseExposition(await metrics.render());
    assert.equal(sampleValue(samples, 'ttsq_backend_up'), 0);
    assert.equal(errors.length, 1);
    assert.equal(sampleValue(samples, SEGMENTS_QUEUED_METRIC, { engine: 'e1', priority: '0' }), 1, 'the last values are kept');
  } finally {
    if (!closed) await backend.close();
  }
});

test("the worker's listener serves /metrics, /healthz and /readyz, and refuses other paths in the API's error shape", async () => {
  const backend = new SqliteBackend({ path: ':memory:', recoveryIntervalMs: 0 });
  const metrics = new ServiceMetrics({ backend, engines: () => [{ engine: 'bench-sleep', hosts: 1, hostsUp: 1, busy: 0 }] });
  let ready = false;
  const listener = await startMetricsListener({ host: '127.0.0.1', port: 0, metrics, isReady: () => ready });
  try {
    const health = await fetch(`${listener.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });

    const notReady = await fetch(`${listener.url}/readyz`);
    assert.equal(notReady.status, 503);
    assert.equal(((await notReady.json()) as { error: { code: string } }).error.code, 'E_NOT_READY');
    ready = true;
    const isReady = await fetch(`${listener.url}/readyz`);
    assert.equal(isReady.status, 200);
    assert.deepEqual(await isReady.json(), { status: 'ready' });

    const { contentType, samples } = await scrape(listener.url);
    assert.equal(contentType, metrics.contentType);
    assert.equal(sampleValue(samples, SEGMENTS_QUEUED_METRIC, { engine: 'bench-sleep', priority: '0' }), 0);
    assert.equal(sampleValue(samples, 'ttsq_tasks', { status: 'queued' }), 0);

    const missing = await fetch(`${listener.url}/api/synthesis`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'E_ROUTE_NOT_FOUND');
  } finally {
    await listener.close();
    await backend.close();
  }
});

test("a scrape in flight when the worker's listener closes is answered, and its kept-alive connection does not hold the close", async () => {
  let started!: () => void;
  const scraping = new Promise<void>((resolve) => (started = resolve));
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const render = async (): Promise<string> => {
    started();
    await gate;
    return '# nothing yet\n';
  };
  const app = createMetricsApp({ metrics: { contentType: 'text/plain; version=0.0.4', render }, isReady: () => true });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const scrape = fetch(`${url}/metrics`).then((response) => response.status);
  await scraping;
  const closing = app.close();
  await stoppedListening(app);
  release();
  assert.equal(await scrape, 200);
  assert.equal(await closeIsHeld(app, closing), false, "the close waited for the scraper's kept-alive connection");
});
