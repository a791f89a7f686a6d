/**
 * TypeBox schemas of the API: they validate requests, serialise responses and make the
 * OpenAPI document. Status and format lists come from where they are defined.
 */

import { Type, type Static } from '@sinclair/typebox';
import { MAX_SPEED, MIN_SPEED, OUTPUT_FORMAT_NAMES, STREAM_FORMAT_NAMES, type OutputFormat } from '../audio/output.js';
import {
  AUDIT_ACTIONS,
  DOCUMENT_KINDS,
  type DocumentKind,
  KEY_ROLES,
  MAX_CHAPTER_CHARS,
  MAX_PART_PAUSE_MS,
  MAX_PARTS,
  TASK_STATUSES,
  WEBHOOK_DELIVERY_STATUSES,
  WEBHOOK_EVENT_SETS,
  type WebhookEvents,
} from '../backends/backend.js';
import { DETERMINISM, SEED_MAX } from '../engines/protocol.js';
import { MAX_PRONUNCIATIONS } from '../text/pronunciations.js';
import { SUBTITLE_FORMAT_NAMES, type SubtitleFormat } from '../text/subtitles.js';
import { OPENAI_RESPONSE_FORMATS, type OpenAIResponseFormat } from '../service/openai-speech.js';

const nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);
const literals = (values: readonly string[]) => Type.Union(values.map((v) => Type.Literal(v)));

export const ErrorBody = Type.Object(
  { error: Type.Object({ code: Type.String(), message: Type.String() }) },
  { $id: 'Error', description: 'Every error: a stable code (docs/errors.md) and a message that says what to change.' },
);

/** Names an engine option may have (GET /api/engines lists each engine's). */
const ENGINE_OPTION_NAME = '^[a-z_][a-z0-9_]{0,39}$';

/**
 * The one definition of a synthesis request: it validates JSON bodies and multipart fields
 * (read from text by the schema, src/http/read-text-values.ts), types the route and documents
 * it. Annotations the error formatter reads: `x-expected` (what to send, in words),
 * `x-error-code` (the code of any refusal at or below the field) and `x-unlisted-code` (the code
 * of a value of the right type that is not in `enum`). What a schema cannot say (text after
 * normalisation, one reference, a public URL, pinyin syllables) is checked in
 * service/synthesis-request.ts.
 */
/** An RFC 3339 date-time with a zone (Z or ±hh:mm), fractions of a second allowed. */
const ISO_DATE_TIME = '^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?([Zz]|[+-]\\d{2}:\\d{2})$';

