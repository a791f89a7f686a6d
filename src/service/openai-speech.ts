/**
 * OpenAI's speech request (POST /v1/audio/speech) in this service's terms: its `model` names an
 * engine (or an alias routed by a documented table), its `voice` a stored voice (or one of
 * OpenAI's voice names mapped by OPENAI_VOICES), and the rest becomes a normal synthesis request.
 */

import type { OutputFormat } from '../audio/output.js';
import type { EngineCapabilities } from '../engines/protocol.js';
import { TtsError } from '../errors.js';
import type { SynthesisFields } from '../http/schemas.js';
import { UUID } from './synthesis-request.js';

/** OpenAI's built-in voice names (its SDK's list). */
export const OPENAI_VOICE_NAMES = ['alloy', 'ash', 'ballad', 'coral', 'echo', 'fable', 'nova', 'onyx', 'sage', 'shimmer', 'verse', 'marin', 'cedar'] as const;

/**
 * OpenAI's model names and how each is routed: `default` like a request without an engine (the
 * first that can do it), `cloning` to the preferred engine that clones a timbre, else the default.
 */
export const OPENAI_MODEL_ALIASES = {
  'tts-1': 'default',
  'tts-1-hd': 'cloning',
  'gpt-4o-mini-tts': 'cloning',
  'gpt-4o-mini-tts-2025-12-15': 'cloning',
} as const satisfies Record<string, 'default' | 'cloning'>;

export const OPENAI_RESPONSE_FORMATS = ['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm'] as const satisfies readonly OutputFormat[];
export type OpenAIResponseFormat = (typeof OPENAI_RESPONSE_FORMATS)[number];

/** OpenAI's `pcm` is 24 kHz: resampled to it, so OpenAI clients play it right. */
export const OPENAI_PCM_RATE = 24_000;

/** The body of POST /v1/audio/speech, as its schema (http/schemas.ts) checked it. */
export interface OpenAISpeechBody {
  model: string;
  input: string;
  voice: string | { id: string };
  response_format?: OpenAIResponseFormat;
  speed?: number;
  instructions?: string;
  stream_format?: 'audio' | 'sse';
}

export interface SpeechPlan {
  fields: SynthesisFields;
  format: OpenAIResponseFormat;
  /** The stream's rate when it is not the task's own. */
  sampleRate?: number;
  sse: boolean;
}

/** OPENAI_VOICES (`alloy=<voice id>,nova=<voice id>`) as a map; the message says what was expected. */
export function parseOpenAIVoices(raw: string | undefined): Record<string, string> {
  const voices: Record<string, string> = {};
  for (const item of (raw ?? '').split(',').map((i) => i.trim())) {
    if (item === '') continue;
    const [name = '', id = '', extra] = item.split('=').map((part) => part.trim());
    if (!(OPENAI_VOICE_NAMES as readonly string[]).includes(name) || !UUID.test(id) || extra !== undefined) {
      throw new TtsError('E_INVALID_ARGUMENT', `Expected OPENAI_VOICES to map OpenAI voice names (${OPENAI_VOICE_NAMES.join(', ')}) to voice ids, as alloy=<voice id>,nova=<voice id>; got "${item}".`);
    }
    voices[name] = id;
  }
  return voices;
}

/**
 * The synthesis request of an OpenAI speech request. `engines`: the configured engines in order
 * of preference; `voices`: OPENAI_VOICES.
 */
export function planSpeech(body: OpenAISpeechBody, engines: readonly EngineCapabilities[], voices: Readonly<Record<string, string>>): SpeechPlan {
  if (body.instructions !== undefined && body.instructions.trim() !== '') {
    throw new TtsError('E_INSTRUCTIONS_UNSUPPORTED', 'No engine here follows style instructions: leave `instructions` out (or empty).', { param: 'instructions' });
  }
  const fields: SynthesisFields = { text: body.input };
  const engine = engineOf(body.model, engines);
  if (engine !== undefined) fields.engine = engine;
  const voice = typeof body.voice === 'string' ? body.voice : body.voice.id;
  const voiceId = voiceOf(voice, voices);
  if (voiceId !== undefined) fields.voice_id = voiceId;
  const format = body.response_format ?? 'mp3';
  fields.format = format;
  if (body.speed !== undefined) fields.speed = body.speed;
  return { fields, format, sampleRate: format === 'pcm' ? OPENAI_PCM_RATE : undefined, sse: body.stream_format === 'sse' };
}

/** The engine a model names; undefined: the default routing. */
function engineOf(model: string, engines: readonly EngineCapabilities[]): string | undefined {
  if (Object.hasOwn(OPENAI_MODEL_ALIASES, model)) {
    if (OPENAI_MODEL_ALIASES[model as keyof typeof OPENAI_MODEL_ALIASES] === 'cloning') return engines.find((e) => e.cloning)?.engine;
    return undefined;
  }
  if (engines.some((e) => e.engine === model)) return model;
  const names = [...engines.map((e) => e.engine), ...Object.keys(OPENAI_MODEL_ALIASES)];
  throw new TtsError('E_MODEL_NOT_FOUND', `Expected \`model\` to be one of ${names.join(', ')} (GET /v1/models), got ${JSON.stringify(model.slice(0, 60))}.`, { param: 'model' });
}

/** The stored voice a `voice` names; undefined: the engine's own default voice. */
function voiceOf(voice: string, voices: Readonly<Record<string, string>>): string | undefined {
  if (UUID.test(voice)) return voice;
  if ((OPENAI_VOICE_NAMES as readonly string[]).includes(voice)) return voices[voice];
  throw new TtsError('E_VOICE_NOT_FOUND', `Expected \`voice\` to be a voice id (GET /api/voices) or one of ${OPENAI_VOICE_NAMES.join(', ')}, got ${JSON.stringify(voice.slice(0, 60))}.`, {
    param: 'voice',
  });
}
