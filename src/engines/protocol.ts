/**
 * The engine-host protocol (docs/engine-protocol.md): JSON lines on stdin/stdout, one message
 * per line, audio passed as WAV files in a folder the worker owns. Both directions are typed
 * here and checked on arrival; nothing a host writes is trusted until parsed.
 */

import type { WireError } from '../errors.js';

export const PROTOCOL_VERSION = 1;

/** A forced reading: `text` is read as the pinyin syllables given (tone numbers 1–5). */
export interface Pronunciation {
  text: string;
  pinyin: string;
}

/** The reference voice, already normalised by the worker (mono 16-bit WAV). */
export interface VoiceReference {
  /** Absolute path of the normalised WAV. */
  audioPath: string;
  /** sha256 of that WAV: hosts key their per-voice caches on it with promptText and sampleRate. */
  sha256: string;
  /** Transcript of the reference ("" when unknown). */
  promptText: string;
}

export interface SynthesizeRequest {
  type: 'synthesize';
  id: string;
  text: string;
  /** Absolute path where the host writes a 16-bit PCM WAV. */
  outPath: string;
  voice?: VoiceReference;
  sampleRate?: number;
  seed?: number;
  pronunciations?: Pronunciation[];
  /** Engine-specific switches, passed through as given (GLM-TTS: use_cache, use_phoneme, sample_method). */
  options?: Record<string, string | number | boolean>;
}

export type WorkerMessage = SynthesizeRequest | { type: 'cancel'; id: string } | { type: 'ping'; id: string } | { type: 'shutdown' };

/** What a host tells about itself in `ready`. */
export interface EngineCapabilities {
  engine: string;
  version: string;
  /** Rates the host can write; the first is its default. */
  sampleRates: number[];
  /** Whether the host reproduces the reference voice's timbre. */
  cloning: boolean;
  /** What the host takes from a reference, when it does not clone (e.g. ["pitch", "rate"]). */
  voiceFollowing: string[];
  /** Whether `pronunciations` are honoured. */
  phonemeControl: boolean;
  /** Languages read correctly, as BCP 47 tags. */
  languages: string[];
  /** Largest segment the host takes, in characters. */
  maxSegmentChars: number;
  /** Segments one host works on at once. */
  maxBatch: number;
  /** Whether a reference voice is needed. */
  requiresVoice: boolean;
  /** Names of the `options` the host honours (GLM-TTS: use_cache, use_phoneme, sample_method). */
  options: string[];
  /**
   * When the same request gives the same audio, so a finished result may be reused: 'always',
   * or 'seeded' (only when a seed is given); absent: never (the engine samples freely).
   */
  deterministic?: Determinism;
}

export const DETERMINISM = ['always', 'seeded'] as const;
export type Determinism = (typeof DETERMINISM)[number];

export interface DoneMessage {
  type: 'done';
  id: string;
  outPath: string;
  sampleRate: number;
  durationMs: number;
}

export type HostMessage =
  | { type: 'ready'; protocol: number; capabilities: EngineCapabilities }
  | DoneMessage
  | ({ type: 'error'; id?: string } & Required<WireError>)
  | { type: 'pong'; id: string }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; message: string };

/** Thrown by the parsers below; the caller turns it into E_ENGINE_PROTOCOL or a host-side error. */
export class ProtocolViolation extends Error {
  override name = 'ProtocolViolation';
}

type Json = Record<string, unknown>;