export const SynthesisBody = Type.Object(
  {
    text: Type.Optional(
      Type.String({ description: 'The text to read aloud (at most MAX_TEXT_CHARS characters once normalised). Exactly one of `text`, `parts`, a `document` file or `document_url`.' }),
    ),
    document_url: Type.Optional(
      Type.String({ maxLength: 2048, description: 'An http(s) URL of a document to read (text, Markdown, HTML, EPUB, PDF; README: Documents); fetched and read when the task is prepared.' }),
    ),
    document_kind: Type.Optional(
      Type.Unsafe<DocumentKind>({
        type: 'string',
        enum: [...DOCUMENT_KINDS],
        'x-unlisted-code': 'E_DOCUMENT_UNSUPPORTED',
        description: 'The kind of the `document` or `document_url`; default: from its name, its Content-Type, then its first bytes.',
      }),
    ),
    parts: Type.Optional(
      Type.Array(
        Type.Object(
          {
            text: Type.String({ description: "This part's text." }),
            voice_id: Type.Optional(Type.String({ maxLength: 100, description: "A stored voice for this part; default: the task's `voice_id` (or the engine's default voice)." })),
            prompt_text: Type.Optional(Type.String({ description: "Transcript of this part's voice, when it differs from the stored one." })),
            pause_ms: Type.Optional(Type.Integer({ description: `Silence after this part, 0 to ${MAX_PART_PAUSE_MS} ms; default PAUSE_MS.` })),
            chapter: Type.Optional(Type.String({ description: `This part starts a chapter with this title (at most ${MAX_CHAPTER_CHARS} characters).` })),
          },
          { additionalProperties: false, 'x-error-code': 'E_PART_INVALID', 'x-expected': 'an object {text, voice_id?, prompt_text?, pause_ms?, chapter?}' },
        ),
        {
          // At most MAX_PARTS: counted in synthesis-request.ts, for its own code (E_TOO_MANY_PARTS).
          'x-expected': `a list of at most ${MAX_PARTS} parts`,
          description: `Several voices in one task: up to ${MAX_PARTS} parts, each segmented and read with its own voice, in order; their texts together count against MAX_TEXT_CHARS. Exactly one of \`text\`, \`parts\`, a \`document\` file or \`document_url\`.`,
        },
      ),
    ),
    voice_id: Type.Optional(Type.String({ maxLength: 100, description: 'A stored voice (POST /api/voices).' })),
    audio_url: Type.Optional(Type.String({ maxLength: 2048, description: 'An http(s) URL of a reference recording; fetched when the task is prepared.' })),
    prompt_text: Type.Optional(Type.String({ description: 'Transcript of the reference recording (at most 1,000 characters once normalised).' })),
    consent: Type.Optional(
      Type.Boolean({ description: 'With an uploaded `audio` or `audio_url`: true states that the speaker agreed to have their voice cloned (required unless VOICE_CONSENT=off).' }),
    ),
    speaker_name: Type.Optional(Type.String({ maxLength: 100, description: 'With an uploaded `audio` or `audio_url`: whose voice the recording is.' })),
    format: Type.Optional(
      Type.Unsafe<OutputFormat>({ type: 'string', enum: OUTPUT_FORMAT_NAMES, 'x-unlisted-code': 'E_FORMAT_UNSUPPORTED', description: 'The audio format of the result; default wav.' }),
    ),
    speed: Type.Optional(
      Type.Number({ minimum: MIN_SPEED, maximum: MAX_SPEED, description: `Playback speed of the result and its stream, ${MIN_SPEED} to ${MAX_SPEED} (ffmpeg's atempo, pitch kept); default 1.` }),
    ),
    sample_rate: Type.Optional(Type.Integer({ minimum: 8_000, maximum: 48_000, description: 'One of the rates GET /api/engines lists.' })),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: SEED_MAX, description: 'Seed for engines that sample: the same seed, text and voice give the same audio.' })),
    priority: Type.Optional(Type.Integer({ minimum: -10, maximum: 10, description: 'Higher goes first; default 0.' })),
    pronunciations: Type.Optional(
      Type.Array(Type.Object({ text: Type.String({ minLength: 1, maxLength: 64 }), pinyin: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }), {
        maxItems: MAX_PRONUNCIATIONS,
        'x-expected': `a list of at most ${MAX_PRONUNCIATIONS} forced readings such as [{"text": "重", "pinyin": "chong2"}]`,
        'x-error-code': 'E_PRONUNCIATION_INVALID',
        description: 'Forced readings, e.g. [{"text": "重", "pinyin": "chong2"}]; only engines with phoneme control take the task.',
      }),
    ),
    engine: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9][a-z0-9-]{0,39}$',
        'x-expected': 'an engine name from GET /api/engines',
        description: 'Run on this engine (GET /api/engines); by default the first that can do what the task asks.',
      }),
    ),
    require_cloning: Type.Optional(Type.Boolean({ description: "true: fail rather than run on an engine that does not clone the reference's timbre." })),
    engine_options: Type.Optional(
      Type.Record(Type.String(), Type.Union([Type.String({ maxLength: 100 }), Type.Number(), Type.Boolean()], { 'x-expected': 'true/false, a number or a string of at most 100 characters' }), {
        maxProperties: 16,
        propertyNames: { pattern: ENGINE_OPTION_NAME, 'x-expected': 'lower-case letters, digits and _ (at most 40)' },
        'x-expected': 'an object of at most 16 options such as {"sample_method": "ras"}',
        description: 'Switches for the engine, among the `options` it lists, e.g. {"sample_method": "ras", "use_phoneme": true} for glm-tts.',
      }),
    ),
    reuse: Type.Optional(
      Type.Boolean({
        description:
          'Default true: an identical earlier request of the same key whose result is still kept is copied (`cached: true`) instead of run again, on engines that are deterministic for it (GET /api/engines). false: always run.',
      }),
    ),
    webhook_url: Type.Optional(
      Type.String({
        maxLength: 2048,
        description: "An http(s) URL to POST the task's changes to, signed (README: Webhooks); a public address only. Default: the key's own `webhook_url`, if it has one.",
      }),
    ),
    webhook_events: Type.Optional(
      Type.Unsafe<WebhookEvents>({
        type: 'string',
        enum: WEBHOOK_EVENT_SETS,
        description: '`final` (default): completed, failed and canceled; `all`: every change of status.',
      }),
    ),
    not_before: Type.Optional(
      Type.String({
        // A pattern, not `format: 'date-time'`: the checks outside HTTP (say) compile schemas without Ajv's formats. parseNotBefore checks the calendar.
        pattern: ISO_DATE_TIME,
        maxLength: 64,
        'x-expected': 'an ISO 8601 date-time with a time zone, such as 2025-01-31T12:00:00Z',
        'x-error-code': 'E_NOT_BEFORE_INVALID',
        description: 'Start later: the task stays queued until this time (at most 30 days ahead; README, Start later).',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'JSON, or multipart/form-data with the same fields and optional file fields `audio` (the reference) and `document` (a document to read instead of `text`).',
  },
);
export type SynthesisFields = Static<typeof SynthesisBody>;

/** GET /api/task/:id/text: what is read aloud, part by part. */
export const TaskTextBody = Type.Object(
  {
    id: Type.String(),
    source: Type.Union([Type.Literal('text'), Type.Literal('parts'), Type.Literal('document'), Type.Literal('document_url')]),
    text: Type.String({ description: 'The whole text read, parts joined by a blank line.' }),
    title: Type.Optional(Type.String({ description: "The document's title, where it has one." })),
    document: Type.Optional(Type.Object({ kind: Type.String(), name: Type.Optional(Type.String()), url: Type.Optional(Type.String()) })),
    parts: Type.Array(
      Type.Object({
        text: Type.String(),
        chapter: Type.Optional(Type.String({ description: 'This part starts a chapter with this title.' })),
        pause_ms: Type.Optional(Type.Integer({ description: 'Silence after this part.' })),
        voice_id: Type.Optional(Type.String()),
      }),
    ),
    chapters: Type.Array(Type.Object({ title: Type.String(), part: Type.Integer({ description: 'Index of the part that starts it.' }) })),
  },
  { description: "The text a task reads, with its chapters (a document's headings)." },
);

export const SynthesisHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'The same key and body give the same task.' })),
});

