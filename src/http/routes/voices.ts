/** Voices: upload a reference once (normalised and stored), then use its id in tasks. */

import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ErrorBody, IdParams } from '../schemas.js';
import { readMultipart } from '../multipart.js';
import { presentVoice } from '../presenters.js';
import type { AppDependencies } from '../app.js';
import { TtsError } from '../../errors.js';
import { actorOf } from '../access.js';
import { sendDownload } from '../send-file.js';

export function voiceRoutes(app: FastifyInstance, deps: AppDependencies): void {
  app.post(
    '/api/voices',
    {
      schema: {
        summary:
          'Create a voice: multipart/form-data with `audio` (2–30 s of speech), `name`, `prompt_text` (its transcript), and `consent=true` with `speaker_name` (whose voice it is; unless VOICE_CONSENT=off)',
        consumes: ['multipart/form-data'],
        response: { 201: Type.Ref('Voice'), '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      if (!request.isMultipart()) throw new TtsError('E_UNSUPPORTED_MEDIA_TYPE', 'Send the voice as multipart/form-data with a file field `audio`.');
      const { fields, uploadPath } = await readMultipart(request, deps.blobs, { audioMaxBytes: deps.limits.maxUploadBytes });
      const voice = await deps.voices.create(actorOf(request), fields, uploadPath);
      return reply.code(201).header('location', `/api/voices/${voice.id}`).send(presentVoice(voice));
    },
  );

  app.get('/api/voices', { schema: { summary: "The voices this key made (an admin's: all)", response: { 200: Type.Object({ voices: Type.Array(Type.Ref('Voice')) }) } } }, async (request) => ({
    voices: (await deps.voices.list(request.principal)).map(presentVoice),
  }));

  app.get('/api/voices/:id', { schema: { summary: 'One voice', params: IdParams, response: { 200: Type.Ref('Voice'), '4xx': ErrorBody } } }, async (request) => {
    return presentVoice(await deps.voices.get((request.params as { id: string }).id, request.principal));
  });

  app.get(
    '/api/voices/:id/audio',
    {
      schema: {
        summary: "A voice's recording as the engines hear it: normalised WAV (Range and ETag supported)",
        params: IdParams,
        response: { 200: { description: 'The recording', type: 'string', format: 'binary' }, 206: { description: 'Part of it', type: 'string', format: 'binary' }, '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const voice = await deps.voices.get((request.params as { id: string }).id, request.principal);
      return await sendDownload(request, reply, await deps.blobs.openForDownload(voice.audioPath), {
        contentType: 'audio/wav',
        fileName: `${voice.id}.wav`,
        // Deleted between the lookup and the read: as gone as an unknown voice.
        missing: () => new TtsError('E_VOICE_NOT_FOUND', 'No voice has this id; GET /api/voices lists them.'),
      });
    },
  );

  app.delete('/api/voices/:id', { schema: { summary: 'Delete a voice and its recordings', params: IdParams, response: { 204: Type.Null(), '4xx': ErrorBody } } }, async (request, reply) => {
    await deps.voices.delete((request.params as { id: string }).id, actorOf(request));
    return reply.code(204).send();
  });
}
