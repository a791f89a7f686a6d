/**
 * The fields of a synthesis request (JSON body or multipart fields), checked once for both
 * forms. Every refusal names the field, what was expected and what arrived.
 */

import { parseOutputFormat } from '../audio/output.js';
import type { TaskRequest } from '../backends/backend.js';
import type { EngineNeeds } from '../engines/routing.js';
import { TtsError } from '../errors.js';
import { normalizeText } from '../text/normalize.js';
import { parsePronunciations } from '../text/pronunciations.js';
import { prepareText } from '../synthesis/synthesize-text.js';
import { checkAudioUrl } from '../net/fetch-audio-url.js';

export const SYNTHESIS_FIELDS = ['text', 'voice_id', 'audio_url', 'prompt_text', 'format', 'sample_rate', 'seed', 'priority', 'pronunciations', 'engine', 'require_cloning', 'engine_options'] as const;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/u;
export const MAX_PROMPT_TEXT_CHARS = 1_000;
export const PRIORITY_RANGE = { min: -10, max: 10 } as const;

export interface RequestLimits {
  maxTextChars: number;
  audioUrlAllowPrivate: boolean;
}

function invalid(field: string, expected: string, got: unknown): never {
  const shown = typeof got === 'string' ? JSON.stringify(got.slice(0, 60)) : JSON.stringify(got) ?? String(got);
  throw new TtsError('E_INVALID_ARGUMENT', `Expected \`${field}\` to be ${expected}, got ${shown}.`);
}

/** Multipart fields arrive as strings: numbers and JSON are read from them. */
function integerField(fields: Record<string, unknown>, name: string, min: number, max: number, fromText: boolean): number | undefined {
  let value = fields[name];
  if (value === undefined) return undefined;
  if (fromText && typeof value === 'string' && /^-?\d+$/u.test(value.trim())) value = Number(value);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) invalid(name, `an integer from ${min} to ${max}`, value);
  return value;
}