export const TaskLinks = Type.Object({
  self: Type.String(),
  audio: Type.String(),
  events: Type.String(),
  stream: Type.String({ description: 'The audio as its segments finish (GET; ?format=mp3|opus|aac|flac|wav|pcm, default mp3).' }),
  subtitles: Type.String({ description: 'Subtitles once the task is completed (GET; ?format=vtt|srt, default vtt).' }),
});

const isoOrNull = (description: string) => Type.Union([Type.String(), Type.Null()], { description });

export const WebhookAttemptBody = Type.Object({
  at: Type.String({ description: 'When the try started.' }),
  duration_ms: Type.Integer(),
  status_code: Type.Union([Type.Integer(), Type.Null()], { description: "The receiver's HTTP status; null when no answer came." }),
  error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()], { description: 'Why the try failed; null for a 2xx.' }),
});

export const WebhookDeliveryBody = Type.Object({
  id: Type.String({ description: 'The `webhook-id` header: the same on every try of this delivery.' }),
  type: Type.String({ description: 'task.completed, task.failed, task.canceled, or task.<status> (events `all`).' }),
  status: literals(WEBHOOK_DELIVERY_STATUSES),
  attempts: Type.Integer({ description: 'Tries so far.' }),
  last_attempt_at: isoOrNull('When the last try started.'),
  last_status_code: Type.Union([Type.Integer(), Type.Null()], { description: "The last try's HTTP status; null if no answer came or none was tried." }),
  last_error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()], { description: 'Why the last try failed (E_WEBHOOK_URL_FORBIDDEN, E_WEBHOOK_DELIVERY_FAILED).' }),
  next_attempt_at: isoOrNull('When a pending delivery is tried next.'),
  delivered_at: isoOrNull('When a 2xx answer came.'),
  history: Type.Array(WebhookAttemptBody, { description: 'Every try, oldest first.' }),
});