function object(line: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new ProtocolViolation(`not JSON: ${line.slice(0, 200)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ProtocolViolation(`not a JSON object: ${line.slice(0, 200)}`);
  return value as Json;
}

function str(message: Json, key: string): string {
  const value = message[key];
  if (typeof value !== 'string') throw new ProtocolViolation(`"${String(message.type)}" needs a string "${key}", got ${JSON.stringify(value)}`);
  return value;
}

function num(message: Json, key: string): number {
  const value = message[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new ProtocolViolation(`"${String(message.type)}" needs a number "${key}", got ${JSON.stringify(value)}`);
  return value;
}

function capabilities(value: unknown): EngineCapabilities {
  if (typeof value !== 'object' || value === null) throw new ProtocolViolation('"ready" needs a "capabilities" object');
  const c = value as Json;
  const strings = (key: string): string[] => {
    const list = c[key];
    if (!Array.isArray(list) || !list.every((v) => typeof v === 'string')) throw new ProtocolViolation(`capabilities.${key} must be a list of strings`);
    return list as string[];
  };
  const rates = c.sampleRates;
  if (!Array.isArray(rates) || rates.length === 0 || !rates.every((r) => Number.isInteger(r) && r > 0)) {
    throw new ProtocolViolation('capabilities.sampleRates must be a non-empty list of positive integers');
  }
  const flag = (key: string): boolean => {
    if (typeof c[key] !== 'boolean') throw new ProtocolViolation(`capabilities.${key} must be true or false`);
    return c[key] as boolean;
  };
  const positive = (key: string): number => {
    const v = c[key];
    if (!Number.isInteger(v) || (v as number) < 1) throw new ProtocolViolation(`capabilities.${key} must be a positive integer`);
    return v as number;
  };
  return {
    engine: str(c, 'engine'),
    version: str(c, 'version'),
    sampleRates: rates as number[],
    cloning: flag('cloning'),
    voiceFollowing: strings('voiceFollowing'),
    phonemeControl: flag('phonemeControl'),
    languages: strings('languages'),
    maxSegmentChars: positive('maxSegmentChars'),
    maxBatch: positive('maxBatch'),
    requiresVoice: flag('requiresVoice'),
    // Optional in protocol 1: a host that lists none takes no options.
    options: c.options === undefined ? [] : strings('options'),
    ...determinism(c.deterministic),
  };
}

/** Optional in protocol 1: a host that says nothing is taken as not deterministic. */
function determinism(value: unknown): { deterministic?: Determinism } {
  if (value === undefined || value === null) return {};
  if (!DETERMINISM.includes(value as Determinism)) throw new ProtocolViolation(`capabilities.deterministic must be one of ${DETERMINISM.join(', ')}, got ${JSON.stringify(value)}`);
  return { deterministic: value as Determinism };
}

/** Parses one line a host wrote. */
export function parseHostMessage(line: string): HostMessage {
  const m = object(line);
  switch (m.type) {
    case 'ready':
      return { type: 'ready', protocol: num(m, 'protocol'), capabilities: capabilities(m.capabilities) };
    case 'done':
      return { type: 'done', id: str(m, 'id'), outPath: str(m, 'outPath'), sampleRate: num(m, 'sampleRate'), durationMs: num(m, 'durationMs') };
    case 'error': {
      const id = m.id === undefined || m.id === null ? undefined : str(m, 'id');
      return { type: 'error', id, code: str(m, 'code'), message: str(m, 'message'), retryable: m.retryable === true };
    }
    case 'pong':
      return { type: 'pong', id: str(m, 'id') };
    case 'log': {
      const level = ['debug', 'info', 'warn', 'error'].includes(m.level as string) ? (m.level as 'info') : 'info';
      return { type: 'log', level, message: str(m, 'message') };
    }
    default:
      throw new ProtocolViolation(`unknown message type ${JSON.stringify(m.type)}`);
  }
}

/** Largest seed: what numpy.random.seed takes, as GLM-TTS seeds numpy, random and torch from one. */
export const SEED_MAX = 2 ** 32 - 1;

function seed(m: Json): number {
  const value = num(m, 'seed');
  if (!Number.isInteger(value) || value < 0 || value > SEED_MAX) throw new ProtocolViolation(`"seed" must be an integer from 0 to ${SEED_MAX}, got ${value}`);
  return value;
}

function pronunciations(value: unknown): Pronunciation[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new ProtocolViolation('"pronunciations" must be a list');
  return value.map((entry: unknown) => {
    if (typeof entry !== 'object' || entry === null) throw new ProtocolViolation('each pronunciation must be an object');
    const e = entry as Json;
    return { text: str(e, 'text'), pinyin: str(e, 'pinyin') };
  });
}

/** Parses one line the worker wrote (used by hosts written in TypeScript). */
export function parseWorkerMessage(line: string): WorkerMessage {
  const m = object(line);
  switch (m.type) {
    case 'synthesize': {
      const request: SynthesizeRequest = { type: 'synthesize', id: str(m, 'id'), text: str(m, 'text'), outPath: str(m, 'outPath') };
      if (m.voice !== undefined && m.voice !== null) {
        const v = m.voice as Json;
        if (typeof v !== 'object') throw new ProtocolViolation('"voice" must be an object');
        request.voice = { audioPath: str(v, 'audioPath'), sha256: str(v, 'sha256'), promptText: typeof v.promptText === 'string' ? v.promptText : '' };
      }
      if (m.sampleRate !== undefined) request.sampleRate = num(m, 'sampleRate');
      if (m.seed !== undefined) request.seed = seed(m);
      const forced = pronunciations(m.pronunciations);
      if (forced !== undefined) request.pronunciations = forced;
      if (m.options !== undefined) request.options = m.options as SynthesizeRequest['options'];
      return request;
    }
    case 'cancel':
      return { type: 'cancel', id: str(m, 'id') };
    case 'ping':
      return { type: 'ping', id: str(m, 'id') };
    case 'shutdown':
      return { type: 'shutdown' };
    default:
      throw new ProtocolViolation(`unknown message type ${JSON.stringify(m.type)}`);
  }
}