function stringField(fields: Record<string, unknown>, name: string): string | undefined {
  const value = fields[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') invalid(name, 'a string', value);
  return value;
}

const MAX_ENGINE_OPTIONS = 16;
const OPTION_NAME = /^[a-z_][a-z0-9_]{0,39}$/u;

/** Multipart fields arrive as strings: JSON objects are parsed from them. */
function jsonField(fields: Record<string, unknown>, name: string, fromText: boolean): unknown {
  const value = fields[name];
  if (!fromText || typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return invalid(name, 'JSON', value);
  }
}

function booleanField(fields: Record<string, unknown>, name: string, fromText: boolean): boolean | undefined {
  const value = fromText && (fields[name] === 'true' || fields[name] === 'false') ? fields[name] === 'true' : fields[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') invalid(name, 'true or false', value);
  return value;
}

/** `engine_options`: a small object of named switches with scalar values, passed to the engine. */
function engineOptionsField(value: unknown): TaskRequest['engineOptions'] {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid('engine_options', 'an object such as {"sample_method": "ras"}', value);
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_ENGINE_OPTIONS) invalid('engine_options', `at most ${MAX_ENGINE_OPTIONS} options`, `${entries.length}`);
  for (const [key, option] of entries) {
    if (!OPTION_NAME.test(key)) invalid('engine_options', 'option names of lower-case letters, digits and _', key);
    const scalar = typeof option === 'boolean' || (typeof option === 'number' && Number.isFinite(option)) || (typeof option === 'string' && option.length <= 100);
    if (!scalar) invalid(`engine_options.${key}`, 'true/false, a number or a short string', option);
  }
  return Object.fromEntries(entries) as TaskRequest['engineOptions'];
}

/** A request's fields, checked; the upload (if any) is added by the caller. */
export type ParsedSynthesis = Omit<TaskRequest, 'uploadPath'>;

export function parseSynthesisFields(fields: Record<string, unknown>, limits: RequestLimits, options: { multipart: boolean; hasUpload: boolean }): ParsedSynthesis {
  for (const key of Object.keys(fields)) {
    if (!(SYNTHESIS_FIELDS as readonly string[]).includes(key)) {
      throw new TtsError('E_INVALID_ARGUMENT', `Unknown field \`${key}\`; the fields are ${SYNTHESIS_FIELDS.join(', ')}${options.multipart ? ' and the file `audio`' : ''}.`);
    }
  }
  const rawText = fields.text;
  if (rawText === undefined) throw new TtsError('E_INVALID_ARGUMENT', 'Expected `text`: the text to read aloud.');
  if (typeof rawText !== 'string') invalid('text', 'a string', rawText);
  const text = prepareText(rawText, limits.maxTextChars);

  const voiceId = stringField(fields, 'voice_id');
  const audioUrl = stringField(fields, 'audio_url');
  const references = [voiceId !== undefined, audioUrl !== undefined, options.hasUpload].filter(Boolean).length;
  if (references > 1) throw new TtsError('E_VOICE_CONFLICT', 'Give one reference: `voice_id`, or an `audio` upload, or `audio_url`.');
  if (voiceId !== undefined && !UUID.test(voiceId)) throw new TtsError('E_VOICE_NOT_FOUND', 'No voice has this id; GET /api/voices lists them.');
  if (audioUrl !== undefined) {
    if (audioUrl.length > 2048) invalid('audio_url', 'a URL of at most 2048 characters', `${audioUrl.length} characters`);
    checkAudioUrl(audioUrl, limits.audioUrlAllowPrivate);
  }

  const rawPrompt = stringField(fields, 'prompt_text');
  const promptText = rawPrompt === undefined ? undefined : normalizeText(rawPrompt);
  if (promptText !== undefined && promptText.length > MAX_PROMPT_TEXT_CHARS) invalid('prompt_text', `at most ${MAX_PROMPT_TEXT_CHARS} characters`, `${promptText.length} characters`);

  const format = fields.format === undefined ? 'wav' : typeof fields.format === 'string' ? parseOutputFormat(fields.format) : invalid('format', 'a string', fields.format);

  let pronunciationsValue = fields.pronunciations;
  if (options.multipart && typeof pronunciationsValue === 'string') {
    try {
      pronunciationsValue = JSON.parse(pronunciationsValue);
    } catch {
      throw new TtsError('E_PRONUNCIATION_INVALID', 'Expected `pronunciations` to be a JSON list, e.g. [{"text":"重","pinyin":"chong2"}].');
    }
  }

  const request: ParsedSynthesis = {
    text,
    format,
    priority: integerField(fields, 'priority', PRIORITY_RANGE.min, PRIORITY_RANGE.max, options.multipart) ?? 0,
    pronunciations: parsePronunciations(pronunciationsValue),
  };
  const sampleRate = integerField(fields, 'sample_rate', 8_000, 48_000, options.multipart);
  if (sampleRate !== undefined) request.sampleRate = sampleRate;
  const seed = integerField(fields, 'seed', 0, 2 ** 31 - 1, options.multipart);
  if (seed !== undefined) request.seed = seed;
  if (promptText !== undefined) request.promptText = promptText;
  if (voiceId !== undefined) request.voiceId = voiceId;
  if (audioUrl !== undefined) request.audioUrl = audioUrl;
  const engine = stringField(fields, 'engine');
  if (engine !== undefined) {
    if (!/^[a-z0-9][a-z0-9-]{0,39}$/u.test(engine)) invalid('engine', 'an engine name from GET /api/engines', engine);
    request.engine = engine;
  }
  const requireCloning = booleanField(fields, 'require_cloning', options.multipart);
  if (requireCloning === true) request.requireCloning = true;
  const engineOptions = engineOptionsField(jsonField(fields, 'engine_options', options.multipart));
  if (engineOptions !== undefined) request.engineOptions = engineOptions;
  return request;
}

/** What a task asks of the engine that takes it (routing.ts decides which one can). */
export function engineNeeds(request: TaskRequest): EngineNeeds {
  return {
    engine: request.engine,
    cloning: request.requireCloning === true,
    sampleRate: request.sampleRate,
    phonemeControl: request.pronunciations.length > 0,
    hasVoice: request.voiceId !== undefined || request.uploadPath !== undefined || request.audioUrl !== undefined,
    options: Object.keys(request.engineOptions ?? {}),
  };
}