export const TaskWebhookBody = Type.Union(
  [
    Type.Object({
      url: Type.String(),
      events: literals(WEBHOOK_EVENT_SETS),
      deliveries: Type.Optional(Type.Array(WebhookDeliveryBody, { description: 'Oldest first; shown by GET /api/task/:id (not in lists, events or the webhook payload itself).' })),
    }),
    Type.Null(),
  ],
  { description: "Where the task's changes are POSTed (null: nowhere)." },
);

export const TaskBody = Type.Object(
  {
    id: Type.String(),
    status: literals(TASK_STATUSES),
    owner: Type.Union([Type.String({ description: 'The id of the API key that made the task (null: made without a key).' }), Type.Null()]),
    format: Type.String(),
    priority: Type.Integer(),
    engine: Type.Union([Type.String({ description: 'The engine the task was routed to (null until it is prepared).' }), Type.Null()]),
    progress: Type.Object({ segments_done: Type.Integer(), segments_total: Type.Integer() }),
    attempts: Type.Integer(),
    created_at: Type.String(),
    started_at: nullable(Type.String()),
    finished_at: nullable(Type.String()),
    expires_at: nullable(Type.String()),
    error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
    cached: Type.Boolean({ description: "true: the result is a copy of an identical earlier request's, made without running the engine (README, Result reuse)." }),
    webhook: TaskWebhookBody,
    not_before: isoOrNull('Not prepared before this time (`not_before` of the request); null: as soon as its turn comes.'),
    queue: Type.Optional(
      Type.Object(
        {
          position: Type.Integer({ description: 'Queued tasks prepared before this one (0: next); for a task still waiting, counted among those queued now that go first once it is due.' }),
          starts_at: isoOrNull('For a task waiting for its `not_before`: that time (it is prepared then, or as soon after as its position allows); null for a task already due.'),
        },
        { description: 'Shown by GET /api/task/:id while the task is queued: where it stands (README, Start later); absent otherwise.' },
      ),
    ),
    result: Type.Union([
      Type.Object({
        url: Type.String(),
        format: Type.String(),
        duration_ms: Type.Number(),
        bytes: Type.Integer(),
        sample_rate: Type.Integer(),
        expired: Type.Boolean(),
        chapters: Type.Optional(
          Type.Array(Type.Object({ title: Type.String(), start_ms: Type.Integer(), end_ms: Type.Integer() }), {
            description: "A task with chapters (parts' `chapter`): each chapter's title and times in the result (also marked in m4b and mp3 files).",
          }),
        ),
      }),
      Type.Null(),
    ]),
    links: TaskLinks,
  },
  {
    $id: 'Task',
    description:
      'Status runs queued → preparing → synthesizing → encoding → completed | failed | canceled. The article\'s "pending" is queued; its "processing" is preparing, synthesizing or encoding.',
  },
);
export type TaskJson = Static<typeof TaskBody>;

export const AcceptedBody = Type.Object({ id: Type.String(), status: literals(TASK_STATUSES), links: TaskLinks });

export const TaskListBody = Type.Object({ tasks: Type.Array(Type.Ref('Task')), next_cursor: nullable(Type.String()) });

export const VoiceBody = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    prompt_text: Type.String(),
    duration_ms: Type.Integer(),
    sample_rate: Type.Integer(),
    speaker_name: Type.Union([Type.String({ description: 'Whose voice it is, as stated with the consent to clone it.' }), Type.Null()]),
    owner: Type.Union([Type.String({ description: 'The id of the API key that made the voice (null: made without a key).' }), Type.Null()]),
    created_at: Type.String(),
  },
  { $id: 'Voice' },
);

export const EngineBody = Type.Object({
  engine: Type.String({ description: 'Its name, for the `engine` field of a synthesis request.' }),
  version: Type.String(),
  sample_rates: Type.Array(Type.Integer(), { description: 'Rates it writes; the first is its default.' }),
  cloning: Type.Boolean({ description: "Whether it clones the reference's timbre." }),
  voice_following: Type.Array(Type.String(), { description: 'What it takes from a reference when it does not clone (e.g. pitch, rate).' }),
  phoneme_control: Type.Boolean({ description: 'Whether it honours `pronunciations`.' }),
  requires_voice: Type.Boolean({ description: 'Whether a task needs a reference voice.' }),
  options: Type.Array(Type.String(), { description: 'Names it takes in `engine_options`.' }),
  deterministic: Type.Union([literals(DETERMINISM), Type.Null()], {
    description: "When an identical request's finished result is reused instead of running again: always, or seeded (only when `seed` is given); null: never.",
  }),
  languages: Type.Array(Type.String()),
  max_segment_chars: Type.Integer(),
  hosts: Type.Integer(),
  hosts_up: Type.Integer({ description: 'Hosts alive and ready; the others are starting again after they died. At 0 its tasks wait and /readyz says 503.' }),
  busy: Type.Integer(),
});

