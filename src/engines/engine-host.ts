/**
 * The worker's handle on one engine host process: starts it, waits for `ready`, sends it
 * segments (one at a time, or up to the `maxBatch` it announced), and turns every way a host
 * can fail (exit, silence, garbage, hang) into a typed, retryable error. A host that failed is
 * never reused: the pool starts a new one.
 */

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { PROTOCOL_VERSION, ProtocolViolation, parseHostMessage, type DoneMessage, type EngineCapabilities, type HostMessage, type SynthesizeRequest, type WorkerMessage } from './protocol.js';
import { TtsError, isResourceExhaustion } from '../errors.js';

/** How to start a host: a program and its arguments (never through a shell). */
export interface HostSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** The engine's own defaults, where they differ from the CPU hosts' (a GPU model loads for minutes). */
  startTimeoutMs?: number;
  segmentBaseTimeoutMs?: number;
  segmentPerCharTimeoutMs?: number;
}

export interface EngineHostOptions {
  /** Time allowed from spawn to `ready` (model loading included). */
  startTimeoutMs: number;
  /** After `cancel` or `shutdown`, time the host has to stop before it is killed. */
  stopGraceMs: number;
  /** Receives the host's stderr lines and `log` messages. */
  onLog?: (line: string) => void;
}

export const DEFAULT_HOST_OPTIONS: EngineHostOptions = { startTimeoutMs: 120_000, stopGraceMs: 5_000 };

export type HostState = 'starting' | 'idle' | 'busy' | 'closing' | 'dead';

export type SegmentRequest = Omit<SynthesizeRequest, 'type' | 'id'>;

interface InFlight {
  id: string;
  /** Settles (either way) when the segment is answered or lost. */
  settled: Promise<unknown>;
  resolve: (done: DoneMessage) => void;
  reject: (error: TtsError) => void;
}

export class EngineHost {
  readonly spec: HostSpec;
  private readonly options: EngineHostOptions;
  private child: ChildProcessWithoutNullStreams | undefined;
  /** Segments sent and not yet answered, by id (at most `capacity`). */
  private readonly inFlight = new Map<string, InFlight>();
  private readonly pings = new Map<string, () => void>();
  private exited: Promise<void> | undefined;
  private startWaiter: { resolve: (c: EngineCapabilities) => void; reject: (e: TtsError) => void } | undefined;
  private deathReason: TtsError | undefined;
  state: HostState = 'starting';
  capabilities: EngineCapabilities | undefined;

