/**
 * Routing by capability: which of the configured engines may take a task. A task goes only to an
 * engine that announced what it asks for; when none did, it fails at once with a typed error
 * that says, engine by engine, what is missing (rather than waiting for an engine that will
 * never come).
 */

import type { EngineCapabilities } from './protocol.js';
import { TtsError } from '../errors.js';

/** What a task asks of an engine. */
export interface EngineNeeds {
  /** An engine asked for by name. */
  engine?: string;
  /** The reference's timbre must be cloned (not only followed). */
  cloning: boolean;
  sampleRate?: number;
  /** Forced readings were given. */
  phonemeControl: boolean;
  /** A reference voice comes with the task. */
  hasVoice: boolean;
  /** Names of the engine options given. */
  options: string[];
}

type Shortfall = { rateOnly: boolean; reason: string };

/** Why `engine` cannot take the task, or undefined if it can. */
function shortfall(needs: EngineNeeds, engine: EngineCapabilities): Shortfall | undefined {
  const no = (reason: string): Shortfall => ({ rateOnly: false, reason });
  if (needs.engine !== undefined && needs.engine !== engine.engine) return no(`${engine.engine} is not the engine asked for`);
  if (needs.cloning && !engine.cloning) return no(`${engine.engine} does not clone a voice's timbre`);
  if (needs.phonemeControl && !engine.phonemeControl) return no(`${engine.engine} does not take forced readings`);
  if (!needs.hasVoice && engine.requiresVoice) return no(`${engine.engine} needs a reference voice`);
  const unknown = needs.options.filter((name) => !engine.options.includes(name));
  if (unknown.length > 0) return no(`${engine.engine} has no option ${unknown.join(', ')}${engine.options.length > 0 ? ` (it has ${engine.options.join(', ')})` : ''}`);
  if (needs.sampleRate !== undefined && !engine.sampleRates.includes(needs.sampleRate)) {
    return { rateOnly: true, reason: `${engine.engine} writes ${engine.sampleRates.join(' or ')} Hz, not ${needs.sampleRate} Hz` };
  }
  return undefined;
}

/** The first engine, in the order given (the operator's preference), that can take the task. */
export function chooseEngine(needs: EngineNeeds, engines: readonly EngineCapabilities[]): EngineCapabilities {
  if (needs.engine !== undefined && !engines.some((e) => e.engine === needs.engine)) {
    throw new TtsError('E_ENGINE_CAPABILITY', `No engine "${needs.engine}" is configured; configured: ${engines.map((e) => e.engine).join(', ') || 'none'} (GET /api/engines).`);
  }
  const shortfalls: Shortfall[] = [];
  for (const engine of engines) {
    const missing = shortfall(needs, engine);
    if (missing === undefined) return engine;
    shortfalls.push(missing);
  }
  const reasons = shortfalls.map((s) => s.reason).join('; ') || 'none is configured';
  // Kept apart because it is the one a client fixes by changing a number.
  const code = shortfalls.length > 0 && shortfalls.every((s) => s.rateOnly) ? 'E_SAMPLE_RATE_UNSUPPORTED' : 'E_ENGINE_CAPABILITY';
  throw new TtsError(code, `No configured engine can take this task: ${reasons}. GET /api/engines lists what each can do.`);
}
