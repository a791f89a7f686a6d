/**
 * A synthesis request (JSON body or multipart fields), after the API schema (SynthesisBody in
 * http/schemas.ts) has checked its fields' types, ranges and names: what a schema cannot say is
 * checked here, for both forms. Every refusal names the field, what was expected and what arrived.
 */

import { MAX_CHAPTER_CHARS, MAX_PART_PAUSE_MS, MAX_PARTS, type TaskRequest, type TextPart } from '../backends/backend.js';
import type { EngineNeeds } from '../engines/routing.js';
import { TtsError } from '../errors.js';
import type { SynthesisFields } from '../http/schemas.js';
import { charCount, isSpeakable, normalizeText } from '../text/normalize.js';
import { parsePronunciations } from '../text/pronunciations.js';
import { prepareText } from '../text/prepare.js';
import { checkAudioUrl } from '../net/fetch-audio-url.js';
import { checkWebhookUrl } from '../net/post-webhook.js';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/u;
export const MAX_PROMPT_TEXT_CHARS = 1_000;

export interface RequestLimits {
  maxTextChars: number;
  audioUrlAllowPrivate: boolean;
  /** WEBHOOK_ALLOW_PRIVATE: webhook_url may point at loopback and private addresses. */
  webhookAllowPrivate: boolean;
  /** Whether a recording to clone needs `consent: true` and `speaker_name`. */
  consentRequired: boolean;
  /** Caps on reading a `document` or `document_url` (bytes, time, PDF pages; characters are maxTextChars). */
  documents?: { maxBytes: number; timeoutMs: number; maxPdfPages: number };
}

/** Where a request's text comes from: exactly one is given (the one place this is checked). */
export type TextSource = 'text' | 'parts' | 'document' | 'document_url';

export function textSourceOf(fields: Pick<SynthesisFields, 'text' | 'parts' | 'document_url'>, hasDocument: boolean): TextSource {
  const given: TextSource[] = [];
  if (fields.text !== undefined) given.push('text');
  if (fields.parts !== undefined) given.push('parts');
  if (hasDocument) given.push('document');
  if (fields.document_url !== undefined) given.push('document_url');
  if (given.length === 1) return given[0]!;
  const names = '`text`, `parts`, a `document` file (multipart) or `document_url`';
  if (given.length === 0) throw new TtsError('E_TEXT_EMPTY', `Give the text to read: one of ${names}.`);
  throw new TtsError('E_TEXT_CONFLICT', `Give exactly one of ${names}; this request gave ${given.map((name) => `\`${name}\``).join(' and ')}.`);
}

const MAX_SPEAKER_NAME_CHARS = 100;

/**
 * The consent that comes with a recording to clone: `speaker_name` normalised, or undefined
 * where none was given and none is required. Shared by tasks with a one-off reference and voices.
 */
export function speakerConsent(consent: unknown, speakerName: unknown, required: boolean): string | undefined {
  const name = typeof speakerName === 'string' ? normalizeText(speakerName) : '';
  if (name.length > MAX_SPEAKER_NAME_CHARS) throw new TtsError('E_INVALID_ARGUMENT', `Expected \`speaker_name\` to be at most ${MAX_SPEAKER_NAME_CHARS} characters.`);
  if (consent === true && name !== '') return name;
  if (!required) return name === '' ? undefined : name;
  throw new TtsError('E_CONSENT_REQUIRED', "Cloning a voice needs the speaker's consent: send `consent: true` and `speaker_name` (whose voice the recording is) with the recording.");
}

/** A request's fields, checked; the upload (if any) is added by the caller. */
export type ParsedSynthesis = Omit<TaskRequest, 'uploadPath'>;

/**
 * The task's webhook: its own `webhook_url`, else the key's default (checked when the key was
 * made), with `webhook_events` or `final`; `webhook_events` alone, with no URL to go with it, is refused.
 */
function webhookOf(fields: SynthesisFields, limits: RequestLimits, defaultUrl: string | undefined): TaskRequest['webhook'] {
  const events = fields.webhook_events ?? 'final';
  if (fields.webhook_url !== undefined) {
    checkWebhookUrl(fields.webhook_url, limits.webhookAllowPrivate);
    return { url: fields.webhook_url, events };
  }
  if (defaultUrl !== undefined) return { url: defaultUrl, events };
  if (fields.webhook_events !== undefined) throw new TtsError('E_INVALID_ARGUMENT', 'Expected `webhook_url` with `webhook_events`: this key has no default webhook to send them to.');
  return undefined;
}

/**
 * A request's parts, normalised and checked: each has text, its pause and chapter are in range.
 * The whole (texts joined by a blank line) counts against the text limit. Voices are checked by
 * the caller (they need the backend).
 */
