/**
 * Prometheus metrics of one service instance (any role), on a registry of its own, so that
 * several services in one process (tests) keep separate figures. Queue and task gauges are read
 * from the backend when scraped; the rest are counted as things happen: engine pool events
 * (segment times, real-time factor, host restarts) and the worker's hooks (failures, task
 * durations, lost leases). README "Metrics" lists every series.
 *
 * The backend gauges describe the shared queue, so every instance on one backend reports the
 * same figures: aggregate them with `max`, not `sum`.
 */

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { TASK_STATUSES, type TaskBackend, type TaskRecord, type WorkKind } from '../backends/backend.js';
import type { PoolEvent } from '../engines/engine-pool.js';
import type { WorkerMetrics } from './worker-metrics.js';
import type { WebhookMetrics } from '../webhooks/dispatcher.js';

export const METRIC_PREFIX = 'ttsq_';

/** What autoscaling reads: segments waiting for an engine, by engine and priority. */
export const SEGMENTS_QUEUED_METRIC = `${METRIC_PREFIX}segments_queued`;

/** Host slots of one engine pool in this process. */
export interface EngineHostCounts {
  engine: string;
  hosts: number;
  hostsUp: number;
  busy: number;
}

export interface ServiceMetricsOptions {
  /** Read at each scrape for the queue and task gauges. */
  backend: Pick<TaskBackend, 'workCounts'>;
  /** This process's engine pools (none on an API-only node). */
  engines?: () => readonly EngineHostCounts[];
  /** Labels on every series, e.g. `{ role: 'worker' }`. */
  defaultLabels?: Record<string, string>;
  /** Told when a scrape could not read the backend (the gauges keep their last values; `ttsq_backend_up` is 0). */
  onBackendError?: (error: unknown) => void;
}

/** A task's priority when the request names none. */
const DEFAULT_PRIORITY = '0';
const SEGMENT_SECONDS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120];
const TASK_SECONDS_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];
// espeak runs near 0.003, GLM-TTS 0.5–1.6 depending on the GPU.
const WEBHOOK_SECONDS_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const REAL_TIME_FACTOR_BUCKETS = [0.001, 0.003, 0.01, 0.03, 0.1, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 5];

export class ServiceMetrics implements WorkerMetrics, WebhookMetrics {
  readonly registry = new Registry();
  private readonly options: ServiceMetricsOptions;
  private readonly segmentsQueued: Gauge<'engine' | 'priority'>;
  private readonly segmentsRunning: Gauge<'engine' | 'priority'>;
  private readonly tasks: Gauge<'status'>;
  private readonly tasksWaiting: Gauge;
  private readonly backendUp: Gauge;
  private readonly segmentSeconds: Histogram<'engine' | 'outcome'>;
  private readonly realTimeFactor: Histogram<'engine'>;
  private readonly taskSeconds: Histogram<'engine' | 'status'>;
  private readonly workFailures: Counter<'kind' | 'code' | 'outcome'>;
  private readonly hostRestarts: Counter<'engine'>;
  private readonly hostStartFailures: Counter<'engine'>;
  private readonly leasesLost: Counter<'kind'>;
  private readonly resultsReused: Counter<'engine'>;
  private readonly webhookAttempts: Counter<'outcome'>;
  private readonly webhookSeconds: Histogram<'outcome'>;
  /** Engine and priority pairs reported before: they drop to 0 instead of vanishing, so a query never sees a gap. */
  private readonly seenSegmentLabels = new Map<string, { engine: string; priority: string }>();
  /** One backend read serves all the gauges of a scrape (prom-client collects them at once). */
  private backendRead: Promise<void> | undefined;

