/**
 * A pool of engine hosts of one kind: hands each segment to a host with room for it (first
 * come, first served; a host has room for as many segments as its `maxBatch`), and replaces any
 * host that died or was killed, for as long as the pool runs: hosts that keep dying (the OOM
 * killer, a broken driver) are restarted with a capped exponential backoff, never given up on,
 * and segments wait for a host meanwhile. Retrying a lost segment is the caller's decision: the
 * error says whether it is retryable.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { EngineHost, type EngineHostOptions, type HostSpec, type SegmentRequest } from './engine-host.js';
import type { DoneMessage, EngineCapabilities } from './protocol.js';
import { TtsError } from '../errors.js';
import { charCount } from '../text/normalize.js';

export interface EnginePoolOptions {
  spec: HostSpec;
  /** Hosts running at once. */
  size: number;
  host?: Partial<EngineHostOptions>;
  /** A segment may take baseTimeoutMs + perCharTimeoutMs × its characters. */
  baseTimeoutMs?: number;
  perCharTimeoutMs?: number;
  restartBackoff?: Partial<RestartBackoff>;
  /**
   * For one-shot runs (`say`) only: after this many deaths in a row in every slot, stop
   * restarting and fail the segments waiting. Unset (a service's pools), the pool never gives up.
   */
  giveUpAfterDeaths?: number;
  onEvent?: (event: PoolEvent) => void;
}

export type PoolEvent =
  | { type: 'host:ready'; slot: number; pid: number | undefined }
  | { type: 'host:lost'; slot: number; pid: number | undefined; reason: TtsError }
  | { type: 'host:start-failed'; slot: number; reason: TtsError }
  /** A segment's time on a host (performance.now() clock), for busy-time measurements; `audioMs`, the audio it made (when ok), for the real-time factor. */
  | { type: 'segment:end'; slot: number; startedAt: number; endedAt: number; ok: boolean; audioMs?: number };

/** How long a slot waits before starting a host again after its hosts died one after the other. */
export interface RestartBackoff {
  /** Wait after the second death in a row (the first is restarted at once); it doubles with each death. */
  initialMs: number;
  maxMs: number;
  /** A host that stayed up this long was healthy: its death starts the backoff afresh. */
  stableMs: number;
}

export const DEFAULT_RESTART_BACKOFF: RestartBackoff = { initialMs: 500, maxMs: 30_000, stableMs: 60_000 };
const POOL_DEFAULTS = { baseTimeoutMs: 30_000, perCharTimeoutMs: 500 };

/** The wait before a restart, after `deaths` hosts of the slot died in a row without staying up: 0, initial, 2 × initial, … up to max. */
export function restartDelay(deaths: number, backoff: RestartBackoff): number {
  if (deaths <= 0) return 0;
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** (deaths - 1));
}

interface Waiter {
  resolve: (host: EngineHost) => void;
  reject: (error: TtsError) => void;
}

export class EnginePool {
  private readonly options: EnginePoolOptions & typeof POOL_DEFAULTS;
  private readonly backoff: RestartBackoff;
  private readonly slots: Array<EngineHost | undefined>;
  /** By slot: hosts that died in a row without staying up `stableMs` (failed starts included). */
  private readonly quickDeaths: number[];
  /** By slot: when its host said ready (performance.now()). */
  private readonly readyAt: number[];
  /** Aborts the backoff waits when the pool closes. */
  private readonly closing = new AbortController();
  /** One entry per free place on a host: a host with maxBatch 4 and one segment appears 3 times. */
  private readonly idle: EngineHost[] = [];
  private readonly waiters: Waiter[] = [];
  private closed = false;
  /** Set once every slot reached `giveUpAfterDeaths`: segments then fail at once. */
  private gaveUp: TtsError | undefined;
  /** From the hosts' `ready`; kept while they restart, so the engine's tasks wait for it. */
  capabilities: EngineCapabilities | undefined;
  /** Hosts started to replace lost ones. */
  restarts = 0;

  constructor(options: EnginePoolOptions) {
    if (!Number.isInteger(options.size) || options.size < 1) {
      throw new TtsError('E_INVALID_ARGUMENT', `Expected the number of engine hosts to be an integer from 1 and up, got ${String(options.size)}.`);
    }
    this.options = {
      ...POOL_DEFAULTS,
      baseTimeoutMs: options.spec.segmentBaseTimeoutMs ?? POOL_DEFAULTS.baseTimeoutMs,
      perCharTimeoutMs: options.spec.segmentPerCharTimeoutMs ?? POOL_DEFAULTS.perCharTimeoutMs,
      ...options,
    };
    this.backoff = { ...DEFAULT_RESTART_BACKOFF, ...options.restartBackoff };
    this.slots = new Array<EngineHost | undefined>(options.size).fill(undefined);
    this.quickDeaths = new Array<number>(options.size).fill(0);
    this.readyAt = new Array<number>(options.size).fill(0);
  }

  get size(): number {
    return this.slots.length;
  }

  /** Segments the pool works on at once: hosts × their maxBatch. */
  get capacity(): number {
    return this.slots.length * (this.capabilities?.maxBatch ?? 1);
  }

  /** Process ids of the live hosts, by slot. */
  get pids(): Array<number | undefined> {
    return this.slots.map((host) => (host?.state === 'dead' ? undefined : host?.pid));
  }

  /** Hosts that said ready and are alive (the others are starting, or waiting to be restarted). */
  get hostsUp(): number {
    return this.slots.filter((host) => host?.state === 'idle' || host?.state === 'busy').length;
  }

