/**
 * TypeBox schemas of the API: they validate requests, serialise responses and make the
 * OpenAPI document. Status and format lists come from where they are defined.
 */

import { Type, type Static } from '@sinclair/typebox';
import { OUTPUT_FORMAT_NAMES } from '../audio/output.js';
import { TASK_STATUSES } from '../backends/backend.js';

const nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);
const literals = (values: readonly string[]) => Type.Union(values.map((v) => Type.Literal(v)));

export const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) }, { $id: 'Error', description: 'Every error: a stable code (docs/errors.md) and a message that says what to change.' });

export const SynthesisBody = Type.Object(
  {
    text: Type.String({ description: 'The text to read aloud (at most MAX_TEXT_CHARS characters).' }),
    voice_id: Type.Optional(Type.String({ description: 'A stored voice (POST /api/voices).' })),
    audio_url: Type.Optional(Type.String({ description: 'An http(s) URL of a reference recording; fetched when the task is prepared.' })),
    prompt_text: Type.Optional(Type.String({ description: 'Transcript of the reference recording.' })),
    format: Type.Optional(literals(OUTPUT_FORMAT_NAMES)),
    sample_rate: Type.Optional(Type.Integer({ description: 'One of the rates GET /api/engines lists.' })),
    seed: Type.Optional(Type.Integer({ minimum: 0 })),
    priority: Type.Optional(Type.Integer({ minimum: -10, maximum: 10, description: 'Higher goes first; default 0.' })),
    pronunciations: Type.Optional(Type.Array(Type.Object({ text: Type.String(), pinyin: Type.String() }), { description: 'Forced readings, e.g. [{"text": "重", "pinyin": "chong2"}]; only engines with phoneme control take the task.' })),
    engine: Type.Optional(Type.String({ description: 'Run on this engine (GET /api/engines); by default the first that can do what the task asks.' })),
    require_cloning: Type.Optional(Type.Boolean({ description: "true: fail rather than run on an engine that does not clone the reference's timbre." })),
    engine_options: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), { description: 'Switches for the engine, among the `options` it lists, e.g. {"sample_method": "ras", "use_phoneme": true} for glm-tts.' })),
  },
  { description: 'JSON, or multipart/form-data with the same fields and an optional file field `audio` (the reference).' },
);

export const TaskLinks = Type.Object({ self: Type.String(), audio: Type.String(), events: Type.String() });

export const TaskBody = Type.Object(
  {
    id: Type.String(),
    status: literals(TASK_STATUSES),
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
    result: Type.Union([
      Type.Object({ url: Type.String(), format: Type.String(), duration_ms: Type.Number(), bytes: Type.Integer(), sample_rate: Type.Integer(), expired: Type.Boolean() }),
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
  { id: Type.String(), name: Type.String(), prompt_text: Type.String(), duration_ms: Type.Integer(), sample_rate: Type.Integer(), created_at: Type.String() },
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
  languages: Type.Array(Type.String()),
  max_segment_chars: Type.Integer(),
  hosts: Type.Integer(),
  hosts_up: Type.Integer({ description: 'Hosts alive and ready; the others are starting again after they died. At 0 its tasks wait and /readyz says 503.' }),
  busy: Type.Integer(),
});

export const EnginesBody = Type.Object({ engines: Type.Array(EngineBody, { description: 'In the order tasks are routed to them: the first that can do what a task asks takes it.' }) });

export const IdParams = Type.Object({ id: Type.String() });
export const ListQuery = Type.Object({
  status: Type.Optional(literals(TASK_STATUSES)),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  cursor: Type.Optional(Type.String({ maxLength: 32 })),
});
