/**
 * The OpenAI-compatible routes: POST /v1/audio/speech (a normal task, streamed as its segments
 * finish, as audio or as OpenAI's SSE events) and GET /v1/models. Errors on /v1 come in OpenAI's
 * shape (error-handler.ts); the mapping of models and voices is service/openai-speech.ts.
 */

import { Transform } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { openAIErrorBody } from '../error-handler.js';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { OpenAIErrorBody, OpenAIModelBody, OpenAIModelListBody, OpenAIModelParams, OpenAISpeechBody } from '../schemas.js';
import type { AppDependencies } from '../app.js';
import { actorOf } from '../access.js';
import { streamCaller, streamOpener, streamHeaders } from './stream.js';
import { OPENAI_MODEL_ALIASES, planSpeech } from '../../service/openai-speech.js';
import { TtsError, toTtsError } from '../../errors.js';
import type { TaskRecord } from '../../backends/backend.js';
import type { OpenedAudioStream } from '../../service/task-audio-stream.js';
import { charCount } from '../../text/normalize.js';

/** Who the models are "owned by" in /v1/models. */
const OWNER = 'tts-queue';

/** The request field a refusal of the task service is about, for OpenAI's `param`. */
const PARAM_OF_CODE: Partial<Record<string, string>> = {
  E_TEXT_EMPTY: 'input',
  E_TEXT_TOO_LONG: 'input',
  E_CONTENT_REFUSED: 'input',
  E_QUOTA_CHARS: 'input',
  E_VOICE_NOT_FOUND: 'voice',
  E_ENGINE_CAPABILITY: 'model',
  E_SAMPLE_RATE_UNSUPPORTED: 'response_format',
};

function withParam(error: unknown): unknown {
  const typed = toTtsError(error);
  const param = PARAM_OF_CODE[typed.code];
  if (typed.param !== undefined || param === undefined) return error;
  return new TtsError(typed.code, typed.message, { cause: typed.cause, retryable: typed.retryable, retryAfterS: typed.retryAfterS, param });
}

/**
 * Audio bytes as OpenAI's speech SSE: a `speech.audio.delta` per chunk (base64), then
 * `speech.audio.done` with the usage; or, when the audio stopped short (`endedEarly`: the task
 * failed or was canceled midway, the encoder failed), an `error` event in OpenAI's error shape
 * instead, so that a cut stream is never taken for a whole one.
 */
function sseEvents(inputChars: number, endedEarly: () => TtsError | undefined): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      done(null, `data: ${JSON.stringify({ type: 'speech.audio.delta', audio: chunk.toString('base64') })}\n\n`);
    },
    flush(done) {
      const early = endedEarly();
      if (early !== undefined) {
        done(null, `data: ${JSON.stringify({ type: 'error', ...openAIErrorBody(early) })}\n\n`);
        return;
      }
      // No tokens here: the input counts its characters, the output nothing.
      const usage = { input_tokens: inputChars, output_tokens: 0, total_tokens: inputChars };
      done(null, `data: ${JSON.stringify({ type: 'speech.audio.done', usage })}\n\n`);
    },
  });
}

export function openaiRoutes(app: FastifyInstance, deps: AppDependencies): void {
  const openStream = streamOpener(app);
  const created = Math.floor(Date.now() / 1000);
  const models = (): Array<{ id: string; object: 'model'; created: number; owned_by: string }> => [
    ...deps.engines().map((engine) => ({ id: engine.capabilities.engine, object: 'model' as const, created, owned_by: OWNER })),
    ...Object.keys(OPENAI_MODEL_ALIASES).map((id) => ({ id, object: 'model' as const, created, owned_by: OWNER })),
  ];

  app.withTypeProvider<TypeBoxTypeProvider>().post(
    '/v1/audio/speech',
    {
      schema: {
        tags: ['OpenAI-compatible'],
        summary: "OpenAI's speech request: a task, streamed as its segments finish",
        description:
          "Accepts the body of OpenAI's POST /v1/audio/speech. `model`: an engine, or tts-1 (default routing), tts-1-hd / gpt-4o-mini-tts (an engine that clones, if any). `voice`: a voice id, or an OpenAI voice name mapped by OPENAI_VOICES (unmapped: the engine's own voice). `pcm` is 24 kHz s16le mono, as OpenAI's. `instructions` is refused: no engine here follows style instructions. The task is a normal one (GET /api/tasks; its id in `x-task-id`).",
        body: OpenAISpeechBody,
        response: { 200: { description: 'The audio, or text/event-stream with stream_format=sse', type: 'string', format: 'binary' }, '4xx': OpenAIErrorBody },
      },
    },
    async (request, reply) => {
      const body = request.body;
      let task: TaskRecord;
      const plan = planSpeech(
        body,
        deps.engines().map((e) => e.capabilities),
        deps.openai.voices,
      );
      try {
        ({ task } = await deps.tasks.submit({ actor: actorOf(request), fields: plan.fields }));
      } catch (error) {
        throw withParam(error);
      }
      reply.header('x-task-id', task.id);
      let opened: OpenedAudioStream;
      try {
        opened = await openStream(reply, (signal) => deps.audioStreamer.open(task, { format: plan.format, caller: streamCaller(request), sampleRate: plan.sampleRate, signal }));
      } catch (error) {
        throw withParam(error);
      }
      await deps.auditTrail.record(actorOf(request), 'task.download', task.id, { format: plan.format, stream: true });
      if (!plan.sse) return streamHeaders(reply, opened, plan.format).send(opened.body);
      let failure: TtsError | undefined;
      const events = sseEvents(charCount(task.request.text), () => failure ?? opened.endedEarly());
      opened.body.once('error', (error) => {
        failure = toTtsError(error);
        events.end();
      });
      // The client went away: the audio stream stops too.
      events.once('close', () => opened.body.destroy());
      opened.body.pipe(events);
      return reply.header('content-type', 'text/event-stream; charset=utf-8').header('cache-control', 'no-store').header('x-accel-buffering', 'no').send(events);
    },
  );

  app.get(
    '/v1/models',
    { schema: { tags: ['OpenAI-compatible'], summary: 'The engines and the OpenAI model names, as OpenAI lists models', response: { 200: OpenAIModelListBody, '4xx': OpenAIErrorBody } } },
    async () => ({ object: 'list', data: models() }),
  );

  app.get(
    '/v1/models/:model',
    { schema: { tags: ['OpenAI-compatible'], summary: 'One model', params: OpenAIModelParams, response: { 200: OpenAIModelBody, '4xx': OpenAIErrorBody } } },
    async (request) => {
      const { model } = request.params as { model: string };
      const found = models().find((m) => m.id === model);
      if (found === undefined) throw new TtsError('E_MODEL_NOT_FOUND', `No model is called ${JSON.stringify(model.slice(0, 60))}; GET /v1/models lists them.`, { param: 'model' });
      return found;
    },
  );
}
