/**
 * The engines a service runs, in the operator's order of preference (ENGINE=glm-tts,espeak):
 * one pool per engine. Tasks are routed among the pools that started (routing.ts); an engine
 * whose hosts cannot start is left out and the others keep working. An engine that started
 * stays configured for good: while its hosts restart, its tasks wait for it.
 */

import type { EnginePool } from './engine-pool.js';
import type { EngineCapabilities } from './protocol.js';
import { TtsError } from '../errors.js';

export interface EngineSetEntry {
  /** The registry name the pool was started from. */
  name: string;
  pool: EnginePool;
}

export class EngineSet {
  private readonly entries: readonly EngineSetEntry[];
  /** Pools that started, by the engine name their hosts announced. */
  private readonly started = new Map<string, EnginePool>();

  constructor(entries: readonly EngineSetEntry[]) {
    if (entries.length === 0) throw new TtsError('E_INVALID_ARGUMENT', 'Expected at least one engine.');
    this.entries = entries;
  }

  /**
   * Starts every pool. Resolves with the engines that could not start (and why) once at least
   * one is ready; rejects only if none is.
   */
  async start(): Promise<Array<{ name: string; reason: TtsError }>> {
    const outcomes = await Promise.allSettled(this.entries.map((entry) => entry.pool.start()));
    const failed: Array<{ name: string; reason: TtsError }> = [];
    outcomes.forEach((outcome, i) => {
      const { name, pool } = this.entries[i]!;
      if (outcome.status === 'fulfilled') this.started.set(outcome.value.engine, pool);
      else failed.push({ name, reason: outcome.reason instanceof TtsError ? outcome.reason : new TtsError('E_ENGINE_START_FAILED', String(outcome.reason)) });
    });
    if (this.started.size === 0) throw failed[0]!.reason;
    return failed;
  }

  /**
   * Capabilities of the configured engines (those that started), in order of preference: what
   * tasks are routed by, whether or not a host of the engine is up right now.
   */
  configured(): EngineCapabilities[] {
    return this.entries.flatMap(({ pool }) => {
      const capabilities = pool.capabilities;
      return capabilities !== undefined && this.started.get(capabilities.engine) === pool ? [capabilities] : [];
    });
  }

  /** The pool of a configured engine, by the name its hosts announced. */
  pool(engine: string): EnginePool | undefined {
    return this.started.get(engine);
  }

  /** The pools of the configured engines with their names, in order of preference (their hosts may be restarting). */
  pools(): Array<{ engine: string; pool: EnginePool }> {
    return this.configured().map((capabilities) => ({ engine: capabilities.engine, pool: this.started.get(capabilities.engine)! }));
  }

  /** Hosts across all configured engines. */
  get size(): number {
    return this.entries.reduce((sum, { pool }) => sum + pool.size, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.entries.map(({ pool }) => pool.close()));
  }
}
