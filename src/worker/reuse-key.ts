/**
 * Result reuse: the key of everything that decides a task's audio. On an engine that is
 * deterministic for the request (its capabilities say so), two requests with the same key give
 * the same bytes, so the worker copies a kept result instead of running the engine again.
 */

import { createHash } from 'node:crypto';
import type { PreparedReference, TaskRequest } from '../backends/backend.js';
import type { EngineCapabilities } from '../engines/protocol.js';

/** Bumped when what goes into the key changes, so keys made before never match. */
const KEY_VERSION = 1;

export interface ReuseInputs {
  request: TaskRequest;
  /** The engine the task was routed to. */
  capabilities: EngineCapabilities;
  /** The rate the engine writes for this task. */
  sampleRate: number;
  /** The normalised reference (its hash and transcript), if the task has one. */
  reference?: PreparedReference;
  /** Silence the worker puts between segments. */
  pauseMs: number;
  /** With parts: the references of the parts' voices, by voice id. */
  references?: Record<string, PreparedReference>;
}

/** Whether the engine gives the same audio for this request every time. */
export function isDeterministicFor(capabilities: EngineCapabilities, request: TaskRequest): boolean {
  if (capabilities.deterministic === 'always') return true;
  return capabilities.deterministic === 'seeded' && request.seed !== undefined;
}

/**
 * The task's reuse key (hex sha256), or undefined when the engine is not deterministic for it.
 * (A task sent with `reuse: false` has one too: it runs anyway, and its result may serve later requests.)
 */
export function reuseKey({ request, capabilities, sampleRate, reference, pauseMs, references }: ReuseInputs): string | undefined {
  if (!isDeterministicFor(capabilities, request)) return undefined;
  const options = Object.entries(request.engineOptions ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // Positional, so no field can be mistaken for another; absent values are null, never left out.
  const fields: unknown[] = [
    KEY_VERSION,
    capabilities.engine,
    capabilities.version,
    request.text,
    reference?.sha256 ?? null,
    reference?.promptText ?? request.promptText ?? null,
    sampleRate,
    request.seed ?? null,
    request.pronunciations.map((p) => [p.text, p.pinyin]),
    options,
    request.format,
    request.speed ?? 1,
    pauseMs,
  ];
  // Only with parts, so keys of tasks without parts stay as they were.
  if (request.parts !== undefined) {
    fields.push(
      request.parts.map((part) => {
        const voice = part.voiceId === undefined ? reference : references?.[part.voiceId];
        return [part.text, voice?.sha256 ?? null, part.promptText ?? voice?.promptText ?? null, part.pauseMs ?? null, part.chapter ?? null];
      }),
    );
  }
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}