  /** Hosts working on a segment right now. */
  get busy(): number {
    return this.slots.filter((host) => host?.state === 'busy').length;
  }

  /** Starts every host; resolves with the engine's capabilities once all are ready. */
  async start(): Promise<EngineCapabilities> {
    const started = await Promise.allSettled(this.slots.map((_, slot) => this.startSlot(slot)));
    const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure !== undefined) {
      await this.close();
      throw failure.reason instanceof TtsError ? failure.reason : new TtsError('E_ENGINE_START_FAILED', String(failure.reason));
    }
    return this.capabilities!;
  }

  /** Timeout for a segment of this text. */
  timeoutFor(text: string): number {
    return this.options.baseTimeoutMs + this.options.perCharTimeoutMs * charCount(text);
  }

  async synthesize(segment: SegmentRequest, control: { signal?: AbortSignal } = {}): Promise<DoneMessage> {
    const host = await this.acquire(control.signal);
    const startedAt = performance.now();
    let done: DoneMessage | undefined;
    try {
      done = await host.synthesize(segment, { timeoutMs: this.timeoutFor(segment.text), signal: control.signal });
      return done;
    } finally {
      this.options.onEvent?.({ type: 'segment:end', slot: this.slots.indexOf(host), startedAt, endedAt: performance.now(), ok: done !== undefined, audioMs: done?.durationMs });
      this.release(host);
    }
  }

  /** Stops taking work and closes every host, letting segments in flight finish first. */
  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    for (const waiter of this.waiters.splice(0)) waiter.reject(new TtsError('E_ENGINE_CLOSED', 'The engine pool is shutting down.'));
    await Promise.all(this.slots.map((host) => host?.close()));
  }

  private async startSlot(slot: number): Promise<void> {
    // The slot number lets a host pick its device (GLM-TTS: GLMTTS_GPUS).
    const spec = { ...this.options.spec, env: { ...this.options.spec.env, TTSQ_HOST_SLOT: String(slot) } };
    const host = new EngineHost(spec, this.options.host);
    this.slots[slot] = host;
    let capabilities: EngineCapabilities;
    try {
      capabilities = await host.start();
    } catch (error) {
      const reason = error instanceof TtsError ? error : new TtsError('E_ENGINE_START_FAILED', String(error));
      this.options.onEvent?.({ type: 'host:start-failed', slot, reason });
      throw reason;
    }
    if (this.capabilities !== undefined && this.capabilities.engine !== capabilities.engine) {
      host.fail(new TtsError('E_ENGINE_START_FAILED', `Host in slot ${slot} is "${capabilities.engine}", the pool runs "${this.capabilities.engine}".`));
      throw new TtsError('E_ENGINE_START_FAILED', 'Mixed engines in one pool.');
    }
    this.capabilities ??= capabilities;
    this.readyAt[slot] = performance.now();
    this.options.onEvent?.({ type: 'host:ready', slot, pid: host.pid });
    void host.waitForExit().then(() => this.onHostExit(slot, host));
    for (let place = 0; place < host.capacity; place++) this.release(host);
  }

  private onHostExit(slot: number, host: EngineHost): void {
    for (let index = this.idle.indexOf(host); index !== -1; index = this.idle.indexOf(host)) this.idle.splice(index, 1);
    if (this.closed || this.slots[slot] !== host) return;
    if (performance.now() - this.readyAt[slot]! >= this.backoff.stableMs) this.quickDeaths[slot] = 0;
    this.options.onEvent?.({ type: 'host:lost', slot, pid: host.pid, reason: new TtsError('E_ENGINE_CRASHED', 'host exited') });
    void this.restartSlot(slot);
  }

  /** Starts a host in `slot` again, however many times it takes; segments wait for it meanwhile. */
  private async restartSlot(slot: number): Promise<void> {
    while (!this.closed) {
      if (this.quickDeaths[slot]! >= (this.options.giveUpAfterDeaths ?? Infinity)) return this.giveUpSlot(slot);
      const delay = restartDelay(this.quickDeaths[slot]!, this.backoff);
      this.quickDeaths[slot]!++;
      if (delay > 0) await sleep(delay, undefined, { signal: this.closing.signal }).catch(() => undefined);
      if (this.closed) return;
      try {
        this.restarts++;
        await this.startSlot(slot);
        return;
      } catch {
        // Logged through the host:start-failed event; the next try waits longer.
      }
    }
  }

  private giveUpSlot(slot: number): void {
    this.slots[slot] = undefined;
    if (this.slots.some((host) => host !== undefined)) return;
    this.gaveUp = new TtsError('E_ENGINE_START_FAILED', `Engine hosts "${this.options.spec.name}" died ${this.quickDeaths[slot]} times in a row; see the host's log.`);
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.gaveUp);
  }

  private async acquire(signal: AbortSignal | undefined): Promise<EngineHost> {
    signal?.throwIfAborted();
    if (this.closed) throw new TtsError('E_ENGINE_CLOSED', 'The engine pool is shutting down.');
    if (this.gaveUp !== undefined) throw this.gaveUp;
    const host = this.idle.shift();
    if (host !== undefined) return host;
    return await new Promise<EngineHost>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.waiters.indexOf(waiter);
        if (index !== -1) this.waiters.splice(index, 1);
        reject(new TtsError('E_CANCELED', 'The work was canceled.'));
      };
      const waiter: Waiter = {
        resolve: (host) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(host);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      this.waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Gives back one place on `host` (to a waiting segment first). */
  private release(host: EngineHost): void {
    if ((host.state !== 'idle' && host.state !== 'busy') || this.closed) return;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter.resolve(host);
    else this.idle.push(host);
  }
}