export const EnginesBody = Type.Object({ engines: Type.Array(EngineBody, { description: 'In the order tasks are routed to them: the first that can do what a task asks takes it.' }) });

export const IdParams = Type.Object({ id: Type.String() });

/** GET /api/task/:id/stream: the format of the stream (any output format that can be streamed; mp3 by default). */
export const StreamQuery = Type.Object(
  {
    format: Type.Optional(Type.Unsafe<OutputFormat>({ type: 'string', enum: STREAM_FORMAT_NAMES, 'x-unlisted-code': 'E_FORMAT_UNSUPPORTED', description: 'The format of the stream; default mp3.' })),
  },
  { additionalProperties: false },
);
/** GET /api/task/:id/subtitles: the subtitle format (vtt by default). */
export const SubtitlesQuery = Type.Object(
  {
    format: Type.Optional(
      Type.Unsafe<SubtitleFormat>({ type: 'string', enum: SUBTITLE_FORMAT_NAMES, 'x-unlisted-code': 'E_FORMAT_UNSUPPORTED', description: 'vtt (WebVTT, the default) or srt (SubRip).' }),
    ),
  },
  { additionalProperties: false },
);
export const ListQuery = Type.Object({
  status: Type.Optional(literals(TASK_STATUSES)),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  cursor: Type.Optional(Type.String({ maxLength: 32 })),
});

const QuotaFields = {
  requests_per_second: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, description: 'Requests a second (0: no limit); default RATE_LIMIT_RPS.' })),
  chars_per_day: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, description: 'Characters of text a UTC day (0: no limit); default QUOTA_CHARS_PER_DAY.' })),
  open_tasks: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, description: 'Tasks not yet finished at once (0: no limit); default QUOTA_OPEN_TASKS.' })),
  voices: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, description: 'Stored voices (0: no limit); default QUOTA_VOICES.' })),
};

export const NewKeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64, description: 'For people: who or what uses the key (unique among keys not revoked).' }),
    role: Type.Optional(literals(KEY_ROLES)),
    quotas: Type.Optional(Type.Object(QuotaFields, { additionalProperties: false, description: "The key's own limits; those not given are the service's defaults." })),
    webhook_url: Type.Optional(Type.String({ maxLength: 2048, description: "Where the webhooks of this key's tasks that name no `webhook_url` go (events `final`); a public http(s) address." })),
  },
  { additionalProperties: false },
);

export const KeyBody = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    role: literals(KEY_ROLES),
    quotas: Type.Object(QuotaFields),
    webhook_url: Type.Union([Type.String(), Type.Null()], { description: "The default webhook of the key's tasks (null: none)." }),
    created_at: Type.String(),
    last_used_at: nullable(Type.String()),
    revoked_at: nullable(Type.String()),
  },
  { $id: 'ApiKey', description: 'An API key as stored: the key itself is shown once, when it is created.' },
);

export const CreatedKeyBody = Type.Object({
  key: Type.String({ description: 'The key: shown this once only; send it as `Authorization: Bearer <key>`.' }),
  api_key: Type.Ref('ApiKey'),
  webhook_secret: Type.String({ description: "The secret that signs this key's webhooks (`whsec_…`); also at GET /api/webhooks/secret with the key." }),
});

export const WebhookSecretBody = Type.Object({
  secret: Type.String({ description: 'The `whsec_…` secret that signs the webhooks of your tasks (Standard Webhooks).' }),
  owner: Type.Union([Type.String(), Type.Null()], { description: 'Whose: your key id (null: tasks made without a key).' }),
});

/** The most audit entries one page of GET /api/audit holds, and how many by default. */
export const AUDIT_PAGE_MAX = 500;
export const AUDIT_PAGE_DEFAULT = 100;

