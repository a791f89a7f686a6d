/**
 * Sends what the webhook outbox holds. Any number of dispatchers (one per API process) claim due
 * deliveries from the backend under a lease, POST each, signed with its owner's secret, and
 * record the try: a 2xx answer is delivered; 410 Gone stops it (failed); anything else (another
 * status, no answer, a refused address) is tried again after the next wait of the retry
 * schedule, and failed once the schedule is used up. A dispatcher that dies holding a claim
 * leaves it to lapse, and another (or itself, restarted) sends it: delivery is at least once,
 * and a receiver drops a repeat by its `webhook-id`.
 *
 * It claims when a task's status changes (the backend's events), when a retry it scheduled
 * comes due, and every POLL_MS in any case (retries scheduled by other nodes, claims that lapsed).
 */

import type { ClaimedDelivery, TaskBackend, WebhookAttempt, WebhookOutcome, WebhookStore } from '../backends/backend.js';
import { TtsError, toTtsError } from '../errors.js';
import { presentTask } from '../http/presenters.js';
import type { Logger } from '../service/logger.js';
import type { WebhookSecrets } from './secrets.js';
import { signedHeaders } from './signature.js';

/** Sends one POST and resolves with the answer's HTTP status, or throws a TtsError (post-webhook.ts). */
export type SendWebhook = (url: string, body: string, headers: Record<string, string>, signal: AbortSignal) => Promise<number>;

/** What a dispatcher reports as it works, so it needs no metrics library. */
export interface WebhookMetrics {
  /** A try ended: `delivered`, `retrying` (tried again later) or `failed` (given up). */
  webhookAttempt(outcome: 'delivered' | 'retrying' | 'failed', seconds: number): void;
}

export interface WebhookDispatcherOptions {
  store: WebhookStore;
  /** The task each delivery carries, and status changes to wake up on. */
  tasks: Pick<TaskBackend, 'getTask' | 'subscribe'>;
  secrets: WebhookSecrets;
  send: SendWebhook;
  /** The waits before the second, third, ... try (WEBHOOK_RETRY_DELAYS). */
  retryDelaysMs: readonly number[];
  /** The longest one try takes (WEBHOOK_TIMEOUT_MS): a claim lasts longer than that. */
  timeoutMs: number;
  logger: Logger;
  metrics?: WebhookMetrics;
  /** Deliveries in flight at once. */
  concurrency?: number;
  pollMs?: number;
  now?: () => number;
}

const DEFAULT_CONCURRENCY = 16;
const POLL_MS = 1_000;
/** How much longer than a try a claim lasts: room for recording it. */
const CLAIM_MARGIN_MS = 30_000;
const USER_AGENT = 'tts-queue-webhooks';

export class WebhookDispatcher {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private readonly timers = new Set<NodeJS.Timeout>();
  private unsubscribe: (() => void) | undefined;
  private running = false;
  private claiming: Promise<void> | undefined;
  private again = false;
  private readonly now: () => number;
  private readonly concurrency: number;

  constructor(private readonly options: WebhookDispatcherOptions) {
    this.now = options.now ?? Date.now;
    this.concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.options.tasks.subscribe((event) => {
      if (event.type === 'status') this.wake();
    });
    const poll = setInterval(() => this.wake(), this.options.pollMs ?? POLL_MS);
    poll.unref();
    this.timers.add(poll);
    this.wake();
  }