  constructor(spec: HostSpec, options: Partial<EngineHostOptions> = {}) {
    this.spec = spec;
    this.options = { ...DEFAULT_HOST_OPTIONS, ...(spec.startTimeoutMs === undefined ? {} : { startTimeoutMs: spec.startTimeoutMs }), ...options };
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Segments the host takes at once: its `maxBatch` (1 before it is ready). */
  get capacity(): number {
    return this.capabilities?.maxBatch ?? 1;
  }

  /** Spawns the host and resolves with its capabilities once it says `ready`. */
  async start(): Promise<EngineCapabilities> {
    if (this.child !== undefined) throw new Error('EngineHost.start() called twice; start a new EngineHost instead');
    const cannotStart = (error: NodeJS.ErrnoException): TtsError => {
      const why = isResourceExhaustion(error.code) ? `the machine is out of file descriptors, processes or memory (${error.code})` : (error.code ?? error.message);
      return new TtsError('E_ENGINE_START_FAILED', `Cannot start engine host "${this.spec.name}" (${basename(this.spec.command)}): ${why}.`, { cause: error });
    };
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(this.spec.command, this.spec.args, {
        cwd: this.spec.cwd,
        env: { ...process.env, ...this.spec.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    } catch (error) {
      // Some spawn failures (ENOMEM, ...) are thrown rather than emitted.
      this.state = 'dead';
      throw cannotStart(error as NodeJS.ErrnoException);
    }
    this.child = child;
    // A process that never started (no pid) will not emit 'close': its 'error' ends it.
    this.exited = new Promise((resolve) => {
      child.once('close', () => resolve());
      child.once('error', () => {
        if (child.pid === undefined) resolve();
      });
    });
    // Listen for 'error' first: on EMFILE/ENFILE Node emits it on the next tick and leaves stdio unset.
    child.on('error', (error) => this.die(cannotStart(error)));
    if (!(child.stdin as Writable | null) || !(child.stdout as Readable | null) || !(child.stderr as Readable | null)) {
      return await new Promise<EngineCapabilities>((_resolve, reject) => child.once('error', (error) => reject(cannotStart(error))));
    }
    child.stdin.on('error', () => {
      // A host that died closes its stdin; the 'exit' handler reports it.
    });
    createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => this.options.onLog?.(`[${this.spec.name}:${child.pid}] ${line}`));
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => this.onLine(line));
    child.on('exit', (code, signal) => {
      const how = signal === null ? `exit code ${code}` : `signal ${signal}`;
      const error =
        this.state === 'starting'
          ? new TtsError('E_ENGINE_START_FAILED', `Engine host "${this.spec.name}" exited before it was ready (${how}).`)
          : new TtsError('E_ENGINE_CRASHED', `Engine host "${this.spec.name}" (pid ${child.pid}) exited (${how}) while working on a segment.`);
      this.die(this.deathReason ?? error);
    });

    const timer = setTimeout(() => {
      this.fail(new TtsError('E_ENGINE_START_FAILED', `Engine host "${this.spec.name}" did not say ready within ${this.options.startTimeoutMs} ms.`));
    }, this.options.startTimeoutMs);
    try {
      return await new Promise<EngineCapabilities>((resolve, reject) => {
        this.startWaiter = { resolve, reject };
      });
    } finally {
      clearTimeout(timer);
      this.startWaiter = undefined;
    }
  }

  /**
   * Synthesises one segment. Rejects with E_ENGINE_TIMEOUT (host killed) past `timeoutMs`,
   * E_ENGINE_CRASHED if the host dies, E_CANCELED when `signal` aborts, or the host's error.
   */
  async synthesize(segment: SegmentRequest, control: { timeoutMs: number; signal?: AbortSignal }): Promise<DoneMessage> {
    if ((this.state !== 'idle' && this.state !== 'busy') || this.inFlight.size >= this.capacity) {
      throw new TtsError('E_ENGINE_CLOSED', `Engine host "${this.spec.name}" is ${this.state} with ${this.inFlight.size} of ${this.capacity} segments, it takes no more.`);
    }
    control.signal?.throwIfAborted();
    const id = randomUUID();
    this.state = 'busy';
    let settle!: Pick<InFlight, 'resolve' | 'reject'>;
    const result = new Promise<DoneMessage>((resolve, reject) => (settle = { resolve, reject }));
    this.inFlight.set(id, { id, settled: result.catch(() => undefined), ...settle });
    this.send({ type: 'synthesize', id, ...segment });

    const timer = setTimeout(() => {
      this.fail(
        new TtsError('E_ENGINE_TIMEOUT', `Engine host "${this.spec.name}" gave no answer within ${control.timeoutMs} ms for a ${segment.text.length}-character segment; it was restarted.`),
        id,
      );
    }, control.timeoutMs);
    let cancelTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      this.send({ type: 'cancel', id });
      // A host that does not stop in time is killed; the caller gets E_CANCELED either way.
      cancelTimer = setTimeout(() => this.fail(new TtsError('E_CANCELED', 'The segment was canceled; the host did not stop in time and was killed.'), id), this.options.stopGraceMs);
    };
    control.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await result;
    } finally {
      clearTimeout(timer);
      clearTimeout(cancelTimer);
      control.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Round trip to an idle host; rejects if it does not answer in `timeoutMs`. */
  async ping(timeoutMs = 5_000): Promise<number> {
    const id = randomUUID();
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pings.delete(id);
        reject(new TtsError('E_ENGINE_TIMEOUT', `Engine host "${this.spec.name}" did not answer a ping within ${timeoutMs} ms.`));
      }, timeoutMs);
      this.pings.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      this.send({ type: 'ping', id });
    });
    return performance.now() - started;
  }

  /**
   * Stops the host: waits for the segment in flight (a host is never killed while writing),
   * asks it to shut down, and kills it only if it has not exited `stopGraceMs` later.
   */
  async close(): Promise<void> {
    if (this.child === undefined || this.state === 'dead') return;
    await Promise.all([...this.inFlight.values()].map((job) => job.settled));
    // The host may have died while the last segment finished.
    if ((this.state as HostState) === 'dead') return;
    this.state = 'closing';
    this.send({ type: 'shutdown' });
    this.child.stdin.end();
    const killTimer = setTimeout(() => this.child?.kill('SIGKILL'), this.options.stopGraceMs);
    await this.exited;
    clearTimeout(killTimer);
  }

  /**
   * Kills the host at once. The segment `segmentId` (or, without one, every segment in flight)
   * fails with `reason`; the others sent with it fail as crashed, which is retryable.
   */
  fail(reason: TtsError, segmentId?: string): void {
    if (this.state === 'dead') return;
    if (segmentId === undefined) this.deathReason ??= reason;
    this.child?.kill('SIGKILL');
    this.die(reason, segmentId);
  }

  /** Resolves when the host process has exited. */
  async waitForExit(): Promise<void> {
    await this.exited;
  }

  private send(message: WorkerMessage): void {
    if (this.child === undefined || this.state === 'dead' || !this.child.stdin.writable) return;
    this.child.stdin.write(`${JSON.stringify(message)}\n`);
  }

  private onLine(line: string): void {
    if (line.trim() === '') return;
    let message: HostMessage;
    try {
      message = parseHostMessage(line);
    } catch (error) {
      const why = error instanceof ProtocolViolation ? error.message : String(error);
      this.fail(new TtsError('E_ENGINE_PROTOCOL', `Engine host "${this.spec.name}" broke the protocol (${why}); it was restarted.`));
      return;
    }
    switch (message.type) {
      case 'ready':
        if (this.state !== 'starting') {
          this.fail(new TtsError('E_ENGINE_PROTOCOL', `Engine host "${this.spec.name}" said ready twice.`));
          return;
        }
        if (message.protocol !== PROTOCOL_VERSION) {
          this.fail(new TtsError('E_ENGINE_START_FAILED', `Engine host "${this.spec.name}" speaks protocol ${message.protocol}; this worker speaks ${PROTOCOL_VERSION}.`));
          return;
        }
        this.capabilities = message.capabilities;
        this.state = 'idle';
        this.startWaiter?.resolve(message.capabilities);
        return;
      case 'done':
      case 'error': {
        if (message.type === 'error' && this.state === 'starting') {
          this.fail(new TtsError('E_ENGINE_START_FAILED', `Engine host "${this.spec.name}" could not start: ${message.message}`));
          return;
        }
        const job = message.id === undefined ? undefined : this.inFlight.get(message.id);
        if (job === undefined) {
          if (message.type === 'error' && message.id === undefined) {
            this.options.onLog?.(`[${this.spec.name}] error: ${message.code} ${message.message}`);
            return;
          }
          this.fail(new TtsError('E_ENGINE_PROTOCOL', `Engine host "${this.spec.name}" answered a segment it was not working on.`));
          return;
        }
        this.inFlight.delete(job.id);
        if (this.state === 'busy' && this.inFlight.size === 0) this.state = 'idle';
        if (message.type === 'done') job.resolve(message);
        else job.reject(TtsError.fromWire(message));
        return;
      }
      case 'pong':
        this.pings.get(message.id)?.();
        this.pings.delete(message.id);
        return;
      case 'log':
        this.options.onLog?.(`[${this.spec.name}] ${message.level}: ${message.message}`);
        return;
    }
  }

  private die(reason: TtsError, segmentId?: string): void {
    if (this.state === 'dead') return;
    this.state = 'dead';
    this.startWaiter?.reject(reason);
    const jobs = [...this.inFlight.values()];
    this.inFlight.clear();
    for (const job of jobs) {
      if (segmentId === undefined || job.id === segmentId) job.reject(reason);
      else job.reject(new TtsError('E_ENGINE_CRASHED', `Engine host "${this.spec.name}" was killed for another segment it was working on (${reason.code}).`));
    }
  }
}