function parseParts(given: NonNullable<SynthesisFields['parts']>, maxTextChars: number): { parts: TextPart[]; text: string } {
  if (given.length > MAX_PARTS) throw new TtsError('E_TOO_MANY_PARTS', `A task takes at most ${MAX_PARTS} parts, got ${given.length}; split it into several tasks.`);
  const parts = given.map((part, index): TextPart => {
    const name = `parts[${index}]`;
    const text = normalizeText(part.text);
    if (!isSpeakable(text)) throw new TtsError('E_PART_EMPTY', `${name} has no text to read aloud; give it some text or leave the part out.`);
    const parsed: TextPart = { text };
    if (part.voice_id !== undefined) {
      if (!UUID.test(part.voice_id)) throw new TtsError('E_VOICE_NOT_FOUND', `${name}.voice_id: no voice has the id ${part.voice_id}; GET /api/voices lists them.`);
      parsed.voiceId = part.voice_id;
    }
    if (part.prompt_text !== undefined) {
      const promptText = normalizeText(part.prompt_text);
      if (promptText.length > MAX_PROMPT_TEXT_CHARS) throw new TtsError('E_PART_INVALID', `Expected ${name}.prompt_text to be at most ${MAX_PROMPT_TEXT_CHARS} characters, got ${promptText.length}.`);
      parsed.promptText = promptText;
    }
    if (part.pause_ms !== undefined) {
      if (!(part.pause_ms >= 0 && part.pause_ms <= MAX_PART_PAUSE_MS)) throw new TtsError('E_PART_INVALID', `Expected ${name}.pause_ms from 0 to ${MAX_PART_PAUSE_MS}, got ${part.pause_ms}.`);
      parsed.pauseMs = part.pause_ms;
    }
    if (part.chapter !== undefined) {
      const chapter = normalizeText(part.chapter);
      if (chapter === '' || charCount(chapter) > MAX_CHAPTER_CHARS)
        throw new TtsError('E_PART_INVALID', `Expected ${name}.chapter to be a title of 1 to ${MAX_CHAPTER_CHARS} characters, got ${charCount(chapter)}.`);
      parsed.chapter = chapter;
    }
    return parsed;
  });
  // The joined text is what moderation, quotas and reuse see; it is held to the same limit as `text`.
  const text = prepareText(parts.map((part) => part.text).join('\n\n'), maxTextChars);
  return { parts, text };
}

/**
 * `options.documentText`: the text read from an uploaded `document` (joined parts), checked here
 * as `text` is. With `document_url` the text is not known until the task is prepared: it is '' until then.
 */
export function parseSynthesisFields(
  fields: SynthesisFields,
  limits: RequestLimits,
  options: { hasUpload: boolean; defaultWebhookUrl?: string; hasDocument?: boolean; documentText?: string; now?: number },
): ParsedSynthesis {
  const source = textSourceOf(fields, options.hasDocument === true);
  if (source === 'text' && fields.document_kind !== undefined) throw new TtsError('E_INVALID_ARGUMENT', 'Expected `document_kind` only with a `document` file or `document_url`.');
  if (fields.document_url !== undefined) checkAudioUrl(fields.document_url, limits.audioUrlAllowPrivate, 'document_url');
  if (source === 'document_url' && fields.pronunciations !== undefined && fields.pronunciations.length > 0) {
    throw new TtsError('E_PRONUNCIATION_INVALID', 'Forced readings cannot be checked against a `document_url` (its text is read later); upload the document as `document` instead.');
  }
  // Lengths count characters once normalised, and the limit is configured: not a schema's.
  const fromParts = source === 'parts' ? parseParts(fields.parts!, limits.maxTextChars) : undefined;
  const text = source === 'document_url' ? '' : (fromParts?.text ?? prepareText(source === 'text' ? fields.text! : (options.documentText ?? ''), limits.maxTextChars));

  const { voice_id: voiceId, audio_url: audioUrl } = fields;
  const references = [voiceId !== undefined, audioUrl !== undefined, options.hasUpload].filter(Boolean).length;
  if (references > 1) throw new TtsError('E_VOICE_CONFLICT', 'Give one reference: `voice_id`, or an `audio` upload, or `audio_url`.');
  if (voiceId !== undefined && !UUID.test(voiceId)) throw new TtsError('E_VOICE_NOT_FOUND', 'No voice has this id; GET /api/voices lists them.');
  if (audioUrl !== undefined) checkAudioUrl(audioUrl, limits.audioUrlAllowPrivate);
  // Consent belongs to a recording: a stored voice had its own when it was made.
  const speakerName = audioUrl !== undefined || options.hasUpload ? speakerConsent(fields.consent, fields.speaker_name, limits.consentRequired) : undefined;

  const promptText = fields.prompt_text === undefined ? undefined : normalizeText(fields.prompt_text);
  if (promptText !== undefined && promptText.length > MAX_PROMPT_TEXT_CHARS) {
    throw new TtsError('E_INVALID_ARGUMENT', `Expected \`prompt_text\` to be at most ${MAX_PROMPT_TEXT_CHARS} characters, got ${promptText.length} characters.`);
  }

  const request: ParsedSynthesis = {
    text,
    format: fields.format ?? 'wav',
    priority: fields.priority ?? 0,
    // Pinyin syllables, their count against the characters, their text in the input: code, not a schema.
    pronunciations: parsePronunciations(fields.pronunciations, text),
  };
  if (fromParts !== undefined) request.parts = fromParts.parts;
  if (fields.sample_rate !== undefined) request.sampleRate = fields.sample_rate;
  if (fields.seed !== undefined) request.seed = fields.seed;
  // 1 is the default: left out, so the same request with and without it is one request.
  if (fields.speed !== undefined && fields.speed !== 1) request.speed = fields.speed;
  if (promptText !== undefined) request.promptText = promptText;
  if (voiceId !== undefined) request.voiceId = voiceId;
  if (audioUrl !== undefined) request.audioUrl = audioUrl;
  if (speakerName !== undefined) request.speakerName = speakerName;
  if (fields.engine !== undefined) request.engine = fields.engine;
  if (fields.require_cloning === true) request.requireCloning = true;
  if (fields.engine_options !== undefined) request.engineOptions = fields.engine_options;
  // Only a refusal is stored: reuse is the default.
  if (fields.reuse === false) request.reuse = false;
  if (fields.document_url !== undefined) request.documentUrl = fields.document_url;
  if (fields.document_url !== undefined && fields.document_kind !== undefined) request.document = { kind: fields.document_kind };
  const webhook = webhookOf(fields, limits, options.defaultWebhookUrl);
  if (webhook !== undefined) request.webhook = webhook;
  // A time within the allowed skew, or just passed, still starts the task at once.
  if (fields.not_before !== undefined) request.notBefore = parseNotBefore(fields.not_before, options.now ?? Date.now());
  return request;
}