const dateTime = (description: string) => Type.String({ format: 'date-time', 'x-expected': 'an ISO 8601 date-time with a time zone, such as 2025-01-31T12:00:00Z', description });

/** Filters of GET /api/audit; an unknown parameter is refused, so a misspelt filter never shows everything. */
export const AuditListQuery = Type.Object(
  {
    key_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Entries of this key (anonymous entries have none).' })),
    action: Type.Optional(literals(AUDIT_ACTIONS)),
    subject: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Entries about this task, voice or key.' })),
    since: Type.Optional(dateTime('Entries at or after this time.')),
    until: Type.Optional(dateTime('Entries before this time.')),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: AUDIT_PAGE_MAX, default: AUDIT_PAGE_DEFAULT })),
    cursor: Type.Optional(Type.String({ maxLength: 64, description: 'The next_cursor of the previous page.' })),
  },
  { additionalProperties: false },
);
export type AuditListQueryJson = Static<typeof AuditListQuery>;

export const AuditEntryBody = Type.Object({
  id: Type.String(),
  at: Type.String({ description: 'When, ISO 8601.' }),
  action: literals(AUDIT_ACTIONS),
  key_id: Type.Union([Type.String(), Type.Null()], { description: 'The key that acted; null for an anonymous request.' }),
  address: Type.String({ description: "The client's address (behind TRUST_PROXY: the forwarded one)." }),
  subject: Type.String({ description: 'The task, voice or key acted on.' }),
  detail: Type.Union([Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])), Type.Null()], { description: 'A little context, never text or secrets.' }),
});
export type AuditEntryJson = Static<typeof AuditEntryBody>;

export const AuditListBody = Type.Object({
  entries: Type.Array(AuditEntryBody, { description: 'Newest first. A page may hold fewer than `limit` entries and still have a next_cursor.' }),
  next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `cursor` for the next page; null on the last page.' }),
});

// ---- OpenAI-compatible routes (/v1) ------------------------------------------------------------

/** OpenAI's error shape, on /v1 routes only: `code` is ours (docs/errors.md), `param` the field at fault or null. */
export const OpenAIErrorBody = Type.Object({
  error: Type.Object({ message: Type.String(), type: Type.String(), param: Type.Union([Type.String(), Type.Null()]), code: Type.String() }),
});

/** The body of OpenAI's POST /v1/audio/speech (its SDK's SpeechCreateParams). */
export const OpenAISpeechBody = Type.Object(
  {
    model: Type.String({ minLength: 1, maxLength: 100, description: 'An engine (GET /v1/models), or tts-1, tts-1-hd, gpt-4o-mini-tts.' }),
    input: Type.String({ description: 'The text to read aloud (at most MAX_TEXT_CHARS characters once normalised).' }),
    voice: Type.Union([Type.String({ minLength: 1, maxLength: 100 }), Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false })], {
      'x-expected': 'a voice id, an OpenAI voice name such as "alloy", or {"id": "<voice id>"}',
      description: 'A voice id (GET /api/voices), {"id": ...}, or an OpenAI voice name mapped by OPENAI_VOICES (unmapped: the engine\'s own voice).',
    }),
    response_format: Type.Optional(
      Type.Unsafe<OpenAIResponseFormat>({ type: 'string', enum: [...OPENAI_RESPONSE_FORMATS], 'x-unlisted-code': 'E_FORMAT_UNSUPPORTED', description: 'Default mp3; pcm is 24 kHz s16le mono.' }),
    ),
    speed: Type.Optional(Type.Number({ minimum: MIN_SPEED, maximum: MAX_SPEED, description: 'Default 1.' })),
    instructions: Type.Optional(Type.String({ maxLength: 4096, description: 'Refused when not empty: no engine here follows style instructions.' })),
    stream_format: Type.Optional(Type.Union([Type.Literal('audio'), Type.Literal('sse')], { description: 'audio (default): the bytes; sse: speech.audio.delta events, then speech.audio.done.' })),
  },
  { additionalProperties: false },
);

export const OpenAIModelBody = Type.Object({ id: Type.String(), object: Type.Literal('model'), created: Type.Integer(), owned_by: Type.String() });
export const OpenAIModelListBody = Type.Object({ object: Type.Literal('list'), data: Type.Array(OpenAIModelBody) });
export const OpenAIModelParams = Type.Object({ model: Type.String({ maxLength: 200 }) });