  constructor(options: ServiceMetricsOptions) {
    this.options = options;
    const registers = [this.registry];
    if (options.defaultLabels !== undefined) this.registry.setDefaultLabels(options.defaultLabels);
    collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
    const readBackend = (): Promise<void> => this.readBackend();

    this.segmentsQueued = new Gauge({
      name: SEGMENTS_QUEUED_METRIC,
      help: 'Segments waiting for an engine (pending, including those waiting out a retry backoff), by engine and task priority; what autoscaling reads',
      labelNames: ['engine', 'priority'],
      registers,
      collect: readBackend,
    });
    this.segmentsRunning = new Gauge({
      name: `${METRIC_PREFIX}segments_running`,
      help: 'Segments claimed by a worker and being synthesised, by engine and task priority',
      labelNames: ['engine', 'priority'],
      registers,
      collect: readBackend,
    });
    this.tasks = new Gauge({ name: `${METRIC_PREFIX}tasks`, help: 'Tasks in the backend by status', labelNames: ['status'], registers, collect: readBackend });
    this.tasksWaiting = new Gauge({
      name: `${METRIC_PREFIX}tasks_waiting`,
      help: 'Queued tasks not yet due (not_before to come, or a retry backoff); also counted in tasks{status="queued"}',
      registers,
      collect: readBackend,
    });
    this.backendUp = new Gauge({
      name: `${METRIC_PREFIX}backend_up`,
      help: '1 if this scrape read the queue figures from the backend, 0 if it failed (they keep their last values)',
      registers,
      collect: readBackend,
    });

    this.segmentSeconds = new Histogram({
      name: `${METRIC_PREFIX}segment_duration_seconds`,
      help: 'Time an engine host spent on one segment, by engine and outcome (ok, error)',
      labelNames: ['engine', 'outcome'],
      buckets: SEGMENT_SECONDS_BUCKETS,
      registers,
    });
    this.realTimeFactor = new Histogram({
      name: `${METRIC_PREFIX}engine_real_time_factor`,
      help: "Synthesis time divided by the audio's duration, per finished segment, by engine (below 1 is faster than real time)",
      labelNames: ['engine'],
      buckets: REAL_TIME_FACTOR_BUCKETS,
      registers,
    });
    this.taskSeconds = new Histogram({
      name: `${METRIC_PREFIX}task_duration_seconds`,
      help: 'Time from acceptance to the end of a task this worker ended, by engine and final status (completed, failed)',
      labelNames: ['engine', 'status'],
      buckets: TASK_SECONDS_BUCKETS,
      registers,
    });
    this.workFailures = new Counter({
      name: `${METRIC_PREFIX}work_failures_total`,
      help: 'Failed units of work by kind (prepare, segment, assemble), error code and outcome (retrying, failed: the task failed, ignored: the task had already ended)',
      labelNames: ['kind', 'code', 'outcome'],
      registers,
    });
    this.hostRestarts = new Counter({
      name: `${METRIC_PREFIX}engine_host_restarts_total`,
      help: 'Engine hosts that died or were killed and are being replaced, by engine',
      labelNames: ['engine'],
      registers,
    });
    this.hostStartFailures = new Counter({ name: `${METRIC_PREFIX}engine_host_start_failures_total`, help: 'Engine hosts that failed to start, by engine', labelNames: ['engine'], registers });
    this.leasesLost = new Counter({
      name: `${METRIC_PREFIX}leases_lost_total`,
      help: 'Work this worker was running when its lease renewal was refused (the lease expired and the work went back to the queue), by kind',
      labelNames: ['kind'],
      registers,
    });
    this.resultsReused = new Counter({
      name: `${METRIC_PREFIX}results_reused_total`,
      help: "Tasks this worker completed with a copy of an identical request's kept result, without running the engine, by engine",
      labelNames: ['engine'],
      registers,
    });

    this.webhookAttempts = new Counter({
      name: `${METRIC_PREFIX}webhook_attempts_total`,
      help: 'Webhook tries by what they led to: delivered (a 2xx), retrying (tried again later), failed (given up: 410, or the retry schedule used up); delivered + failed count each delivery once',
      labelNames: ['outcome'],
      registers,
    });
    this.webhookSeconds = new Histogram({
      name: `${METRIC_PREFIX}webhook_attempt_duration_seconds`,
      help: 'Time one webhook try took, by outcome',
      labelNames: ['outcome'],
      buckets: WEBHOOK_SECONDS_BUCKETS,
      registers,
    });
    // Every outcome has a series from the start, so a rate() sees the first one.
    for (const outcome of ['delivered', 'retrying', 'failed']) this.webhookAttempts.inc({ outcome }, 0);

    const engines = options.engines;
    if (engines !== undefined) {
      const hostGauge = (name: string, help: string, value: (e: EngineHostCounts) => number): void => {
        new Gauge({
          name: `${METRIC_PREFIX}${name}`,
          help,
          labelNames: ['engine'],
          registers,
          collect() {
            for (const counts of engines()) this.set({ engine: counts.engine }, value(counts));
          },
        });
      };
      hostGauge('engine_hosts', 'Engine host slots configured in this process, by engine', (e) => e.hosts);
      hostGauge('engine_hosts_up', 'Engine hosts that are ready or working, by engine', (e) => e.hostsUp);
      hostGauge('engine_hosts_busy', 'Engine hosts working on a segment now, by engine', (e) => e.busy);
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text for a scrape. */
  async render(): Promise<string> {
    return await this.registry.metrics();
  }

  /** Pass every engine pool event here (the service's pool `onEvent`). */
  poolEvent(event: PoolEvent & { engine: string }): void {
    const { engine } = event;
    if (event.type === 'segment:end') {
      const ms = event.endedAt - event.startedAt;
      this.segmentSeconds.observe({ engine, outcome: event.ok ? 'ok' : 'error' }, ms / 1000);
      if (event.ok && event.audioMs !== undefined && event.audioMs > 0) this.realTimeFactor.observe({ engine }, ms / event.audioMs);
    } else if (event.type === 'host:lost') {
      this.hostRestarts.inc({ engine });
    } else if (event.type === 'host:start-failed') {
      this.hostStartFailures.inc({ engine });
    }
  }

  workFailed(kind: WorkKind, code: string, outcome: 'retrying' | 'failed' | 'ignored'): void {
    this.workFailures.inc({ kind, code, outcome });
  }

  taskFinished(task: TaskRecord, status: 'completed' | 'failed'): void {
    this.taskSeconds.observe({ engine: task.engine ?? '', status }, Math.max(0, Date.now() - task.createdAt) / 1000);
  }

  resultReused(_task: TaskRecord, engine: string): void {
    this.resultsReused.inc({ engine });
  }

  leaseLost(kind: WorkKind): void {
    this.leasesLost.inc({ kind });
  }

  webhookAttempt(outcome: 'delivered' | 'retrying' | 'failed', seconds: number): void {
    this.webhookAttempts.inc({ outcome });
    this.webhookSeconds.observe({ outcome }, seconds);
  }

  private readBackend(): Promise<void> {
    this.backendRead ??= this.readWorkCounts().finally(() => {
      this.backendRead = undefined;
    });
    return this.backendRead;
  }

  private async readWorkCounts(): Promise<void> {
    let counts: Awaited<ReturnType<TaskBackend['workCounts']>>;
    try {
      counts = await this.options.backend.workCounts();
    } catch (error) {
      this.backendUp.set(0);
      this.options.onBackendError?.(error);
      return;
    }
    this.backendUp.set(1);
    for (const status of TASK_STATUSES) this.tasks.set({ status }, counts.tasksByStatus[status]);
    this.tasksWaiting.set(counts.tasksWaiting);
    // This process's engines always have a series at the default priority, even before any work.
    for (const { engine } of this.options.engines?.() ?? []) this.seenSegmentLabels.set(`${engine}\u0000${DEFAULT_PRIORITY}`, { engine, priority: DEFAULT_PRIORITY });
    for (const labels of this.seenSegmentLabels.values()) {
      this.segmentsQueued.set(labels, 0);
      this.segmentsRunning.set(labels, 0);
    }
    for (const { engine, priority, queued, running } of counts.segments) {
      const labels = { engine, priority: String(priority) };
      this.seenSegmentLabels.set(`${engine}\u0000${labels.priority}`, labels);
      this.segmentsQueued.set(labels, queued);
      this.segmentsRunning.set(labels, running);
    }
  }
}