  /** Stops claiming and stops the tries in flight; their claims lapse, and they are sent again later (here or elsewhere). */
  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    for (const timer of this.timers) clearInterval(timer);
    this.timers.clear();
    this.abort.abort();
    await this.claiming;
    await Promise.all(this.inFlight);
  }

  /** Claims due deliveries now (at most one claim runs at a time; a wake-up during it runs another after). */
  wake(): void {
    if (!this.running) return;
    if (this.claiming !== undefined) {
      this.again = true;
      return;
    }
    this.claiming = this.claim()
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'could not claim webhook deliveries; trying again shortly'))
      .finally(() => {
        this.claiming = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  private async claim(): Promise<void> {
    const room = this.concurrency - this.inFlight.size;
    if (room <= 0) return;
    const now = this.now();
    const claims = await this.options.store.claimDue(now, now + this.options.timeoutMs + CLAIM_MARGIN_MS, room);
    for (const claim of claims) {
      const sending: Promise<void> = this.deliver(claim)
        .catch((error: unknown) => this.options.logger.warn({ err: error, delivery: claim.id }, 'could not record a webhook try; it is sent again when its claim lapses'))
        .finally(() => {
          this.inFlight.delete(sending);
          this.wake();
        });
      this.inFlight.add(sending);
    }
  }

  private async deliver(claim: ClaimedDelivery): Promise<void> {
    const startedAt = this.now();
    let statusCode: number | undefined;
    let error: TtsError | undefined;
    try {
      const task = await this.options.tasks.getTask(claim.taskId);
      if (task === undefined) throw new TtsError('E_NOT_FOUND', 'The task of this delivery no longer exists.');
      const body = JSON.stringify({ type: claim.type, timestamp: new Date(claim.eventAt).toISOString(), data: presentTask(task) });
      const secret = this.options.secrets.secretFor(claim.owner);
      const headers = { 'content-type': 'application/json', 'user-agent': USER_AGENT, ...signedHeaders(secret, claim.id, Math.floor(this.now() / 1000), body) };
      statusCode = await this.options.send(claim.url, body, headers, this.abort.signal);
      if (statusCode < 200 || statusCode >= 300) error = refusal(statusCode);
    } catch (caught) {
      error = toTtsError(caught);
    }
    // Stopped while sending: the claim lapses and the delivery is sent again; nothing to record.
    if (this.abort.signal.aborted && statusCode === undefined) return;
    const attempt: WebhookAttempt = { at: startedAt, durationMs: Math.max(0, this.now() - startedAt) };
    if (statusCode !== undefined) attempt.statusCode = statusCode;
    if (error !== undefined) attempt.error = { code: error.code, message: error.message };
    const outcome = this.outcomeOf(claim, attempt);
    const recorded = await this.options.store.recordAttempt(claim, attempt, outcome);
    if (!recorded) return;
    this.options.metrics?.webhookAttempt(outcome.status === 'pending' ? 'retrying' : outcome.status, attempt.durationMs / 1000);
    if (outcome.status === 'pending') {
      // This node wakes for its own retry; others find it by polling.
      const timer = setTimeout(
        () => {
          this.timers.delete(timer);
          this.wake();
        },
        Math.max(0, outcome.nextAttemptAt - this.now()),
      );
      timer.unref();
      this.timers.add(timer);
    } else if (outcome.status === 'failed') {
      this.options.logger.warn({ delivery: claim.id, task: claim.taskId, attempts: claim.attempts.length + 1, err: attempt.error }, 'a webhook delivery was given up');
    }
  }

  private outcomeOf(claim: ClaimedDelivery, attempt: WebhookAttempt): WebhookOutcome {
    if (attempt.error === undefined) return { status: 'delivered' };
    if (attempt.statusCode === 410) return { status: 'failed' };
    // This was try number claim.attempts.length + 1; the wait before the next is the schedule's entry of that index.
    const wait = this.options.retryDelaysMs[claim.attempts.length];
    return wait === undefined ? { status: 'failed' } : { status: 'pending', nextAttemptAt: attempt.at + attempt.durationMs + wait };
  }
}

function refusal(statusCode: number): TtsError {
  if (statusCode === 410) return new TtsError('E_WEBHOOK_DELIVERY_FAILED', 'The receiver answered HTTP 410 Gone: it wants no more deliveries; no more tries.');
  if (statusCode >= 300 && statusCode < 400) return new TtsError('E_WEBHOOK_DELIVERY_FAILED', `The receiver answered HTTP ${statusCode}; redirects are not followed: give the final URL.`);
  return new TtsError('E_WEBHOOK_DELIVERY_FAILED', `The receiver answered HTTP ${statusCode}; a 2xx status is a delivery.`);
}