/** How far in the past `not_before` may lie (clocks of client and server differ a little). */
export const NOT_BEFORE_SKEW_MS = 60_000;
/** How far ahead `not_before` may lie: a task held longer is better submitted later. */
export const NOT_BEFORE_MAX_AHEAD_MS = 30 * 24 * 3_600_000;

/** Whether the date part names a real day (Date.parse takes 2025-02-30 for March 2) and the time a real one (not 24:00 or a leap second). */
function isCalendarDate(value: string): boolean {
  const [year, month, day, hour, minute, second] = [0, 5, 8, 11, 14, 17].map((at) => Number(value.slice(at, at + (at === 0 ? 4 : 2))));
  const date = new Date(Date.UTC(year!, month! - 1, day!));
  return date.getUTCMonth() === month! - 1 && date.getUTCDate() === day && hour! < 24 && minute! < 60 && second! < 60;
}

/** `not_before` as ms, checked against `now` (the schema already asked for a date-time with a zone). */
export function parseNotBefore(value: string, now: number): number {
  const ms = Date.parse(value);
  const shown = JSON.stringify(value.slice(0, 64));
  if (Number.isNaN(ms) || !isCalendarDate(value))
    throw new TtsError('E_NOT_BEFORE_INVALID', `Expected \`not_before\` to be an ISO 8601 date-time with a time zone, such as 2025-01-31T12:00:00Z, got ${shown}.`);
  if (ms < now - NOT_BEFORE_SKEW_MS) throw new TtsError('E_NOT_BEFORE_INVALID', `Expected \`not_before\` to be a time to come, got ${shown}, which has passed; leave it out to start at once.`);
  if (ms > now + NOT_BEFORE_MAX_AHEAD_MS) throw new TtsError('E_NOT_BEFORE_INVALID', `Expected \`not_before\` to be at most 30 days ahead, got ${shown}; submit the task later.`);
  return ms;
}

/** What a task asks of the engine that takes it (routing.ts decides which one can). */
export function engineNeeds(request: TaskRequest): EngineNeeds {
  return {
    engine: request.engine,
    cloning: request.requireCloning === true,
    sampleRate: request.sampleRate,
    phonemeControl: request.pronunciations.length > 0,
    // With parts: a voice for every part (its own, or the task's), else an engine that needs one cannot read them all.
    hasVoice:
      request.voiceId !== undefined ||
      request.uploadPath !== undefined ||
      request.audioUrl !== undefined ||
      (request.parts !== undefined && request.parts.length > 0 && request.parts.every((part) => part.voiceId !== undefined)),
    options: Object.keys(request.engineOptions ?? {}),
  };
}
